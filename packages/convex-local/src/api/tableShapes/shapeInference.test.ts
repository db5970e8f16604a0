/**
 * Shapes inferred from documents, reduced and written as `/api/shapes2` answers, each case worked
 * through Convex's rules (crates/shape_inference, crates/common/src/shapes).
 */
import { describe, expect, it } from "vitest";
import type { Value } from "convex/values";
import { encodeDocumentId, newInternalId } from "../../storage/index.js";
import { dashboardShape } from "./dashboardShape.js";
import { insertValue, NEVER } from "./shapeInference.js";

const TABLE = 10001;
const tableNames = (table: number) => (table === TABLE ? "messages" : undefined);
const id = () => encodeDocumentId(TABLE, newInternalId());

function inferred(documents: Value[]) {
  let shape = NEVER;
  for (const document of documents) shape = insertValue(shape, document);
  return dashboardShape(shape, tableNames);
}

const FLOAT = { type: "Float64", float64Range: { hasSpecialValues: false } };
const field = (fieldName: string, shape: unknown, optional = false) => ({ fieldName, optional, shape });

describe("inferred shapes", () => {
  it("of an empty table: Never", () => {
    expect(inferred([])).toEqual({ type: "Never" });
  });

  it("of documents alike: one object, ids of an existing table as ids, words as strings", () => {
    expect(inferred([{ _id: id(), _creationTime: 1.5, author: "ada" }, { _id: id(), _creationTime: 2.5, author: "bob" }])).toEqual({
      type: "Object",
      fields: [field("_creationTime", FLOAT), field("_id", { type: "Id", tableName: "messages" }), field("author", { type: "String" })],
    });
  });

  it("of documents with different fields: one object whose missing fields are optional", () => {
    expect(inferred([{ a: 1 }, { a: 2, b: true }, { c: null }])).toEqual({
      type: "Object",
      fields: [field("a", FLOAT, true), field("b", { type: "Boolean" }, true), field("c", { type: "Null" }, true)],
    });
  });

  it("of mixed values: a union in Convex's order, special floats flagged, arrays of every element", () => {
    expect(inferred([{ v: 1n }, { v: NaN }, { v: "text with spaces" }, { v: null }, { v: [1, "x"] }, { v: new ArrayBuffer(1) }])).toEqual({
      type: "Object",
      fields: [
        field("v", {
          type: "Union",
          shapes: [
            { type: "Null" },
            { type: "Int64" },
            { type: "Float64", float64Range: { hasSpecialValues: true } },
            { type: "String" },
            { type: "Bytes" },
            { type: "Array", shape: { type: "Union", shapes: [FLOAT, { type: "String" }] } },
          ],
        }),
      ],
    });
  });

  it("of objects whose keys are no identifiers: a record (its keys field names, none of them literals: none may be missing); of an id of no table: a string", () => {
    expect(inferred([{ m: { "not an identifier": 1, other: 2 }, ref: encodeDocumentId(42, newInternalId()) }])).toEqual({
      type: "Object",
      fields: [
        field("m", { type: "Record", keyShape: { type: "String" }, valueShape: { optional: false, shape: FLOAT } }),
        field("ref", { type: "String" }),
      ],
    });
  });
});
