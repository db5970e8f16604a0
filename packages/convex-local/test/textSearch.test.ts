/**
 * Full-text search through the official clients and CLI: Convex's ranking and prefix rules on a
 * fixed corpus (expected orders derived from BM25 and the rules, see src/storage/textIndexes.ts),
 * filters, `.filter` after the search, pagination, `.first`/`.unique`/`.collect`, the 1024-result
 * limit, Convex's refusals, staged indexes, a live search query, an index added to existing data,
 * and a restart.
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi, makeFunctionReference } from "convex/server";
import WebSocket from "ws";
import yazl from "yazl";

import type { Backend } from "../src/index.js";
import { encodeDocumentId, newInternalId } from "../src/storage/index.js";
import { deployFixture, startTestBackend, waitFor, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let http: ConvexHttpClient;
let restarted: Backend | undefined;

beforeAll(async () => {
  deployment = await deployFixture("textSearch");
  http = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await restarted?.close();
  await deployment?.cleanup();
});

type Post = { body: string; channel?: string; author?: string; title?: string; likes?: number };
const add = (posts: Post[]) => http.mutation(api.posts.addMany, { posts }) as Promise<string[]>;
const search = (text: string, channel?: string, limit?: number) => http.query(api.posts.search, { text, channel, limit }) as Promise<string[]>;
const raw = (index: string, filters: { type: "search" | "eq"; field: string; value: unknown }[]) => http.query(api.posts.raw, { index, filters });

describe("ranking and prefixes", () => {
  it("orders by BM25: frequency, shorter documents, rarer terms; equal scores newest first", async () => {
    // "numbat" once in each: the 2-token post first, then the two 4-token ones newest first.
    await add([{ body: "quokka wombat numbat dingo" }, { body: "quokka quokka numbat dingo" }, { body: "quokka numbat" }]);
    expect(await search("numbat")).toEqual(["quokka numbat", "quokka quokka numbat dingo", "quokka wombat numbat dingo"]);
    // tf 2 in 4 tokens > tf 1 in 2 > tf 1 in 4 (for any average length)
    expect(await search("quokka")).toEqual(["quokka quokka numbat dingo", "quokka numbat", "quokka wombat numbat dingo"]);
    // "wombat" is in one post, "quokka" in three: the post with the rare term first
    expect(await search("wombat quokka")).toEqual(["quokka wombat numbat dingo", "quokka quokka numbat dingo", "quokka numbat"]);
    await add([{ body: "same koala text" }, { body: "same koala text!" }, { body: "Same KOALA text." }]);
    expect(await search("koala")).toEqual(["Same KOALA text.", "same koala text!", "same koala text"]);
  });

  it("matches the last word as a prefix at half weight, earlier words exactly, case-insensitively", async () => {
    await add([{ body: "kangaroo jumps" }, { body: "a kangaroos" }, { body: "kanga" }]);
    // exact "kanga" at full weight, then the two words it begins (equal scores: newest first)
    expect(await search("kanga")).toEqual(["kanga", "a kangaroos", "kangaroo jumps"]);
    expect(await search("KANGA")).toEqual(["kanga", "a kangaroos", "kangaroo jumps"]);
    expect(await search("kanga jumps")).toEqual(["kanga", "kangaroo jumps"]);
    expect(await search("kanga zzzz")).toEqual(["kanga"]);
    expect(await search("")).toEqual([]);
    // only the first 16 words count: a 17th that would match is ignored
    expect(await search(`${"nomatch ".repeat(16)}kanga`)).toEqual([]);
  });
});

describe("filters, operators and pagination", () => {
  it("filters by filter fields and by .filter after the search", async () => {
    await add([
      { body: "platypus one", channel: "c1", likes: 1 },
      { body: "platypus two", channel: "c2", likes: 5 },
      { body: "platypus three", channel: "c1", author: "ann", likes: 9 },
    ]);
    expect(new Set(await search("platypus", "c1"))).toEqual(new Set(["platypus one", "platypus three"]));
    expect(await search("platypus", "c3")).toEqual([]);
    expect(await raw("search_body", [{ type: "search", field: "body", value: "platypus" }, { type: "eq", field: "channel", value: "c1" }, { type: "eq", field: "author", value: "ann" }])).toEqual([
      "platypus three",
    ]);
    expect(new Set(await http.query(api.posts.popular, { text: "platypus", minLikes: 5 }))).toEqual(new Set(["platypus two", "platypus three"]));
  });

  it("takes, collects, and answers first and unique", async () => {
    await add([{ body: "bandicoot alpha" }, { body: "bandicoot beta" }, { body: "bandicoot gamma" }, { body: "solitary wallaby" }]);
    expect(await search("bandicoot", undefined, 2)).toHaveLength(2);
    expect(await http.query(api.posts.collect, { text: "bandicoot" })).toHaveLength(3);
    expect(await http.query(api.posts.first, { text: "bandicoot" })).toBe("bandicoot gamma");
    expect(await http.query(api.posts.unique, { text: "wallaby" })).toBe("solitary wallaby");
    expect(await http.query(api.posts.unique, { text: "nothingmatches" })).toBe(null);
    await expect(http.query(api.posts.unique, { text: "bandicoot" })).rejects.toThrow(/unique\(\) query returned more than one result/);
  });

  it("paginates in relevance order without gaps or repeats", async () => {
    await add(Array.from({ length: 25 }, (_, i) => ({ body: `echidna ${"pad ".repeat(i % 5)}n${i}` })));
    const all = (await http.query(api.posts.collect, { text: "echidna" })) as string[];
    expect(all).toHaveLength(25);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (;;) {
      const result = (await http.query(api.posts.page, { text: "echidna", paginationOpts: { numItems: 10, cursor } })) as { page: string[]; isDone: boolean; continueCursor: string };
      seen.push(...result.page);
      if (result.isDone) break;
      cursor = result.continueCursor;
    }
    expect(seen).toEqual(all);
  });

  it("sees a mutation's own writes", async () => {
    expect(await http.mutation(api.posts.addAndSearch, { body: "cassowary in a mutation", text: "cassowary" })).toEqual(["cassowary in a mutation"]);
  });

  it("returns at most 1024 results: reading past them fails as on Convex", async () => {
    for (let batch = 0; batch < 3; batch++) await add(Array.from({ length: 400 }, (_, i) => ({ body: `lyrebird ${batch}x${i}` })));
    expect(await search("lyrebird", undefined, 10)).toHaveLength(10);
    await expect(http.query(api.posts.collect, { text: "lyrebird" })).rejects.toThrow(
      "Search query scanned too many documents (fetched 1024). Consider using a smaller limit, paginating the query, or using a filter field to limit the number of documents pulled from the search index.",
    );
  });
});

describe("refusals", () => {
  const body = { type: "search" as const, field: "body", value: "x" };
  it("refuses bad queries with Convex's texts", async () => {
    await expect(raw("nope", [body])).rejects.toThrow("Index posts.nope not found.");
    await expect(raw("by_channel", [body])).rejects.toThrow("Index posts.by_channel is not a search index");
    await expect(http.query(api.posts.byIndex, { index: "search_body" })).rejects.toThrow("Index posts.search_body is not a database index");
    await expect(raw("search_body", [{ type: "search", field: "title", value: "x" }])).rejects.toThrow(
      'Search query against posts.search_body contains a search filter against "title", which doesn\'t match the indexed `searchField` "body".',
    );
    await expect(raw("search_body", [body, body])).rejects.toThrow('Search query against posts.search_body contains multiple search filters against "body". Only one is allowed.');
    await expect(raw("search_body", [body, { type: "eq", field: "likes", value: 1 }])).rejects.toThrow(
      'Search query against posts.search_body contains an equality filter on "likes" but that field isn\'t indexed for filtering in `filterFields`.',
    );
    await expect(raw("search_body", [{ type: "eq", field: "channel", value: "c" }])).rejects.toThrow(
      'Search query against posts.search_body does not contain any search filters. You must include a search filter like `q.search(""body"", searchText)`.',
    );
    const nine = Array.from({ length: 9 }, (_, i) => ({ type: "eq" as const, field: i % 2 ? "channel" : "author", value: "v" }));
    await expect(raw("search_body", [body, ...nine])).rejects.toThrow("Search query against posts.search_body has too many filter conditions. Max: 8 Actual: 9");
  });

  it("lists staged indexes in the schema the dashboard and MCP server read", async () => {
    const client = new ConvexClient(deployment.backend.url, { webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket, skipConvexDeploymentUrlCheck: true, logger: false });
    client.setAdminAuth(deployment.backend.adminKey);
    try {
      const schemas = (await client.query(makeFunctionReference<"query">("_system/frontend/getSchemas"), {})) as { active: string };
      const posts = (JSON.parse(schemas.active) as { tables: Record<string, unknown>[] }).tables.find((table) => table.tableName === "posts")!;
      expect(posts.stagedDbIndexes).toEqual([{ indexDescriptor: "by_author", fields: ["author"] }]);
      expect(posts.stagedSearchIndexes).toEqual([{ indexDescriptor: "search_title", searchField: "title", filterFields: [] }]);
      expect(posts.searchIndexes).toEqual([{ indexDescriptor: "search_body", searchField: "body", filterFields: ["author", "channel"] }]);
    } finally {
      await client.close();
    }
  });

  it("refuses staged indexes until the schema enables them", async () => {
    await expect(http.query(api.posts.byIndex, { index: "by_author" })).rejects.toThrow(
      "Index posts.by_author is currently staged and not available to query until it is enabled.",
    );
    await expect(http.query(api.posts.searchTitle, { text: "x" })).rejects.toThrow(
      "Index posts.search_title is currently staged and not available to query until it is enabled.",
    );
  });
});

describe("reactivity", () => {
  it("re-runs a live search query when matching documents come, change and go", async () => {
    const client = new ConvexClient(deployment.backend.url, {
      webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
      skipConvexDeploymentUrlCheck: true,
      logger: false,
    });
    try {
      let latest: string[] | undefined;
      client.onUpdate(api.posts.search, { text: "bilby" }, (bodies: string[]) => (latest = bodies));
      await waitFor(() => latest !== undefined && latest.length === 0, 10_000);
      const [id] = await add([{ body: "a bilby appears" }]);
      await waitFor(() => latest?.length === 1 && latest[0] === "a bilby appears", 10_000);
      await http.mutation(api.posts.update, { id, body: "a bilby and another bilby" });
      await waitFor(() => latest?.[0] === "a bilby and another bilby", 10_000);
      await http.mutation(api.posts.update, { id, body: "gone elsewhere" });
      await waitFor(() => latest?.length === 0, 10_000);
      await add([{ body: "bilby again" }]);
      await waitFor(() => latest?.[0] === "bilby again", 10_000);
      await http.mutation(api.posts.remove, { id });
    } finally {
      await client.close();
    }
  });

  it("re-runs it only for writes of documents that hold one of its words and its filter values", async () => {
    const client = new ConvexClient(deployment.backend.url, {
      webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
      skipConvexDeploymentUrlCheck: true,
      logger: false,
    });
    /** How many times posts:search has run so far, as the function log tells `npx convex logs`. */
    const searchRuns = async () => {
      const response = await fetch(`${deployment.backend.url}/api/stream_function_logs?cursor=0`, { headers: { Authorization: `Convex ${deployment.backend.adminKey}` } });
      const { entries } = (await response.json()) as { entries: { identifier: string; udfType: string }[] };
      return entries.filter((entry) => entry.udfType === "Query" && entry.identifier.replace(/\.js:/, ":") === "posts:search").length;
    };
    try {
      let found: string[] | undefined;
      let count: number | undefined;
      client.onUpdate(api.posts.search, { text: "kookaburra", channel: "zoo" }, (bodies: string[]) => (found = bodies));
      // Every write of the table re-runs this one: once it has the new count, the search had its chance to re-run too.
      client.onUpdate(api.posts.count, {}, (n: number) => (count = n));
      await waitFor(() => found !== undefined && count !== undefined, 10_000);
      const runs = await searchRuns();
      const before = count!;
      await add([{ body: "an emu digs", channel: "zoo" }, { body: "a kookaburra elsewhere", channel: "farm" }, { body: "kookaburras", channel: "zoo" }]);
      await waitFor(() => count === before + 3, 10_000);
      // "kookaburras" begins with the last word: that write re-ran the search (once for the commit).
      expect(found).toEqual(["kookaburras"]);
      expect(await searchRuns()).toBe(runs + 1);
      await add([{ body: "another emu", channel: "zoo" }]);
      await waitFor(() => count === before + 4, 10_000);
      expect(await searchRuns()).toBe(runs + 1);
      await add([{ body: "a kookaburra laughs", channel: "zoo" }]);
      await waitFor(() => found?.length === 2, 10_000);
      expect(await searchRuns()).toBe(runs + 2);
    } finally {
      await client.close();
    }
  });
});

describe("inside a component", () => {
  it("searches the component's own index, not the app's table of the same name", async () => {
    await http.mutation(api.shelfCalls.add, { text: "wombat field guide", shelf: "nature" });
    await http.mutation(api.shelfCalls.add, { text: "wombat cookbook", shelf: "kitchen" });
    // Both match fully; the shorter document ranks first (BM25's length normalization).
    expect(await http.query(api.shelfCalls.search, { text: "wombat" })).toEqual(["wombat cookbook", "wombat field guide"]);
    expect(await http.query(api.shelfCalls.search, { text: "wombat", shelf: "nature" })).toEqual(["wombat field guide"]);
    // The app's own `notes.search_text` holds none of the component's documents.
    expect(await http.query(api.notes.search, { text: "cookbook" })).toEqual([]);
  });
});

describe("snapshot import", () => {
  it("keeps a table's search index when an import gives the table another number", async () => {
    const storage = deployment.backend.storage;
    const number = storage.tableNumber("notes")! + 1000;
    const id = encodeDocumentId(number, newInternalId(1_700_000_000_000));
    const scratch = mkdtempSync(path.join(tmpdir(), "convex-local-text-import-"));
    const zipPath = path.join(scratch, "notes.zip");
    const zip = new yazl.ZipFile();
    const entries: Record<string, string> = {
      "_tables/documents.jsonl": `{"name":"notes","id":${number}}\n`,
      "notes/documents.jsonl": `{"_creationTime":1715000000000.5,"_id":"${id}","text":"imported wombat notes"}\n`,
      "notes/generated_schema.jsonl": '"uniform"\n',
    };
    for (const [entry, content] of Object.entries(entries)) zip.addBuffer(Buffer.from(content), entry);
    zip.end();
    await pipeline(zip.outputStream, createWriteStream(zipPath));
    try {
      await deployment.cli(["import", zipPath, "--replace", "--yes"]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    expect(storage.tableNumber("notes")).toBe(number);
    expect(await http.query(api.notes.search, { text: "wombat" })).toEqual([id]);
  });
});

describe("schema changes and durability", () => {
  it("refuses a push whose schema existing documents violate, naming the document, and keeps the old schema", async () => {
    await add([{ body: "no likes here" }]);
    const schema = path.join(deployment.appDir, "convex/schema.ts");
    const original = readFileSync(schema, "utf8");
    writeFileSync(schema, original.replace("likes: v.optional(v.number())", "likes: v.number()"));
    let failure = "";
    try {
      await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    } catch (error) {
      failure = String((error as { stderr?: string }).stderr);
    }
    writeFileSync(schema, original);
    expect(failure).toMatch(/Document with ID "\w+" in table "posts" does not match the schema/);
    expect(failure).toMatch(/likes/);
    // still the old schema: a post without likes is accepted, and the search indexes work
    await add([{ body: "still accepted without likes" }]);
    expect(await search("accepted")).toEqual(["still accepted without likes"]);
  });

  it("backfills indexes a push adds or enables, and keeps them across a restart", async () => {
    await add([{ body: "titled post", title: "Tasmanian devil", author: "zoe" }]);
    const schema = path.join(deployment.appDir, "convex/schema.ts");
    writeFileSync(
      schema,
      `import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  posts: defineTable({
    body: v.string(),
    channel: v.optional(v.string()),
    author: v.optional(v.string()),
    title: v.optional(v.string()),
    likes: v.optional(v.number()),
  })
    .index("by_channel", ["channel"])
    .index("by_author", ["author"])
    .searchIndex("search_body", { searchField: "body", filterFields: ["channel", "author"] })
    .searchIndex("search_title", { searchField: "title" })
    .searchIndex("search_author", { searchField: "author" }),
  notes: defineTable({ text: v.string() }).searchIndex("search_text", { searchField: "text" }),
});
`,
    );
    const deployed = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    // The CLI lists the search index the push adds; enabling a staged index adds nothing.
    expect(deployed.stderr).toMatch(/Added table indexes:\n\s+\[\+\] posts\.search_author \(text\)\s+author\n/);
    expect(deployed.stderr).not.toMatch(/search_title|by_author/);
    expect(await http.query(api.posts.raw, { index: "search_author", filters: [{ type: "search", field: "author", value: "zoe" }] })).toEqual(["titled post"]);
    expect(await http.query(api.posts.searchTitle, { text: "tasmanian" })).toEqual(["titled post"]);
    // enabled: queryable now (posts without an author sort first in it)
    expect(await http.query(api.posts.byIndex, { index: "by_author" })).toHaveLength(5);

    await deployment.backend.close();
    restarted = await startTestBackend(deployment.dataDir);
    const again = new ConvexHttpClient(restarted.url);
    expect(await again.query(api.posts.searchTitle, { text: "devil" })).toEqual(["titled post"]);
    expect(await again.query(api.posts.search, { text: "quokka" })).toEqual(["quokka quokka numbat dingo", "quokka numbat", "quokka wombat numbat dingo"]);
  });
});
