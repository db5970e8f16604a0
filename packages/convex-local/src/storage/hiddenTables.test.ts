/**
 * Hidden tables: made like a table (indexes of every kind copied), renamed into place with their
 * documents and indexes, deleted a step at a time, and never an id's table for functions.
 */
import { describe, expect, it } from "vitest";
import { Transaction } from "../transactions/transaction.js";
import { applyTableDefinitions, createEmptyTable, hiddenTableName, hiddenTables, tableDefinitions } from "./hiddenTables.js";
import { Storage } from "./store.js";

function withIndexes(): Storage {
  const storage = Storage.open(":memory:");
  storage.setIndexes("notes", [{ name: "by_author", fields: ["author"] }]);
  storage.setVectorIndexes("notes", [{ name: "by_embedding", vectorField: "embedding", dimensions: 2, filterFields: [] }]);
  storage.setTextIndexes("notes", [{ name: "search_body", searchField: "body", filterFields: ["author"] }]);
  return storage;
}

describe("hidden tables", () => {
  it("take a table's place by rename, with their documents and every index, in one commit", () => {
    const storage = withIndexes();
    storage.insertDocument("notes", { author: "old", body: "old wombat", embedding: [1, 0] });
    const hidden = hiddenTableName("import1", "notes");
    createEmptyTable(storage, hidden, 10050, tableDefinitions(storage, "notes"));
    const { id } = storage.insertDocument(hidden, { author: "ada", body: "a new wombat", embedding: [0, 1] });
    expect(hiddenTables(storage)).toEqual([hidden]);
    expect(storage.countDocuments("notes")).toBe(1);
    // A function resolves no id to a hidden table.
    expect(new Transaction(storage, false).tableOfId(id)).toBeNull();

    storage.transaction(() => {
      storage.renameTable("notes", hiddenTableName("import1-replaced", "notes"));
      storage.renameTable(hidden, "notes");
    });
    expect(storage.tableNumber("notes")).toBe(10050);
    expect(new Transaction(storage, false).tableOfId(id)).toBe("notes");
    expect([...storage.scanIndex("notes", "by_author", { lowerInclusive: true, upperInclusive: false }, "asc")].map((row) => row.id)).toEqual([id]);
    expect(storage.listVectorIndexes("notes").map(({ name }) => name)).toEqual(["by_embedding"]);
    const [search] = storage.listTextIndexes("notes");
    expect(storage.searchText(search!, { tokens: ["wombat"], filters: [] }).next()?.documentId).toBe(id);
    expect(storage.verify()).toEqual([]);
  });

  it("are deleted a step at a time, and then are gone", () => {
    const storage = withIndexes();
    const hidden = hiddenTableName("import2", "notes");
    createEmptyTable(storage, hidden, undefined, tableDefinitions(storage, "notes"));
    storage.transaction(() => {
      for (let i = 0; i < 250; i++) storage.insertDocument(hidden, { author: `a${i}`, body: `note ${i}`, embedding: [i, 1] });
    });
    let steps = 0;
    while (!storage.deleteTableStep(hidden, 100)) steps++;
    // 250 entries in each of three indexes, then 250 documents, 100 at a time.
    expect(steps).toBe(3 * 3 + 3);
    expect(hiddenTables(storage)).toEqual([]);
    expect(storage.verify()).toEqual([]);
    expect(storage.deleteTableStep(hidden, 100)).toBe(true);
  });

  it("get the indexes a table has now, backfilled", () => {
    const storage = withIndexes();
    const hidden = hiddenTableName("import3", "notes");
    createEmptyTable(storage, hidden, undefined, { indexes: [], vectorIndexes: [], textIndexes: [] });
    storage.insertDocument(hidden, { author: "bob", body: "text", embedding: [1, 1] });
    applyTableDefinitions(storage, hidden, tableDefinitions(storage, "notes"));
    expect(tableDefinitions(storage, hidden)).toEqual(tableDefinitions(storage, "notes"));
    expect([...storage.scanIndex(hidden, "by_author", { lowerInclusive: true, upperInclusive: false }, "asc")]).toHaveLength(1);
  });
});
