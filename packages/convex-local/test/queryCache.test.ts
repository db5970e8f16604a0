/**
 * The query cache seen from outside, as on Convex: a repeated query is answered without running
 * its code until a commit writes into what it read, a push or an environment change; results that
 * read the clock are served only briefly; errors are never cached. `/api/query_batch` answers
 * several queries at one timestamp.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import type { FunctionLogEntry } from "../src/runtime/runner.js";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;
const runs: FunctionLogEntry[] = [];

beforeAll(async () => {
  deployment = await deployFixture();
  client = new ConvexHttpClient(deployment.backend.url);
  deployment.backend.log.subscribe((entry) => runs.push(entry));
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

/** Calls `cached:byAuthorLogged` and tells whether its code ran (rather than a cache hit). */
async function byAuthor(author: string): Promise<{ bodies: string[]; ran: boolean }> {
  const before = runs.length;
  const bodies = await client.query(api.cached.byAuthorLogged, { author });
  const entries = runs.slice(before).filter((entry) => entry.path.endsWith(":byAuthorLogged"));
  expect(entries).toHaveLength(1);
  return { bodies, ran: entries[0].cached !== true };
}

describe("query cache", () => {
  it("answers a repeated query from the cache until a commit writes into its read set", async () => {
    await client.mutation(api.messages.send, { author: "ada", body: "one" });
    expect(await byAuthor("ada")).toEqual({ bodies: ["one"], ran: true });
    expect(await byAuthor("ada")).toEqual({ bodies: ["one"], ran: false });

    // A write outside the range it read (another author) leaves the entry valid.
    await client.mutation(api.messages.send, { author: "bob", body: "elsewhere" });
    expect(await byAuthor("ada")).toEqual({ bodies: ["one"], ran: false });

    // A write into the range invalidates it: the next call runs and sees the write.
    await client.mutation(api.messages.send, { author: "ada", body: "two" });
    expect(await byAuthor("ada")).toEqual({ bodies: ["one", "two"], ran: true });
    expect(await byAuthor("ada")).toEqual({ bodies: ["one", "two"], ran: false });
  });

  it("keeps one entry per arguments", async () => {
    expect((await byAuthor("carol")).ran).toBe(true);
    expect((await byAuthor("dave")).ran).toBe(true);
    expect((await byAuthor("carol")).ran).toBe(false);
  });

  it("returns the cached run's log lines with a cached result", async () => {
    await byAuthor("erin");
    const response = await fetch(`${deployment.backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "cached:byAuthorLogged", args: { author: "erin" }, format: "json" }),
    });
    expect(await response.json()).toEqual({ status: "success", value: [], logLines: ["[LOG] 'ran for' 'erin'"] });
  });

  it("never caches an error", async () => {
    const before = runs.length;
    await expect(client.query(api.cached.fails, {})).rejects.toThrow(/always fails/);
    await expect(client.query(api.cached.fails, {})).rejects.toThrow(/always fails/);
    expect(runs.slice(before).filter((entry) => entry.cached)).toEqual([]);
  });

  it("serves a result that read the clock only for the time limit plus a second", async () => {
    const first = await client.query(api.cached.clock, {});
    expect(await client.query(api.cached.clock, {})).toBe(first);
    await new Promise((resolve) => setTimeout(resolve, 2100)); // the test backend's limit is 1 s
    expect(await client.query(api.cached.clock, {})).toBeGreaterThan(first);
  });

  it("drops every entry when an environment variable changes", async () => {
    await deployment.cli(["env", "set", "CACHED_VALUE", "first"]);
    expect(await client.query(api.messages.envValue, { name: "CACHED_VALUE" })).toBe("first");
    await deployment.cli(["env", "set", "CACHED_VALUE", "second"]);
    expect(await client.query(api.messages.envValue, { name: "CACHED_VALUE" })).toBe("second");
    expect((await byAuthor("ada")).ran).toBe(true);
  });

  it("drops every entry on a push", async () => {
    expect((await byAuthor("ada")).ran).toBe(false);
    writeFileSync(path.join(deployment.appDir, "convex/added.ts"), 'import { query } from "./_generated/server";\nexport const one = query({ args: {}, handler: async () => 1 });\n');
    await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    expect((await byAuthor("ada")).ran).toBe(true);
  });
});

describe("/api/query_batch", () => {
  const post = async (body: unknown) => {
    const response = await fetch(`${deployment.backend.url}/api/query_batch`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };

  it("answers each query in order; one failing query fails alone", async () => {
    const { status, body } = await post({
      queries: [
        { path: "messages:envValue", args: { name: "CACHED_VALUE" }, format: "json" },
        { path: "cached:fails", args: {}, format: "json" },
        { path: "cached:byAuthorLogged", args: { author: "nobody" }, format: "json" },
      ],
    });
    expect(status).toBe(200);
    expect(body.results[0]).toEqual({ status: "success", value: "second" });
    expect(body.results[1].status).toBe("error");
    expect(body.results[1].errorMessage).toMatch(/always fails/);
    expect(body.results[2]).toMatchObject({ status: "success", value: [] });
  });

  it("refuses a batch whose queries are not objects", async () => {
    expect(await post({ queries: [null] })).toEqual({
      status: 400,
      body: { code: "BadJsonBody", message: "Failed to deserialize the JSON body into the target type: queries: expected an array of objects" },
    });
    expect((await post({})).body.code).toBe("BadJsonBody");
  });
});
