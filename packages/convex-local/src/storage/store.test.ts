import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { decodeDocumentId } from "./ids.js";
import { rangeForIndexExpression, rangeForPrefix } from "./keys.js";
import { Storage } from "./store.js";

let dir: string;
let store: Storage;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "convex-local-storage-"));
  store = Storage.open(join(dir, "db.sqlite"));
});

afterEach(() => {
  try {
    store.close();
  } catch {
    // already closed by the test
  }
  rmSync(dir, { recursive: true, force: true });
});

const all = { lowerInclusive: true, upperInclusive: true };

function ids(rows: Iterable<{ id: string }>): string[] {
  return [...rows].map((r) => r.id);
}

describe("documents", () => {
  it("inserts, reads, replaces and deletes", () => {
    const { id, creationTime, json } = store.insertDocument("users", { name: "ada", age: 36 });
    expect(decodeDocumentId(id)?.tableNumber).toBe(store.tableNumber("users"));
    expect(store.tableNumber("users")).toBe(10001);
    expect(JSON.parse(json)).toEqual({ _id: id, _creationTime: creationTime, name: "ada", age: 36 });
    expect(Object.keys(JSON.parse(json))).toEqual(["_creationTime", "_id", "age", "name"]);
    expect(store.getDocument(id)).toBe(json);
    const replaced = store.replaceDocument(id, { name: "grace" });
    expect(JSON.parse(replaced)).toEqual({ _id: id, _creationTime: creationTime, name: "grace" });
    expect(store.getDocument(id)).toBe(replaced);
    expect(store.countDocuments("users")).toBe(1);
    expect(store.deleteDocument(id)).toBe(replaced);
    expect(store.getDocument(id)).toBeNull();
    expect(store.deleteDocument(id)).toBeNull();
    expect(store.countDocuments("users")).toBe(0);
  });
});
