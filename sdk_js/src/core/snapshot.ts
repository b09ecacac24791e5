/**
 * Snapshots: proto3 JSON in, validated ConfigSnapshot out.
 *
 * `parseSnapshot` accepts what sdk_python/splitline/snapshot_file.py accepts:
 * canonical proto3 JSON, plus short enum names (`status: "RUNNING"`,
 * `operator: "IN"`), non-string rule values (written as JSON), and variants
 * without ranges (derived from the weights: contiguous, in variant order).
 * `validateSnapshot` reports every problem with its field path, exactly the
 * checks of sdk_python/splitline/core/validate.py. A snapshot that fails
 * validation is never served.
 */

import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ConfigSnapshotSchema, type BucketRange, type ConfigSnapshot, type Experiment } from "../gen/splitline/v1/config_pb.js";
import { BUCKET_COUNT } from "./hash.js";
import { OPERATOR_NAMES, Status } from "./operators.js";
import { compileRule, RuleError } from "./rules.js";

export type { ConfigSnapshot } from "../gen/splitline/v1/config_pb.js";

export const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** One validation problem: the field path (e.g. `experiments[e].variants[1].key`) and what is wrong. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** A snapshot that cannot be served; `errors` lists every problem found. */
export class SnapshotError extends Error {
  readonly errors: readonly FieldError[];
  constructor(errors: readonly FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join("; "));
    this.name = "SnapshotError";
    this.errors = errors;
  }
}

type Doc = { [key: string]: unknown };

function isDoc(value: unknown): value is Doc {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function prefixed(value: unknown, prefix: string): unknown {
  return typeof value === "string" && !value.startsWith(prefix) ? prefix + value.toUpperCase() : value;
}

/** Contiguous variant ranges from weights, or undefined when the weights are unusable. */
export function contiguousRanges(weights: readonly number[]): Array<Array<[number, number]>> | undefined {
  if (weights.some((w) => !Number.isInteger(w) || w < 0) || weights.reduce((a, b) => a + b, 0) !== BUCKET_COUNT) {
    return undefined;
  }
  let start = 0;
  return weights.map((w) => {
    const out: Array<[number, number]> = w ? [[start, start + w]] : [];
    start += w;
    return out;
  });
}

/** Expand short enum names and derive missing variant ranges, in a copy of `doc`. */
export function normalizeDocument(doc: Doc): Doc {
  const out = JSON.parse(JSON.stringify(doc)) as Doc;
  const exps = Array.isArray(out["experiments"]) ? (out["experiments"] as unknown[]) : [];
  for (const exp of exps) {
    if (!isDoc(exp)) continue;
    if ("status" in exp) exp["status"] = prefixed(exp["status"], "EXPERIMENT_STATUS_");
    for (const rule of Array.isArray(exp["rules"]) ? (exp["rules"] as unknown[]) : []) {
      if (!isDoc(rule)) continue;
      if ("operator" in rule) rule["operator"] = prefixed(rule["operator"], "OPERATOR_");
      if (Array.isArray(rule["values"])) {
        rule["values"] = (rule["values"] as unknown[]).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
      }
    }
    const variants = Array.isArray(exp["variants"]) ? (exp["variants"] as unknown[]) : [];
    const noRanges = (v: unknown): v is Doc =>
      isDoc(v) && !(Array.isArray(v["ranges"]) ? v["ranges"].length : v["ranges"]);
    if (variants.length && variants.every(noRanges)) {
      const derived = contiguousRanges(variants.map((v) => Math.trunc(Number((v as Doc)["weight"] ?? 0))));
      if (derived === undefined) continue; // validation reports the weights with their field path
      variants.forEach((v, i) => {
        (v as Doc)["ranges"] = derived[i]!.map(([start, end]) => ({ start, end }));
      });
    }
  }
  return out;
}

/** Parse proto3 JSON (text or an already parsed value) into a ConfigSnapshot (not yet validated). */
export function parseSnapshot(input: string | unknown): ConfigSnapshot {
  const doc: unknown = typeof input === "string" ? JSON.parse(input) : input;
  if (!isDoc(doc)) throw new SnapshotError([{ field: "", message: "the top level must be an object" }]);
  try {
    return fromJson(ConfigSnapshotSchema, normalizeDocument(doc) as JsonValue);
  } catch (err) {
    throw new SnapshotError([{ field: "", message: `cannot parse: ${(err as Error).message}` }]);
  }
}

function checkRanges(ranges: readonly BucketRange[], field: string, errors: FieldError[]): Array<[number, number]> {
  const good: Array<[number, number]> = [];
  ranges.forEach((r, i) => {
    if (!(r.start >= 0 && r.start < r.end && r.end <= BUCKET_COUNT)) {
      errors.push({ field: `${field}[${i}]`, message: `[${r.start}, ${r.end}) is not within [0, ${BUCKET_COUNT}) with start < end` });
      return;
    }
    good.push([r.start, r.end]);
  });
  good.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < good.length; i++) {
    if (good[i]![0] < good[i - 1]![1]) {
      errors.push({ field, message: `ranges [${good[i - 1]}) and [${good[i]}) overlap` });
    }
  }
  return good;
}

function checkKey(value: string, field: string, errors: FieldError[]): void {
  if (!KEY_PATTERN.test(value)) errors.push({ field, message: `${JSON.stringify(value)} must match ${KEY_PATTERN.source}` });
}

function compareTriples(a: [number, number, string], b: [number, number, string]): number {
  return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
}

/** Checks that need only the experiment itself. */
export function validateExperiment(exp: Experiment, field: string, errors: FieldError[]): void {
  checkKey(exp.key, `${field}.key`, errors);
  if (!exp.unitType) errors.push({ field: `${field}.unit_type`, message: "must not be empty" });
  if (!(exp.status >= Status.DRAFT && exp.status <= Status.ARCHIVED)) {
    errors.push({ field: `${field}.status`, message: `unknown or unspecified status ${exp.status}` });
  }
  if (exp.variants.length < 2) {
    errors.push({ field: `${field}.variants`, message: `needs at least two variants, has ${exp.variants.length}` });
  }
  const keys = new Set<string>();
  let total = 0;
  const owned: Array<[number, number, string]> = [];
  exp.variants.forEach((variant, i) => {
    const vfield = `${field}.variants[${i}]`;
    if (!variant.key) errors.push({ field: `${vfield}.key`, message: "must not be empty" });
    else if (keys.has(variant.key)) errors.push({ field: `${vfield}.key`, message: `duplicate variant key ${JSON.stringify(variant.key)}` });
    keys.add(variant.key);
    total += variant.weight;
    const ranges = checkRanges(variant.ranges, `${vfield}.ranges`, errors);
    const size = ranges.reduce((sum, [s, e]) => sum + e - s, 0);
    if (size !== variant.weight) {
      errors.push({ field: `${vfield}.ranges`, message: `cover ${size} buckets but weight is ${variant.weight}` });
    }
    for (const [s, e] of ranges) owned.push([s, e, variant.key]);
  });
  if (exp.variants.length && total !== BUCKET_COUNT) {
    errors.push({ field: `${field}.variants`, message: `weights sum to ${total}, want ${BUCKET_COUNT}` });
  }
  owned.sort(compareTriples);
  for (let i = 1; i < owned.length; i++) {
    const [s1, e1, k1] = owned[i - 1]!;
    const [s2, e2, k2] = owned[i]!;
    if (s2 < e1 && k1 !== k2) {
      errors.push({ field: `${field}.variants`, message: `variants ${k1} [${s1}, ${e1}) and ${k2} [${s2}, ${e2}) overlap` });
    }
  }
  checkRanges(exp.ranges, `${field}.ranges`, errors);
  exp.rules.forEach((rule, i) => {
    const where = `${field}.rules[${i}]`;
    if (OPERATOR_NAMES[rule.operator] === undefined) {
      errors.push({ field: `${where}.operator`, message: `unknown operator ${rule.operator}` });
      return;
    }
    try {
      compileRule(rule.attribute, rule.operator, rule.values, where);
    } catch (err) {
      if (!(err instanceof RuleError)) throw err;
      errors.push({ field: err.field, message: err.detail });
    }
  });
  for (const unitId of Object.keys(exp.overrides).sort()) {
    const variantKey = exp.overrides[unitId]!;
    if (!keys.has(variantKey)) {
      errors.push({ field: `${field}.overrides[${unitId}]`, message: `unknown variant ${JSON.stringify(variantKey)}` });
    }
  }
  if (exp.status === Status.SHIPPED && !exp.shippedVariant) {
    errors.push({ field: `${field}.shipped_variant`, message: "a SHIPPED experiment needs a shipped variant" });
  }
  if (exp.shippedVariant && !keys.has(exp.shippedVariant)) {
    errors.push({ field: `${field}.shipped_variant`, message: `unknown variant ${JSON.stringify(exp.shippedVariant)}` });
  }
}

/** Every problem that would make `snapshot` unsafe to serve; empty when valid. */
export function validateSnapshot(snapshot: ConfigSnapshot): FieldError[] {
  const errors: FieldError[] = [];
  const layerIds = new Set<string>();
  snapshot.layers.forEach((layer, i) => {
    const field = `layers[${layer.id || i}]`;
    checkKey(layer.id, `${field}.id`, errors);
    if (layerIds.has(layer.id)) errors.push({ field: `${field}.id`, message: `duplicate layer id ${JSON.stringify(layer.id)}` });
    layerIds.add(layer.id);
  });
  const seen = new Set<string>();
  const byLayer = new Map<string, Array<[number, number, string]>>();
  snapshot.experiments.forEach((exp, i) => {
    const field = `experiments[${exp.key || i}]`;
    if (seen.has(exp.key)) errors.push({ field: `${field}.key`, message: `duplicate experiment key ${JSON.stringify(exp.key)}` });
    seen.add(exp.key);
    validateExperiment(exp, field, errors);
    if (!layerIds.has(exp.layerId)) {
      errors.push({ field: `${field}.layer_id`, message: `unknown layer ${JSON.stringify(exp.layerId)}` });
    }
    let owned = byLayer.get(exp.layerId);
    if (owned === undefined) byLayer.set(exp.layerId, (owned = []));
    for (const r of exp.ranges) owned.push([r.start, r.end, exp.key]);
  });
  for (const layerId of [...byLayer.keys()].sort()) {
    const owned = byLayer.get(layerId)!.sort(compareTriples);
    for (let i = 1; i < owned.length; i++) {
      const [s1, e1, k1] = owned[i - 1]!;
      const [s2, e2, k2] = owned[i]!;
      if (s2 < e1 && k1 !== k2) {
        errors.push({ field: `layers[${layerId}]`, message: `experiments ${k1} [${s1}, ${e1}) and ${k2} [${s2}, ${e2}) overlap` });
      }
    }
  }
  const holdoutIds = new Set<string>();
  snapshot.holdouts.forEach((holdout, i) => {
    const field = `holdouts[${holdout.id || i}]`;
    checkKey(holdout.id, `${field}.id`, errors);
    if (holdoutIds.has(holdout.id)) errors.push({ field: `${field}.id`, message: `duplicate holdout id ${JSON.stringify(holdout.id)}` });
    holdoutIds.add(holdout.id);
    if (holdout.percentBp > BUCKET_COUNT) {
      errors.push({ field: `${field}.percent_bp`, message: `${holdout.percentBp} exceeds ${BUCKET_COUNT}` });
    }
    holdout.layerIds.forEach((layerId, j) => {
      if (!layerIds.has(layerId)) errors.push({ field: `${field}.layer_ids[${j}]`, message: `unknown layer ${JSON.stringify(layerId)}` });
    });
  });
  return errors;
}
