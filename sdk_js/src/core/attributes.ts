/**
 * Attribute encoding: every SDK turns typed values into the same strings
 * (DESIGN.md section 2). Booleans become `true`/`false`; numbers the shortest
 * round-trip decimal form, which is exactly ECMAScript's Number::toString
 * (`16`, `0.5`, `1e+21`, `1.5e-7`) - the Python core copies that function.
 * Strings pass through; bigints print their digits; anything else is dropped.
 */

/** A typed attribute value an application may pass. */
export type AttributeValue = string | number | boolean | bigint | null | undefined;

/** The contract's string for one attribute value, or undefined to drop it. */
export function encodeValue(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      return value;
    case "boolean":
      return value ? "true" : "false";
    case "number":
    case "bigint":
      return String(value);
    default:
      return undefined;
  }
}

/** Encode a record of typed attributes; unusable values are dropped. */
export function encodeAttributes(attributes: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (attributes === null || typeof attributes !== "object" || Array.isArray(attributes)) return out;
  for (const key of Object.keys(attributes)) {
    const encoded = encodeValue((attributes as Record<string, unknown>)[key]);
    if (encoded !== undefined) out[key] = encoded;
  }
  return out;
}
