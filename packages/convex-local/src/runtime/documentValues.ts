/**
 * The shape rules Convex enforces on every stored document, with its limits
 * (https://docs.convex.dev/production/state/limits and https://docs.convex.dev/database/types).
 */
import type { Value } from "convex/values";
import { types } from "node:util";
import { truncateText } from "../text/valueText.js";

export const MAX_DOCUMENT_BYTES = 1024 * 1024;
export const MAX_NESTING_DEPTH = 16;
export const MAX_ARRAY_LENGTH = 8192;
export const MAX_OBJECT_FIELDS = 1024;
export const MAX_FIELD_NAME_LENGTH = 1024;

export class InvalidDocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidDocumentError";
  }
}

/** Throws InvalidDocumentError naming the first rule the document (without system fields) breaks. */
export function checkDocument(document: Record<string, Value | undefined>, jsonLength: number): void {
  if (jsonLength > MAX_DOCUMENT_BYTES) {
    throw new InvalidDocumentError(`Document is too large (${jsonLength} bytes, limit ${MAX_DOCUMENT_BYTES} bytes)`);
  }
  for (const field of Object.keys(document)) {
    if (document[field] === undefined) continue;
    if (field.startsWith("_")) {
      throw new InvalidDocumentError(`Field name ${truncateText(field)} starts with a '_', which is reserved for system fields.`);
    }
  }
  checkNested(document, 1, "");
}

function checkNested(value: Value | undefined, depth: number, path: string): void {
  if (depth > MAX_NESTING_DEPTH) {
    throw new InvalidDocumentError(`Document is too nested (nested depth > ${MAX_NESTING_DEPTH}) at path ${path || "."}`);
  }
  if (Array.isArray(value)) {
    if (value.length > MAX_ARRAY_LENGTH) {
      throw new InvalidDocumentError(`Array length is too long (${value.length} > maximum length ${MAX_ARRAY_LENGTH}) at path ${path || "."}`);
    }
    value.forEach((item, index) => checkNested(item, depth + 1, `${path}[${index}]`));
    return;
  }
  if (typeof value !== "object" || value === null || types.isArrayBuffer(value)) return;
  const fields = Object.keys(value);
  if (fields.length > MAX_OBJECT_FIELDS) {
    throw new InvalidDocumentError(`Object has too many fields (${fields.length} > maximum number ${MAX_OBJECT_FIELDS}) at path ${path || "."}`);
  }
  for (const field of fields) {
    checkFieldName(field, `${path}.${field}`);
    checkNested((value as Record<string, Value>)[field], depth + 1, `${path}.${field}`);
  }
}

function checkFieldName(field: string, path: string): void {
  if (field.length === 0) throw new InvalidDocumentError(`Empty field names are not allowed (at path ${path})`);
  if (field.length > MAX_FIELD_NAME_LENGTH) {
    throw new InvalidDocumentError(`Field name is too long (${field.length} > maximum length ${MAX_FIELD_NAME_LENGTH}) at path ${path}`);
  }
  if (field.startsWith("$")) throw new InvalidDocumentError(`Field name ${field} starts with a '$', which is reserved.`);
  for (const char of field) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || code > 0x7e) {
      throw new InvalidDocumentError(`Field name ${JSON.stringify(field)} has invalid character: field names can only contain non-control ASCII characters`);
    }
  }
}

/** Table names: identifiers of letters, digits and underscores, not starting with `_` for user tables. */
export function checkTableName(name: string): void {
  if (!/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/.test(name)) {
    throw new InvalidDocumentError(
      `Invalid table name: "${name}". Identifiers must start with a letter and can only contain letters, digits and underscores (at most 64 characters).`,
    );
  }
}

/** Convex's nesting limit for any value: function arguments and return values (crates/value/src/size.rs). */
export const MAX_VALUE_NESTING = 64;

/**
 * Throws Convex's "Value is too nested" error when `value` (primitives nest 0, each array or object
 * one more) is nested deeper than MAX_VALUE_NESTING. Iterative, so hostile depth cannot overflow
 * the stack before the check.
 */
export function checkValueNesting(value: unknown): void {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (typeof current !== "object" || current === null) continue;
    const nesting = depth + 1;
    if (nesting > MAX_VALUE_NESTING) {
      throw new InvalidDocumentError(`Value is too nested (nested ${nesting} levels deep > maximum nesting ${MAX_VALUE_NESTING})`);
    }
    for (const item of Object.values(current)) pending.push([item, nesting]);
  }
}

/**
 * The path (`.a.b`, `[2]`) of the first field named `__proto__` in `value`, or null. The app's own
 * `convex` package decodes arguments inside the isolate with `jsonToConvex`, which assigns fields:
 * there such a field would set the object's prototype (or vanish), so arguments holding one are
 * refused before they reach it. Iterative, like checkValueNesting.
 */
export function prototypeFieldPath(value: Value): string | null {
  const pending: [Value | undefined, string][] = [[value, ""]];
  while (pending.length > 0) {
    const [current, path] = pending.pop()!;
    if (typeof current !== "object" || current === null || types.isArrayBuffer(current)) continue;
    if (Array.isArray(current)) {
      current.forEach((item, index) => pending.push([item, `${path}[${index}]`]));
      continue;
    }
    for (const [field, item] of Object.entries(current)) {
      if (field === "__proto__") return `${path}.${field}`;
      pending.push([item, `${path}.${field}`]);
    }
  }
  return null;
}
