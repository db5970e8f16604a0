/**
 * Index keys: an order-preserving, self-delimiting byte encoding of Convex
 * values, so that SQLite (which orders BLOBs with memcmp) orders index entries
 * exactly as Convex does.
 *
 * The layout follows Convex's sort keys (`crates/value/src/sorting.rs`):
 *
 * | value                  | encoding                                                   |
 * | ---------------------- | ---------------------------------------------------------- |
 * | undefined (missing)    | 0x01                                                       |
 * | null                   | 0x03                                                       |
 * | int64 < 0              | 0x04..0x07 (8/4/2/1 bytes) + big-endian two's complement   |
 * | int64 = 0              | 0x08                                                       |
 * | int64 > 0              | 0x09..0x0C (1/2/4/8 bytes) + big-endian                    |
 * | float64                | 0x0D + 8 bytes: IEEE bits, all flipped if negative, else sign bit set |
 * | false / true           | 0x0E / 0x0F                                                |
 * | string                 | 0x10 + UTF-8, each 0x00 followed by 0xFF, then 0x00        |
 * | bytes                  | 0x11 + bytes escaped the same way, then 0x00               |
 * | array                  | 0x12 + each element's encoding, then 0x00                  |
 * | object                 | 0x15 + per field in field-name byte order: escaped name (+0xFF if the name is empty), value; then 0x00 |
 *
 * A tuple of values is the concatenation of their encodings, so a prefix of
 * fields is a byte prefix of the key. The resulting order is: undefined <
 * null < int64 < float64 < boolean < string < bytes < array < object; int64 by
 * value; float64 by IEEE total order (-NaN < -Inf < ... < -0 < +0 < ... < +Inf
 * < +NaN); strings and bytes by unsigned byte (for strings: UTF-8, i.e. code
 * point) order, shorter prefix first; arrays lexicographically; objects as
 * lexicographic sequences of (field name, value) pairs in field-name order.
 */
import type { Value } from "convex/values";

const UNDEFINED_TAG = 0x01;
const NULL_TAG = 0x03;
const ZERO_INT64_TAG = 0x08;
const FLOAT64_TAG = 0x0d;
const FALSE_TAG = 0x0e;
const TRUE_TAG = 0x0f;
const STRING_TAG = 0x10;
const BYTES_TAG = 0x11;
const ARRAY_TAG = 0x12;
const OBJECT_TAG = 0x15;
const TERMINATOR = 0x00;
const ESCAPE = 0xff;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Growable byte buffer used while encoding one key. */
class KeyWriter {
  private buf = Buffer.allocUnsafe(64);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  /** Writes `bytes` with every 0x00 escaped as 0x00 0xFF, then a 0x00 terminator. */
  escaped(bytes: Uint8Array): void {
    this.reserve(bytes.length * 2 + 1);
    if (bytes.indexOf(TERMINATOR) === -1) {
      this.buf.set(bytes, this.len);
      this.len += bytes.length;
    } else {
      for (const b of bytes) {
        this.buf[this.len++] = b;
        if (b === TERMINATOR) this.buf[this.len++] = ESCAPE;
      }
    }
    this.buf[this.len++] = TERMINATOR;
  }

  int64(n: bigint): void {
    if (n < INT64_MIN || n > INT64_MAX) throw new Error(`int64 out of range: ${n}`);
    if (n === 0n) {
      this.byte(ZERO_INT64_TAG);
      return;
    }
    // The tag's distance from the zero tag is 1, 2, 3, 4 for 1, 2, 4, 8 bytes.
    const width = n >= -128n && n <= 127n ? 1 : n >= -32768n && n <= 32767n ? 2 : n >= -(2n ** 31n) && n < 2n ** 31n ? 3 : 4;
    const numBytes = 1 << (width - 1);
    this.byte(n < 0n ? ZERO_INT64_TAG - width : ZERO_INT64_TAG + width);
    this.reserve(numBytes);
    const twos = BigInt.asUintN(64, n);
    for (let i = numBytes - 1; i >= 0; i--) {
      this.buf[this.len++] = Number((twos >> BigInt(i * 8)) & 0xffn);
    }
  }

  float64(x: number): void {
    this.byte(FLOAT64_TAG);
    this.reserve(8);
    writeOrderedFloat(x, this.buf, this.len);
    this.len += 8;
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

const floatScratch = new DataView(new ArrayBuffer(8));

/** Writes the 8-byte order-preserving form of a float64 at `out[offset]`. */
function writeOrderedFloat(x: number, out: Uint8Array, offset: number): void {
  floatScratch.setFloat64(0, x);
  const negative = (floatScratch.getUint8(0) & 0x80) !== 0;
  for (let i = 0; i < 8; i++) {
    const b = floatScratch.getUint8(i);
    out[offset + i] = negative ? ~b & 0xff : i === 0 ? b | 0x80 : b;
  }
}

const utf8 = new TextEncoder();

/** Object fields that are present (not undefined), sorted by UTF-8 byte order of their names. */
function sortedFields(obj: Record<string, Value | undefined>): [Buffer, Value][] {
  const fields: [Buffer, Value][] = [];
  for (const name of Object.keys(obj)) {
    const v = obj[name];
    if (v !== undefined) fields.push([Buffer.from(name, "utf8"), v]);
  }
  return fields.sort((a, b) => Buffer.compare(a[0], b[0]));
}

function writeValue(w: KeyWriter, v: Value | undefined): void {
  if (v === undefined) w.byte(UNDEFINED_TAG);
  else if (v === null) w.byte(NULL_TAG);
  else if (typeof v === "bigint") w.int64(v);
  else if (typeof v === "number") w.float64(v);
  else if (typeof v === "boolean") w.byte(v ? TRUE_TAG : FALSE_TAG);
  else if (typeof v === "string") {
    w.byte(STRING_TAG);
    w.escaped(utf8.encode(v));
  } else if (v instanceof ArrayBuffer) {
    w.byte(BYTES_TAG);
    w.escaped(new Uint8Array(v));
  } else if (Array.isArray(v)) {
    w.byte(ARRAY_TAG);
    for (const element of v) writeValue(w, element);
    w.byte(TERMINATOR);
  } else if (isPlainObject(v)) {
    w.byte(OBJECT_TAG);
    for (const [name, fieldValue] of sortedFields(v)) {
      w.escaped(name);
      // An empty name would otherwise look like the object's terminator.
      if (name.length === 0) w.byte(ESCAPE);
      writeValue(w, fieldValue);
    }
    w.byte(TERMINATOR);
  } else {
    throw new Error(`Not a Convex value: ${typeof v}`);
  }
}

/**
 * Encodes a tuple of values (undefined meaning "field missing") as an index
 * key. `Buffer.compare` on two keys agrees with `compareValueTuples`.
 */
export function encodeIndexKey(values: readonly (Value | undefined)[]): Buffer {
  const w = new KeyWriter();
  for (const v of values) writeValue(w, v);
  return w.finish();
}

/** True for plain objects (rejecting class instances such as a commit-ts placeholder). */
function isPlainObject(v: unknown): v is Record<string, Value | undefined> {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Rank of a value's type in Convex's cross-type order; throws on non-values. */
function typeRank(v: Value | undefined): number {
  if (v === undefined) return 0;
  if (v === null) return 1;
  switch (typeof v) {
    case "bigint":
      return 2;
    case "number":
      return 3;
    case "boolean":
      return 4;
    case "string":
      return 5;
  }
  if (v instanceof ArrayBuffer) return 6;
  if (Array.isArray(v)) return 7;
  if (isPlainObject(v)) return 8;
  throw new Error(`Not a Convex value: ${String(v)}`);
}

function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

const floatA = Buffer.alloc(8);
const floatB = Buffer.alloc(8);

/**
 * Compares two values (undefined meaning "missing") in Convex's total order;
 * returns -1, 0 or 1. Agrees with comparing their `encodeIndexKey` bytes.
 */
export function compareValues(a: Value | undefined, b: Value | undefined): -1 | 0 | 1 {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
    case 1:
      return 0;
    case 2:
      return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case 3:
      // IEEE total order, which distinguishes -0 from +0 and orders NaNs.
      writeOrderedFloat(a as number, floatA, 0);
      writeOrderedFloat(b as number, floatB, 0);
      return sign(Buffer.compare(floatA, floatB));
    case 4:
      return a === b ? 0 : a ? 1 : -1;
    case 5:
      return sign(Buffer.compare(Buffer.from(a as string, "utf8"), Buffer.from(b as string, "utf8")));
    case 6:
      return sign(Buffer.compare(new Uint8Array(a as ArrayBuffer), new Uint8Array(b as ArrayBuffer)));
    case 7: {
      const x = a as Value[];
      const y = b as Value[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return sign(x.length - y.length);
    }
    default: {
      const x = sortedFields(a as Record<string, Value | undefined>);
      const y = sortedFields(b as Record<string, Value | undefined>);
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = sign(Buffer.compare(x[i][0], y[i][0])) || compareValues(x[i][1], y[i][1]);
        if (c !== 0) return c;
      }
      return sign(x.length - y.length);
    }
  }
}

/** Compares two tuples of values lexicographically with `compareValues`. */
export function compareValueTuples(
  a: readonly (Value | undefined)[],
  b: readonly (Value | undefined)[],
): -1 | 0 | 1 {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareValues(a[i], b[i]);
    if (c !== 0) return c;
  }
  return sign(a.length - b.length);
}

/**
 * The smallest byte string greater than every string that starts with
 * `prefix`, or undefined if there is none (the prefix is empty or all 0xFF).
 * Keys with the prefix are exactly those in `[prefix, prefixSuccessor(prefix))`.
 */
export function prefixSuccessor(prefix: Uint8Array): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1] += 1;
  return out;
}

/**
 * A range of index keys. A missing bound is unbounded on that side.
 */
export interface KeyRange {
  lower?: Buffer;
  lowerInclusive: boolean;
  upper?: Buffer;
  upperInclusive: boolean;
}

/** True when `key` lies in `range` (memcmp order; a missing bound is unbounded). */
export function rangeContains(range: KeyRange, key: Buffer): boolean {
  if (range.lower !== undefined) {
    const c = Buffer.compare(key, range.lower);
    if (c < 0 || (c === 0 && !range.lowerInclusive)) return false;
  }
  if (range.upper !== undefined) {
    const c = Buffer.compare(key, range.upper);
    if (c > 0 || (c === 0 && !range.upperInclusive)) return false;
  }
  return true;
}

/** The range of all keys whose leading values equal `prefixValues` (all keys if empty). */
export function rangeForPrefix(prefixValues: readonly (Value | undefined)[]): KeyRange {
  const prefix = encodeIndexKey(prefixValues);
  return {
    lower: prefix.length > 0 ? prefix : undefined,
    lowerInclusive: true,
    upper: prefixSuccessor(prefix),
    upperInclusive: false,
  };
}

/** A bound on the index field right after the equality prefix. */
export interface FieldBound {
  op: "gt" | "gte" | "lt" | "lte";
  value: Value | undefined;
}

/**
 * The key range for a Convex index range expression: equality on the first
 * `eq.length` indexed fields, then optionally a lower bound (`gt`/`gte`)
 * and/or an upper bound (`lt`/`lte`) on the next field, compared in Convex's
 * total order (so `gt(5)` also matches strings, etc., like Convex).
 */
export function rangeForIndexExpression(
  eq: readonly (Value | undefined)[],
  lower?: FieldBound,
  upper?: FieldBound,
): KeyRange {
  if (lower && lower.op !== "gt" && lower.op !== "gte") throw new Error(`Lower bound must be gt or gte, got ${lower.op}`);
  if (upper && upper.op !== "lt" && upper.op !== "lte") throw new Error(`Upper bound must be lt or lte, got ${upper.op}`);
  const range = rangeForPrefix(eq);
  if (lower) {
    const bound = encodeIndexKey([...eq, lower.value]);
    // gte v: from the first key starting with (eq, v); gt v: past all of them.
    range.lower = lower.op === "gte" ? bound : prefixSuccessor(bound);
    range.lowerInclusive = true;
  }
  if (upper) {
    const bound = encodeIndexKey([...eq, upper.value]);
    // lt v: before the first key starting with (eq, v); lte v: past all of them.
    range.upper = upper.op === "lt" ? bound : prefixSuccessor(bound);
    range.upperInclusive = false;
  }
  return range;
}
