/**
 * Reading imported rows as Convex reads them (crates/application/src/snapshot_import/parse.rs and
 * crates/shape_inference/src/export_context.rs `GeneratedSchema::apply`):
 *
 * - `uniform` — a ZIP table whose `generated_schema.jsonl` is `"uniform"` (every export since the
 *   format changed): `ConvexValue::from_clean_lossless`, so a JSON integer in the Int64 range is an
 *   Int64, any other number a Float64, and an object whose keys start with `$` is Convex's internal
 *   JSON (`{"$bytes": …}`, `{"$integer": …}`, `{"$float": …}`).
 * - `inferred` — a single-table `.jsonl` / `.json` import, or a ZIP table without a generated
 *   schema: `ExportContext::Infer` over an unknown shape, so every number is a Float64, strings
 *   stay strings, and a `$` field name is refused like any invalid field name.
 *
 * A row is then split into its system fields and the fields stored (see `importedDocument`).
 */
import { convexToJson, type JSONValue, type Value } from "convex/values";
import { checkDocument } from "../../runtime/documentValues.js";
import { jsonToValue } from "../../storage/values.js";

export type RowEncoding = "uniform" | "inferred";

/** A row Convex would refuse, with its words (parse.rs / import_error.rs). */
export class RowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RowError";
  }
}

/** A parsed row: its `_id` and `_creationTime` when given, and its other fields in Convex's JSON encoding. */
export interface ImportedDocument {
  id: string | undefined;
  creationTime: number | undefined;
  fields: Record<string, JSONValue>;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Parses one JSON text of row `row` (numbered from 1): `Row N wasn't valid JSON: …` when it does not parse. */
export function parseRowJson(text: string, row: number, encoding: RowEncoding): unknown {
  try {
    return JSON.parse(encoding === "uniform" ? withInt64Markers(text) : text);
  } catch (error) {
    // The markers move positions: the error is the one the row's own text gives.
    let message = (error as Error).message;
    try {
      JSON.parse(text);
    } catch (original) {
      message = (original as Error).message;
    }
    throw new RowError(`Row ${row} wasn't valid JSON: ${message}`);
  }
}

/**
 * The Convex value of a parsed row (`Row N wasn't a valid Convex value: …`, `Row N wasn't an object`),
 * split into system fields and the stored fields (checked as documents are: size, nesting, field names).
 */
export function importedDocument(parsed: unknown, row: number, encoding: RowEncoding): ImportedDocument {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RowError(`Row ${row} wasn't a valid Convex value: expected object, received ${JSON.stringify(parsed).slice(0, 100)}`);
  }
  let value: Value;
  try {
    if (encoding === "inferred") refuseDollarFields(parsed);
    value = jsonToValue(parsed as JSONValue);
  } catch (error) {
    throw new RowError(`Row ${row} wasn't a valid Convex value: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof ArrayBuffer) {
    throw new RowError(`Row ${row} wasn't an object`);
  }
  const { _id, _creationTime, ...rest } = value as Record<string, Value>;
  if (_id !== undefined && typeof _id !== "string") throw new RowError(`Row ${row} wasn't a valid Convex value: _id must be a string`);
  if (_creationTime !== undefined && (typeof _creationTime !== "number" || !Number.isFinite(_creationTime) || _creationTime <= 0)) {
    throw new RowError(`Row ${row} wasn't a valid Convex value: _creationTime must be a positive number, got ${String(_creationTime)}`);
  }
  try {
    const fields = convexToJson(rest) as Record<string, JSONValue>;
    checkDocument(rest, JSON.stringify(fields).length);
    return { id: _id, creationTime: _creationTime, fields };
  } catch (error) {
    throw new RowError(`Row ${row} wasn't a valid Convex value: ${(error as Error).message}`);
  }
}

/** Convex refuses a field name starting with `$` (crates/value/src/field_name.rs) unless it reads internal JSON. */
function refuseDollarFields(value: unknown): void {
  if (Array.isArray(value)) return value.forEach(refuseDollarFields);
  if (typeof value !== "object" || value === null) return;
  for (const [name, inner] of Object.entries(value)) {
    if (name.startsWith("$")) throw new Error(`Field name ${name} starts with a '$', which is reserved.`);
    refuseDollarFields(inner);
  }
}

/**
 * `text` with every JSON integer in the Int64 range (no fraction, no exponent) written as
 * `{"$integer": base64}`, Convex's internal JSON for an Int64, so `JSON.parse` keeps it exact;
 * the others stay numbers (Float64), as serde_json's `as_i64` fails for them.
 */
export function withInt64Markers(text: string): string {
  let out = "";
  let copiedTo = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, escapes included.
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      continue;
    }
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) continue;
    let end = i + 1;
    while (end < text.length && /[0-9.eE+-]/.test(text[end]!)) end++;
    const token = text.slice(i, end);
    if (/^-?(0|[1-9][0-9]*)$/.test(token)) {
      const integer = BigInt(token);
      if (integer >= INT64_MIN && integer <= INT64_MAX) {
        const bytes = Buffer.alloc(8);
        bytes.writeBigInt64LE(integer);
        out += `${text.slice(copiedTo, i)}{"$integer":"${bytes.toString("base64")}"}`;
        copiedTo = end;
      }
    }
    i = end - 1;
  }
  return copiedTo === 0 ? text : out + text.slice(copiedTo);
}
