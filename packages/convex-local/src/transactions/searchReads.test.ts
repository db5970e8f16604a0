import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Storage } from "../storage/index.js";
import { ReadSetIndex } from "./readSets.js";
import { Transaction, type DocumentWrite } from "./transaction.js";

let dir: string;
let storage: Storage;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "convex-local-search-reads-"));
  storage = Storage.open(join(dir, "db.sqlite"));
  storage.setTextIndexes("posts", [{ name: "search_body", searchField: "body", filterFields: ["channel"] }]);
  storage.insertDocument("notes", { body: "a note" });
});

afterEach(() => {
  storage.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The read set of a query that runs `withSearchIndex("search_body", q => q.search("body", text)[.eq("channel", channel)])`. */
function searchReads(text: string, channel?: string | null) {
  const transaction = new Transaction(storage, false);
  const filters: unknown[] = [{ type: "Search", fieldPath: "body", value: text }];
  if (channel !== undefined) filters.push({ type: "Eq", fieldPath: "channel", value: channel === null ? { $undefined: null } : channel });
  const query = transaction.startQuery({ source: { type: "Search", indexName: "posts.search_body", filters }, operators: [] });
  while (transaction.queryNext(query) !== null);
  return transaction.reads;
}

/** The JSON text of a posts document as storage writes it. */
function post(fields: Record<string, unknown>): string {
  return JSON.stringify({ _id: "j1", _creationTime: 1, ...fields });
}

describe("a search's read set", () => {
  it("is hit by writes of documents holding a word of the search (the last one as a prefix) and every filter value", () => {
    const readers = new ReadSetIndex<string>();
    readers.set("plain", searchReads("Hello wor"));
    readers.set("general", searchReads("hello", "general"));
    readers.set("no channel", searchReads("hello", null));
    const hits = (before: string | null, after: string | null, table = "posts") => {
      const write: DocumentWrite = { table, id: "j1", before, after };
      return [...readers.affected([write], (name) => storage.listIndexes(name))].sort();
    };

    // Inserts: an exact word, a word the last one begins, filters told apart (missing is its own value).
    expect(hits(null, post({ body: "HELLO there" }))).toEqual(["no channel", "plain"]);
    expect(hits(null, post({ body: "the world", channel: "general" }))).toEqual(["plain"]);
    expect(hits(null, post({ body: "hello", channel: "general" }))).toEqual(["general", "plain"]);
    expect(hits(null, post({ body: "hello", channel: null }))).toEqual(["plain"]);
    // Documents that cannot be results: other words, "wor" only inside a word, no text, another table.
    expect(hits(null, post({ body: "goodbye sword", channel: "general" }))).toEqual([]);
    expect(hits(null, post({ body: 42, channel: "general" }))).toEqual([]);
    expect(hits(null, post({ title: "hello" }))).toEqual([]);
    expect(hits(null, post({ body: "hello" }), "notes")).toEqual([]);
    // Replaces and deletes count the document before the write too.
    expect(hits(post({ body: "hello", channel: "general" }), post({ body: "bye", channel: "general" }))).toEqual(["general", "plain"]);
    expect(hits(post({ body: "hello", channel: "general" }), post({ body: "hello", channel: "general", likes: 3 }))).toEqual(["general", "plain"]);
    expect(hits(post({ body: "worry" }), null)).toEqual(["plain"]);
    expect(hits(post({ body: "bye" }), post({ body: "still bye", channel: "general" }))).toEqual([]);
  });

  it("is hit by every write of its table whose indexes are unknown (a deleted table)", () => {
    const readers = new ReadSetIndex<string>();
    readers.set("search", searchReads("hello"));
    const write: DocumentWrite = { table: "posts", id: "j1", before: null, after: post({ body: "unrelated" }) };
    expect([...readers.affected([write], () => undefined)]).toEqual(["search"]);
  });

  it("is refiled only when the search differs, and unfiled with its reader", () => {
    const readers = new ReadSetIndex<string>();
    const hello = searchReads("hello");
    readers.set("reader", hello);
    readers.set("reader", searchReads("hello"));
    const write = (body: string): DocumentWrite[] => [{ table: "posts", id: "j1", before: null, after: post({ body }) }];
    const lookup = (name: string) => storage.listIndexes(name);
    expect([...readers.affected(write("hello"), lookup)]).toEqual(["reader"]);
    readers.set("reader", searchReads("goodbye"));
    expect([...readers.affected(write("hello"), lookup)]).toEqual([]);
    expect([...readers.affected(write("goodbye"), lookup)]).toEqual(["reader"]);
    readers.delete("reader");
    expect([...readers.affected(write("goodbye"), lookup)]).toEqual([]);
    expect(readers.size).toBe(0);
  });
});
