/**
 * A validator's JSON form as Convex stores and returns it: parsed and written again by serde
 * (crates/common/src/schemas/json.rs `ValidatorJson`, `FieldTypeJson`), so the `type` tag comes
 * first, then the variant's fields, and an object's fields are sorted (a BTreeMap) — where the
 * CLI's `.json` keeps them in the order they were written.
 *
 *   validatorJson({ type: "object", value: { b: B, a: A } }) // { type: "object", value: { a: A', b: B' } }
 */
import type { JSONValue } from "convex/values";
import type { FieldSpec, ValidatorJson } from "../../runtime/validator.js";

export function validatorJson(validator: ValidatorJson): JSONValue {
  switch (validator.type) {
    case "literal":
      return { type: "literal", value: validator.value as JSONValue };
    case "id":
      return { type: "id", tableName: validator.tableName };
    case "array":
      return { type: "array", value: validatorJson(validator.value) };
    case "record":
      return { type: "record", keys: validatorJson(validator.keys), values: fieldJson(validator.values) };
    case "object": {
      const fields: Record<string, JSONValue> = {};
      for (const name of Object.keys(validator.value).sort(compareUtf8)) fields[name] = fieldJson(validator.value[name]!);
      return { type: "object", value: fields };
    }
    case "union":
      return { type: "union", value: validator.value.map(validatorJson) };
    default:
      return { type: validator.type };
  }
}

function fieldJson({ fieldType, optional }: FieldSpec): JSONValue {
  return { fieldType: validatorJson(fieldType), optional };
}

/** Rust's `str` order (by UTF-8 bytes), the order of BTreeMap keys. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
