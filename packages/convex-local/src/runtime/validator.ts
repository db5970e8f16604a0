/**
 * Checks Convex values against the JSON form of `convex/values` validators — the form that
 * `exportArgs()`, `exportReturns()` and `defineSchema(...).export()` produce — with Convex's messages.
 */
import type { Value } from "convex/values";
import { types } from "node:util";
import { quoteValue } from "../text/valueText.js";
import { isFunctionHandle } from "./functionHandles.js";

export type FieldSpec = { fieldType: ValidatorJson; optional: boolean };
export type ValidatorJson =
  | { type: "null" | "number" | "bigint" | "boolean" | "string" | "bytes" | "any" }
  | { type: "literal"; value: unknown }
  | { type: "id"; tableName: string }
  | { type: "array"; value: ValidatorJson }
  | { type: "record"; keys: ValidatorJson; values: FieldSpec }
  | { type: "object"; value: Record<string, FieldSpec> }
  | { type: "union"; value: ValidatorJson[] }
  // `v.function()` (convex ≥ 1.49): fnType, args and returns are for types and codegen only.
  | { type: "function"; fnType?: "query" | "mutation" | "action"; args?: ValidatorJson; returns?: ValidatorJson };

/** Resolves the table of an id string, or null when it is not a valid id. */
export type IdTableResolver = (id: string) => string | null;

/** Describes a mismatch: where, and a message in Convex's wording. */
export interface ValidationFailure {
  path: string;
  message: string;
}

export function validateValue(
  value: Value | undefined,
  validator: ValidatorJson,
  idTable: IdTableResolver,
): ValidationFailure | null {
  return check(value, validator, "", idTable);
}

function check(value: Value | undefined, validator: ValidatorJson, path: string, idTable: IdTableResolver): ValidationFailure | null {
  const mismatch = (): ValidationFailure => ({
    path,
    message: `Value does not match validator.\nPath: ${path || "."}\nValue: ${quoteValue(value)}\nValidator: ${formatValidator(validator)}`,
  });
  switch (validator.type) {
    case "any":
      return value === undefined ? mismatch() : null;
    case "null":
      return value === null ? null : mismatch();
    case "number":
      return typeof value === "number" ? null : mismatch();
    case "bigint":
      return typeof value === "bigint" ? null : mismatch();
    case "boolean":
      return typeof value === "boolean" ? null : mismatch();
    case "string":
      return typeof value === "string" ? null : mismatch();
    case "bytes":
      return types.isArrayBuffer(value) ? null : mismatch();
    case "literal":
      return literalMatches(value, validator.value) ? null : mismatch();
    case "id": {
      if (typeof value !== "string") return mismatch();
      const table = idTable(value);
      return table === validator.tableName ? null : mismatch();
    }
    case "array": {
      if (!Array.isArray(value)) return mismatch();
      for (let i = 0; i < value.length; i++) {
        const failure = check(value[i], validator.value, `${path}[${i}]`, idTable);
        if (failure) return failure;
      }
      return null;
    }
    case "record": {
      if (!isPlainObject(value)) return mismatch();
      for (const [key, fieldValue] of Object.entries(value)) {
        const keyFailure = check(key, validator.keys, `${path}.${key}`, idTable);
        if (keyFailure) return keyFailure;
        const failure = check(fieldValue, validator.values.fieldType, `${path}.${key}`, idTable);
        if (failure) return failure;
      }
      return null;
    }
    case "object": {
      if (!isPlainObject(value)) return mismatch();
      // Own fields only, on both sides: `constructor` or `toString` are fields like any other, never inherited ones.
      for (const [field, spec] of Object.entries(validator.value)) {
        const fieldValue = Object.hasOwn(value, field) ? value[field] : undefined;
        if (fieldValue === undefined) {
          if (spec.optional) continue;
          return {
            path: `${path}.${field}`,
            message:
              `Object is missing the required field \`${field}\`. Consider wrapping the field validator in \`v.optional(...)\` if this is expected.\n\n` +
              `Object: ${quoteValue(value)}\nValidator: ${formatValidator(validator)}`,
          };
        }
        const failure = check(fieldValue, spec.fieldType, `${path}.${field}`, idTable);
        if (failure) return failure;
      }
      for (const field of Object.keys(value)) {
        if (!Object.hasOwn(validator.value, field) && value[field] !== undefined) {
          return {
            path: `${path}.${field}`,
            message:
              `Object contains extra field \`${field}\` that is not in the validator.\n\n` +
              `Object: ${quoteValue(value)}\nValidator: ${formatValidator(validator)}`,
          };
        }
      }
      return null;
    }
    case "union":
      return validator.value.some((member) => check(value, member, path, idTable) === null) ? null : mismatch();
    case "function":
      // A well-formed handle, whether or not its function still exists (as `v.function()` documents).
      return typeof value === "string" && isFunctionHandle(value) ? null : mismatch();
  }
}

function isPlainObject(value: unknown): value is Record<string, Value | undefined> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || types.isArrayBuffer(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === null || prototype === Object.prototype || prototype?.constructor?.name === "Object";
}

function literalMatches(value: Value | undefined, literal: unknown): boolean {
  if (typeof literal === "object" && literal !== null && "$integer" in literal) {
    return typeof value === "bigint" && value === decodeInt64((literal as { $integer: string }).$integer);
  }
  return value === literal;
}

function decodeInt64(base64: string): bigint {
  return Buffer.from(base64, "base64").readBigInt64LE(0);
}

/** Renders a validator the way it is written in code: `v.object({ a: v.string() })`. */
export function formatValidator(validator: ValidatorJson): string {
  switch (validator.type) {
    case "null":
    case "number":
    case "bigint":
    case "boolean":
    case "string":
    case "bytes":
    case "any":
      return `v.${validator.type === "bigint" ? "int64" : validator.type === "number" ? "float64" : validator.type}()`;
    case "literal": {
      const literal = validator.value;
      const shown = typeof literal === "object" && literal !== null ? `${decodeInt64((literal as { $integer: string }).$integer)}n` : JSON.stringify(literal);
      return `v.literal(${shown})`;
    }
    case "id":
      return `v.id("${validator.tableName}")`;
    case "array":
      return `v.array(${formatValidator(validator.value)})`;
    case "record":
      return `v.record(${formatValidator(validator.keys)}, ${formatValidator(validator.values.fieldType)})`;
    case "object": {
      const fields = Object.entries(validator.value).map(([name, spec]) => {
        const inner = formatValidator(spec.fieldType);
        return `${name}: ${spec.optional ? `v.optional(${inner})` : inner}`;
      });
      return `v.object({${fields.join(", ")}})`;
    }
    case "union":
      return `v.union(${validator.value.map(formatValidator).join(", ")})`;
    case "function":
      return "v.function()";
  }
}
