/**
 * Decoding Convex values from their JSON encoding, as `jsonToConvex` from `convex/values` does,
 * except that every field becomes an own property. `jsonToConvex` assigns `out[key] = ...`, so a
 * field named `__proto__` set the object's prototype: `{"__proto__": {"isAdmin": true}}` passed
 * validators and answered `isAdmin`. Here `__proto__` is a field like any other, checked by the
 * same rules (Convex allows it where field names are free: crates/value/src/field_name.rs).
 */
import { Base64, type JSONValue, type Value } from "convex/values";

/** Convex's longest field name (MAX_IDENTIFIER_LEN in convex-js, MAX_FIELD_NAME_LENGTH in the backend). */
const MAX_FIELD_NAME_LENGTH = 1024;

/**
 * The Convex value that `json` encodes: `{"$integer": base64}` is a bigint, `{"$bytes": base64}` an
 * ArrayBuffer, `{"$float": base64}` a special float; throws jsonToConvex's errors on anything else
 * it refuses. `{"$commitTs": null}` is refused like any `$` field: convex-local has no commit-timestamp
 * placeholders, and Convex refuses it in arguments too.
 */
export function jsonToValue(json: JSONValue): Value {
  if (json === null || typeof json === "boolean" || typeof json === "number" || typeof json === "string") return json;
  if (Array.isArray(json)) return json.map(jsonToValue);
  if (typeof json !== "object") throw new Error(`Unexpected type of ${String(json)}`);
  const entries = Object.entries(json);
  if (entries.length === 1) {
    const [key, inner] = entries[0];
    switch (key) {
      case "$bytes":
        if (typeof inner !== "string") throw new Error(`Malformed $bytes field on ${describe(json)}`);
        return Base64.toByteArray(inner).buffer as ArrayBuffer;
      case "$integer":
        if (typeof inner !== "string") throw new Error(`Malformed $integer field on ${describe(json)}`);
        return eightBytes(inner, "$integer").getBigInt64(0, true);
      case "$float": {
        if (typeof inner !== "string") throw new Error(`Malformed $float field on ${describe(json)}`);
        const float = eightBytes(inner, "$float").getFloat64(0, true);
        // Ordinary numbers must be plain JSON numbers; only NaN, ±Infinity and -0 need the wrapper.
        if (!Number.isNaN(float) && Number.isFinite(float) && !Object.is(float, -0)) {
          throw new Error(`Float ${float} should be encoded as a number`);
        }
        return float;
      }
      case "$set":
        throw new Error("Received a Set which is no longer supported as a Convex type.");
      case "$map":
        throw new Error("Received a Map which is no longer supported as a Convex type.");
    }
  }
  const out: Record<string, Value> = {};
  for (const [name, inner] of entries) {
    checkFieldName(name);
    setField(out, name, jsonToValue(inner));
  }
  return out;
}

/**
 * Gives `object` the own field `name`. Use it, not `object[name] = value`, wherever a field name
 * comes from input: assigning `__proto__` would set the prototype instead of a field.
 */
export function setField<T>(object: Record<string, T>, name: string, value: T): void {
  // A name Object.prototype has is defined: `__proto__` is an accessor, and in a locked-down thread
  // (runtime/realmLockdown.ts) the others are read-only, so assigning `constructor` would throw.
  // Any other name is assigned, several times faster than defining (this runs for every field of
  // every document read).
  if (name in Object.prototype) Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
  else object[name] = value;
}

/** The 8 bytes of a `$integer` or `$float`, or jsonToConvex's error. */
function eightBytes(base64: string, wrapper: string): DataView {
  const bytes = Base64.toByteArray(base64);
  if (bytes.byteLength !== 8) throw new Error(`Received ${bytes.byteLength} bytes, expected 8 for ${wrapper}`);
  return new DataView(bytes.buffer, bytes.byteOffset, 8);
}

/** Convex's rules for a field name anywhere in a value (identifier rules apply only to some places). */
function checkFieldName(name: string): void {
  if (name.length > MAX_FIELD_NAME_LENGTH) {
    throw new Error(`Field name ${name} exceeds maximum field name length ${MAX_FIELD_NAME_LENGTH}.`);
  }
  if (name.startsWith("$")) throw new Error(`Field name ${name} starts with a '$', which is reserved.`);
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < 32 || code >= 127) {
      throw new Error(`Field name ${name} has invalid character '${name[i]}': Field names can only contain non-control ASCII characters`);
    }
  }
}

/** How jsonToConvex's messages show an object (`${value}`), without calling anything on it. */
function describe(json: object): string {
  return Object.prototype.toString.call(json);
}
