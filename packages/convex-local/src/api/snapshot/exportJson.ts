/**
 * Documents in the value format of Convex's snapshot exports, `ConvexExportJSON`
 * (crates/value/src/export.rs `export_clean_lossless`), from the Convex JSON convex-local stores:
 *
 * - an Int64 is a plain JSON integer (`{"$integer": …}` stored → `42`);
 * - a finite Float64 always has a fraction or an exponent (`3` → `3.0`, `-0` → `-0.0`), so it reads
 *   back as a float: serde_json writes floats that way;
 * - NaN and ±Infinity stay `{"$float": base64}` and bytes `{"$bytes": base64}`, as stored;
 * - objects keep their fields in stored (byte) order, which is Convex's.
 *
 * `generated_schema.jsonl` of such a table is the single line `"uniform"`, which tells the importer
 * to read the lossless format (`GeneratedSchema::Uniform`).
 *
 * @example exportLine('{"_creationTime":1.5,"_id":"k1…","n":{"$integer":"KgAAAAAAAAA="},"f":3}')
 *          // '{"_creationTime":1.5,"_id":"k1…","n":42,"f":3.0}'
 */
import type { JSONValue } from "convex/values";

/** One stored document (Convex JSON text) as its line in a snapshot's `documents.jsonl` (no newline). */
export function exportLine(storedJson: string): string {
  return exportText(JSON.parse(storedJson) as JSONValue);
}

/** The export text of a stored value. */
export function exportText(value: JSONValue): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return floatText(value);
  if (Array.isArray(value)) return `[${value.map(exportText).join(",")}]`;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === "$integer") return int64Text(value.$integer as string);
  // `$bytes` and `$float` are already in their export form.
  if (keys.length === 1 && (keys[0] === "$bytes" || keys[0] === "$float")) return JSON.stringify(value);
  return `{${keys.map((key) => `${JSON.stringify(key)}:${exportText(value[key]!)}`).join(",")}}`;
}

/** A finite float as serde_json writes an f64: with a fraction or an exponent, `-0.0` for negative zero. */
export function floatText(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`A stored number must be finite, got ${value}`);
  if (Object.is(value, -0)) return "-0.0";
  const text = String(value);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

/** The decimal text of a stored `$integer` (8 bytes little-endian, base64). */
function int64Text(base64: string): string {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length !== 8) throw new Error(`A stored $integer must have 8 bytes, got ${bytes.length}`);
  return bytes.readBigInt64LE(0).toString();
}
