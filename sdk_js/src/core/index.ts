/**
 * The pure assignment core: hash, buckets, rules, precedence. No I/O, no clock,
 * no network; the same contract as sdk_python/splitline/core (DESIGN.md section 2).
 */

export { encodeAttributes, encodeValue, type AttributeValue } from "./attributes.js";
export {
  CompiledSnapshot,
  cleanAttributes,
  cleanUnits,
  compileSnapshot,
  inExperiment,
  isForced,
  type Assignment,
  type Units,
} from "./evaluator.js";
export { BUCKET_COUNT, HASH_SEED, bucket, hash32 } from "./hash.js";
export { Operator, REASON_BY_NUMBER, REASON_NUMBERS, Status, type OperatorName, type Reason } from "./operators.js";
export {
  RegexError,
  RuleError,
  compareVersions,
  compileRegex,
  compileRule,
  parseDecimal,
  parseSemver,
  translateRegex,
  type Attributes,
  type Predicate,
  type Version,
} from "./rules.js";
export {
  SnapshotError,
  contiguousRanges,
  normalizeDocument,
  parseSnapshot,
  validateSnapshot,
  type ConfigSnapshot,
  type FieldError,
} from "./snapshot.js";

/** The version of the assignment contract this core implements (the vectors' spec_version). */
export const SPEC_VERSION = "1.0.0";
