import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { valueAtPath } from "./documents.js";
import { encodeIndexKey } from "./keys.js";
import { Storage } from "./store.js";
import type { TextQuery, TextSearchResults } from "./textIndexes.js";
import { MAX_TEXT_TERM_BYTES, quantizedLength, queryTokens, tokenize } from "./textTokens.js";
import { seededRandom } from "./test-utils/seededRandom.js";

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
  return all(store.searchText(index, { tokens: queryTokens(text), filters }));
}

/** Every result's document id, in order. */
function all(results: TextSearchResults): string[] {
  const ids: string[] = [];
  for (let hit = results.next(); hit !== null; hit = results.next()) ids.push(hit.documentId);
  return ids;
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
    expect(all(store.searchText(byChannel, { tokens: ["y"], filters: [] }))).toEqual([b]);
    expect(store.setTextIndexes("posts", [{ name: "search_body", searchField: "channel", filterFields: [] }])).toEqual({ added: ["search_body"], removed: ["search_body", "search_channel"] });
    expect(search("x")).toEqual([a]);
    expect(store.verify()).toEqual([]);
  });

  it("yields every match in order (the 1024 cap is the query's, see transaction.ts)", () => {
    store.transaction(() => {
      for (let i = 0; i < 1100; i++) insert(`common word${i}`);
    });
    const hits = search("common");
    expect(hits).toHaveLength(1100);
    expect(new Set(hits).size).toBe(1100);
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

describe("a database of schema version 3", () => {
  /** The search tables as version 3 laid them out: a row per posting, keyed by document id, and JSON records. */
  const VERSION_3_TEXT_TABLES = `
    DROP TABLE text_postings; DROP TABLE text_documents; DROP TABLE text_filter_entries; DROP TABLE text_terms;
    ALTER TABLE text_indexes DROP COLUMN next_document;
    ALTER TABLE text_indexes DROP COLUMN next_term;
    CREATE TABLE text_terms (index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE, term BLOB NOT NULL,
      document_count INTEGER NOT NULL, PRIMARY KEY (index_id, term)) WITHOUT ROWID;
    CREATE TABLE text_postings (index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE, term BLOB NOT NULL,
      frequency INTEGER NOT NULL, length INTEGER NOT NULL, document_id TEXT NOT NULL,
      PRIMARY KEY (index_id, term, frequency, length, document_id)) WITHOUT ROWID;
    CREATE TABLE text_documents (index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE, document_id TEXT NOT NULL,
      length INTEGER NOT NULL, creation_time REAL NOT NULL, terms TEXT NOT NULL, filter_keys TEXT NOT NULL,
      PRIMARY KEY (index_id, document_id)) WITHOUT ROWID;
    CREATE TABLE text_filter_entries (index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE, field INTEGER NOT NULL,
      value BLOB NOT NULL, document_id TEXT NOT NULL, PRIMARY KEY (index_id, field, value, document_id)) WITHOUT ROWID;`;

  /** Rewrites the search index of the store's file as version 3 wrote it, and marks the file version 3. */
  function rewriteAsVersion3(path: string): void {
    const Database = createRequire(import.meta.url)("better-sqlite3") as typeof import("better-sqlite3");
    const raw = new Database(path);
    raw.exec(VERSION_3_TEXT_TABLES);
    const index = raw.prepare("SELECT id, table_number, filter_fields_json FROM text_indexes").get() as { id: number; table_number: number; filter_fields_json: string };
    const filterFields = JSON.parse(index.filter_fields_json) as string[];
    const counts = new Map<string, number>();
    let tokens = 0;
    const documents = raw.prepare("SELECT id, json FROM documents WHERE table_number = ?").all(index.table_number) as { id: string; json: string }[];
    for (const { id, json } of documents) {
      const doc = JSON.parse(json) as Record<string, never>;
      const words = typeof doc.body === "string" ? tokenize(doc.body) : [];
      tokens += words.length;
      const terms = new Map<string, number>();
      for (const word of words) terms.set(word, (terms.get(word) ?? 0) + 1);
      const keys = filterFields.map((field) => encodeIndexKey([valueAtPath(doc, field)]));
      for (const [term, frequency] of terms) {
        counts.set(term, (counts.get(term) ?? 0) + 1);
        raw.prepare("INSERT INTO text_postings VALUES (?, ?, ?, ?, ?)").run(index.id, Buffer.from(term), frequency, quantizedLength(words.length), id);
      }
      raw.prepare("INSERT INTO text_documents VALUES (?, ?, ?, ?, ?, ?)").run(index.id, id, quantizedLength(words.length), doc._creationTime, JSON.stringify([...terms]), JSON.stringify(keys.map((key) => key.toString("hex"))));
      keys.forEach((key, field) => raw.prepare("INSERT INTO text_filter_entries VALUES (?, ?, ?, ?)").run(index.id, field, key, id));
    }
    for (const [term, count] of counts) raw.prepare("INSERT INTO text_terms VALUES (?, ?, ?)").run(index.id, Buffer.from(term), count);
    raw.prepare("UPDATE text_indexes SET document_count = ?, token_count = ?").run(documents.length, tokens);
    raw.pragma("user_version = 3");
    raw.close();
  }

  it("is migrated on open: its search indexes are rebuilt from the documents and searched as before", () => {
    const once = insert("apple banana cherry", "general");
    const twice = insert("apple apple cherry", "random");
    const missing = insert("cherry pie", MISSING);
    insert(42);
    const path = join(dir, "db.sqlite");
    store.close();
    rewriteAsVersion3(path);

    store = Storage.open(path);
    expect(store.verify()).toEqual([]);
    expect(search("apple")).toEqual([twice, once]);
    expect(search("cher")).toEqual([missing, twice, once]);
    expect(search("cherry", [{ field: "channel", value: "random" }])).toEqual([twice]);
    expect(search("cherry", [{ field: "channel", value: undefined }])).toEqual([missing]);
    // and it is written on in the new layout
    const third = insert("banana banana");
    store.deleteDocument(once);
    expect(search("banana")).toEqual([third]);
    expect(store.verify()).toEqual([]);
  });
});

describe("ranked retrieval against an exhaustive reference", () => {
  /**
   * Every match of `query` scored by Convex's rules written out plainly: exact query terms at full
   * weight, the last token's other prefix matches (in byte order, 64 terms in all) at half,
   * tantivy's BM25 on quantized lengths; best first, newest first among equal scores.
   */
  function reference(documents: { id: string; body: string; channel: string; creationTime: number }[], tokens: string[], channel: string | undefined): string[] {
    const indexed = documents.map((document) => {
      const words = tokenize(document.body);
      const terms = new Map<string, number>();
      for (const word of words) terms.set(word, (terms.get(word) ?? 0) + 1);
      return { ...document, terms, length: quantizedLength(words.length), tokens: words.length };
    });
    const count = Math.max(indexed.length, 1);
    const average = indexed.reduce((sum, document) => sum + document.tokens, 0) / count;
    const frequencies = new Map<string, number>();
    for (const document of indexed) for (const term of document.terms.keys()) frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
    const frequency = (term: string) => frequencies.get(term) ?? 0;
    const weights = new Map<string, number>();
    for (const token of tokens) if (!weights.has(token) && frequency(token) > 0) weights.set(token, 1);
    const last = tokens[tokens.length - 1];
    const vocabulary = [...new Set(indexed.flatMap((document) => [...document.terms.keys()]))].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    let room = 64 - (channel === undefined ? 0 : 1) - weights.size;
    for (const term of vocabulary) {
      if (room <= 0) break;
      if (term.startsWith(last) && term !== last && !weights.has(term)) {
        weights.set(term, 0.5);
        room--;
      }
    }
    const scored = [];
    for (const document of indexed) {
      if (channel !== undefined && document.channel !== channel) continue;
      let score = 0;
      let matched = false;
      for (const [term, boost] of weights) {
        const tf = document.terms.get(term);
        if (tf === undefined) continue;
        matched = true;
        const idf = Math.log(1 + (count - frequency(term) + 0.5) / (frequency(term) + 0.5));
        score += (boost * idf * 2.2 * tf) / (tf + 1.2 * 0.25 + ((1.2 * 0.75) / average) * document.length);
      }
      if (matched) scored.push({ ...document, score });
    }
    scored.sort((a, b) => b.score - a.score || b.creationTime - a.creationTime || (a.id < b.id ? -1 : 1));
    return scored.map((document) => document.id);
  }

  it("returns exactly the reference's order for random queries on a Zipf corpus", () => {
    const next = seededRandom(7);
    const syllables = ["ka", "lo", "mi", "ne", "pu", "ra", "si", "to"];
    const word = (rank: number) => syllables[rank % 8] + syllables[(rank >> 3) % 8] + (rank >= 64 ? syllables[(rank >> 6) % 8] : "");
    const cumulative: number[] = [];
    let total = 0;
    for (let rank = 0; rank < 300; rank++) cumulative.push((total += 1 / (rank + 1)));
    const zipf = () => {
      const target = next() * total;
      return word(cumulative.findIndex((value) => value >= target));
    };
    const documents: { id: string; body: string; channel: string; creationTime: number }[] = [];
    store.transaction(() => {
      for (let i = 0; i < 1500; i++) {
        // lengths past 40 tokens exercise the quantized lengths; a few documents repeat one word
        const body = i % 97 === 0 ? "kaka kaka kaka lolo" : Array.from({ length: 1 + Math.floor(next() * 60) }, zipf).join(" ");
        // "rare" is held by few documents: a search filtered on it scores just those
        const channel = i % 50 === 7 ? "rare" : ["red", "green", "blue"][Math.floor(next() * 3)];
        const id = insert(body, channel);
        documents.push({ id, body, channel, creationTime: JSON.parse(store.getDocument(id)!)._creationTime });
      }
    });
    const checkQueries = (count: number) => {
      for (let q = 0; q < count; q++) {
        const words = Array.from({ length: 1 + Math.floor(next() * 3) }, zipf);
        if (q % 2 === 0) words[words.length - 1] = words[words.length - 1].slice(0, 2 + Math.floor(next() * 3));
        const channel = q % 4 === 0 ? "red" : q % 4 === 1 ? "rare" : undefined;
        const text = words.join(" ");
        const expected = reference(documents, queryTokens(text), channel);
        expect(search(text, channel === undefined ? [] : [{ field: "channel", value: channel }]), text).toEqual(expected);
      }
    };
    checkQueries(48);

    // Churn: postings leave and join blocks (splits, emptied blocks, terms gone and back).
    store.transaction(() => {
      for (let i = documents.length - 1; i >= 0; i--) {
        const document = documents[i];
        if (i % 5 === 0) {
          store.deleteDocument(document.id);
          documents.splice(i, 1);
        } else if (i % 3 === 0) {
          document.body = Array.from({ length: 1 + Math.floor(next() * 60) }, zipf).join(" ");
          store.replaceDocument(document.id, { body: document.body, channel: document.channel });
        }
      }
    });
    expect(store.verify()).toEqual([]);
    checkQueries(24);
  });
});
