/**
 * Targeting rules: parsing of operands and compilation to predicates.
 *
 * Semantics are normative (DESIGN.md section 2) and mirror the Python core
 * (sdk_python/splitline/core/rules.py):
 * - Attribute values are strings. A missing attribute fails every operator but
 *   NOT_IN, NEQ and NOT_EXISTS.
 * - Numeric operators parse both sides with DECIMAL_PATTERN, then Number()
 *   (correctly rounded, as Python's float() and Go's ParseFloat).
 * - Semver operators read `v?MAJOR[.MINOR[.PATCH]]` (ASCII digits) from the start
 *   of the value; parts compare as exact integers of any length.
 * - REGEX: a pattern from the portable subset (checked exactly as rules.py does)
 *   searched anywhere in the value, compiled with the `u` flag.
 * Predicates never throw.
 */

import { Operator, OPERATOR_NAMES } from "./operators.js";

/** Attributes as the contract's strings (see attributes.ts to encode typed values). */
export type Attributes = Readonly<Record<string, string>>;
export type Predicate = (attributes: Attributes) => boolean;

export const DECIMAL_PATTERN = "[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?";
export const MAX_REGEX_LENGTH = 1000;
export const MAX_REPEAT = 1000;

const DECIMAL = new RegExp(`^${DECIMAL_PATTERN}$`);

/** A rule that cannot be compiled; `field` names the offending part. */
export class RuleError extends Error {
  readonly field: string;
  readonly detail: string;
  constructor(field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = "RuleError";
    this.field = field;
    this.detail = detail;
  }
}

/** A pattern outside the portable subset. */
export class RegexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegexError";
  }
}

/** The value as a double when it is a decimal number string, else undefined. */
export function parseDecimal(value: unknown): number | undefined {
  if (typeof value !== "string" || !DECIMAL.test(value)) return undefined;
  return Number(value);
}

/** A version as three digit strings without leading zeros ("0" for zero or missing). */
export type Version = readonly [string, string, string];

function digitsAt(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  return i;
}

function stripZeros(text: string, start: number, end: number): string {
  while (start < end - 1 && text.charCodeAt(start) === 48) start++;
  return text.slice(start, end);
}

/** `v?MAJOR[.MINOR[.PATCH]]` read from the start of the value, else undefined. */
export function parseSemver(value: unknown): Version | undefined {
  if (typeof value !== "string") return undefined;
  let i = value.charCodeAt(0) === 118 /* v */ ? 1 : 0;
  let end = digitsAt(value, i);
  if (end === i) return undefined;
  const major = stripZeros(value, i, end);
  let minor = "0";
  let patch = "0";
  i = end;
  if (value.charCodeAt(i) === 46 /* . */) {
    end = digitsAt(value, i + 1);
    if (end > i + 1) {
      minor = stripZeros(value, i + 1, end);
      i = end;
      if (value.charCodeAt(i) === 46) {
        end = digitsAt(value, i + 1);
        if (end > i + 1) patch = stripZeros(value, i + 1, end);
      }
    }
  }
  return [major, minor, patch];
}

function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compare two versions as exact integers: negative, zero or positive. */
export function compareVersions(a: Version, b: Version): number {
  return compareDigits(a[0], b[0]) || compareDigits(a[1], b[1]) || compareDigits(a[2], b[2]);
}

/** Compare digits text[s, e) (leading zeros allowed) with a zero-stripped digit string. */
function compareSpan(text: string, s: number, e: number, digits: string): number {
  while (s < e - 1 && text.charCodeAt(s) === 48) s++;
  const n = e - s;
  if (n !== digits.length) return n < digits.length ? -1 : 1;
  for (let i = 0; i < n; i++) {
    const d = text.charCodeAt(s + i) - digits.charCodeAt(i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * compareVersions(parseSemver(value), version) without allocating: negative,
 * zero or positive, or undefined when the value is not a version.
 */
export function compareSemverText(value: string, version: Version): number | undefined {
  let i = value.charCodeAt(0) === 118 /* v */ ? 1 : 0;
  let end = digitsAt(value, i);
  if (end === i) return undefined;
  let c = compareSpan(value, i, end, version[0]);
  let minor = false;
  let patch = false;
  i = end;
  if (value.charCodeAt(i) === 46 /* . */) {
    end = digitsAt(value, i + 1);
    if (end > i + 1) {
      minor = true;
      if (c === 0) c = compareSpan(value, i + 1, end, version[1]);
      i = end;
      if (value.charCodeAt(i) === 46) {
        end = digitsAt(value, i + 1);
        if (end > i + 1) {
          patch = true;
          if (c === 0) c = compareSpan(value, i + 1, end, version[2]);
        }
      }
    }
  }
  if (c === 0 && !minor) c = version[1] === "0" ? (version[2] === "0" ? 0 : -1) : -1;
  else if (c === 0 && !patch) c = version[2] === "0" ? 0 : -1;
  return c;
}

// ---------------------------------------------------------------- portable regex

const SYNTAX_CHARS = new Set("^$\\.*+?()[]{}|/");
const CONTROL_ESCAPES: Readonly<Record<string, string>> = { n: "\n", r: "\r", t: "\t", f: "\f", v: "\v" };
const CLASS_ESCAPES = new Set("dDwW");
const JS_DOT = "[^\\n\\r\\u2028\\u2029]";
const REPEAT = /^\{([0-9]{1,4})(,([0-9]{0,4}))?\}/;

/**
 * Check `pattern` against the portable subset and return its JavaScript source
 * (for the `u` flag). Accepts and refuses exactly what rules.py's translate_regex
 * does; works on code points like Python.
 */
export function translateRegex(pattern: string): string {
  const cps = Array.from(pattern);
  const n = cps.length;
  if (n > MAX_REGEX_LENGTH) throw new RegexError(`pattern longer than ${MAX_REGEX_LENGTH} characters`);
  const out: string[] = [];
  const groups: boolean[] = []; // per open group: whether it holds a quantifier
  let last: "atom" | "group" | "quant" | "anchor" | "start" = "start";
  let lastGroupHasQuant = false;
  let i = 0;
  while (i < n) {
    const ch = cps[i]!;
    if (ch === "\\") {
      if (i + 1 >= n) throw new RegexError("pattern ends with a lone backslash");
      const nxt = cps[i + 1]!;
      if (CLASS_ESCAPES.has(nxt) || SYNTAX_CHARS.has(nxt) || nxt in CONTROL_ESCAPES) {
        out.push("\\" + nxt);
      } else {
        throw new RegexError(`escape \\${nxt} at ${i} is not portable`);
      }
      i += 2;
      last = "atom";
    } else if (ch === ".") {
      out.push(JS_DOT);
      i += 1;
      last = "atom";
    } else if (ch === "^" || ch === "$") {
      out.push(ch);
      i += 1;
      last = "anchor";
    } else if (ch === "|") {
      out.push("|");
      i += 1;
      last = "start";
    } else if (ch === "(") {
      if (cps[i + 1] === "?" && cps[i + 2] === ":") {
        out.push("(?:");
        i += 3;
      } else if (cps[i + 1] === "?") {
        throw new RegexError(`group syntax at ${i} is not portable (only ( and (?: are)`);
      } else {
        out.push("(");
        i += 1;
      }
      groups.push(false);
      last = "start";
    } else if (ch === ")") {
      if (groups.length === 0) throw new RegexError(`unbalanced ) at ${i}`);
      const hasQuant = groups.pop()!;
      if (hasQuant && groups.length) groups[groups.length - 1] = true;
      out.push(")");
      i += 1;
      last = "group";
      lastGroupHasQuant = hasQuant;
    } else if (ch === "*" || ch === "+" || ch === "?" || ch === "{") {
      let token: string;
      if (ch === "{") {
        const match = REPEAT.exec(cps.slice(i, i + 12).join(""));
        if (match === null) throw new RegexError(`{ at ${i} is not a quantifier {n}, {n,} or {n,m}`);
        const low = Number(match[1]);
        const high = match[3];
        if (low > MAX_REPEAT || (high && Number(high) > MAX_REPEAT)) {
          throw new RegexError(`repeat count above ${MAX_REPEAT} at ${i}`);
        }
        if (high && Number(high) < low) throw new RegexError(`repeat range {${low},${high}} at ${i} is reversed`);
        token = match[0];
      } else {
        token = ch;
      }
      if (last !== "atom" && last !== "group") throw new RegexError(`quantifier ${token} at ${i} has nothing to repeat`);
      if (last === "group" && lastGroupHasQuant) {
        throw new RegexError(`quantifier ${token} at ${i} repeats a group that already repeats`);
      }
      i += token.length; // the token is ASCII: one code point per character
      if (i < n && cps[i] === "?") {
        token += "?";
        i += 1;
      }
      out.push(token);
      if (groups.length) groups[groups.length - 1] = true;
      last = "quant";
    } else if (ch === "[") {
      const [text, next] = translateClass(cps, i);
      out.push(text);
      i = next;
      last = "atom";
    } else if (ch === "]" || ch === "}") {
      throw new RegexError(`unescaped ${ch} at ${i}`);
    } else {
      out.push(ch);
      i += 1;
      last = "atom";
    }
  }
  if (groups.length) throw new RegexError("unbalanced ( in pattern");
  return out.join("");
}

function translateClass(cps: readonly string[], start: number): [string, number] {
  let i = start + 1;
  const n = cps.length;
  const out = ["["];
  if (i < n && cps[i] === "^") {
    out.push("^");
    i += 1;
  }
  const first = i;
  let items = 0;
  let prev: string | undefined; // the single character just read, for a range
  for (;;) {
    if (i >= n) throw new RegexError(`unterminated character class at ${start}`);
    const ch = cps[i]!;
    if (ch === "]") break;
    if (ch === "[") throw new RegexError(`unescaped [ inside a class at ${i}`);
    if ((ch === "&" || ch === "~" || ch === "|") && i + 1 < n && cps[i + 1] === ch) {
      throw new RegexError(`${ch}${ch} inside a class at ${i} is not portable`);
    }
    if (ch === "-") {
      const atEdge = i === first || (i + 1 < n && cps[i + 1] === "]");
      if (atEdge) {
        out.push("\\-");
        prev = "-";
        i += 1;
        items += 1;
        continue;
      }
      if (prev === undefined) throw new RegexError(`range at ${i} does not start with a single character`);
      const low = prev;
      const [highText, high, next] = classChar(cps, i + 1);
      i = next;
      if (high === undefined) throw new RegexError(`range at ${i} does not end with a single character`);
      if (high.codePointAt(0)! < low.codePointAt(0)!) throw new RegexError(`range ${low}-${high} is reversed`);
      out.push("-" + highText);
      prev = undefined;
      items += 1;
      continue;
    }
    const [text, single, next] = classChar(cps, i);
    out.push(text);
    prev = single;
    i = next;
    items += 1;
  }
  if (items === 0) throw new RegexError(`empty character class at ${start}`);
  out.push("]");
  return [out.join(""), i + 1];
}

/** One class member at i: [JavaScript text, the single character or undefined for \d etc., next index]. */
function classChar(cps: readonly string[], i: number): [string, string | undefined, number] {
  if (i >= cps.length) throw new RegexError("unterminated character class");
  const ch = cps[i]!;
  if (ch === "\\") {
    if (i + 1 >= cps.length) throw new RegexError("pattern ends with a lone backslash");
    const nxt = cps[i + 1]!;
    if (CLASS_ESCAPES.has(nxt)) return ["\\" + nxt, undefined, i + 2];
    if (nxt in CONTROL_ESCAPES) return ["\\" + nxt, CONTROL_ESCAPES[nxt], i + 2];
    if (SYNTAX_CHARS.has(nxt) || nxt === "-") return ["\\" + nxt, nxt, i + 2];
    throw new RegexError(`escape \\${nxt} at ${i} is not portable`);
  }
  if (ch === "]" || ch === "-" || ch === "[") throw new RegexError(`unexpected ${ch} in a class at ${i}`);
  // `^` and `|` are escaped (allowed under the u flag); `&` and `~` are literal there
  // and must not be escaped (Python escapes them, which means the same).
  return [ch === "^" || ch === "|" ? "\\" + ch : ch, ch, i + 1];
}

/** Compile a portable pattern (ASCII \d and \w as in RE2 and Python's re.ASCII). */
export function compileRegex(pattern: string): RegExp {
  const source = translateRegex(pattern);
  try {
    return new RegExp(source, "u");
  } catch (err) {
    throw new RegexError(`does not compile: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------- compile

function own(attributes: Attributes, name: string): string | undefined {
  // Only own string values count: inherited properties (toString, constructor) are missing.
  const value = attributes[name];
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(attributes, name) ? value : undefined;
}

/**
 * Compile one rule into a predicate over string attributes. Throws RuleError
 * (with `field`) when the rule is malformed; the predicate never throws.
 */
export function compileRule(attribute: string, operator: number, values: readonly string[], field = "rule"): Predicate {
  const name = attribute;
  if (!name) throw new RuleError(`${field}.attribute`, "must not be empty");
  const vals = [...values];
  const opName = OPERATOR_NAMES[operator];
  const need = (count: number): void => {
    if (vals.length !== count) {
      throw new RuleError(`${field}.values`, `${opName} takes ${count} value(s), got ${vals.length}`);
    }
  };
  switch (operator) {
    case Operator.IN:
    case Operator.NOT_IN: {
      if (vals.length === 0) throw new RuleError(`${field}.values`, `${opName} needs at least one value`);
      const members = new Set(vals);
      if (operator === Operator.IN) {
        return (attrs) => {
          const v = own(attrs, name);
          return v !== undefined && members.has(v);
        };
      }
      return (attrs) => {
        const v = own(attrs, name);
        return v === undefined || !members.has(v);
      };
    }
    case Operator.EQ: {
      need(1);
      const expected = vals[0]!;
      return (attrs) => own(attrs, name) === expected;
    }
    case Operator.NEQ: {
      need(1);
      const expected = vals[0]!;
      return (attrs) => own(attrs, name) !== expected;
    }
    case Operator.GT:
    case Operator.GTE:
    case Operator.LT:
    case Operator.LTE: {
      need(1);
      const bound = parseDecimal(vals[0]);
      if (bound === undefined) throw new RuleError(`${field}.values[0]`, `${JSON.stringify(vals[0])} is not a decimal number`);
      const get = (attrs: Attributes): number | undefined => parseDecimal(own(attrs, name));
      switch (operator) {
        case Operator.GT:
          return (attrs) => {
            const x = get(attrs);
            return x !== undefined && x > bound;
          };
        case Operator.GTE:
          return (attrs) => {
            const x = get(attrs);
            return x !== undefined && x >= bound;
          };
        case Operator.LT:
          return (attrs) => {
            const x = get(attrs);
            return x !== undefined && x < bound;
          };
        default:
          return (attrs) => {
            const x = get(attrs);
            return x !== undefined && x <= bound;
          };
      }
    }
    case Operator.SEMVER_GT:
    case Operator.SEMVER_GTE:
    case Operator.SEMVER_LT:
    case Operator.SEMVER_LTE: {
      need(1);
      const version = parseSemver(vals[0]);
      if (version === undefined) {
        throw new RuleError(`${field}.values[0]`, `${JSON.stringify(vals[0])} is not a version (major[.minor[.patch]])`);
      }
      const cmp = (attrs: Attributes): number | undefined => {
        const value = own(attrs, name);
        return value === undefined ? undefined : compareSemverText(value, version);
      };
      switch (operator) {
        case Operator.SEMVER_GT:
          return (attrs) => {
            const c = cmp(attrs);
            return c !== undefined && c > 0;
          };
        case Operator.SEMVER_GTE:
          return (attrs) => {
            const c = cmp(attrs);
            return c !== undefined && c >= 0;
          };
        case Operator.SEMVER_LT:
          return (attrs) => {
            const c = cmp(attrs);
            return c !== undefined && c < 0;
          };
        default:
          return (attrs) => {
            const c = cmp(attrs);
            return c !== undefined && c <= 0;
          };
      }
    }
    case Operator.EXISTS:
      need(0);
      return (attrs) => own(attrs, name) !== undefined;
    case Operator.NOT_EXISTS:
      need(0);
      return (attrs) => own(attrs, name) === undefined;
    case Operator.REGEX: {
      need(1);
      let re: RegExp;
      try {
        re = compileRegex(vals[0]!);
      } catch (err) {
        throw new RuleError(`${field}.values[0]`, `regex ${JSON.stringify(vals[0])}: ${(err as Error).message}`);
      }
      return (attrs) => {
        const v = own(attrs, name);
        return v !== undefined && re.test(v);
      };
    }
    default:
      throw new RuleError(`${field}.operator`, `unknown operator ${operator}`);
  }
}
