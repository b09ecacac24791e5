/**
 * The hash and bucket rule of the assignment contract (DESIGN.md section 2):
 *
 *     h(s)             = MurmurHash3_x86_32(utf8(s), seed = 0), unsigned 32-bit
 *     bucket(id, salt) = h(id + "|" + salt) % 10000
 *
 * Exact unsigned 32-bit arithmetic with Math.imul and `>>> 0`; no BigInt. Strings
 * are encoded to UTF-8 by hand into a reused scratch buffer (the same bytes as
 * TextEncoder: a lone surrogate becomes U+FFFD), so the hot path allocates nothing.
 */

export const HASH_SEED = 0;
export const BUCKET_COUNT = 10_000;
export const SALT_SEPARATOR = "|";

/** Thrown by the strict encoder when a unit id holds a lone surrogate (see evaluator.ts). */
export class LoneSurrogateError extends Error {
  constructor() {
    super("lone surrogate in a hashed string");
    this.name = "LoneSurrogateError";
  }
}

let scratch = new Uint8Array(1024);

function ensure(capacity: number): Uint8Array {
  if (scratch.length < capacity) {
    let size = scratch.length * 2;
    while (size < capacity) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(scratch);
    scratch = grown;
  }
  return scratch;
}

/**
 * Write utf8(text) into the scratch buffer at `offset`; return the end offset.
 * A lone surrogate becomes U+FFFD, or throws LoneSurrogateError when `strict`.
 */
export function encodeInto(text: string, offset: number, strict: boolean): number {
  const n = text.length;
  const buf = ensure(offset + n * 3);
  let p = offset;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      const d = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        buf[p++] = 0xf0 | (cp >> 18);
        buf[p++] = 0x80 | ((cp >> 12) & 0x3f);
        buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
        buf[p++] = 0x80 | (cp & 0x3f);
        i++;
      } else {
        if (strict) throw new LoneSurrogateError();
        buf[p++] = 0xef;
        buf[p++] = 0xbf;
        buf[p++] = 0xbd;
      }
    }
  }
  return p;
}

/** Copy pre-encoded bytes into the scratch buffer at `offset`; return the end offset. */
export function appendBytes(bytes: Uint8Array, offset: number): number {
  const n = bytes.length;
  const buf = ensure(offset + n);
  // A plain loop: salts are short, and TypedArray#set costs more than the copy for them.
  for (let i = 0; i < n; i++) buf[offset + i] = bytes[i]!;
  return offset + n;
}

/** MurmurHash3_x86_32 of bytes [0, len) of `buf`, seed 0, unsigned. */
export function murmur3(buf: Uint8Array, len: number): number {
  let h = HASH_SEED | 0;
  const tail = len & ~3;
  let k = 0;
  for (let i = 0; i < tail; i += 4) {
    k = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  k = 0;
  switch (len & 3) {
    case 3:
      k ^= buf[tail + 2]! << 16;
    // falls through
    case 2:
      k ^= buf[tail + 1]! << 8;
    // falls through
    case 1:
      k ^= buf[tail]!;
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of the scratch buffer's first `len` bytes, reduced to a bucket. */
export function scratchBucket(len: number): number {
  return murmur3(scratch, len) % BUCKET_COUNT;
}

/** UTF-8 bytes of a string (lone surrogates as U+FFFD), for salts encoded once at compile time. */
export function utf8(text: string): Uint8Array {
  const end = encodeInto(text, 0, false);
  return scratch.slice(0, end);
}

/** MurmurHash3_x86_32 of the UTF-8 bytes of `text`, seed 0, unsigned. */
export function hash32(text: string): number {
  const len = encodeInto(text, 0, false); // may grow (replace) the scratch buffer
  return murmur3(scratch, len);
}

/** The unit's bucket in [0, 10000) for `salt` (a layer, experiment or holdout salt). */
export function bucket(unitId: string, salt: string): number {
  return hash32(unitId + SALT_SEPARATOR + salt) % BUCKET_COUNT;
}
