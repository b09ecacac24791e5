// Rules, regex subset, parsing and precedence details beyond the vectors, pinned
// against the Python core (values computed with sdk_python/splitline/core).
import { describe, expect, it } from "vitest";
import {
  RegexError,
  bucket,
  compileRegex,
  compileSnapshot,
  compareVersions,
  encodeAttributes,
  hash32,
  parseDecimal,
  parseSemver,
  translateRegex,
} from "../src/core/index.js";
import { loadVectors } from "./helpers.js";

const main = compileSnapshot(loadVectors().snapshots["main"]!);

describe("hash and buckets", () => {
  it("pins exact bucket numbers", () => {
    expect(bucket("ppid1", "exp")).toBe(545);
    expect(bucket("12345", "checkout")).toBe(1791);
    expect(bucket("用户-42", "checkout")).toBe(3360);
  });
  it("hashes lone surrogates as U+FFFD, like TextEncoder", () => {
    expect(hash32("a\ud800b")).toBe(hash32("a\ufffdb"));
    const bytes = new TextEncoder().encode("x\udc00🙂é");
    expect(bytes.length).toBe(1 + 3 + 4 + 2);
  });
  it("grows its scratch buffer for long ids", () => {
    const long = "é".repeat(5000);
    expect(bucket(long, "s")).toBe(bucket(long, "s"));
    const cases = loadVectors()["hash_cases"] as Array<{ input: string; hash: number }>;
    const pinned = cases.find((c) => c.input === "x".repeat(257))!;
    expect(hash32("é".repeat(5000))).toBe(hash32("é".repeat(5000)));
    expect(hash32(pinned.input)).toBe(pinned.hash);
  });
});

describe("numbers and versions", () => {
  it("parses the decimal grammar only", () => {
    for (const ok of ["1", "+1", "-1.", ".5", "1e5", "1E+5", "007", "1e400"]) expect(parseDecimal(ok), ok).not.toBeUndefined();
    for (const bad of ["", " 1", "1 ", "0x10", "inf", "NaN", "1_000", "1e", ".", "+", "1.2.3", "١"]) {
      expect(parseDecimal(bad), bad).toBeUndefined();
    }
    expect(parseDecimal("1e400")).toBe(Infinity);
  });
  it("reads versions as exact integers", () => {
    expect(parseSemver("v02.3.4-beta")).toEqual(["2", "3", "4"]);
    expect(parseSemver("2.")).toEqual(["2", "0", "0"]);
    expect(parseSemver("V2")).toBeUndefined();
    expect(parseSemver("v")).toBeUndefined();
    const big = parseSemver("1.99999999999999999999999")!;
    expect(compareVersions(big, parseSemver("1.99999999999999999999998")!)).toBeGreaterThan(0);
    expect(compareVersions(parseSemver("0000000002.3.4")!, parseSemver("2.3.4")!)).toBe(0);
  });
});

describe("portable regex subset", () => {
  it.each([
    ["a.c", "a[^\\n\\r\\u2028\\u2029]c"],
    ["^\\w+$", "^\\w+$"],
    ["[-a&~]", "[\\-a&~]"],
    ["[^^]", "[^\\^]"],
    ["x*?y", "x*?y"],
    ["(?:ab){2,3}", "(?:ab){2,3}"],
    ["\\/", "\\/"],
  ])("%s translates to %s", (pattern, source) => {
    expect(translateRegex(pattern)).toBe(source);
    expect(() => compileRegex(pattern)).not.toThrow();
  });
  it.each([
    "(?=x)", "(?<n>x)", "(a)\\1", "(a+)+$", "(a*){2}", "\\s", "\\b", "a**", "*a", "a{1001}", "a{3,2}", "a{,2}",
    "[]", "[a", "[[]", "[a&&b]", "[z-a]", "[\\d-z]", "a]", "a}", "(a", "a)", "\\", "x{1,23456}", "\\p{L}", "\\u0041",
    "a".repeat(1001),
  ])("%s is refused", (pattern) => {
    expect(() => translateRegex(pattern)).toThrow(RegexError);
  });
  it("counts code points like Python", () => {
    expect(() => translateRegex("🙂".repeat(1000))).not.toThrow();
    expect(compileRegex("^[🙂-🙃]{2}$").test("🙂🙃")).toBe(true);
    expect(compileRegex("^.{2}$").test("🙂🙂")).toBe(true);
  });
  it("keeps \\d and \\w ASCII", () => {
    expect(compileRegex("\\d").test("١")).toBe(false);
    expect(compileRegex("\\w").test("é")).toBe(false);
  });
});

describe("precedence details", () => {
  it("decides lone-surrogate unit ids on cleaned input, like Python", () => {
    expect(main.assign("checkout_v2", { user_id: "a\ud800b" })).toMatchObject({ variant: "treatment", reason: "ASSIGNED" });
    expect(main.assign("op_eq", { user_id: "u\ud800" }, { attr: "pro" })).toMatchObject({ variant: "treatment", reason: "ASSIGNED" });
    expect(main.assign("regex_0", { user_id: "x\udc00" }, { attr: "a\ud800c" })).toMatchObject({ variant: "control" });
    const all = main.assignAll({ user_id: "z\ud800", device_id: "d" }, { plan: "free", attr: "US" });
    expect(all.map((a) => [a.experimentKey, a.variant, a.reason])).toEqual([
      ["shipped_exp", "treatment", "SHIPPED"],
      ["device_banner", "control", "ASSIGNED"],
    ]);
  });
  it("never reads inherited properties as attributes or units", () => {
    expect(main.assign("op_exists", { user_id: "u1" }, { constructor: "x" } as never).reason).toBe("NOT_ELIGIBLE");
    expect(main.assign("op_not_exists", { user_id: "u1" }, { toString: "x" } as never)).toMatchObject({ variant: "treatment" });
    expect(main.assign("op_exists", { user_id: "u1" }, {}).reason).toBe("NOT_ELIGIBLE");
    expect(main.assign("op_not_exists", { user_id: "u1" }, {}).reason).toBe("ASSIGNED");
    expect(main.assign("constructor", { user_id: "u1" }).reason).toBe("UNKNOWN_EXPERIMENT");
  });
  it("compares numbers and versions like Python", () => {
    expect(main.assign("op_semver_gt", { user_id: "7" }, { attr: "2.3.99999999999999999999999" }).variant).toBe("treatment");
    expect(main.assign("op_semver_gt", { user_id: "7" }, { attr: "0000000002.3.4" }).reason).toBe("NOT_ELIGIBLE");
    expect(main.assign("op_gt", { user_id: "7" }, { attr: "16.000000000000001" }).reason).toBe("NOT_ELIGIBLE");
    expect(main.assign("op_gt", { user_id: "7" }, { attr: "1" + "0".repeat(400) }).variant).toBe("control");
  });
  it("treats non-string unit ids as Python does after cleaning", () => {
    expect(main.assign("checkout_v2", { user_id: 0 } as never).reason).toBe("NO_UNIT");
    expect(main.assign("checkout_v2", { user_id: 12345 } as never)).toEqual(main.assign("checkout_v2", { user_id: "12345" }));
    expect(main.assign("checkout_v2", { user_id: {} } as never).reason).toBe("NO_UNIT");
  });
  it("returns prebuilt, frozen results with params", () => {
    const a = main.assign("checkout_v2", { user_id: "qa-alice" });
    expect(a).toMatchObject({ variant: "treatment", reason: "OVERRIDE", unitType: "user_id" });
    expect(a.params).toEqual({ button: "green", limit: 3, ratio: 0.5 });
    expect(Object.isFrozen(a) && Object.isFrozen(a.params)).toBe(true);
    expect(main.assign("checkout_v2", { user_id: "qa-alice" })).toBe(a);
  });
  it("encodes typed attributes by the contract", () => {
    expect(encodeAttributes({ a: true, b: 16, c: 0.5, d: 1e21, e: null, f: "x", g: 10n, h: {} })).toEqual({
      a: "true", b: "16", c: "0.5", d: "1e+21", f: "x", g: "10",
    });
  });
});

describe("snapshot parsing", () => {
  it("accepts short enum names and derives variant ranges like snapshot_file.py", () => {
    const snap = compileSnapshot({
      revision: 3,
      layers: [{ id: "l" }],
      experiments: [{
        key: "e", layer_id: "l", unit_type: "user_id", status: "RUNNING", ranges: [{ start: 0, end: 10000 }],
        variants: [{ key: "a", weight: 2500 }, { key: "b", weight: 7500 }],
        rules: [{ attribute: "n", operator: "GT", values: [5] }],
      }],
    });
    expect(snap.revision).toBe(3n);
    expect(snap.snapshot.experiments[0]!.variants[1]!.ranges).toMatchObject([{ start: 2500, end: 10000 }]);
    expect(snap.assign("e", { user_id: "1" }, { n: "6" }).reason).toBe("ASSIGNED");
    expect(snap.assign("e", { user_id: "1" }, { n: "5" }).reason).toBe("NOT_ELIGIBLE");
  });
  it("refuses unknown fields and junk with a SnapshotError", () => {
    expect(() => compileSnapshot({ revision: 1, nope: true })).toThrow(/cannot parse/);
    expect(() => compileSnapshot("[]")).toThrow(/top level/);
  });
});

describe("compareSemverText", () => {
  it("equals compareVersions(parseSemver(value), bound) without allocating", async () => {
    const { compareSemverText } = await import("../src/core/rules.js");
    const values = ["", "v", "1", "01", "1.", "1.0", "1.0.0", "1.0.1", "1.1", "0.9.9", "2", "v2.0.0-rc", "1.x", "1.2.x",
      "10", "9.99", "1.0.0.0", "00000", "0.0.1", "0.1", "1.2.3", "1.2.4", "1.3", "1.2.3+b", "99999999999999999999.1"];
    const bounds = ["0", "1", "1.0.1", "1.1", "1.2.3", "0.0.1", "0.1", "10", "99999999999999999999"];
    for (const v of values) {
      for (const b of bounds) {
        const bound = parseSemver(b)!;
        const parsed = parseSemver(v);
        const want = parsed === undefined ? undefined : Math.sign(compareVersions(parsed, bound));
        const got = compareSemverText(v, bound);
        expect(got === undefined ? undefined : Math.sign(got), `${v} vs ${b}`).toBe(want);
      }
    }
  });
});
