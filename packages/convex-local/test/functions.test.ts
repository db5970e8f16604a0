/**
 * Conformance of the deployment API with the official clients: the fixture app is pushed with
 * `npx convex deploy` and called through `ConvexHttpClient` and `convex/nextjs`.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { fetchAction, fetchMutation, fetchQuery } from "convex/nextjs";
import { anyApi, makeFunctionReference } from "convex/server";
import { ConvexError, convexToJson } from "convex/values";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture();
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

describe("push with the official CLI", () => {
  it("generates typed bindings and reports functions", async () => {
    expect(existsSync(path.join(deployment.appDir, "convex/_generated/api.d.ts"))).toBe(true);
    expect(readFileSync(path.join(deployment.appDir, "convex/_generated/api.d.ts"), "utf8")).toContain("messages");
    const info = deployment.backend.runner.resolve("messages:send", { identity: null, admin: false });
    expect(info).toMatchObject({ udfType: "Mutation", visibility: "public" });
  });

  it("re-pushes unchanged modules by hash with `dev --once`", async () => {
    const { stderr } = await deployment.cli(["dev", "--once", "--typecheck", "disable"]);
    expect(stderr).toMatch(/Convex functions ready/);
  });
});

describe("CRUD through ConvexHttpClient", () => {
  it("inserts, reads, patches and deletes", async () => {
    const id = await client.mutation(api.messages.send, { author: "ada", body: "hello" });
    expect(typeof id).toBe("string");
    const doc = await client.query(api.messages.get, { id });
    expect(doc).toMatchObject({ _id: id, author: "ada", body: "hello" });
    expect(typeof doc._creationTime).toBe("number");
    await client.mutation(api.messages.like, { id });
    await client.mutation(api.messages.like, { id });
    expect((await client.query(api.messages.get, { id })).likes).toBe(2);
    await client.mutation(api.messages.remove, { id });
    expect(await client.query(api.messages.get, { id })).toBeNull();
  });

  it("rolls back every write of a mutation that throws", async () => {
    const before = await client.query(api.messages.list, {});
    const error: Error = await client.mutation(api.messages.failAfterWrite, { body: "x" }).catch((e: Error) => e);
    expect(error.message).toMatch(/Server Error\nUncaught Error: boom after write\n    at handler \(\.\.\/convex\/messages\.ts:\d+:\d+\)/);
    expect(await client.query(api.messages.list, {})).toEqual(before);
  });

  it("carries ConvexError data to the client", async () => {
    const id = await client.mutation(api.messages.send, { author: "ada", body: "to delete" });
    await client.mutation(api.messages.remove, { id });
    const error = await client.mutation(api.messages.like, { id }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConvexError);
    expect((error as ConvexError<{ code: string }>).data).toEqual({ code: "NOT_FOUND", id });
  });
});

describe("indexes", () => {
  it("serves every range operator in both orders", async () => {
    await client.mutation(api.messages.clear as never, {}).catch(() => undefined);
    const admin = new ConvexHttpClient(deployment.backend.url);
    admin.setAdminAuth(deployment.backend.adminKey);
    await admin.mutation(makeFunctionReference<"mutation">("messages:clear"), {});
    for (const likes of [5, 1, 3, 2, 4]) await client.mutation(api.messages.send, { author: "range", body: `m${likes}`, likes });
    const likesOf = (docs: { likes: number }[]) => docs.map((doc) => doc.likes);
    expect(likesOf(await client.query(api.messages.likesBetween, {}))).toEqual([1, 2, 3, 4, 5]);
    expect(likesOf(await client.query(api.messages.likesBetween, { gt: 2 }))).toEqual([3, 4, 5]);
    expect(likesOf(await client.query(api.messages.likesBetween, { gte: 2 }))).toEqual([2, 3, 4, 5]);
    expect(likesOf(await client.query(api.messages.likesBetween, { lt: 3 }))).toEqual([1, 2]);
    expect(likesOf(await client.query(api.messages.likesBetween, { lte: 3 }))).toEqual([1, 2, 3]);
    expect(likesOf(await client.query(api.messages.likesBetween, { gt: 1, lte: 4 }))).toEqual([2, 3, 4]);
    const asc = await client.query(api.messages.byAuthor, { author: "range" });
    const desc = await client.query(api.messages.byAuthor, { author: "range", order: "desc" });
    expect(desc).toEqual([...asc].reverse());
    expect(likesOf(await client.query(api.messages.popular, { min: 4 })).sort()).toEqual([4, 5]);
  });

  it("orders mixed value types as Convex does", async () => {
    const values: [unknown, string][] = [
      [{ a: 1 }, "object"],
      [[1, 2], "array"],
      [new Uint8Array([1]).buffer, "bytes"],
      ["b", "string b"],
      ["a", "string a"],
      [true, "true"],
      [false, "false"],
      [2.5, "float 2.5"],
      [-1, "float -1"],
      [10n, "int 10"],
      [-10n, "int -10"],
      [null, "null"],
    ];
    for (const [value, tag] of values) await client.mutation(api.values.insert, { value, tag });
    expect(await client.query(api.values.ordered, {})).toEqual([
      "null",
      "int -10",
      "int 10",
      "float -1",
      "float 2.5",
      "false",
      "true",
      "string a",
      "string b",
      "bytes",
      "array",
      "object",
    ]);
  });

  it("answers in each of Convex's value formats (crates/value/src/export.rs)", async () => {
    const value = { int: 5n, big: -(2n ** 62n), bytes: new Uint8Array([0, 16, 131]).buffer, nan: NaN, inf: Infinity, negInf: -Infinity, list: [1.5, 7n, "s", null, { deep: 3n }], same: { a: "b" } };
    const encoded = convexToJson(value);
    const answer = async (format?: string) => {
      const response = await fetch(`${deployment.backend.url}/api/query`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ path: "values:echo", args: { value: encoded }, ...(format === undefined ? {} : { format }) }),
      });
      const body = (await response.json()) as { status: string; value: unknown };
      expect(body.status).toBe("success");
      return body.value;
    };
    expect(await answer("convex_encoded_json")).toEqual(encoded);
    const clean = { int: "5", big: String(-(2n ** 62n)), bytes: "ABCD", nan: "NaN", inf: "Infinity", negInf: "-Infinity", list: [1.5, "7", "s", null, { deep: "3" }], same: { a: "b" } };
    expect(await answer("json")).toEqual(clean);
    expect(await answer("convex_clean_json")).toEqual(clean);
    expect(await answer("export_json")).toEqual({ ...encoded, int: 5, big: Number(-(2n ** 62n)), list: [1.5, 7, "s", null, { deep: 3 }] });
    const refused = await fetch(`${deployment.backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "values:echo", args: { value: 1 }, format: "yaml" }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: "BadFormat", message: "format param must be one of [`json`]. Got yaml" });
  });

  it("has Convex's console: its methods only, per-call timers, trace with the caller's frames", async () => {
    const response = await fetch(`${deployment.backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "consoleApi:timersAndTrace", args: {}, format: "json" }),
    });
    const body = (await response.json()) as { value: unknown; logLines: string[] };
    expect(body.value).toEqual({ table: "undefined", count: "undefined", group: "undefined", tag: "[object console]" });
    const [alreadyExists, timeLog, timeEnd, missing, trace, ...rest] = body.logLines;
    expect(rest).toEqual([]);
    expect(alreadyExists).toBe("[WARN] Timer 'default' already exists");
    expect(timeLog).toMatch(/^\[INFO\] default: \d+ms \{ step: 1 \}$/);
    expect(timeEnd).toMatch(/^\[INFO\] default: \d+ms$/);
    expect(missing).toBe("[WARN] Timer 'missing' does not exist");
    expect(trace).toMatch(/^\[LOG\] 'here' \n {4}at handler \(\.\.\/convex\/consoleApi\.ts:\d+:\d+\)/);
    // A second run starts with no timers left over from the first.
    const again = (await (await fetch(`${deployment.backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "consoleApi:timersAndTrace", args: {}, format: "json" }),
    })).json()) as { logLines: string[] };
    expect(again.logLines[0]).toBe("[WARN] Timer 'default' already exists");
  });

  it("answers ctx.meta as a self-hosted Convex backend does", async () => {
    await client.mutation(api.messages.send, { author: "meta reader", body: "a" });
    const inQuery = await client.query(api.meta.inQuery, { author: "meta reader" });
    expect(inQuery.fn).toEqual({ name: "meta:inQuery", componentPath: "", type: "query", visibility: "public" });
    expect(inQuery.deployment).toEqual({ name: "convex-local", region: null, class: "s16" });
    expect(inQuery.metrics).toMatchObject({
      documentsRead: { used: 1, remaining: 31_999 },
      databaseQueries: { used: 1, remaining: 4095 },
      documentsWritten: { used: 0, remaining: 16_000 },
      functionsScheduled: { used: 0, remaining: 1000 },
    });
    expect(inQuery.metrics.bytesRead.used).toBeGreaterThan(0);
    const inMutation = await client.mutation(api.meta.inMutation, {});
    expect(inMutation).toMatchObject({ documentsWritten: { used: 2, remaining: 15_998 }, functionsScheduled: { used: 1, remaining: 999 } });
    expect(inMutation.scheduledFunctionArgsBytes.used).toBe(JSON.stringify([{ author: "meta later", body: "x" }]).length);
    expect(await client.action(api.meta.inAction, {})).toEqual({
      fn: { name: "meta:inAction", componentPath: "", type: "action", visibility: "public" },
      metrics: "Unknown async operation 1.0/getTransactionMetrics",
    });
  });

  it("paginates to the end with no duplicates or gaps", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 23; i++) ids.add(await client.mutation(api.messages.send, { author: "pager", body: `p${i}` }));
    const all = (await client.query(api.messages.list, {})).map((doc: { _id: string }) => doc._id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const result: { page: { _id: string }[]; isDone: boolean; continueCursor: string } = await client.query(api.messages.page, {
        paginationOpts: { numItems: 4, cursor },
      });
      seen.push(...result.page.map((doc) => doc._id));
      if (result.isDone) break;
      cursor = result.continueCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual([...all].sort());
  });
});

describe("validation and errors", () => {
  it("rejects wrong argument types with Convex's message", async () => {
    await expect(client.mutation(api.messages.send, { author: 1, body: "x" } as never)).rejects.toThrow(
      /ArgumentValidationError: Value does not match validator.\nPath: .author\nValue: 1.0\nValidator: v.string\(\)/,
    );
    await expect(client.mutation(api.messages.send, { body: "x" } as never)).rejects.toThrow(/missing the required field `author`/);
    await expect(client.mutation(api.messages.send, { author: "a", body: "x", extra: 1 } as never)).rejects.toThrow(/extra field `extra`/);
  });

  it("rejects an id of another table and a malformed id", async () => {
    const valueId = await client.mutation(api.values.insert, { value: 1, tag: "id test" });
    await expect(client.query(api.messages.get, { id: valueId })).rejects.toThrow(/ArgumentValidationError/);
    await expect(client.query(api.messages.get, { id: "not-an-id" })).rejects.toThrow(/ArgumentValidationError/);
  });

  it("reports unknown functions", async () => {
    await expect(client.query(makeFunctionReference<"query">("messages:nope"), {})).rejects.toThrow(/Could not find public function for 'messages:nope'/);
    await expect(client.query(makeFunctionReference<"query">("nowhere:list"), {})).rejects.toThrow(/Could not find public function/);
  });

  it("stops a query that runs forever and keeps serving", async () => {
    await expect(client.query(api.messages.spin, {})).rejects.toThrow(/timed out/);
    expect(Array.isArray(await client.query(api.messages.list, {}))).toBe(true);
  });

  it("stops a runaway query among queries that arrive together, and answers the others", async () => {
    const [spin, ...lists] = await Promise.allSettled([
      client.query(api.messages.spin, {}),
      ...Array.from({ length: 5 }, () => client.query(api.messages.list, {})),
    ]);
    expect(spin).toMatchObject({ status: "rejected", reason: expect.objectContaining({ message: expect.stringMatching(/timed out/) }) });
    for (const list of lists) expect(list).toMatchObject({ status: "fulfilled", value: expect.any(Array) });
  });

  it("commits mutations that arrive together as a group; a failing, invalid or runaway one rolls back alone", async () => {
    // Without the client's mutation queue, the requests reach the backend together.
    const together = { skipQueue: true };
    const [first, failing, invalid, runaway, last] = await Promise.allSettled([
      client.mutation(api.messages.send, { author: "group", body: "first" }, together),
      client.mutation(api.messages.failAfterWrite, { body: "failing" }, together),
      client.mutation(api.messages.send, { author: "group", body: 42 as unknown as string }, together),
      client.mutation(api.messages.spinAfterWrite, { body: "runaway" }, together),
      client.mutation(api.messages.send, { author: "group", body: "last" }, together),
    ]);
    expect(first.status).toBe("fulfilled");
    expect(last.status).toBe("fulfilled");
    expect(failing).toMatchObject({ status: "rejected", reason: expect.objectContaining({ message: expect.stringMatching(/boom after write/) }) });
    expect(invalid).toMatchObject({ status: "rejected", reason: expect.objectContaining({ message: expect.stringMatching(/ArgumentValidationError/) }) });
    expect(runaway).toMatchObject({ status: "rejected", reason: expect.objectContaining({ message: expect.stringMatching(/timed out/) }) });
    expect((await client.query(api.messages.byAuthor, { author: "group" })).map((m: { body: string }) => m.body)).toEqual(["first", "last"]);
    expect(await client.query(api.messages.byAuthor, { author: "doomed" })).toEqual([]);
  });

  it("answers malformed requests with a clear error", async () => {
    const post = (route: string, body: string, headers: Record<string, string> = { "Content-Type": "application/json" }) =>
      fetch(`${deployment.backend.url}${route}`, { method: "POST", headers, body });
    const malformed = await post("/api/query", "{not json");
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: "BadJsonBody", message: expect.stringMatching(/Failed to parse the request body as JSON/) });
    const missing = await post("/api/query", JSON.stringify({ args: {} }));
    expect(await missing.json()).toMatchObject({ code: "BadJsonBody", message: expect.stringMatching(/missing field `path`/) });
    const noType = await post("/api/query", "{}", {});
    expect(await noType.json()).toMatchObject({ code: "BadJsonBody", message: expect.stringMatching(/Content-Type/) });
    const huge = await post("/api/mutation", JSON.stringify({ path: "messages:send", args: { author: "a", body: "x".repeat(17 * 1024 * 1024) } }));
    expect(huge.status).toBe(400);
    expect((await huge.json()).message).toMatch(/length limit exceeded/);
    expect(Array.isArray(await client.query(api.messages.list, {}))).toBe(true);
  });
});

describe("nested calls", () => {
  it("a query runs a query and a mutation runs a mutation and a query, in its own transaction", async () => {
    const before = await client.query(api.handles.countByReference, {});
    expect(await client.mutation(api.handles.sendByReference, { body: "nested" })).toBe(before + 1);
    expect(await client.query(api.handles.countByReference, {})).toBe(before + 1);
  });
});

describe("function handles", () => {
  it("name a function for runQuery, runMutation, the scheduler and actions; a forged one is refused", async () => {
    const handles = await client.query(api.handles.create, {});
    expect(handles.count).toMatch(/^function:\/\/[0-9a-f]{32}#messages:count$/);
    expect(handles.send).toMatch(/^function:\/\/[0-9a-f]{32}#messages:send$/);

    const before = await client.query(api.handles.countThrough, { handle: handles.count });
    await client.mutation(api.handles.sendThrough, { handle: handles.send, body: "direct" });
    expect(await client.query(api.handles.countThrough, { handle: handles.count })).toBe(before + 1);
    expect(await client.action(api.handles.countInAction, { handle: handles.count })).toBe(before + 1);

    await client.mutation(api.handles.scheduleThrough, { handle: handles.send, body: "later" });
    const deadline = Date.now() + 10_000;
    while ((await client.query(api.messages.byAuthor, { author: "scheduled through a handle" })).length === 0) {
      if (Date.now() > deadline) throw new Error("the job scheduled through a handle did not run");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const forged = handles.count.replace("#messages:count", "#messages:clear");
    await expect(client.query(api.handles.countThrough, { handle: forged })).rejects.toThrow(/Invalid function handle/);
    await expect(client.query(api.handles.countThrough, { handle: "function://nothing" })).rejects.toThrow(/Invalid function handle/);
  });
});

describe("internal functions and the admin key", () => {
  it("hides internal functions from the public and serves them to the admin", async () => {
    const count = makeFunctionReference<"query">("messages:count");
    await expect(client.query(count, {})).rejects.toThrow(/Could not find public function for 'messages:count'/);
    const admin = new ConvexHttpClient(deployment.backend.url);
    admin.setAdminAuth(deployment.backend.adminKey);
    expect(typeof (await admin.query(count, {}))).toBe("number");
  });

  it("refuses a wrong admin key", async () => {
    const response = await fetch(`${deployment.backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Convex wrong-key-wrong-key" },
      body: JSON.stringify({ path: "messages:list", args: {} }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: "BadAdminKey" });
  });
});

describe("convex/nextjs helpers, actions, HTTP actions, environment", () => {
  it("fetchQuery, fetchMutation and fetchAction work", async () => {
    const options = { url: deployment.backend.url };
    const id = await fetchMutation(api.messages.send, { author: "next", body: "from next" }, options);
    expect(await fetchQuery(api.messages.get, { id }, options)).toMatchObject({ body: "from next" });
    const count = await fetchAction(api.actions.sendAndCount, { author: "next", body: "via action" }, options);
    expect(count).toBe((await fetchQuery(api.messages.list, {}, options)).length);
  });

  it("gives Node actions Node's console, only logging and timers sending lines (as Convex's Node executor)", async () => {
    const response = await fetch(`${deployment.backend.url}/api/action`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "nodeActions:consoleApi", args: {}, format: "json" }),
    });
    const body = (await response.json()) as { value: unknown; logLines: string[] };
    expect(body.value).toBe("done");
    expect(body.logLines).toHaveLength(3);
    expect(body.logLines[0]).toMatch(/^\[INFO\] 't: \d+ms'$/);
    expect(body.logLines.slice(1)).toEqual(["[WARN] 'Timer 'missing' does not exist'", "[LOG] 'sent'"]);
  });

  it("runs \"use node\" actions in Node with Node's built-ins", async () => {
    const result = await client.action(api.nodeActions.digest, { text: "abc" });
    expect(result.sha256).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(result.node).toBe(process.versions.node);
    expect(result.messages).toBe((await client.query(api.messages.list, {})).length);
  });

  it("routes HTTP actions on the site port", async () => {
    const created = await fetch(`${deployment.backend.siteUrl}/messages`, {
      method: "POST",
      body: JSON.stringify({ author: "http", body: "over http" }),
    });
    expect(created.status).toBe(201);
    const { id } = await created.json();
    expect(await client.query(api.messages.get, { id })).toMatchObject({ author: "http" });
    expect(await (await fetch(`${deployment.backend.siteUrl}/echo/a/b`)).text()).toBe("/echo/a/b");
    expect((await fetch(`${deployment.backend.siteUrl}/missing`)).status).toBe(404);
  });

  it("sets environment variables with the CLI and shows them to functions", async () => {
    await deployment.cli(["env", "set", "GREETING", "hello there"]);
    expect(await client.query(api.messages.envValue, { name: "GREETING" })).toBe("hello there");
    expect(await client.query(api.messages.envValue, { name: "CONVEX_SITE_URL" })).toBe(deployment.backend.siteUrl);
    // A change reaches the query workers, which had the old variables (they are sent only when they change).
    await deployment.cli(["env", "set", "GREETING", "hello again"]);
    expect(await client.query(api.messages.envValue, { name: "GREETING" })).toBe("hello again");
    const { stdout } = await deployment.cli(["env", "list"]);
    expect(stdout).toContain("GREETING=hello again");
  });

  it("runs internal functions with `npx convex run`", async () => {
    const { stdout } = await deployment.cli(["run", "messages:count"]);
    expect(Number(stdout.trim())).toBeGreaterThan(0);
  });
});
