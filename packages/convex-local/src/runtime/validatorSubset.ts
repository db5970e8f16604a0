/**
 * Whether one validator accepts every value another accepts, judged from their JSON forms
 * (validator.ts). A push uses it as Convex does (`must_revalidate_table`, crates/common/src/schemas):
 * a table whose new document type accepts everything the running one enforced holds only valid
 * documents, so its documents are not read again. The answer errs towards "no": a pair it cannot
 * judge is checked document by document.
 *
 * @example
 * acceptsAllOf(v.object({ a: v.string(), b: v.optional(v.number()) }).json, v.object({ a: v.string() }).json); // true
 */
import type { FieldSpec, ValidatorJson } from "./validator.js";

/** True when every value `inner` accepts is accepted by `outer`. */
export function acceptsAllOf(outer: ValidatorJson, inner: ValidatorJson): boolean {
  if (outer.type === "any") return true;
  if (inner.type === "union") return inner.value.every((member) => acceptsAllOf(outer, member));
  if (outer.type === "union") return outer.value.some((member) => acceptsAllOf(member, inner));
  switch (inner.type) {
    case "literal":
      return (outer.type === "literal" && JSON.stringify(outer.value) === JSON.stringify(inner.value)) || outer.type === literalType(inner.value);
    case "id":
      return (outer.type === "id" && outer.tableName === inner.tableName) || outer.type === "string";
    case "array":
      return outer.type === "array" && acceptsAllOf(outer.value, inner.value);
    case "record":
      return outer.type === "record" && acceptsAllOf(outer.keys, inner.keys) && fieldAcceptsAllOf(outer.values, inner.values);
    case "object": {
      if (outer.type !== "object") return false;
      for (const [name, field] of Object.entries(outer.value)) {
        const innerField = inner.value[name];
        if (innerField === undefined ? !field.optional : !fieldAcceptsAllOf(field, innerField)) return false;
      }
      // A field only `inner` allows would be refused by `outer` (objects hold only their declared fields).
      return Object.keys(inner.value).every((name) => name in outer.value);
    }
    case "function":
      return false;
    default:
      return outer.type === inner.type;
  }
}

function fieldAcceptsAllOf(outer: FieldSpec, inner: FieldSpec): boolean {
  return (outer.optional || !inner.optional) && acceptsAllOf(outer.fieldType, inner.fieldType);
}

/** The validator type every value of a literal belongs to (int64 literals are encoded as `{$integer}`). */
function literalType(value: unknown): ValidatorJson["type"] | undefined {
  if (typeof value === "string") return "string";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "object" && value !== null && "$integer" in value) return "bigint";
  return undefined;
}
