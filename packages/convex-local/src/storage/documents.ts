/**
 * Helpers on stored documents: canonical JSON text and index key extraction.
 */
import type { JSONValue, Value } from "convex/values";

import { encodeIndexKey } from "./keys.js";
import { jsonToValue, setField } from "./values.js";

/** A document (or user value) in Convex's JSON encoding. */
export type JsonObject = { [field: string]: JSONValue };

/** Whether a parsed JSON value is an object (not null, not an array); its fields are not checked. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function compareFieldNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Copies `v` with every object's fields in byte order of their names, as Convex stores objects. */
function sortFields(v: JSONValue): JSONValue {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(sortFields);
  const out: JsonObject = {};
  for (const name of Object.keys(v).sort(compareFieldNames)) setField(out, name, sortFields(v[name]));
  return out;
}

/**
 * Builds the stored JSON text of a document: `fields` plus the system fields
 * `_id` and `_creationTime`, every object's fields sorted by name (Convex
 * objects are ordered maps, so documents read back in this order).
 */
export function documentJson(fields: JsonObject, id: string, creationTime: number): string {
  return JSON.stringify(sortFields({ ...fields, _id: id, _creationTime: creationTime }));
}

/**
 * The value at a dotted field path (`"a.b.c"`) of a document, or undefined if
 * any step is missing or not an object.
 */
export function valueAtPath(doc: Value, path: string): Value | undefined {
  let current: Value | undefined = doc;
  for (const step of path.split(".")) {
    if (
      current === null ||
      typeof current !== "object" ||
      Array.isArray(current) ||
      current instanceof ArrayBuffer ||
      !Object.prototype.hasOwnProperty.call(current, step)
    ) {
      return undefined;
    }
    current = (current as Record<string, Value | undefined>)[step];
  }
  return current;
}

/** Parses stored document JSON text into a Convex value. */
export function parseDocument(json: string): Value {
  return jsonToValue(JSON.parse(json) as JSONValue);
}

/** The index key of `doc` for an index over `keyFields` (which end with `_id`). */
export function indexKeyOf(doc: Value, keyFields: readonly string[]): Buffer {
  return encodeIndexKey(keyFields.map((path) => valueAtPath(doc, path)));
}
