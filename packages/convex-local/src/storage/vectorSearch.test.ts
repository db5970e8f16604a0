import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { decodeDocumentId } from "./ids.js";
import { Storage } from "./store.js";
import { EXACT_SEARCH_LIMIT, VectorSearchEngine, VectorSearchError, type VectorQuery } from "./vectorSearch.js";

let dir: string;
let storage: Storage;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "convex-local-vectors-"));
  storage = Storage.open(path.join(dir, "db.sqlite"));
  storage.setVectorIndexes("docs", [{ name: "by_v", vectorField: "v", dimensions: 3, filterFields: ["tag", "nested.kind"] }]);
});

afterEach(() => {
  storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const query = (vector: number[], extra: Partial<VectorQuery> = {}): VectorQuery => ({
  table: "docs",
  index: "by_v",
  printableName: "docs.by_v",
  vector,
  limit: 10,
  filter: new Map(),
  ...extra,
});

describe("vector indexes in storage", () => {
  it("indexes only arrays of exactly `dimensions` finite numbers, and verify() agrees", () => {
    const good = storage.insertDocument("docs", { v: [1, 0, 0] }).id;
    storage.insertDocument("docs", { v: [1, 0] });
    storage.insertDocument("docs", { v: [1, 0, { $integer: "AQAAAAAAAAA=" }] });
    storage.insertDocument("docs", { v: "nope" });
    storage.insertDocument("docs", { other: 1 });
    const engine = new VectorSearchEngine(storage);
    expect(engine.search(query([1, 0, 0])).map((r) => r._id)).toEqual([good]);
    expect(storage.verify()).toEqual([]);
  });

  it("keeps memory copies in step with writes from another connection, including deletions", () => {
    const engine = new VectorSearchEngine(storage);
    expect(engine.search(query([1, 0, 0]))).toEqual([]);
    const writer = Storage.open(storage.path);
    try {
      const a = writer.insertDocument("docs", { v: [1, 0, 0], tag: "x" }).id;
      const b = writer.insertDocument("docs", { v: [0, 1, 0], tag: "y" }).id;
      storage.noteCommit(writer.lastCommitTs());
      expect(engine.search(query([1, 0.1, 0])).map((r) => r._id)).toEqual([a, b]);
      writer.replaceDocument(a, { v: [0, 0, 1], tag: "x" });
      writer.deleteDocument(b);
      expect(engine.search(query([1, 0.1, 0])).map((r) => r._id)).toEqual([a]);
      expect(engine.search(query([1, 0.1, 0]))[0]._score).toBe(0);
    } finally {
      writer.close();
    }
  });

  it("forgets writes of a rolled-back transaction", () => {
    const engine = new VectorSearchEngine(storage);
    const kept = storage.insertDocument("docs", { v: [1, 1, 0] }).id;
    expect(() =>
      storage.transaction(() => {
        storage.insertDocument("docs", { v: [1, 1, 0.1] });
        storage.deleteDocument(kept);
        throw new Error("abort");
      }),
    ).toThrow("abort");
    expect(engine.search(query([1, 1, 0])).map((r) => r._id)).toEqual([kept]);
  });

  it("orders ties by internal id, highest first, and scores a zero vector 0", () => {
    const ids = [0, 1, 2, 3].map(() => storage.insertDocument("docs", { v: [2, 0, 0] }).id);
    const zero = storage.insertDocument("docs", { v: [0, 0, 0] }).id;
    const engine = new VectorSearchEngine(storage);
    const results = engine.search(query([5, 0, 0]));
    const hex = (id: string) => Buffer.from(decodeDocumentId(id)!.internalId).toString("hex");
    expect(results.slice(0, 4).map((r) => r._id)).toEqual([...ids].sort((a, b) => (hex(a) < hex(b) ? 1 : -1)));
    expect(results[4]).toEqual({ _id: zero, _score: 0 });
  });

  it("filters by value identity: null, missing, nested fields, number types", () => {
    const nullTag = storage.insertDocument("docs", { v: [1, 0, 0], tag: null }).id;
    const missing = storage.insertDocument("docs", { v: [1, 0, 0] }).id;
    const float = storage.insertDocument("docs", { v: [1, 0, 0], tag: 1 }).id;
    const int = storage.insertDocument("docs", { v: [1, 0, 0], tag: { $integer: "AQAAAAAAAAA=" } }).id;
    const nested = storage.insertDocument("docs", { v: [1, 0, 0], nested: { kind: "k" } }).id;
    const engine = new VectorSearchEngine(storage);
    const ids = (filter: VectorQuery["filter"]) => engine.search(query([1, 0, 0], { filter })).map((r) => r._id).sort();
    expect(ids(new Map([["tag", [null]]]))).toEqual([nullTag]);
    expect(ids(new Map([["tag", [undefined]]]))).toEqual([missing, nested].sort());
    expect(ids(new Map([["tag", [1]]]))).toEqual([float]);
    expect(ids(new Map([["tag", [1n]]]))).toEqual([int]);
    expect(ids(new Map([["nested.kind", ["k"]]]))).toEqual([nested]);
    expect(ids(new Map<string, unknown[]>([["tag", [1]], ["nested.kind", ["k"]]]) as VectorQuery["filter"])).toEqual([float, nested].sort());
  });

  it("rebuilds on a changed definition, drops tombstones on the next push, and removes with the table", () => {
    const engine = new VectorSearchEngine(storage);
    const a = storage.insertDocument("docs", { v: [1, 0, 0, 0] }).id;
    const b = storage.insertDocument("docs", { v: [1, 0, 0] }).id;
    expect(engine.search(query([1, 0, 0])).map((r) => r._id)).toEqual([b]);
    storage.deleteDocument(b);
    expect(engine.search(query([1, 0, 0]))).toEqual([]);
    // Same definition: kept, its tombstone dropped; memory reloads.
    storage.setVectorIndexes("docs", [{ name: "by_v", vectorField: "v", dimensions: 3, filterFields: ["tag", "nested.kind"] }]);
    expect(engine.search(query([1, 0, 0]))).toEqual([]);
    storage.setVectorIndexes("docs", [{ name: "by_v", vectorField: "v", dimensions: 4, filterFields: [] }]);
    expect(engine.search(query([1, 0, 0, 0])).map((r) => r._id)).toEqual([a]);
    expect(() => engine.search(query([1, 0, 0]))).toThrow(new VectorSearchError("Expected a vector with dimensions 4, received 3."));
    storage.deleteTable("docs");
    expect(engine.search(query([1, 0, 0, 0]))).toEqual([]);
    expect(storage.verify()).toEqual([]);
  });

  it("refuses definitions Convex refuses", () => {
    expect(() => storage.setVectorIndexes("docs", [{ name: "bad", vectorField: "v", dimensions: 4097, filterFields: [] }])).toThrow(
      "Dimensions 4097 must be between 2 and 4096.",
    );
    expect(() => storage.setVectorIndexes("docs", [{ name: "bad", vectorField: "v", dimensions: 1, filterFields: [] }])).toThrow(
      "Dimensions 1 must be between 2 and 4096.",
    );
  });
});

describe("vector search above the exact limit", () => {
  it("finds the brute-force nearest documents (recall@10 at least 0.95), filtered too, with exact scores", () => {
    const dims = 24;
    let seed = 99;
    const next = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    storage.setVectorIndexes("big", [{ name: "by_v", vectorField: "v", dimensions: dims, filterFields: ["tag"] }]);
    const docs: { id: string; v: number[]; tag: number }[] = [];
    const count = EXACT_SEARCH_LIMIT + 2000;
    storage.transaction(() => {
      for (let i = 0; i < count; i++) {
        const v = Array.from({ length: dims }, next);
        const tag = i % 5;
        docs.push({ id: storage.insertDocument("big", { v, tag }).id, v, tag });
      }
    });
    const engine = new VectorSearchEngine(storage);
    const cosine = (a: number[], b: number[]) => {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let i = 0; i < a.length; i++) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
      }
      return dot / Math.sqrt(na * nb);
    };
    let found = 0;
    let wanted = 0;
    for (let round = 0; round < 20; round++) {
      const vector = Array.from({ length: dims }, next);
      const tagged = round % 2 === 0;
      const expected = docs
        .filter((d) => !tagged || d.tag === 3)
        .map((d) => ({ id: d.id, score: cosine(vector, d.v) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, 10);
      const results = engine.search({
        table: "big",
        index: "by_v",
        printableName: "big.by_v",
        vector,
        limit: 10,
        filter: tagged ? new Map([["tag", [3]]]) : new Map(),
      });
      expect(results).toHaveLength(10);
      const expectedIds = new Set(expected.map((e) => e.id));
      for (const r of results) {
        if (expectedIds.has(r._id)) found++;
        expect(r._score).toBeCloseTo(cosine(vector, docs.find((d) => d.id === r._id)!.v), 5);
        if (tagged) expect(docs.find((d) => d.id === r._id)!.tag).toBe(3);
      }
      wanted += 10;
      expect(results.map((r) => r._score)).toEqual([...results.map((r) => r._score)].sort((a, b) => b - a));
    }
    expect(found / wanted).toBeGreaterThanOrEqual(0.95);
  });
});
