// Every case of the shared vectors file, read in place (never copied).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  SPEC_VERSION,
  bucket,
  compileSnapshot,
  encodeValue,
  hash32,
  parseSnapshot,
  validateSnapshot,
  type CompiledSnapshot,
} from "../src/core/index.js";

const VECTORS_PATH = fileURLToPath(new URL("../../proto/testdata/assignment_vectors.json", import.meta.url));

interface Vectors {
  spec_version: string;
  hash_cases: Array<{ name: string; input: string; hash: number }>;
  bucket_cases: Array<{ name: string; unit_id: string; salt: string; bucket: number }>;
  attribute_cases: Array<{ name: string; value: unknown; encoded: string }>;
  snapshots: Record<string, unknown>;
  cases: Array<{
    name: string;
    snapshot: string;
    input: { units: Record<string, string>; attributes: Record<string, string>; experiment: string };
    expected: { variant: string | null; reason: string };
  }>;
  assign_all_cases: Array<{
    name: string;
    snapshot: string;
    input: { units: Record<string, string>; attributes: Record<string, string> };
    expected: Array<{ experiment: string; variant: string | null; reason: string }>;
  }>;
  ramp_pairs: Array<{ name: string; before: string; after: string }>;
  invalid_snapshots: Array<{ name: string; snapshot: unknown; field: string }>;
}

const vectors = JSON.parse(readFileSync(VECTORS_PATH, "utf8")) as Vectors;
const compiled: Record<string, CompiledSnapshot> = Object.fromEntries(
  Object.entries(vectors.snapshots).map(([name, doc]) => [name, compileSnapshot(doc as object)]),
);

describe("vectors file", () => {
  it("has the spec version this SDK implements", () => {
    expect(vectors.spec_version).toBe(SPEC_VERSION);
    expect(vectors.cases.length).toBeGreaterThan(1000);
  });
});

describe("hash cases", () => {
  it.each(vectors.hash_cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
    expect(hash32(c.input)).toBe(c.hash);
  });
});

describe("bucket cases", () => {
  it.each(vectors.bucket_cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
    expect(bucket(c.unit_id, c.salt)).toBe(c.bucket);
  });
});

describe("attribute cases", () => {
  it.each(vectors.attribute_cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
    expect(encodeValue(c.value)).toBe(c.encoded);
  });
});

describe("assignment cases", () => {
  it.each(vectors.cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
    const got = compiled[c.snapshot]!.assign(c.input.experiment, c.input.units, c.input.attributes);
    expect({ variant: got.variant, reason: got.reason }).toEqual(c.expected);
  });
});

describe("assign_all cases", () => {
  it.each(vectors.assign_all_cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
    const got = compiled[c.snapshot]!
      .assignAll(c.input.units, c.input.attributes)
      .map((a) => ({ experiment: a.experimentKey, variant: a.variant, reason: a.reason }))
      .sort((a, b) => (a.experiment < b.experiment ? -1 : a.experiment > b.experiment ? 1 : 0));
    expect(got).toEqual(c.expected);
  });

  it("agrees with assign for every experiment of every assign_all case", () => {
    for (const c of vectors.assign_all_cases) {
      const snap = compiled[c.snapshot]!;
      const all = new Map(snap.assignAll(c.input.units, c.input.attributes).map((a) => [a.experimentKey, a]));
      for (const key of snap.experiments.keys()) {
        const one = snap.assign(key, c.input.units, c.input.attributes);
        if (one.variant !== null) expect(all.get(key)).toBe(one);
        else expect(all.has(key)).toBe(false);
      }
    }
  });
});

describe("ramp pairs", () => {
  const byName = new Map(vectors.cases.map((c) => [c.name, c]));
  it.each(vectors.ramp_pairs.map((p) => [p.name, p] as const))("%s never moves a unit that was in", (_, p) => {
    const before = byName.get(p.before)!.expected;
    const after = byName.get(p.after)!.expected;
    if (before.variant !== null) expect(after.variant).toBe(before.variant);
  });
});

describe("invalid snapshots", () => {
  it.each(vectors.invalid_snapshots.map((c) => [c.name, c] as const))("%s is refused", (_, c) => {
    const errors = validateSnapshot(parseSnapshot(c.snapshot));
    expect(errors.map((e) => e.field).some((f) => f.startsWith(c.field)), JSON.stringify(errors)).toBe(true);
    expect(() => compileSnapshot(c.snapshot as object)).toThrow();
  });
});
