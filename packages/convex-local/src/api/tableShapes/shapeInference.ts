/**
 * Convex's shape inference: the type of a table's documents, inferred from the documents
 * themselves, as crates/shape_inference infers it with its production configuration (unions of at
 * most 16 disjoint shapes, objects of at most 64 fields, string literals only for identifiers).
 * Shapes count the values they hold; a union merges a new shape into a variant it is a subtype
 * of, or else adds it and, to keep variants disjoint and few, contracts overlapping ones into a
 * common supertype (arrays, records, ids, field names, strings, float64, objects, then unknown).
 *
 *   let shape = NEVER;
 *   for (const document of documents) shape = insertValue(shape, document);
 *
 * Only insertion is ported: a table's shape is built from its documents in creation order, the
 * order a table whose documents are never deleted reached its shape on Convex.
 */
import type { Value } from "convex/values";
import { decodeDocumentId } from "../../storage/ids.js";

export type ShapeVariant =
  | { kind: "Never" | "Null" | "Int64" | "NegativeInf" | "PositiveInf" | "NegativeZero" | "NaN" | "NormalFloat64" | "Float64" }
  | { kind: "Boolean" | "FieldName" | "String" | "Bytes" | "Unknown" }
  | { kind: "StringLiteral"; literal: string }
  | { kind: "Id"; table: number }
  | { kind: "Array"; element: Shape }
  | { kind: "Object"; fields: ObjectFields }
  | { kind: "Record"; field: Shape; value: Shape }
  | { kind: "Union"; variants: Shape[] };

/** A multiset of values: their shape and how many there are. */
export interface Shape {
  variant: ShapeVariant;
  count: number;
}

export interface ObjectField {
  shape: Shape;
  optional: boolean;
}

/** An object's fields, sorted by name (a BTreeMap). */
export type ObjectFields = [name: string, field: ObjectField][];

const MAX_UNION_LENGTH = 16;
const MAX_OBJECT_FIELDS = 64;
const MAX_IDENTIFIER_LENGTH = 64;
const MAX_FIELD_NAME_LENGTH = 1024;

/** The float64 shapes below `Float64`: the special values, and every other float. */
const FLOAT_KINDS = new Set(["NegativeInf", "PositiveInf", "NegativeZero", "NaN", "NormalFloat64"]);

export const NEVER: Shape = { variant: { kind: "Never" }, count: 0 };

/** The declaration order of `ShapeEnum`, which its derived ordering follows. */
const VARIANT_ORDER = [
  "Never", "Null", "Int64", "NegativeInf", "PositiveInf", "NegativeZero", "NaN", "NormalFloat64", "Float64", "Boolean",
  "StringLiteral", "Id", "FieldName", "String", "Bytes", "Array", "Object", "Record", "Union", "Unknown",
];

/** The shape with one more value (`CountedShape::insert_value`). */
export function insertValue(shape: Shape, value: Value): Shape {
  const variants = shape.variant.kind === "Union" ? [...shape.variant.variants] : pushShape([], shape);
  return buildUnion(pushShape(variants, shapeOf(value)));
}

// ---- shapes of values ------------------------------------------------------------------------

function shapeOf(value: Value): Shape {
  return { variant: variantOf(value), count: 1 };
}

function variantOf(value: Value): ShapeVariant {
  if (value === null) return { kind: "Null" };
  if (typeof value === "bigint") return { kind: "Int64" };
  if (typeof value === "number") return float64Variant(value);
  if (typeof value === "boolean") return { kind: "Boolean" };
  if (typeof value === "string") return stringVariant(value);
  if (value instanceof ArrayBuffer) return { kind: "Bytes" };
  if (Array.isArray(value)) {
    let element: Shape[] = [];
    for (const item of value) element = pushShape(element, shapeOf(item));
    return { kind: "Array", element: buildUnion(element) };
  }
  return objectVariant(value as Record<string, Value>);
}

function float64Variant(f: number): ShapeVariant {
  if (Number.isNaN(f)) return { kind: "NaN" };
  if (f === Infinity) return { kind: "PositiveInf" };
  if (f === -Infinity) return { kind: "NegativeInf" };
  if (Object.is(f, -0)) return { kind: "NegativeZero" };
  return { kind: "NormalFloat64" };
}

/** `StringLiteralShape::shape_of`: a literal for identifiers, else an id, a field name or any string. */
function stringVariant(s: string): ShapeVariant {
  if (isValidIdentifier(s)) return { kind: "StringLiteral", literal: s };
  const table = idTable(s);
  if (table !== undefined) return { kind: "Id", table };
  if (isValidFieldName(s)) return { kind: "FieldName" };
  return { kind: "String" };
}

/** `ObjectShape::shape_of`: an object of known fields, or a record when there are too many or they are no identifiers. */
function objectVariant(object: Record<string, Value>): ShapeVariant {
  const entries = Object.entries(object).sort(([a], [b]) => compareStrings(a, b));
  if (entries.length <= MAX_OBJECT_FIELDS && entries.every(([name]) => isValidIdentifier(name))) {
    return { kind: "Object", fields: entries.map(([name, value]) => [name, { shape: shapeOf(value), optional: false }]) };
  }
  let fields: Shape[] = [];
  let values: Shape[] = [];
  for (const [name, value] of entries) {
    fields = pushShape(fields, { variant: stringVariant(name), count: 1 });
    values = pushShape(values, shapeOf(value));
  }
  return { kind: "Record", field: buildUnion(fields), value: buildUnion(values) };
}

// ---- unions (union.rs) -----------------------------------------------------------------------

/** `UnionBuilder::push`: the union's variants (sorted, disjoint) with `shape` added. */
function pushShape(variants: Shape[], shape: Shape): Shape[] {
  if (shape.count === 0) return variants;
  if (shape.variant.kind === "Union") {
    for (const variant of shape.variant.variants) variants = pushShape(variants, variant);
    return variants;
  }
  if (variants.length === 0) return [shape];
  // Merged into the first variant it is a subtype of, in order.
  for (let i = 0; i < variants.length; i++) {
    const merged = mergeIfSubtype(shape, variants[i]!);
    if (merged !== undefined) return sortedShapes([...variants.slice(0, i), merged, ...variants.slice(i + 1)]);
  }
  return contract(addNewShape(variants, shape), MAX_UNION_LENGTH);
}

/** `UnionBuilder::add_new_shape`: adds a shape to disjoint ones, merging whatever it overlaps. */
function addNewShape(shapes: Shape[], newShape: Shape): Shape[] {
  for (;;) {
    const noSubtypes: Shape[] = [];
    for (const existing of shapes) {
      const merged = mergeIfSubtype(existing, newShape);
      if (merged !== undefined) newShape = merged;
      else noSubtypes.push(existing);
    }
    const overlapping: Shape[] = [];
    const nonOverlapping: Shape[] = [];
    for (const existing of noSubtypes) (mayOverlap(existing.variant, newShape.variant) ? overlapping : nonOverlapping).push(existing);
    if (overlapping.length === 0) return sortedShapes([...nonOverlapping, newShape]);
    newShape = contract(sortedShapes([...overlapping, newShape]), 1)[0]!;
    shapes = nonOverlapping;
  }
}

/** `UnionBuilder::contract`: replaces shapes by supertypes until at most `goal` remain. */
function contract(shapes: Shape[], goal: number): Shape[] {
  while (shapes.length > goal) {
    const initialSize = shapes.length;
    for (const [candidate, merged] of supertypeCandidates(shapes)) {
      const contracted = addNewShape(
        shapes.filter((_, i) => !merged.includes(i)),
        candidate,
      );
      if (contracted.length < initialSize) {
        shapes = contracted;
        break;
      }
    }
  }
  return shapes;
}

/** `UnionBuilder::build`. */
export function buildUnion(variants: Shape[]): Shape {
  if (variants.length === 0) return NEVER;
  if (variants.length === 1) return variants[0]!;
  return { variant: { kind: "Union", variants }, count: variants.reduce((sum, v) => sum + v.count, 0) };
}

// ---- supertypes (supertype.rs) ---------------------------------------------------------------

/** Supertypes of some of `types`, each with the positions it covers, from the most to the least precise. */
function* supertypeCandidates(types: Shape[]): Generator<[Shape, number[]]> {
  const array = arrayCandidate(types);
  if (array !== undefined) yield array;
  const anyRecord = types.some((t) => t.variant.kind === "Record");
  if (anyRecord) {
    const record = recordCandidate(types);
    if (record !== undefined) yield record;
  }
  yield* idCandidates(types);
  /** One shape of `kind` over every type `covers`, when there are two or more. */
  const kindCandidate = (covers: (variant: ShapeVariant) => boolean, kind: "FieldName" | "String" | "Float64") => {
    const indexes = types.flatMap((t, i) => (covers(t.variant) ? [i] : []));
    return indexes.length < 2 ? undefined : ([{ variant: { kind }, count: countOf(types, indexes) }, indexes] as [Shape, number[]]);
  };
  const fieldName = kindCandidate(
    (v) => (v.kind === "StringLiteral" ? isValidFieldName(v.literal) : v.kind === "Id" || v.kind === "FieldName"),
    "FieldName",
  );
  if (fieldName !== undefined) yield fieldName;
  const string = kindCandidate((v) => v.kind === "StringLiteral" || v.kind === "Id" || v.kind === "FieldName" || v.kind === "String", "String");
  if (string !== undefined) yield string;
  const float64 = kindCandidate((v) => FLOAT_KINDS.has(v.kind) || v.kind === "Float64", "Float64");
  if (float64 !== undefined) yield float64;
  const object = objectCandidate(types);
  if (object !== undefined) yield object;
  if (!anyRecord) {
    const record = recordCandidate(types);
    if (record !== undefined) yield record;
  }
  yield [{ variant: { kind: "Unknown" }, count: countOf(types, types.map((_, i) => i)) }, types.map((_, i) => i)];
}

function countOf(types: Shape[], indexes: number[]): number {
  return indexes.reduce((sum, i) => sum + types[i]!.count, 0);
}

function* idCandidates(types: Shape[]): Generator<[Shape, number[]]> {
  const byTable = new Map<number, number[]>();
  types.forEach((t, i) => {
    const table = t.variant.kind === "StringLiteral" ? idTable(t.variant.literal) : t.variant.kind === "Id" ? t.variant.table : undefined;
    if (table !== undefined) byTable.set(table, [...(byTable.get(table) ?? []), i]);
  });
  for (const table of [...byTable.keys()].sort((a, b) => a - b)) {
    const indexes = byTable.get(table)!;
    if (indexes.length >= 2) yield [{ variant: { kind: "Id", table }, count: countOf(types, indexes) }, indexes];
  }
}

/** One array whose element is the union of every array's elements. */
function arrayCandidate(types: Shape[]): [Shape, number[]] | undefined {
  let element: Shape[] = [];
  const indexes: number[] = [];
  types.forEach((t, i) => {
    if (t.variant.kind !== "Array") return;
    element = pushShape(element, t.variant.element);
    indexes.push(i);
  });
  if (indexes.length < 2) return undefined;
  return [{ variant: { kind: "Array", element: buildUnion(element) }, count: countOf(types, indexes) }, indexes];
}

/** One object with every object's fields, optional where some object lacks them. */
function objectCandidate(types: Shape[]): [Shape, number[]] | undefined {
  const indexes = types.flatMap((t, i) => (t.variant.kind === "Object" ? [i] : []));
  if (indexes.length < 2) return undefined;
  const merged = mergedObjectFields(indexes.map((i) => types[i]!));
  if (merged.size > MAX_OBJECT_FIELDS) return undefined;
  const fields: ObjectFields = [...merged].map(([name, { builder, optional }]) => [name, { shape: buildUnion(builder), optional }]);
  return [{ variant: { kind: "Object", fields: fields.sort(([a], [b]) => compareStrings(a, b)) }, count: countOf(types, indexes) }, indexes];
}

/**
 * The fields of several object shapes together: each field's shapes in one union, optional when it
 * is optional in one of them or missing from one (shared by `object_candidate` and the reduction
 * of a union of objects).
 */
export function mergedObjectFields(objects: Shape[]): Map<string, { builder: Shape[]; optional: boolean }> {
  const merged = new Map<string, { builder: Shape[]; optional: boolean }>();
  let seen = 0;
  for (const object of objects) {
    if (object.variant.kind !== "Object") continue;
    const fields = new Map(object.variant.fields);
    for (const [name, field] of object.variant.fields) {
      const existing = merged.get(name);
      const entry = existing ?? { builder: [], optional: seen > 0 };
      entry.optional ||= field.optional;
      entry.builder = pushShape(entry.builder, field.shape);
      merged.set(name, entry);
    }
    for (const [name, entry] of merged) if (!fields.has(name)) entry.optional = true;
    seen += object.count;
  }
  return merged;
}

/** One record over every record's and object's fields and values. */
function recordCandidate(types: Shape[]): [Shape, number[]] | undefined {
  let fields: Shape[] = [];
  let values: Shape[] = [];
  const indexes: number[] = [];
  types.forEach((t, i) => {
    if (t.variant.kind === "Record") {
      fields = pushShape(fields, t.variant.field);
      values = pushShape(values, t.variant.value);
      indexes.push(i);
    }
    if (t.variant.kind === "Object") {
      for (const [name, field] of t.variant.fields) {
        fields = pushShape(fields, { variant: stringVariant(name), count: field.shape.count });
        values = pushShape(values, field.shape);
      }
      indexes.push(i);
    }
  });
  if (indexes.length < 2) return undefined;
  return [{ variant: { kind: "Record", field: buildUnion(fields), value: buildUnion(values) }, count: countOf(types, indexes) }, indexes];
}

// ---- subtyping (subtype.rs, overlaps.rs) -----------------------------------------------------

/** `t <= u` as sets of values. */
function isSubtype(t: ShapeVariant, u: ShapeVariant): boolean {
  if (t.kind === "Never") return true;
  if (t.kind === "Union") return t.variants.every((v) => isSubtype(v.variant, u));
  if (u.kind === "Union") return u.variants.some((v) => isSubtype(t, v.variant));
  if (u.kind === "Unknown") return true;
  switch (t.kind) {
    case "Null":
    case "Int64":
    case "Boolean":
    case "Bytes":
    case "String":
    case "Float64":
      return u.kind === t.kind;
    case "StringLiteral":
      if (u.kind === "StringLiteral") return u.literal === t.literal;
      if (u.kind === "Id") return idTable(t.literal) === u.table;
      if (u.kind === "FieldName") return isValidFieldName(t.literal);
      return u.kind === "String";
    case "Id":
      return (u.kind === "Id" && u.table === t.table) || u.kind === "FieldName" || u.kind === "String";
    case "FieldName":
      return u.kind === "FieldName" || u.kind === "String";
    case "Array":
      return u.kind === "Array" && isSubtype(t.element.variant, u.element.variant);
    case "Object":
      if (u.kind === "Object") {
        const other = new Map(u.fields);
        for (const [name, field] of t.fields) {
          const otherField = other.get(name);
          if (otherField === undefined || (field.optional && !otherField.optional)) return false;
          if (!isSubtype(field.shape.variant, otherField.shape.variant)) return false;
        }
        const own = new Set(t.fields.map(([name]) => name));
        return u.fields.every(([name, field]) => own.has(name) || field.optional);
      }
      if (u.kind === "Record") {
        return t.fields.every(([name, field]) => isSubtype(stringVariant(name), u.field.variant) && isSubtype(field.shape.variant, u.value.variant));
      }
      return false;
    case "Record":
      return u.kind === "Record" && isSubtype(t.field.variant, u.field.variant) && isSubtype(t.value.variant, u.value.variant);
    default:
      // The special floats are subtypes of themselves and of float64.
      return FLOAT_KINDS.has(t.kind) && (u.kind === t.kind || u.kind === "Float64");
  }
}

/** `CountedShape::merge_if_subtype`: when `t <= u`, `u` holding `t`'s values too. */
function mergeIfSubtype(t: Shape, u: Shape): Shape | undefined {
  const merged = mergedVariant(t, u);
  return merged === undefined ? undefined : "count" in merged ? merged : { variant: merged, count: t.count + u.count };
}

function mergedVariant(t: Shape, u: Shape): ShapeVariant | Shape | undefined {
  const a = t.variant;
  const b = u.variant;
  if (a.kind === "Never") return b;
  if (a.kind === "Union") {
    let accumulated: Shape | undefined = u;
    for (const variant of a.variants) {
      accumulated = mergeIfSubtype(variant, accumulated);
      if (accumulated === undefined) return undefined;
    }
    return accumulated;
  }
  if (b.kind === "Union") {
    for (let i = 0; i < b.variants.length; i++) {
      const merged = mergeIfSubtype(t, b.variants[i]!);
      if (merged !== undefined) return buildUnion(pushShape([...b.variants.slice(0, i), ...b.variants.slice(i + 1)], merged));
    }
    return undefined;
  }
  if (b.kind === "Unknown") return b;
  switch (a.kind) {
    case "Array": {
      if (b.kind !== "Array") return undefined;
      const element = mergeIfSubtype(a.element, b.element);
      return element === undefined ? undefined : { kind: "Array", element };
    }
    case "Object":
      if (b.kind === "Object") return mergedObject(a.fields, b.fields);
      if (b.kind === "Record") {
        let field: Shape | undefined = b.field;
        let value: Shape | undefined = b.value;
        for (const [name, objectField] of a.fields) {
          field = mergeIfSubtype({ variant: stringVariant(name), count: objectField.shape.count }, field!);
          value = field === undefined ? undefined : mergeIfSubtype(objectField.shape, value!);
          if (value === undefined) return undefined;
        }
        return { kind: "Record", field: field!, value: value! };
      }
      return undefined;
    case "Record": {
      if (b.kind !== "Record") return undefined;
      const field = mergeIfSubtype(a.field, b.field);
      const value = field === undefined ? undefined : mergeIfSubtype(a.value, b.value);
      return value === undefined ? undefined : { kind: "Record", field: field!, value };
    }
    default:
      // Leaf shapes: `u`'s variant when `t <= u`.
      return isSubtype(a, b) ? b : undefined;
  }
}

function mergedObject(fields: ObjectFields, otherFields: ObjectFields): ShapeVariant | undefined {
  const other = new Map(otherFields);
  const merged: ObjectFields = [];
  for (const [name, field] of fields) {
    const otherField = other.get(name);
    if (otherField === undefined || (field.optional && !otherField.optional)) return undefined;
    const shape = mergeIfSubtype(field.shape, otherField.shape);
    if (shape === undefined) return undefined;
    merged.push([name, { optional: otherField.optional, shape }]);
  }
  const own = new Set(fields.map(([name]) => name));
  for (const [name, field] of otherFields) {
    if (own.has(name)) continue;
    if (!field.optional) return undefined;
    merged.push([name, field]);
  }
  return { kind: "Object", fields: merged.sort(([a], [b]) => compareStrings(a, b)) };
}

/** `ShapeEnum::may_overlap`: whether two shapes may hold a common value (imprecise: true when unsure). */
function mayOverlap(t: ShapeVariant, u: ShapeVariant): boolean {
  if (compareVariants(t, u) === 0) return true;
  if (t.kind === "Array" && u.kind === "Array") return true;
  if (t.kind === "Record" && u.kind === "Record") return true;
  if (t.kind === "Object" && u.kind === "Object") {
    const requiredMissing = (a: ObjectFields, b: ObjectFields) => {
      const names = new Set(b.map(([name]) => name));
      return a.some(([name, field]) => !field.optional && !names.has(name));
    };
    return !(requiredMissing(t.fields, u.fields) || requiredMissing(u.fields, t.fields));
  }
  if ((t.kind === "Object" && u.kind === "Record") || (t.kind === "Record" && u.kind === "Object")) return true;
  return t.kind === "Union" || u.kind === "Union" || t.kind === "Unknown" || u.kind === "Unknown";
}

// ---- ordering (the derived `Ord` of `Shape`) -------------------------------------------------

function sortedShapes(shapes: Shape[]): Shape[] {
  return shapes.sort(compareShapes);
}

export function compareShapes(a: Shape, b: Shape): number {
  return compareVariants(a.variant, b.variant) || a.count - b.count;
}

function compareVariants(a: ShapeVariant, b: ShapeVariant): number {
  const byKind = VARIANT_ORDER.indexOf(a.kind) - VARIANT_ORDER.indexOf(b.kind);
  if (byKind !== 0) return byKind;
  switch (a.kind) {
    case "StringLiteral":
      return compareStrings(a.literal, (b as typeof a).literal);
    case "Id":
      return a.table - (b as typeof a).table;
    case "Array":
      return compareShapes(a.element, (b as typeof a).element);
    case "Object":
      return compareSequences(a.fields, (b as typeof a).fields, ([nameA, fieldA], [nameB, fieldB]) =>
        compareStrings(nameA, nameB) || compareShapes(fieldA.shape, fieldB.shape) || Number(fieldA.optional) - Number(fieldB.optional),
      );
    case "Record": {
      const other = b as typeof a;
      return compareShapes(a.field, other.field) || compareShapes(a.value, other.value);
    }
    case "Union":
      return compareSequences(a.variants, (b as typeof a).variants, compareShapes);
    default:
      return 0;
  }
}

/** Lexicographic order of two sequences (Rust's for Vec, BTreeMap and BTreeSet). */
export function compareSequences<T>(a: readonly T[], b: readonly T[], compare: (x: T, y: T) => number): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const order = compare(a[i]!, b[i]!);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

/** Rust's `str` order (UTF-8 bytes). */
export function compareStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

// ---- strings (crates/convex/sync_types/src/identifier.rs, ids) -------------------------------

/** `is_valid_identifier`: a letter or `_` first, then letters, digits and `_`, not only `_`, at most 64 bytes. */
function isValidIdentifier(s: string): boolean {
  return s.length <= MAX_IDENTIFIER_LENGTH && /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && /[A-Za-z0-9]/.test(s);
}

/** `is_valid_field_name`: printable ASCII, not starting with `$`, at most 1024 bytes. */
function isValidFieldName(s: string): boolean {
  return s.length <= MAX_FIELD_NAME_LENGTH && !s.startsWith("$") && /^[\x20-\x7e]*$/.test(s);
}

/** The table number of a document id, or undefined when `s` is no id. */
export function idTable(s: string): number | undefined {
  return decodeDocumentId(s)?.tableNumber;
}
