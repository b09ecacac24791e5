/**
 * Which variant a unit sees: the one place that decides (DESIGN.md section 2),
 * mirroring sdk_python/splitline/core/evaluator.py case for case.
 *
 * `compileSnapshot` turns a validated ConfigSnapshot into an immutable index;
 * `CompiledSnapshot.assign` decides one experiment and `assignAll` every
 * experiment for a unit. Precedence, for one experiment:
 *
 * 1. experiment not in the snapshot                         -> UNKNOWN_EXPERIMENT
 * 2. no non-empty id of the experiment's unit type          -> NO_UNIT
 * 3. the unit id is in `overrides`                          -> that variant, OVERRIDE
 * 4. status SHIPPED -> `shipped_variant` if every rule holds (SHIPPED), else
 *    NOT_ELIGIBLE; any other status but RUNNING              -> NOT_RUNNING
 * 5. a targeting rule fails                                 -> NOT_ELIGIBLE
 * 6. bucket(id, holdout.salt) < percent_bp, holdout covering the layer -> HOLDOUT
 * 7. bucket(id, layer.salt) outside the experiment's ranges -> NOT_IN_TRAFFIC
 * 8. bucket(id, experiment.salt) inside a variant's ranges  -> ASSIGNED
 *    (inside none                                           -> NOT_IN_TRAFFIC)
 *
 * Every result object is prebuilt at compile time, so the hot path allocates
 * nothing: the unit id is UTF-8 encoded once into a scratch buffer and each salt
 * suffix (pre-encoded) is appended to it for each hash. Nothing here does I/O,
 * reads the clock or throws into the caller.
 *
 * Malformed input (a non-string unit id, a unit id with a lone surrogate) takes
 * the Python core's slow path: units and attributes are cleaned (lone surrogates
 * become U+FFFD, typed attribute values are encoded) and the decision is made
 * again, so the answer equals Python's.
 */

import type { JsonObject } from "@bufbuild/protobuf";
import type { ConfigSnapshot, Experiment, Layer } from "../gen/splitline/v1/config_pb.js";
import { encodeAttributes } from "./attributes.js";
import { appendBytes, BUCKET_COUNT, encodeInto, SALT_SEPARATOR, scratchBucket, utf8 } from "./hash.js";
import { Status, type Reason } from "./operators.js";
import { compileRule, type Attributes, type Predicate } from "./rules.js";
import { parseSnapshot, SnapshotError, validateSnapshot } from "./snapshot.js";

/** unit_type -> unit id, e.g. {user_id: "42", device_id: "abc"}. */
export type Units = Readonly<Record<string, string>>;

const EMPTY_PARAMS: Readonly<JsonObject> = Object.freeze({});

/** One experiment's decision for a unit: the variant (or null) and why. */
export interface Assignment {
  readonly experimentKey: string;
  readonly variant: string | null;
  readonly reason: Reason;
  /** The variant's params (read-only); empty when there is no variant or no params. */
  readonly params: Readonly<JsonObject>;
  /** The experiment's unit type ("" for UNKNOWN_EXPERIMENT). */
  readonly unitType: string;
}

/** True when an override chose the variant (logged as forced, excluded from analysis). */
export function isForced(a: Assignment): boolean {
  return a.reason === "OVERRIDE";
}

/** True when the unit counts as exposed to a variant of a running experiment (ASSIGNED or OVERRIDE). */
export function inExperiment(a: Assignment): boolean {
  return a.reason === "ASSIGNED" || a.reason === "OVERRIDE";
}

function result(key: string, variant: string | null, reason: Reason, unitType: string, params = EMPTY_PARAMS): Assignment {
  return Object.freeze({ experimentKey: key, variant, reason, params, unitType });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** A layer's salt suffix and its bucket -> experiment table (-1 = free). */
class CompiledLayer {
  readonly id: string;
  readonly salt: string;
  readonly suffix: Uint8Array;
  readonly table: Int32Array = new Int32Array(BUCKET_COUNT).fill(-1);
  /** Unit types of RUNNING experiments with traffic here, sorted, for assignAll. */
  unitTypes: readonly string[] = [];

  constructor(layer: Layer) {
    this.id = layer.id;
    this.salt = layer.salt || layer.id;
    this.suffix = utf8(SALT_SEPARATOR + this.salt);
  }
}

interface CompiledHoldout {
  readonly suffix: Uint8Array;
  readonly suffixText: string;
  readonly percent: number;
}

/** An experiment with its rules compiled and every possible result prebuilt. */
class CompiledExperiment {
  readonly index: number;
  readonly key: string;
  readonly salt: string;
  readonly suffix: Uint8Array;
  readonly unitType: string;
  readonly status: number;
  readonly layer: CompiledLayer;
  readonly holdouts: readonly CompiledHoldout[];
  readonly rules: readonly Predicate[];
  readonly variants: ReadonlyMap<string, Assignment>;
  readonly overrides: ReadonlyMap<string, Assignment> | null;
  readonly variantStarts: Int32Array;
  readonly variantEnds: Int32Array;
  readonly variantResults: readonly Assignment[];
  readonly rNoUnit: Assignment;
  readonly rNotRunning: Assignment;
  readonly rNotEligible: Assignment;
  readonly rHoldout: Assignment;
  readonly rNotInTraffic: Assignment;
  readonly rShipped: Assignment | null;

  constructor(exp: Experiment, index: number, layer: CompiledLayer, holdouts: readonly CompiledHoldout[]) {
    const key = exp.key;
    const ut = exp.unitType;
    this.index = index;
    this.key = key;
    this.salt = exp.salt || key;
    this.suffix = utf8(SALT_SEPARATOR + this.salt);
    this.unitType = ut;
    this.status = exp.status;
    this.layer = layer;
    this.holdouts = holdouts;
    this.rules = exp.rules.map((r, i) => compileRule(r.attribute, r.operator, r.values, `experiments[${key}].rules[${i}]`));
    const variants = new Map<string, Assignment>();
    for (const v of exp.variants) {
      const params = v.params === undefined ? EMPTY_PARAMS : deepFreeze(structuredClone(v.params));
      variants.set(v.key, result(key, v.key, "ASSIGNED", ut, params));
    }
    this.variants = variants;
    const overrides = new Map<string, Assignment>();
    for (const [unitId, vk] of Object.entries(exp.overrides)) {
      overrides.set(unitId, result(key, vk, "OVERRIDE", ut, variants.get(vk)?.params ?? EMPTY_PARAMS));
    }
    this.overrides = overrides.size ? overrides : null;
    const owned: Array<[number, number, Assignment]> = [];
    for (const v of exp.variants) for (const r of v.ranges) owned.push([r.start, r.end, variants.get(v.key)!]);
    owned.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.variantStarts = Int32Array.from(owned, (o) => o[0]);
    this.variantEnds = Int32Array.from(owned, (o) => o[1]);
    this.variantResults = owned.map((o) => o[2]);
    this.rNoUnit = result(key, null, "NO_UNIT", ut);
    this.rNotRunning = result(key, null, "NOT_RUNNING", ut);
    this.rNotEligible = result(key, null, "NOT_ELIGIBLE", ut);
    this.rHoldout = result(key, null, "HOLDOUT", ut);
    this.rNotInTraffic = result(key, null, "NOT_IN_TRAFFIC", ut);
    const shipped = variants.get(exp.shippedVariant);
    this.rShipped = shipped ? result(key, shipped.variant, "SHIPPED", ut, shipped.params) : null;
  }
}

/** Thrown inside a decision when the input needs cleaning first (never escapes). */
class NeedsCleaning extends Error {}

/** Encode the unit id into the scratch buffer; return its byte length. */
function encodeUnit(uid: string): number {
  return encodeInto(uid, 0, true); // throws LoneSurrogateError: the caller retries on clean input
}

/** bucket(uid, salt) for the uid already encoded as the scratch buffer's first `ulen` bytes. */
function bucketOf(ulen: number, suffix: Uint8Array): number {
  return scratchBucket(appendBytes(suffix, ulen));
}

function eligible(exp: CompiledExperiment, attributes: Attributes): boolean {
  const rules = exp.rules;
  for (let i = 0; i < rules.length; i++) if (!rules[i]!(attributes)) return false;
  return true;
}

function heldOut(exp: CompiledExperiment, ulen: number): boolean {
  const holdouts = exp.holdouts;
  for (let i = 0; i < holdouts.length; i++) {
    const h = holdouts[i]!;
    if (bucketOf(ulen, h.suffix) < h.percent) return true;
  }
  return false;
}

function variantOf(exp: CompiledExperiment, ulen: number): Assignment {
  const v = bucketOf(ulen, exp.suffix);
  const starts = exp.variantStarts;
  // bisect_right(starts, v) - 1
  let lo = 0;
  let hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v < starts[mid]!) hi = mid;
    else lo = mid + 1;
  }
  const i = lo - 1;
  return i >= 0 && v < exp.variantEnds[i]! ? exp.variantResults[i]! : exp.rNotInTraffic;
}

function unitId(units: Units, unitType: string): string | undefined {
  const uid: unknown = units[unitType];
  if (typeof uid === "string") return uid === "" ? undefined : uid;
  if (!uid || (Array.isArray(uid) && uid.length === 0)) return undefined; // falsy, as Python's `not uid`
  throw new NeedsCleaning();
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

/** Units coerced to non-empty strings, lone surrogates replaced; junk dropped (Python's _clean_units). */
export function cleanUnits(units: unknown): Record<string, string> {
  const clean: Record<string, string> = {};
  if (units === null || typeof units !== "object") return clean;
  for (const [key, value] of Object.entries(units)) {
    let text: string | undefined;
    if (typeof value === "string") text = wellFormed(value);
    else if (typeof value === "number" && Number.isSafeInteger(value)) text = String(value);
    else if (typeof value === "bigint") text = String(value);
    if (text) clean[key] = text;
  }
  return clean;
}

/** Attributes encoded as the contract's strings, lone surrogates replaced (Python's _clean_attributes). */
export function cleanAttributes(attributes: unknown): Record<string, string> {
  const out = encodeAttributes(attributes);
  for (const key of Object.keys(out)) out[key] = wellFormed(out[key]!);
  return out;
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/** An immutable, indexed snapshot; share it freely. */
export class CompiledSnapshot {
  readonly snapshot: ConfigSnapshot;
  readonly revision: bigint;
  readonly experiments: ReadonlyMap<string, CompiledExperiment>;
  private readonly layers: readonly CompiledLayer[];
  private readonly shipped: readonly CompiledExperiment[];
  /** unit_type -> unit id -> experiments overriding it. */
  private readonly byUnitOverride: ReadonlyMap<string, ReadonlyMap<string, readonly CompiledExperiment[]>>;
  private readonly unknown = new Map<string, Assignment>();

  /** Use compileSnapshot, which validates first. */
  constructor(snapshot: ConfigSnapshot) {
    this.snapshot = snapshot;
    this.revision = snapshot.revision;
    const layers = new Map<string, CompiledLayer>();
    for (const layer of snapshot.layers) layers.set(layer.id, new CompiledLayer(layer));
    const holdoutsOf = new Map<string, CompiledHoldout[]>();
    for (const id of layers.keys()) holdoutsOf.set(id, []);
    for (const h of snapshot.holdouts) {
      const suffixText = SALT_SEPARATOR + (h.salt || h.id);
      const compiled: CompiledHoldout = { suffix: utf8(suffixText), suffixText, percent: h.percentBp };
      for (const lid of h.layerIds.length ? h.layerIds : layers.keys()) holdoutsOf.get(lid)!.push(compiled);
    }
    const experiments = new Map<string, CompiledExperiment>();
    const overrides = new Map<string, Map<string, CompiledExperiment[]>>();
    const shipped: CompiledExperiment[] = [];
    const runningTypes = new Map<string, Set<string>>();
    for (const id of layers.keys()) runningTypes.set(id, new Set());
    snapshot.experiments.forEach((exp, index) => {
      const layer = layers.get(exp.layerId)!;
      const compiled = new CompiledExperiment(exp, index, layer, holdoutsOf.get(exp.layerId)!);
      experiments.set(exp.key, compiled);
      for (const r of exp.ranges) layer.table.fill(index, r.start, r.end);
      for (const uid of Object.keys(exp.overrides)) {
        let byId = overrides.get(exp.unitType);
        if (byId === undefined) overrides.set(exp.unitType, (byId = new Map()));
        let list = byId.get(uid);
        if (list === undefined) byId.set(uid, (list = []));
        list.push(compiled);
      }
      if (exp.status === Status.SHIPPED) shipped.push(compiled);
      else if (exp.status === Status.RUNNING && exp.ranges.length) runningTypes.get(exp.layerId)!.add(exp.unitType);
    });
    for (const [lid, layer] of layers) layer.unitTypes = [...runningTypes.get(lid)!].sort(compareCodePoints);
    this.experiments = experiments;
    this.layers = [...layers.values()].filter((l) => l.unitTypes.length);
    this.shipped = shipped;
    this.byUnitOverride = overrides;
    this.indexed = snapshot.experiments.map((e) => experiments.get(e.key)!);
  }

  /** Experiments by snapshot index (the layer tables hold indexes). */
  private readonly indexed: readonly CompiledExperiment[];

  /** Decide one experiment for the unit (see the module comment for the order). */
  assign(experimentKey: string, units: Units, attributes: Attributes = EMPTY): Assignment {
    const exp = this.experiments.get(experimentKey);
    if (exp === undefined) {
      let r = this.unknown.get(experimentKey);
      if (r === undefined) {
        r = result(experimentKey, null, "UNKNOWN_EXPERIMENT", "");
        if (this.unknown.size < 1024) this.unknown.set(experimentKey, r);
      }
      return r;
    }
    try {
      return this.decide(exp, units, attributes);
    } catch {
      // Only malformed input gets here: normalise it and decide again.
      return this.decide(exp, cleanUnits(units), cleanAttributes(attributes));
    }
  }

  private decide(exp: CompiledExperiment, units: Units, attributes: Attributes): Assignment {
    const uid = unitId(units, exp.unitType);
    if (uid === undefined) return exp.rNoUnit;
    if (exp.overrides !== null) {
      const forced = exp.overrides.get(uid);
      if (forced !== undefined) return forced;
    }
    if (exp.status !== Status.RUNNING) {
      if (exp.status === Status.SHIPPED && exp.rShipped !== null) {
        return eligible(exp, attributes) ? exp.rShipped : exp.rNotEligible;
      }
      return exp.rNotRunning;
    }
    if (!eligible(exp, attributes)) return exp.rNotEligible;
    const ulen = encodeUnit(uid);
    if (exp.holdouts.length && heldOut(exp, ulen)) return exp.rHoldout;
    if (exp.layer.table[bucketOf(ulen, exp.layer.suffix)] !== exp.index) return exp.rNotInTraffic;
    return variantOf(exp, ulen);
  }

  /** `assign` for each key, in order. */
  assignMany(experimentKeys: readonly string[], units: Units, attributes: Attributes = EMPTY): Assignment[] {
    return experimentKeys.map((key) => this.assign(key, units, attributes));
  }

  /**
   * Every experiment that gives the unit a variant (ASSIGNED, OVERRIDE or SHIPPED).
   * Any experiment not listed answers with no variant; `assign` says why.
   * Order: overrides, shipped experiments, then layers in snapshot order.
   */
  assignAll(units: Units, attributes: Attributes = EMPTY): Assignment[] {
    try {
      return this.allOf(units, attributes);
    } catch {
      return this.allOf(cleanUnits(units), cleanAttributes(attributes));
    }
  }

  private allOf(units: Units, attributes: Attributes): Assignment[] {
    const out: Assignment[] = [];
    let forced: Set<string> | null = null;
    if (this.byUnitOverride.size) {
      for (const unitType of Object.keys(units)) {
        const uid: unknown = units[unitType];
        const list = typeof uid === "string" ? this.byUnitOverride.get(unitType)?.get(uid) : undefined;
        if (list === undefined) continue;
        for (const exp of list) {
          out.push(exp.overrides!.get(uid as string)!);
          (forced ??= new Set()).add(exp.key);
        }
      }
    }
    for (const exp of this.shipped) {
      if (forced !== null && forced.has(exp.key)) continue;
      const r = this.decide(exp, units, attributes);
      if (r.variant !== null) out.push(r);
    }
    let holdoutCache: Map<string, number> | null = null;
    let encoded: string | undefined;
    let ulen = 0;
    for (const layer of this.layers) {
      for (const unitType of layer.unitTypes) {
        const uid = unitId(units, unitType);
        if (uid === undefined) continue;
        if (uid !== encoded) {
          ulen = encodeUnit(uid);
          encoded = uid;
        }
        const index = layer.table[bucketOf(ulen, layer.suffix)]!;
        if (index < 0) continue;
        const exp = this.indexed[index]!;
        if (exp.status !== Status.RUNNING || exp.unitType !== unitType || (forced !== null && forced.has(exp.key))) continue;
        if (!eligible(exp, attributes)) continue;
        if (exp.holdouts.length) {
          let held = false;
          for (const h of exp.holdouts) {
            const cacheKey = uid + h.suffixText;
            holdoutCache ??= new Map();
            let value = holdoutCache.get(cacheKey);
            if (value === undefined) holdoutCache.set(cacheKey, (value = bucketOf(ulen, h.suffix)));
            if (value < h.percent) {
              held = true;
              break;
            }
          }
          if (held) continue;
        }
        const r = variantOf(exp, ulen);
        if (r.variant !== null) out.push(r);
      }
    }
    return out;
  }
}

function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/**
 * Validate and index a snapshot (a parsed ConfigSnapshot, or its proto3 JSON as
 * text or value); throws SnapshotError listing every problem.
 */
export function compileSnapshot(snapshot: ConfigSnapshot | string | object): CompiledSnapshot {
  const message = isMessage(snapshot) ? snapshot : parseSnapshot(snapshot);
  const errors = validateSnapshot(message);
  if (errors.length) throw new SnapshotError(errors);
  return new CompiledSnapshot(message);
}

function isMessage(value: unknown): value is ConfigSnapshot {
  return typeof value === "object" && value !== null && (value as { $typeName?: string }).$typeName === "splitline.v1.ConfigSnapshot";
}
