/**
 * `ctx.vectorSearch` end to end, through the official CLI and client: results against a brute-force
 * cosine reference computed here, filters (`q.eq`, `q.or`, null versus a missing field), Convex's
 * limit, dimension, index and filter errors, documents updated and deleted, an index added to a
 * table that already has documents (and removed again), a push refused for its dimensions, the
 * same answers from a `"use node"` action, a staged index refused until enabled, a component's own
 * index, and after a restart.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { startBackend } from "../src/api/backend.js";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;

type Movie = { title: string; genre?: string | null; year?: number; embedding?: number[] };
type Result = { _id: string; _score: number };

/** A seeded generator, so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}
const next = random(18);
const vector = (dims: number) => Array.from({ length: dims }, () => next() * 2 - 1);
const GENRES: (string | null | undefined)[] = ["comedy", "drama", "horror", null, undefined];

const stored = new Map<string, Movie>();

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** The brute-force answer: every stored movie with a 4-number embedding that `accept`s, by cosine, best first. */
function reference(query: number[], limit: number, accept: (movie: Movie) => boolean = () => true): { id: string; score: number }[] {
  return [...stored]
    .filter(([, movie]) => movie.embedding?.length === 4 && accept(movie))
    .map(([id, movie]) => ({ id, score: cosine(query, movie.embedding!) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, limit);
}

function expectMatches(results: Result[], expected: { id: string; score: number }[]): void {
  expect(results.map((r) => r._id)).toEqual(expected.map((r) => r.id));
  results.forEach((r, i) => expect(r._score).toBeCloseTo(expected[i].score, 5));
}

async function insert(movies: Movie[]): Promise<string[]> {
  const ids: string[] = await client.mutation(api.movies.insertMany, { movies });
  ids.forEach((id, i) => stored.set(id, movies[i]));
  return ids;
}

const search = (args: Record<string, unknown>): Promise<Result[]> => client.action(api.movies.search, args);

beforeAll(async () => {
  deployment = await deployFixture("vectorSearch");
  client = new ConvexHttpClient(deployment.backend.url);
  const movies: Movie[] = [];
  for (let i = 0; i < 400; i++) {
    const genre = GENRES[i % GENRES.length];
    movies.push({ title: `m${i}`, ...(genre === undefined ? {} : { genre }), year: 1990 + (i % 7), embedding: vector(4) });
  }
  // Not indexed: no embedding, or one of the wrong length.
  movies.push({ title: "no embedding", genre: "comedy" }, { title: "short", genre: "comedy", embedding: [1, 0, 0] });
  for (let i = 0; i < movies.length; i += 100) await insert(movies.slice(i, i + 100));
}, 240_000);

afterAll(async () => {
  await deployment?.cleanup();
});

describe("ctx.vectorSearch", () => {
  it("returns the nearest documents by cosine similarity, best first, 10 by default", async () => {
    for (let round = 0; round < 5; round++) {
      const query = vector(4);
      const results = await search({ vector: query });
      expect(results).toHaveLength(10);
      expectMatches(results, reference(query, 10));
      for (const r of results) expect(Object.keys(r).sort()).toEqual(["_id", "_score"]);
    }
  });

  it("returns up to 256 results and scores an identical direction 1", async () => {
    const query = vector(4);
    expectMatches(await search({ vector: query, limit: 256 }), reference(query, 256));
    const [id] = [...stored].find(([, movie]) => movie.embedding?.length === 4)!;
    const own = stored.get(id)!.embedding!.map((x) => x * 3);
    const [best] = await search({ vector: own, limit: 1 });
    expect(best._id).toBe(id);
    expect(best._score).toBeCloseTo(1, 6);
  });

  it("answers the same from a \"use node\" action", async () => {
    const query = vector(4);
    const fromNode: Result[] = await client.action(api.nodeSearch.search, { vector: query, genre: "drama", limit: 7 });
    expectMatches(fromNode, reference(query, 7, (m) => m.genre === "drama"));
    expect(fromNode).toEqual(await search({ vector: query, filter: { eq: ["genre", "drama"] }, limit: 7 }));
  });

  it("filters with q.eq and q.or on filter fields", async () => {
    const query = vector(4);
    expectMatches(await search({ vector: query, limit: 50, filter: { eq: ["genre", "comedy"] } }), reference(query, 50, (m) => m.genre === "comedy"));
    expectMatches(
      await search({ vector: query, limit: 50, filter: { or: [{ eq: ["genre", "comedy"] }, { eq: ["genre", "horror"] }] } }),
      reference(query, 50, (m) => m.genre === "comedy" || m.genre === "horror"),
    );
    // Conditions on different fields: any of them.
    expectMatches(
      await search({ vector: query, limit: 80, filter: { or: [{ eq: ["genre", "drama"] }, { eq: ["year", 1993] }] } }),
      reference(query, 80, (m) => m.genre === "drama" || m.year === 1993),
    );
    // null is a value of its own; a missing field matches only undefined.
    expectMatches(await search({ vector: query, limit: 30, filter: { eq: ["genre", null] } }), reference(query, 30, (m) => m.genre === null));
    expectMatches(await search({ vector: query, limit: 30, eqUndefined: "genre" }), reference(query, 30, (m) => !("genre" in m)));
    // A value no document has.
    expect(await search({ vector: query, filter: { eq: ["genre", "western"] } })).toEqual([]);
    // A bare q.or() filters nothing out.
    expect(await search({ vector: query, filter: { or: [] } })).toHaveLength(10);
  });

  it("refuses what Convex refuses, with Convex's texts", async () => {
    const query = vector(4);
    await expect(search({ vector: query, limit: 257 })).rejects.toThrow("Vector queries can fetch at most 256 results, requested 257.");
    await expect(search({ vector: query, limit: 0 })).rejects.toThrow("`limit` must be an integer between 1 and 256");
    await expect(search({ vector: [1, 2, 3] })).rejects.toThrow("Expected a vector with dimensions 4, received 3.");
    await expect(search({ vector: new Array(4097).fill(0.5) })).rejects.toThrow("Expected a vector with dimensions 4096, received 4097.");
    await expect(search({ vector: [] })).rejects.toThrow("`vector` must be a non-empty Array in vectorSearch");
    await expect(search({ vector: query, index: "by_nothing" })).rejects.toThrow("Index movies.by_nothing not found.");
    await expect(search({ vector: query, index: "by_title" })).rejects.toThrow("Index movies.by_title is not a vector index");
    await expect(search({ vector: query, filter: { eq: ["title", "m1"] } })).rejects.toThrow(
      'Vector query against movies.by_embedding contains a filter on "title" but that field isn\'t indexed for filtering in `filterFields`.',
    );
    await expect(search({ vector: query, filter: { literal: true } })).rejects.toThrow("Filters should be a combination of `q.eq` and `q.or`.");
    const many = Array.from({ length: 65 }, (_, i) => ({ eq: ["year", i] }));
    await expect(search({ vector: query, filter: { or: many } })).rejects.toThrow(
      "Vector query against movies.by_embedding has too many conditions. Max: 64 Actual: 65",
    );
    // A table that does not exist has no results, as on Convex.
    expect(await search({ table: "nowhere", vector: query })).toEqual([]);
  });

  it("follows updates and deletions at once", async () => {
    const query = [0.3, -0.2, 0.9, 0.1];
    const [moved, deleted, emptied] = await insert([
      { title: "moved", genre: "drama", embedding: [-0.3, 0.2, -0.9, -0.1] },
      { title: "deleted", genre: "drama", embedding: [0.3, -0.2, 0.9, 0.1] },
      { title: "emptied", genre: "drama", embedding: [0.31, -0.2, 0.9, 0.1] },
    ]);
    let top = await search({ vector: query, limit: 3 });
    expect(top.map((r) => r._id).slice(0, 2)).toEqual([deleted, emptied]);
    expect(top.map((r) => r._id)).not.toContain(moved);

    await client.mutation(api.movies.remove, { id: deleted });
    stored.delete(deleted);
    await client.mutation(api.movies.replace, { id: moved, movie: { title: "moved", genre: "horror", embedding: query } });
    stored.set(moved, { title: "moved", genre: "horror", embedding: query });
    await client.mutation(api.movies.replace, { id: emptied, movie: { title: "emptied", genre: "drama" } });
    stored.set(emptied, { title: "emptied", genre: "drama" });

    top = await search({ vector: query, limit: 20 });
    expectMatches(top, reference(query, 20));
    expect(top[0]._id).toBe(moved);
    expect(top.map((r) => r._id)).not.toContain(deleted);
    expect(top.map((r) => r._id)).not.toContain(emptied);
    // Its filter value moved with it.
    const horror = await search({ vector: query, limit: 5, filter: { eq: ["genre", "horror"] } });
    expect(horror[0]._id).toBe(moved);
    expect((await search({ vector: query, limit: 256, filter: { eq: ["genre", "drama"] } })).map((r) => r._id)).not.toContain(moved);
  });

  it("backfills an index added to a table with documents, and drops a removed one", async () => {
    const notes = Array.from({ length: 60 }, (_, i) => ({ text: `n${i}`, vector: vector(3) }));
    const ids: string[] = await client.mutation(api.movies.insertNotes, { notes });
    const query = vector(3);
    await expect(search({ table: "notes", index: "by_vector", vector: query })).rejects.toThrow("Index notes.by_vector not found.");

    const schemaPath = path.join(deployment.appDir, "convex/schema.ts");
    const original = readFileSync(schemaPath, "utf8");
    writeFileSync(
      schemaPath,
      original.replace(
        "notes: defineTable({ text: v.string(), vector: v.array(v.float64()) }),",
        'notes: defineTable({ text: v.string(), vector: v.array(v.float64()) }).vectorIndex("by_vector", { vectorField: "vector", dimensions: 3 }),',
      ),
    );
    // The CLI lists the index it adds, as for Convex.
    const added = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    expect(added.stderr).toMatch(/Added table indexes:\n\s+\[\+\] notes\.by_vector \(vector\)\s+vector \(3 dimensions\)/);
    const expected = ids
      .map((id, i) => ({ id, score: cosine(query, notes[i].vector) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, 15);
    expectMatches(await search({ table: "notes", index: "by_vector", vector: query, limit: 15 }), expected);

    writeFileSync(schemaPath, original);
    const removed = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    expect(removed.stderr).toMatch(/Deleted table indexes:\n\s+\[-\] notes\.by_vector \(vector\)/);
    await expect(search({ table: "notes", index: "by_vector", vector: query })).rejects.toThrow("Index notes.by_vector not found.");
  }, 240_000);

  it("builds a staged index and refuses it until the schema enables it", async () => {
    const schemaPath = path.join(deployment.appDir, "convex/schema.ts");
    const original = readFileSync(schemaPath, "utf8");
    const withIndex = (options: string) =>
      original.replace(
        '.vectorIndex("by_embedding",',
        `.vectorIndex("by_staged", { vectorField: "embedding", dimensions: 4, filterFields: ["genre"]${options} })\n    .vectorIndex("by_embedding",`,
      );
    const query = vector(4);
    try {
      writeFileSync(schemaPath, withIndex(", staged: true"));
      const staged = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
      expect(staged.stderr).toMatch(/Added staged table indexes:\n\s+\[\+\] movies\.by_staged \(vector\)\s+embedding \(4 dimensions\), filter on genre\s+\(staged\)/);
      await expect(search({ vector: query, index: "by_staged" })).rejects.toThrow(
        "Index movies.by_staged is currently staged and not available to query until it is enabled.",
      );
      writeFileSync(schemaPath, withIndex(""));
      await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
      expectMatches(await search({ vector: query, index: "by_staged", limit: 20 }), reference(query, 20));
    } finally {
      writeFileSync(schemaPath, original);
      await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    }
    await expect(search({ vector: query, index: "by_staged" })).rejects.toThrow("Index movies.by_staged not found.");
  }, 240_000);

  it("refuses a push whose dimensions are outside 2–4096, keeping the deployed index", async () => {
    const schemaPath = path.join(deployment.appDir, "convex/schema.ts");
    const original = readFileSync(schemaPath, "utf8");
    writeFileSync(schemaPath, original.replace("dimensions: 4,", "dimensions: 1,"));
    try {
      await expect(deployment.cli(["deploy", "--yes", "--typecheck", "disable"])).rejects.toThrow("Dimensions 1 must be between 2 and 4096.");
    } finally {
      writeFileSync(schemaPath, original);
    }
    const query = vector(4);
    expectMatches(await search({ vector: query }), reference(query, 10));
  }, 240_000);

  it("searches a component's own index from the component's action", async () => {
    const near = await client.mutation(api.libraryCalls.add, { title: "near", embedding: [1, 0.1] });
    const far = await client.mutation(api.libraryCalls.add, { title: "far", embedding: [-1, 0] });
    const results: Result[] = await client.action(api.libraryCalls.nearest, { vector: [1, 0] });
    expect(results.map((r) => r._id)).toEqual([near, far]);
    expect(results[0]._score).toBeCloseTo(1 / Math.sqrt(1.01), 6);
    expect(results[1]._score).toBe(-1);
    expect(await client.action(api.libraryCalls.nearest, { vector: [1, 0], title: "far" })).toEqual([results[1]]);
    // The app's own movies.by_embedding has 4 dimensions: the component's 2 are refused there.
    await expect(search({ vector: [1, 0] })).rejects.toThrow("Expected a vector with dimensions 4, received 2.");
  });

  it("gives the same results after a restart", async () => {
    const query = vector(4);
    const before = await search({ vector: query, limit: 40, filter: { eq: ["genre", "comedy"] } });
    await deployment.backend.close();
    deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0 });
    client = new ConvexHttpClient(deployment.backend.url);
    const after = await search({ vector: query, limit: 40, filter: { eq: ["genre", "comedy"] } });
    expect(after).toEqual(before);
    expectMatches(after, reference(query, 40, (m) => m.genre === "comedy"));
  }, 120_000);
});
