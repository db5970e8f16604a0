import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Storage } from "../storage/index.js";
import { VectorSearchEngine, type VectorQuery } from "../storage/vectorSearch.js";
import { closeVectorSearch, searchVectors } from "./vectorSearchThreads.js";

let dir: string;
let storage: Storage;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "convex-local-vector-thread-"));
  storage = Storage.open(path.join(dir, "db.sqlite"));
  storage.setVectorIndexes("docs", [{ name: "by_v", vectorField: "v", dimensions: 3, filterFields: ["tag"] }]);
});

afterEach(async () => {
  await closeVectorSearch(storage);
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

describe("the vector search thread", () => {
  it("answers as the engine does on this thread, and sees later commits", async () => {
    for (let i = 0; i < 50; i++) storage.insertDocument("docs", { v: [Math.sin(i), Math.cos(i), i / 50], tag: i % 3 });
    const here = new VectorSearchEngine(storage);
    const filtered = query([1, 0.5, 0.2], { filter: new Map([["tag", [1]]]) });
    expect(await searchVectors(storage, filtered)).toEqual(here.search(filtered));
    const added = storage.insertDocument("docs", { v: [1, 0.5, 0.2], tag: 1 }).id;
    expect((await searchVectors(storage, filtered))[0]._id).toBe(added);
  });

  it("rejects with the engine's error text", async () => {
    await expect(searchVectors(storage, query([1, 0]))).rejects.toThrow("Expected a vector with dimensions 3, received 2.");
    await expect(searchVectors(storage, query([1, 0, 0], { index: "nope", printableName: "docs.nope" }))).rejects.toThrow("Index docs.nope not found.");
  });

  it("starts again after it was closed", async () => {
    const id = storage.insertDocument("docs", { v: [0, 0, 1] }).id;
    expect((await searchVectors(storage, query([0, 0, 1])))[0]._id).toBe(id);
    await closeVectorSearch(storage);
    expect((await searchVectors(storage, query([0, 0, 1])))[0]._id).toBe(id);
  });
});
