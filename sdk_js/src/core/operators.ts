/** Targeting operators and reasons, named as in the contract; numbers equal the proto enums. */

export const Operator = {
  IN: 1,
  NOT_IN: 2,
  EQ: 3,
  NEQ: 4,
  GT: 5,
  GTE: 6,
  LT: 7,
  LTE: 8,
  SEMVER_GT: 9,
  SEMVER_GTE: 10,
  SEMVER_LT: 11,
  SEMVER_LTE: 12,
  EXISTS: 13,
  NOT_EXISTS: 14,
  REGEX: 15,
} as const;
export type OperatorName = keyof typeof Operator;

export const OPERATOR_NAMES: Readonly<Record<number, OperatorName>> = Object.freeze(
  Object.fromEntries(Object.entries(Operator).map(([name, n]) => [n, name as OperatorName])),
);

/**
 * Why an assignment came out the way it did, in the order DESIGN.md section 2 decides:
 * UNKNOWN_EXPERIMENT (1), NO_UNIT (2), OVERRIDE (3), NOT_RUNNING / SHIPPED (4),
 * NOT_ELIGIBLE (5), HOLDOUT (6), NOT_IN_TRAFFIC (7, 8), ASSIGNED (8).
 */
export type Reason =
  | "UNKNOWN_EXPERIMENT"
  | "NO_UNIT"
  | "OVERRIDE"
  | "NOT_RUNNING"
  | "SHIPPED"
  | "NOT_ELIGIBLE"
  | "HOLDOUT"
  | "NOT_IN_TRAFFIC"
  | "ASSIGNED";

/** `splitline.v1.Reason` numbers. */
export const REASON_NUMBERS: Readonly<Record<Reason, number>> = Object.freeze({
  ASSIGNED: 1,
  NOT_IN_TRAFFIC: 2,
  NOT_ELIGIBLE: 3,
  HOLDOUT: 4,
  OVERRIDE: 5,
  NOT_RUNNING: 6,
  SHIPPED: 7,
  NO_UNIT: 8,
  UNKNOWN_EXPERIMENT: 9,
});

export const REASON_BY_NUMBER: Readonly<Record<number, Reason>> = Object.freeze(
  Object.fromEntries(Object.entries(REASON_NUMBERS).map(([name, n]) => [n, name as Reason])),
);

/** `splitline.v1.ExperimentStatus` numbers. */
export const Status = {
  UNSPECIFIED: 0,
  DRAFT: 1,
  RUNNING: 2,
  PAUSED: 3,
  CONCLUDED: 4,
  SHIPPED: 5,
  REVERTED: 6,
  ARCHIVED: 7,
} as const;
