import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Storage } from "./store.js";
import type { TextQuery } from "./textIndexes.js";
import { MAX_TEXT_TERM_BYTES, quantizedLength, queryTokens, tokenize } from "./textTokens.js";

describe("tokenize (Convex's analyzer: alphanumeric runs, under 32 bytes, lowercased per character)", () => {
  it("splits on anything not a letter or digit and lowercases", () => {
    expect(tokenize("Hello, WORLD! it's 2024-12-05 e-mail_ok")).toEqual(["hello", "world", "it", "s", "2024", "12", "05", "e", "mail", "ok"]);
    expect(tokenize("Ünïcödé Straße ΟΔΟΣ 東京タワー")).toEqual(["ünïcödé", "straße", "οδοσ", "東京タワー"]);
    expect(tokenize("   ")).toEqual([]);
  });

  it("drops runs of 32 UTF-8 bytes or more instead of cutting them", () => {
    expect(tokenize(`${"a".repeat(MAX_TEXT_TERM_BYTES - 1)} b`)).toEqual(["a".repeat(31), "b"]);
    expect(tokenize(`${"a".repeat(MAX_TEXT_TERM_BYTES)} b`)).toEqual(["b"]);
    // 15 two-byte letters are 30 bytes, 16 are 32.
    expect(tokenize("é".repeat(15))).toEqual(["é".repeat(15)]);
    expect(tokenize("é".repeat(16))).toEqual([]);
  });

  it("keeps at most 16 query tokens", () => {
    const words = Array.from({ length: 20 }, (_, i) => `w${i}`);
    expect(queryTokens(words.join(" "))).toEqual(words.slice(0, 16));
  });

  it("quantizes document lengths as tantivy's fieldnorms do", () => {
    for (let n = 0; n <= 40; n++) expect(quantizedLength(n)).toBe(n);
    expect([41, 42, 43, 57, 59, 60, 100, 1000, 10_000].map(quantizedLength)).toEqual([40, 42, 42, 56, 56, 60, 96, 984, 9240]);
    expect(quantizedLength(4_000_000_000)).toBe(2_013_265_944);
  });
});

let dir: string;
let store: Storage;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "convex-local-text-"));
  store = Storage.open(join(dir, "db.sqlite"));
  store.setTextIndexes("posts", [{ name: "search_body", searchField: "body", filterFields: ["channel", "meta.lang"] }]);
});

afterEach(() => {
  try {
    store.close();
  } catch {
    // closed by the test
  }
  rmSync(dir, { recursive: true, force: true });
});

const MISSING = Symbol("missing");

function insert(body: unknown, channel: unknown = "general", extra: Record<string, unknown> = {}): string {
  const fields: Record<string, unknown> = { ...extra };
  if (body !== MISSING) fields.body = body;
  if (channel !== MISSING) fields.channel = channel;
  return store.insertDocument("posts", fields as never).id;
}

function search(text: string, filters: TextQuery["filters"] = []): string[] {
  const index = store.listTextIndexes("posts").find((candidate) => candidate.name === "search_body")!;
  return store.searchText(index, { tokens: queryTokens(text), filters }).map((hit) => hit.documentId);
}

describe("text search ranking", () => {
  it("ranks by BM25: term frequency, shorter documents, rarer terms", () => {
    const once = insert("apple banana cherry date");
    const twice = insert("apple apple cherry date");
    const short = insert("apple cherry");
    // (N = 3, average length 10/3.) "cherry" is in all three once: the shortest first, then
    // the two of equal length newest first.
    expect(search("cherry")).toEqual([short, twice, once]);
    // "apple": tf 2 in a 4-token document beats tf 1 in a 2-token one, which beats tf 1 in 4
    expect(search("apple")).toEqual([twice, short, once]);
    // "banana" is in one document of three, "apple" in all: the rare term decides
    expect(search("banana apple")).toEqual([once, twice, short]);
  });

  it("breaks ties newest first", () => {
    const first = insert("same words here");
    const second = insert("same words here");
    const third = insert("same words here");
    expect(search("words")).toEqual([third, second, first]);
  });

  it("matches only the last token as a prefix, and a prefix match counts half", () => {
    const convex = insert("convex is reactive");
    const conversation = insert("a conversation");
    const conv = insert("conv");
    // "conv" as the last token: exact "conv" at full weight, then the words it begins at half
    // weight (equal idf: the shorter document first)
    expect(search("conv")).toEqual([conv, conversation, convex]);
    expect(search("CONV")).toEqual([conv, conversation, convex]);
    // not the last token: exact only
    expect(search("conv zzz")).toEqual([conv]);
    expect(search("conv reactive")).toEqual([conv, convex]);
    expect(search("reactive conv")).toEqual([conv, convex, conversation]);
    // no match at all
    expect(search("xyz")).toEqual([]);
    expect(search("")).toEqual([]);
    expect(search("!!")).toEqual([]);
  });

  it("filters by equality on filter fields, a missing field being its own value", () => {
    const general = insert("hello there", "general");
    const random = insert("hello world", "random");
    const none = insert("hello nobody", MISSING);
    const nullChannel = insert("hello null", null);
    const nested = insert("hello nested", "general", { meta: { lang: "en" } });
    expect(new Set(search("hello", [{ field: "channel", value: "general" }]))).toEqual(new Set([general, nested]));
    expect(search("hello", [{ field: "channel", value: "random" }])).toEqual([random]);
    expect(search("hello", [{ field: "channel", value: undefined }])).toEqual([none]);
    expect(search("hello", [{ field: "channel", value: null }])).toEqual([nullChannel]);
    expect(search("hello", [{ field: "channel", value: "general" }, { field: "meta.lang", value: "en" }])).toEqual([nested]);
    expect(search("hello", [{ field: "channel", value: "nowhere" }])).toEqual([]);
    expect(search("hello", [{ field: "channel", value: "general" }, { field: "channel", value: "random" }])).toEqual([]);
  });

  it("keeps the index in step with replaces and deletes, and counts documents without text", () => {
    const a = insert("alpha beta");
    const b = insert("alpha");
    insert(42);
    insert(MISSING);
    expect(new Set(search("alpha"))).toEqual(new Set([a, b]));
    store.replaceDocument(a, { body: "gamma", channel: "general" });
    expect(search("alpha")).toEqual([b]);
    expect(search("gamma")).toEqual([a]);
    store.deleteDocument(b);
    expect(search("alpha")).toEqual([]);
    expect(store.verify()).toEqual([]);
  });

  it("rolls back with the transaction that wrote", () => {
    insert("kept words");
    expect(() =>
      store.transaction(() => {
        insert("rolled back words");
        throw new Error("abort");
      }),
    ).toThrow("abort");
    expect(search("words")).toHaveLength(1);
    expect(store.verify()).toEqual([]);
  });

  it("backfills an index added to a table with documents, rebuilds a changed one and drops a removed one", () => {
    const a = insert("first note", "x");
    const b = insert("second note", "y");
    store.setTextIndexes("posts", [
      { name: "search_body", searchField: "body", filterFields: ["channel", "meta.lang"] },
      { name: "search_channel", searchField: "channel", filterFields: [] },
    ]);
    const byChannel = store.listTextIndexes("posts").find((index) => index.name === "search_channel")!;
    expect(store.searchText(byChannel, { tokens: ["y"], filters: [] }).map((hit) => hit.documentId)).toEqual([b]);
    expect(store.setTextIndexes("posts", [{ name: "search_body", searchField: "channel", filterFields: [] }])).toEqual({ added: ["search_body"], removed: ["search_body", "search_channel"] });
    expect(search("x")).toEqual([a]);
    expect(store.verify()).toEqual([]);
  });

  it("stops at 1024 results", () => {
    store.transaction(() => {
      for (let i = 0; i < 1100; i++) insert(`common word${i}`);
    });
    expect(search("common")).toHaveLength(1024);
  });

  it("expands the last token to at most 64 distinct terms, in byte order", () => {
    store.transaction(() => {
      for (let i = 0; i < 100; i++) insert(`pre${String(i).padStart(3, "0")}`);
    });
    const hits = search("pre");
    expect(hits).toHaveLength(64);
    // one filter term takes one of the 64 places
    expect(search("pre", [{ field: "channel", value: "general" }])).toHaveLength(63);
  });

  it("survives reopening the database", () => {
    const a = insert("durable text");
    store.close();
    store = Storage.open(join(dir, "db.sqlite"));
    expect(search("durable")).toEqual([a]);
  });
});
