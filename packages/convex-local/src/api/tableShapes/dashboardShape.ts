/**
 * A table's inferred shape as `/api/shapes2` answers it (the dashboard's and the MCP server's
 * `inferredSchema`): reduced as crates/common/src/shapes/reduced.rs reduces it — string literals
 * and field names become strings, ids of tables that exist stay ids, the objects of a union become
 * one object whose fields are optional where some object lacks them — and written as
 * crates/common/src/shapes/dashboard.rs writes it.
 *
 *   dashboardShape(shape, (table) => storage.tableName(table))
 *   // { type: "Object", fields: [{ fieldName: "_creationTime", optional: false, shape: { type: "Float64", … } }, …] }
 */
import type { JSONValue } from "convex/values";
import { buildUnion, compareSequences, compareStrings, idTable, mergedObjectFields, type Shape } from "./shapeInference.js";

type ReducedShape =
  | { kind: "Unknown" | "Never" | "Null" | "Int64" | "Boolean" | "String" | "Bytes" }
  | { kind: "Id"; table: number }
  | { kind: "Float64"; hasSpecialValues: boolean }
  | { kind: "Object"; fields: [name: string, field: ReducedField][] }
  | { kind: "Array"; element: ReducedShape }
  | { kind: "Record"; key: ReducedShape; value: ReducedField }
  | { kind: "Union"; shapes: ReducedShape[] };

interface ReducedField {
  optional: boolean;
  shape: ReducedShape;
}

/** The name of a table by number; undefined when there is no such table. */
export type TableNames = (table: number) => string | undefined;

/** The declaration order of `ReducedShape`, which its derived ordering (of union members) follows. */
const REDUCED_ORDER = ["Unknown", "Never", "Id", "Null", "Int64", "Float64", "Boolean", "String", "Bytes", "Object", "Array", "Record", "Union"];

export function dashboardShape(shape: Shape, tableNames: TableNames): JSONValue {
  return dashboardJson(reduce(shape, tableNames), tableNames);
}

/** `ReducedShape::from_type`. */
function reduce(shape: Shape, tableNames: TableNames): ReducedShape {
  const variant = shape.variant;
  switch (variant.kind) {
    case "Never":
    case "Null":
    case "Int64":
    case "Boolean":
    case "Bytes":
    case "Unknown":
    case "String":
      return { kind: variant.kind };
    case "FieldName":
      return { kind: "String" };
    case "NormalFloat64":
      return { kind: "Float64", hasSpecialValues: false };
    case "Float64":
    case "NegativeInf":
    case "PositiveInf":
    case "NegativeZero":
    case "NaN":
      return { kind: "Float64", hasSpecialValues: true };
    case "StringLiteral":
    case "Id": {
      const table = variant.kind === "Id" ? variant.table : idTable(variant.literal);
      return table !== undefined && tableNames(table) !== undefined ? { kind: "Id", table } : { kind: "String" };
    }
    case "Array":
      return { kind: "Array", element: reduce(variant.element, tableNames) };
    case "Object":
      return { kind: "Object", fields: variant.fields.map(([name, field]) => [name, { optional: field.optional, shape: reduce(field.shape, tableNames) }]) };
    case "Record":
      return {
        kind: "Record",
        key: reduce(variant.field, tableNames),
        value: { optional: hasStringLiteral(variant.field), shape: reduce(variant.value, tableNames) },
      };
    case "Union":
      return reduceUnion(variant.variants, tableNames);
  }
}

/** `reduce_union_type`: the union's objects as one object; its floats as one float64. */
function reduceUnion(variants: Shape[], tableNames: TableNames): ReducedShape {
  const reduced: ReducedShape[] = [];
  const add = (shape: ReducedShape) => {
    if (!reduced.some((existing) => compareReduced(existing, shape) === 0)) reduced.push(shape);
  };
  let float: boolean | undefined;
  for (const variant of variants) {
    if (variant.variant.kind === "Object") continue;
    const shape = reduce(variant, tableNames);
    if (shape.kind === "Float64") float = (float ?? false) || shape.hasSpecialValues;
    else add(shape);
  }
  const objects = variants.filter((variant) => variant.variant.kind === "Object");
  if (objects.length > 0) {
    const fields = [...mergedObjectFields(objects)]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([name, { builder, optional }]): [string, ReducedField] => [name, { optional, shape: reduce(buildUnion(builder), tableNames) }]);
    add({ kind: "Object", fields });
  }
  if (float !== undefined) add({ kind: "Float64", hasSpecialValues: float });
  reduced.sort(compareReduced);
  if (reduced.length === 0) return { kind: "Never" };
  return reduced.length === 1 ? reduced[0]! : { kind: "Union", shapes: reduced };
}

/** `is_string_subtype_with_string_literal`: a record whose keys may be literals may lack any of them. */
function hasStringLiteral(shape: Shape): boolean {
  const variant = shape.variant;
  return variant.kind === "StringLiteral" || (variant.kind === "Union" && variant.variants.some(hasStringLiteral));
}

function compareReduced(a: ReducedShape, b: ReducedShape): number {
  const byKind = REDUCED_ORDER.indexOf(a.kind) - REDUCED_ORDER.indexOf(b.kind);
  if (byKind !== 0) return byKind;
  switch (a.kind) {
    case "Id":
      return a.table - (b as typeof a).table;
    case "Float64":
      return Number(a.hasSpecialValues) - Number((b as typeof a).hasSpecialValues);
    case "Object":
      return compareSequences(a.fields, (b as typeof a).fields, ([nameA, fieldA], [nameB, fieldB]) => compareStrings(nameA, nameB) || compareFields(fieldA, fieldB));
    case "Array":
      return compareReduced(a.element, (b as typeof a).element);
    case "Record": {
      const other = b as typeof a;
      return compareReduced(a.key, other.key) || compareFields(a.value, other.value);
    }
    case "Union":
      return compareSequences(a.shapes, (b as typeof a).shapes, compareReduced);
    default:
      return 0;
  }
}

function compareFields(a: ReducedField, b: ReducedField): number {
  return Number(a.optional) - Number(b.optional) || compareReduced(a.shape, b.shape);
}

/** `dashboard_shape_json`, keys in the order it writes them (Convex's JSON keeps insertion order). */
function dashboardJson(shape: ReducedShape, tableNames: TableNames): JSONValue {
  switch (shape.kind) {
    case "Id": {
      const tableName = tableNames(shape.table);
      return tableName === undefined ? { type: "String" } : { type: "Id", tableName };
    }
    case "Float64":
      return { type: "Float64", float64Range: { hasSpecialValues: shape.hasSpecialValues } };
    case "Object":
      return {
        type: "Object",
        fields: shape.fields.map(([fieldName, field]) => ({ fieldName, optional: field.optional, shape: dashboardJson(field.shape, tableNames) })),
      };
    case "Record":
      return {
        type: "Record",
        keyShape: dashboardJson(shape.key, tableNames),
        valueShape: { optional: shape.value.optional, shape: dashboardJson(shape.value.shape, tableNames) },
      };
    case "Array":
      return { type: "Array", shape: dashboardJson(shape.element, tableNames) };
    case "Union":
      return { type: "Union", shapes: shape.shapes.map((member) => dashboardJson(member, tableNames)) };
    default:
      return { type: shape.kind };
  }
}
