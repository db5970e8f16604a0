/**
 * Hostile input: random and malformed HTTP requests and WebSocket frames (property-based, with
 * fast-check), invalid UTF-8, values past Convex's documented limits, and functions that loop or
 * allocate without end. Each gets a clear error as Convex gives it; the server keeps serving a
 * bystander client throughout, and its memory stays bounded.
 *
 * Limits (https://docs.convex.dev/production/state/limits; convex-backend crates/value/src/size.rs,
 * crates/common/src/document.rs, crates/common/src/knobs.rs):
 * document 1 MiB, document nesting 16, value nesting 64, array length 8192, field names of
 * non-control ASCII up to 1024 characters, arguments 16 MiB, 16 MiB read per function, 1 s per
 * query or mutation.
 */
import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ConvexHttpClient, type ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";
import WebSocket from "ws";
import { deployFixture, type TestDeployment } from "../harness.js";
import { syncClient, valueOf } from "./serverProcess.js";

const api = anyApi;
let deployment: TestDeployment;
let http: ConvexHttpClient;
/** A well-behaved client subscribed for the whole file: it must never see an error. */
let bystander: ConvexClient;
const bystanderErrors: unknown[] = [];

beforeAll(async () => {
  // The fixture's auth.config.ts reads IDP_URL (an unset one fails the push); no token is sent here.
  deployment = await deployFixture("reliability", { IDP_URL: "http://127.0.0.1:9" });
  http = new ConvexHttpClient(deployment.backend.url);
  bystander = syncClient(deployment.backend.url);
  bystander.onUpdate(api.entries.countOf, { batch: "bystander" }, () => {}, (error) => bystanderErrors.push(error));
}, 180_000);

afterAll(async () => {
  expect(bystanderErrors).toEqual([]);
  await bystander?.close();
  await deployment?.cleanup();
});

/** The bystander's write reaches its own subscription: the server is serving normally. */
async function stillServing(): Promise<void> {
  const before = await http.query(api.entries.countOf, { batch: "bystander" });
  await bystander.mutation(api.entries.add, { batch: "bystander", body: "still here" });
  expect(await valueOf<number>(bystander, api.entries.countOf, { batch: "bystander" }, (count) => count === before + 1)).toBe(before + 1);
}

async function post(route: string, body: BodyInit, headers: Record<string, string> = { "Content-Type": "application/json" }): Promise<{ status: number; text: string }> {
  const response = await fetch(`${deployment.backend.url}${route}`, { method: "POST", headers, body });
  return { status: response.status, text: await response.text() };
}

/** A call through the HTTP API that must fail; returns Convex's error text (request error or function error). */
async function failedCall(route: string, path: string, args: unknown): Promise<string> {
  const { status, text } = await post(route, JSON.stringify({ path, args, format: "json" }));
  const body = JSON.parse(text);
  if (status === 200) {
    expect(body.status).toBe("error");
    return body.errorMessage;
  }
  expect(status).toBeGreaterThanOrEqual(400);
  expect(status).toBeLessThan(500);
  return body.message;
}

function nested(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = { inner: value };
  return value;
}

describe("random and malformed HTTP requests", () => {
  const routes = ["/api/query", "/api/mutation", "/api/action", "/api/function", "/api/run/limits/echo", "/api/query_ts", "/api/query_at_ts", "/api/nope"];
  const functionPaths = fc.constantFrom("limits:echo", "entries:add", "contention:increment", "auth:whoami", "limits:store", "nope:nope", "", "../etc/passwd", ":", "a".repeat(300));
  const envelope = fc.record(
    { path: fc.oneof(functionPaths, fc.string()), args: fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.object()), format: fc.constantFrom("json", "convex_encoded_json", "nope") },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
    fc.json({ maxDepth: 4 }).map((text) => Buffer.from(text)),
    envelope.map((value) => Buffer.from(JSON.stringify(value))),
    envelope.map((value) => Buffer.from(JSON.stringify(value).slice(0, -1))),
  );
  const headers = fc.record(
    {
      "Content-Type": fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", ""),
      "Content-Encoding": fc.constantFrom("gzip", "br", "deflate", "identity", "zstd"),
      Authorization: fc.oneof(fc.constantFrom("Bearer", "Bearer ", "Convex ", "Convex x:y", "Basic abc", "Bearer a.b.c", "Bearer ...."), fc.string({ maxLength: 64 })),
      "Convex-Client": fc.string({ maxLength: 32 }),
    },
    { requiredKeys: [] },
  );

  it("answers each with a 4xx {code, message} or a function error, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), headers, body, async (route, requestHeaders, requestBody) => {
        const { status, text } = await post(route, requestBody, requestHeaders);
        expect(status).toBeLessThan(500);
        if (status === 404) return;
        const answer = JSON.parse(text);
        if (status === 200) {
          expect(["success", "error"]).toContain(answer.status ?? "success");
          if (answer.status === "error") expect(answer.errorMessage).toMatch(/\S/);
        } else {
          expect(answer).toEqual({ code: expect.stringMatching(/^\w+$/), message: expect.stringMatching(/\S/) });
        }
      }),
      { numRuns: 200 },
    );
    await stillServing();
  });

  it("refuses a body that is not valid UTF-8, as Convex's JSON extractor does", async () => {
    const prefix = Buffer.from('{"path":"limits:echo","args":{"value":"');
    const invalid = Buffer.concat([prefix, Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"},"format":"json"}')]);
    const { status, text } = await post("/api/query", invalid);
    expect(status).toBe(400);
    expect(JSON.parse(text)).toMatchObject({ code: "BadJsonBody", message: expect.stringMatching(/UTF-8/) });
  });

  it("refuses a body over the 16 MiB argument limit without buffering it all", async () => {
    const value = "x".repeat(17 * 1024 * 1024);
    const message = await failedCall("/api/query", "limits:echo", { value });
    expect(message).toMatch(/length limit exceeded/);
    await stillServing();
  });

  it("refuses a gzip bomb that inflates past the limit", async () => {
    // Gzip members may be concatenated: 129 copies of one compressed MiB inflate past 8 × the 16 MiB body limit.
    const bomb = Buffer.concat(new Array(129).fill(gzipSync(Buffer.alloc(1024 * 1024, 0x20))));
    const { status, text } = await post("/api/query", bomb, { "Content-Type": "application/json", "Content-Encoding": "gzip" });
    expect(status).toBe(400);
    expect(JSON.parse(text).message).toMatch(/length limit exceeded/);
  });
});

describe("random and malformed WebSocket frames", () => {
  const syncUrl = () => `${deployment.backend.url.replace("http", "ws")}/api/1.48.0/sync`;
  const connect = { type: "Connect", sessionId: randomUUID(), connectionCount: 0, lastCloseReason: "InitialConnect", clientTs: 0 };
  const messageTypes = fc.constantFrom("Connect", "ModifyQuerySet", "Mutation", "Action", "Authenticate", "Event", "Nope", 42, null);
  const frame = fc.oneof(
    fc.string({ maxLength: 512 }),
    fc.json({ maxDepth: 4 }),
    fc.record({ type: messageTypes, baseVersion: fc.oneof(fc.integer(), fc.string()), requestId: fc.oneof(fc.integer(), fc.string()), udfPath: fc.string(), args: fc.jsonValue({ maxDepth: 3 }), modifications: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: ["type"] }).map((value) => JSON.stringify(value)),
    fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)),
  );

  /** Sends Connect (or not) and the frame; resolves with how the server ended or answered. */
  function exchange(frameData: string | Buffer, withConnect: boolean): Promise<{ closeCode: number | null; messages: { type: string }[] }> {
    const socket = new WebSocket(syncUrl());
    const messages: { type: string }[] = [];
    return new Promise((resolve, reject) => {
      socket.once("error", reject);
      socket.on("message", (data) => messages.push(JSON.parse(String(data))));
      socket.once("close", (code) => resolve({ closeCode: code, messages }));
      socket.once("open", () => {
        if (withConnect) socket.send(JSON.stringify(connect));
        socket.send(frameData, { binary: Buffer.isBuffer(frameData) });
        // A frame the server accepted as valid gets no close: end the exchange with a ping round trip.
        socket.ping();
        socket.once("pong", () => socket.close(1000));
      });
    });
  }

  it("answers each with a FatalError or a close, never takes the server down", async () => {
    await fc.assert(
      fc.asyncProperty(frame, fc.boolean(), async (frameData, withConnect) => {
        const { closeCode, messages } = await exchange(frameData, withConnect);
        expect(closeCode).not.toBeNull();
        for (const message of messages) expect(typeof message.type).toBe("string");
      }),
      { numRuns: 200 },
    );
    await stillServing();
  });

  it("closes with 1007 on a text frame that is not UTF-8", async () => {
    const socket = new WebSocket(syncUrl());
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
    socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect(await closed).toBe(1007);
  });
});

describe("values past Convex's limits", () => {
  it.each([
    ["a document over 1 MiB", { value: "x".repeat(1024 * 1024 + 1) }, /Document is too large/],
    ["a document nested deeper than 16", { value: nested(16) }, /too nested/],
    ["an array longer than 8192", { value: new Array(8193).fill(0) }, /Array length is too long \(8193 > maximum length 8192\)/],
    ["a field name starting with $", { value: { $where: 1 } }, /starts with a '\$'/],
    ["an empty field name", { value: { "": 1 } }, /Empty field names/],
    ["a field name over 1024 characters", { value: { ["f".repeat(1025)]: 1 } }, /exceeds maximum field name length 1024/],
    ["a non-ASCII field name", { value: { "naïve": 1 } }, /non-control ASCII/],
  ])("refuses to store %s", async (_name, args, reason) => {
    expect(await failedCall("/api/mutation", "limits:store", args)).toMatch(reason);
  });

  it("accepts a document at the limits (nesting 16, 8192 items)", async () => {
    await http.mutation(api.limits.store, { value: nested(14) });
    await http.mutation(api.limits.store, { value: new Array(8192).fill(0) });
  });

  it("refuses arguments nested deeper than 64 with Convex's message, even 100000 levels deep", async () => {
    expect(await failedCall("/api/query", "limits:echo", { value: nested(64) })).toMatch(/Value is too nested \(nested \d+ levels deep > maximum nesting 64\)/);
    const deep = `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`;
    const { status, text } = await post("/api/query", `{"path":"limits:echo","args":{"value":${deep}},"format":"json"}`);
    const body = JSON.parse(text);
    expect(status === 200 ? body.errorMessage : body.message).toMatch(/too nested/);
    // The sync protocol path validates arguments the same way.
    await expect(bystander.query(api.limits.echo, { value: nested(64) })).rejects.toThrow(/Value is too nested/);
    await stillServing();
  });

  it("stops a query reading more than 16 MiB with Convex's error", async () => {
    // Seeded outside any function: 17 documents of 1 MB are more than one mutation may write in 1 s.
    const body = "y".repeat(1_000_000);
    for (let i = 0; i < 17; i++) await deployment.backend.runner.systemWrite((transaction) => transaction.insert("entries", { batch: "big", body }));
    expect(await failedCall("/api/query", "limits:readBatch", { batch: "big" })).toMatch(/Too many bytes read in a single function execution \(limit: 16777216\)/);
    await stillServing();
  });
});

describe("functions that never end", () => {
  const timedOut = /Function execution timed out \(maximum duration: 1s\)/;
  const outOfMemory = /JavaScript execution ran out of memory \(maximum memory usage: 64 MB\)/;
  it.each([
    ["a query that loops forever", "limits:spinQuery", "/api/query", timedOut],
    ["a mutation that loops forever", "limits:spinMutation", "/api/mutation", timedOut],
    // Its worker's heap is capped (Convex's 64 MiB plus headroom): it runs out of memory first.
    ["a query that allocates without bound", "limits:hoard", "/api/query", outOfMemory],
    // One allocation past the heap limit at a time: V8 aborts the process holding that heap.
    ["a query that grows one array without bound", "limits:growOneArray", "/api/query", outOfMemory],
    ["a mutation that grows one array without bound", "limits:growOneArrayMutation", "/api/mutation", outOfMemory],
  ])("stops %s with Convex's error; other clients notice nothing", async (_name, path, route, expected) => {
    const stored = await http.query(api.entries.countOf, { batch: "bystander" });
    const [message] = await Promise.all([failedCall(route, path, {}), stillServing()]);
    expect(message).toMatch(expected);
    expect(await http.query(api.entries.countOf, { batch: "bystander" })).toBe(stored + 1);
  });

  it("rolls back the writes of a mutation stopped by the time limit", async () => {
    const before = await http.query(api.limits.storedCount, {});
    expect(await failedCall("/api/mutation", "limits:spinMutation", {})).toMatch(/timed out/);
    expect(await http.query(api.limits.storedCount, {})).toBe(before);
  });
});

it("keeps memory bounded across repeated hostile requests", async () => {
  const hostile = async () => {
    await failedCall("/api/mutation", "limits:store", { value: new Array(8193).fill(0) });
    await failedCall("/api/query", "limits:echo", { value: nested(200) });
    await post("/api/query", Buffer.from([0xff, 0x00, 0x7b]));
    await post("/api/mutation", '{"path":"limits:store","args":{"value":', { "Content-Type": "application/json" });
  };
  for (let i = 0; i < 10; i++) await hostile(); // warm up caches and the allocator
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 100; i++) await hostile();
  const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
  expect(grownMiB).toBeLessThan(128);
  await stillServing();
});
