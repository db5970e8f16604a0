import { describe, expect, it } from "vitest";
import { documentJson, parseDocument, type JsonObject } from "./documents.js";

describe("stored documents", () => {
  it("keep a nested field named __proto__ as a field, through JSON text and back", () => {
    const fields = JSON.parse('{"data":{"z":1,"__proto__":{"isAdmin":true}}}') as JsonObject;
    const json = documentJson(fields, "id", 1);
    expect(json).toBe('{"_creationTime":1,"_id":"id","data":{"__proto__":{"isAdmin":true},"z":1}}');
    const data = (parseDocument(json) as { data: Record<string, unknown> }).data;
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(data.isAdmin).toBeUndefined();
    expect(Object.keys(data)).toEqual(["__proto__", "z"]);
  });
});
