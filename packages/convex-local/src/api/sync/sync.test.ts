/**
 * The sync protocol driven by the official `convex` 1.48 clients (and, where the exact frames
 * matter, by a raw WebSocket speaking what they send) against a real runner + storage.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";
import WebSocket from "ws";
import { randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ADMIN_KEY, envSystemQuery, fakeJwt, startHarness, waitFor, type Harness } from "./test-utils/harness.js";
import type { QueryRequest, QueryResult } from "../../runtime/runner.js";
import { decodeTs, encodeTs } from "./protocol.js";

const api = anyApi;
const clients: ConvexClient[] = [];
const sockets: RawClient[] = [];

function client(h: Harness): ConvexClient {
  const c = new ConvexClient(h.url, {
    webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
    skipConvexDeploymentUrlCheck: true,
    logger: false,
  });
  clients.push(c);
  return c;
}

/** Latest value of a subscription, plus every value seen. */
function watch(c: ConvexClient, ref: any, args: Record<string, unknown>) {
  const state = { value: undefined as unknown, values: [] as unknown[], error: undefined as Error | undefined };
  const unsubscribe = c.onUpdate(
    ref,
    args,
    (v) => {
      state.value = v;
      state.values.push(v);
    },
    (e) => {
      state.error = e;
    },
  );
  return Object.assign(state, { unsubscribe });
}

/** A raw sync-protocol client: records every server frame. */
class RawClient {
  readonly messages: any[] = [];
  closeCode: number | undefined;
  closeReason = "";
  private readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(url: string, path = "/api/1.48.0/sync", options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url.replace("http", "ws") + path, options);
    this.ws.on("message", (data) => this.messages.push(JSON.parse(data.toString())));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
    this.closed = new Promise((resolve) =>
      this.ws.once("close", (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve();
      }),
    );
    sockets.push(this);
  }

  /** A client whose socket is open and that has sent its `Connect`. */
  static async connected(url: string): Promise<RawClient> {
    const raw = new RawClient(url);
    await raw.opened;
    raw.send(connect());
    return raw;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  sendBinary(data: Buffer): void {
    this.ws.send(data, { binary: true });
  }

  ofType(type: string): any[] {
    return this.messages.filter((m) => m.type === type);
  }

  async next(type: string, count = 1): Promise<any> {
    const list = await waitFor(() => this.ofType(type), (l) => l.length >= count);
    return list[count - 1];
  }

  close(): void {
    this.ws.close();
  }
}

function connect(sessionId = randomUUID(), connectionCount = 0) {
  return { type: "Connect", sessionId, connectionCount, lastCloseReason: "InitialConnect", clientTs: Date.now() };
}

const ZERO_TS = encodeTs(0n);

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const s of sockets.splice(0)) s.close();
});

describe("with one backend", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ systemQuery: envSystemQuery({ FOO: "bar", SITE: "https://x.test" }) });
  });
  afterAll(async () => {
    await h?.cleanup();
  });

  test("a subscription gets its initial value, then updates after another client's mutation", async () => {
    const a = client(h);
    const b = client(h);
    const sub = watch(a, api.messages.list, { channel: "initial" });
    await waitFor(() => sub.value, (v) => Array.isArray(v));
    expect(sub.value).toEqual([]);
    await b.mutation(api.messages.send, { channel: "initial", body: "hello" });
    await waitFor(() => sub.value, (v) => Array.isArray(v) && v.length === 1);
    expect(sub.value).toEqual(["hello"]);
    await b.mutation(api.messages.send, { channel: "initial", body: "again" });
    await waitFor(() => sub.value, (v) => Array.isArray(v) && v.length === 2);
    expect(sub.values).toEqual([[], ["hello"], ["hello", "again"]]);
  });

  test("a result read before a commit the backend has since recorded is not sent: the subscriber gets the re-run's", async () => {
    const a = client(h);
    const connected = watch(a, api.messages.list, { channel: "other" });
    await waitFor(() => connected.value, (v) => Array.isArray(v));
    // The subscription's first run reaches the sync hub only after the commit below is recorded:
    // the run read a snapshot from before it, and its read set is not registered yet, so only the
    // hub's check of results against the commits since their snapshot can find it stale.
    let heldRun: QueryResult | undefined;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const queryMany = h.runner.queryMany;
    h.runner.queryMany = async (requests) => {
      const results = await queryMany(requests);
      const index = requests.findIndex((r) => r.path === "messages:list" && (r.args as { channel?: string }).channel === "race");
      if (index >= 0 && heldRun === undefined) {
        heldRun = results[index];
        await released;
      }
      return results;
    };
    try {
      const sub = watch(a, api.messages.list, { channel: "race" });
      await waitFor(() => heldRun, (run) => run !== undefined);
      expect(heldRun!.result).toMatchObject({ status: "success", value: [] });
      // Straight to the runner: a client's mutation resolves only once a Transition reaches its
      // commit, and the hub's one flush is the one held here. The runner resolves after the commit
      // is recorded.
      const sent = await h.runner.mutation("messages:send", { channel: "race", body: "during" }, { identity: null, admin: false });
      expect(sent.result.status).toBe("success");
      expect(h.storage.lastCommitTs()).toBeGreaterThan(heldRun!.snapshotTs);
      const runsBefore = h.executionsOf("messages:list", { channel: "race" });
      release();
      await waitFor(() => sub.value, (v) => Array.isArray(v) && v.length === 1);
      expect(h.executionsOf("messages:list", { channel: "race" })).toBeGreaterThan(runsBefore);
      expect(sub.values).toEqual([["during"]]);
    } finally {
      release();
      h.runner.queryMany = queryMany;
    }
  });

  test("a result read at a commit the backend has not heard of yet goes out at that commit's version, after it", async () => {
    // The mutation worker commits, and its reply is held: the backend has not heard of the commit
    // while a query worker already reads it (as when the two replies cross).
    type Runs = { run: (...args: any[]) => Promise<any> };
    const { mutations, queryWorkers } = h.runner as unknown as { mutations: { worker: Runs }; queryWorkers: Runs };
    const worker = mutations.worker;
    const run = worker.run;
    const runQueries = queryWorkers.run;
    let readAhead!: (snapshotTs: bigint) => void;
    const queryRead = new Promise<bigint>((resolve) => (readAhead = resolve));
    queryWorkers.run = async (...args) => {
      const executed = await runQueries.apply(queryWorkers, args);
      if (args[0].some((request: QueryRequest) => (request.args as { channel?: string }).channel === "ahead")) readAhead(executed[0].snapshotTs);
      return executed;
    };
    let committed!: () => void;
    const workerCommitted = new Promise<void>((resolve) => (committed = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    worker.run = async (...args) => {
      const reply = await run.apply(worker, args);
      committed();
      await released;
      return reply;
    };
    try {
      const heardBefore = h.storage.lastCommitTs();
      const sent = h.runner.mutation("messages:send", { channel: "ahead", body: "first" }, { identity: null, admin: false });
      await workerCommitted;
      expect(h.storage.lastCommitTs()).toBe(heardBefore);
      const raw = await RawClient.connected(h.url);
      raw.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "messages:list", args: [{ channel: "ahead" }] }] });
      // The query's result is back from its worker, read at the commit the backend has not heard of.
      expect(await queryRead).toBeGreaterThan(heardBefore);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(raw.ofType("Transition")).toEqual([]);
      release();
      const { commitTs } = await sent;
      const transition = await raw.next("Transition");
      expect(transition.modifications).toEqual([expect.objectContaining({ type: "QueryUpdated", queryId: 0, value: ["first"] })]);
      expect(decodeTs(transition.endVersion.ts)).toBeGreaterThanOrEqual(commitTs!);
    } finally {
      release();
      worker.run = run;
      queryWorkers.run = runQueries;
    }
  });

  test("a commit re-runs only the subscriptions whose read ranges it touched", async () => {
    const b = client(h);
    const id1 = await b.mutation(api.messages.send, { channel: "ra", body: "one" });
    const id2 = await b.mutation(api.messages.send, { channel: "rb", body: "two" });
    const a = client(h);
    const subs = [
      watch(a, api.messages.list, { channel: "ra" }),
      watch(a, api.messages.list, { channel: "rb" }),
      watch(a, api.messages.notes, {}),
      watch(a, api.messages.get, { id: id1 }),
      watch(a, api.messages.get, { id: id2 }),
    ];
    await waitFor(() => subs.every((s) => s.value !== undefined), (ok) => ok);
    const count = () => ({
      ra: h.executionsOf("messages:list", { channel: "ra" }),
      rb: h.executionsOf("messages:list", { channel: "rb" }),
      notes: h.executionsOf("messages:notes"),
      get1: h.executionsOf("messages:get", { id: id1 }),
      get2: h.executionsOf("messages:get", { id: id2 }),
    });
    const before = count();
    expect(before).toEqual({ ra: 1, rb: 1, notes: 1, get1: 1, get2: 1 });

    await b.mutation(api.messages.send, { channel: "ra", body: "three" });
    await waitFor(() => subs[0]!.value, (v) => Array.isArray(v) && v.length === 2);
    expect(count()).toEqual({ ra: 2, rb: 1, notes: 1, get1: 1, get2: 1 });

    await b.mutation(api.messages.edit, { id: id2, body: "two!" });
    await waitFor(() => subs[4]!.value, (v) => v === "two!");
    expect(count()).toEqual({ ra: 2, rb: 2, notes: 1, get1: 1, get2: 2 });

    await b.mutation(api.messages.addNote, { text: "n" });
    await waitFor(() => subs[2]!.value, (v) => Array.isArray(v) && v.length === 1);
    expect(count()).toEqual({ ra: 2, rb: 2, notes: 2, get1: 1, get2: 2 });
    expect(subs[1]!.values).toEqual([["two"], ["two!"]]);
  });

  test("all of a client's results changed by one commit arrive in one Transition", async () => {
    const b = client(h);
    const id = await b.mutation(api.messages.send, { channel: "one-transition", body: "x" });
    const raw = await RawClient.connected(h.url);
    raw.send({
      type: "ModifyQuerySet",
      baseVersion: 0,
      newVersion: 1,
      modifications: [
        { type: "Add", queryId: 0, udfPath: "messages:list", args: [{ channel: "one-transition" }] },
        { type: "Add", queryId: 1, udfPath: "messages:get", args: [{ id }] },
        { type: "Add", queryId: 2, udfPath: "messages:notes", args: [{}] },
      ],
    });
    const first = await raw.next("Transition");
    expect(first.startVersion).toEqual({ querySet: 0, identity: 0, ts: ZERO_TS });
    expect(first.endVersion.querySet).toBe(1);
    expect(first.modifications.map((m: any) => m.queryId).sort()).toEqual([0, 1, 2]);
    for (const m of first.modifications) expect(m).toMatchObject({ type: "QueryUpdated", logLines: [], journal: null });

    await b.mutation(api.messages.edit, { id, body: "y" });
    const second = await raw.next("Transition", 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(raw.ofType("Transition")).toHaveLength(2);
    expect(second.startVersion).toEqual(first.endVersion);
    expect(decodeTs(second.endVersion.ts)).toBeGreaterThan(decodeTs(first.endVersion.ts));
    expect(second.modifications).toEqual([
      { type: "QueryUpdated", queryId: 0, value: ["y"], logLines: [], journal: null },
      { type: "QueryUpdated", queryId: 1, value: "y", logLines: [], journal: null },
    ]);
  });

  test("a mutation's result is visible in the mutating client's subscriptions when it resolves", async () => {
    const a = client(h);
    const sub = watch(a, api.messages.list, { channel: "visible" });
    await waitFor(() => sub.value, (v) => Array.isArray(v));
    for (let i = 0; i < 20; i++) {
      await a.mutation(api.messages.send, { channel: "visible", body: `m${i}` });
      expect((sub.value as string[]).at(-1)).toBe(`m${i}`);
    }
  });

  test("the MutationResponse carries the commit ts and a Transition reaching it follows", async () => {
    const raw = await RawClient.connected(h.url);
    raw.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [] });
    await raw.next("Transition");
    raw.send({ type: "Mutation", requestId: 0, udfPath: "messages:send", args: [{ channel: "ts", body: "b" }] });
    const response = await raw.next("MutationResponse");
    expect(response).toMatchObject({ requestId: 0, success: true, logLines: [] });
    expect(decodeTs(response.ts)).toBe(h.storage.lastCommitTs());
    const transition = await raw.next("Transition", 2);
    expect(raw.messages.indexOf(transition)).toBeGreaterThan(raw.messages.indexOf(response));
    expect(decodeTs(transition.endVersion.ts)).toBeGreaterThanOrEqual(decodeTs(response.ts));
  });

  test("a failing query reaches the client as an error, with ConvexError data", async () => {
    const a = client(h);
    const plain = watch(a, api.messages.failing, {});
    const withData = watch(a, api.messages.failingWithData, {});
    const missing = watch(a, api.messages.doesNotExist, {});
    await waitFor(() => [plain.error, withData.error, missing.error], (e) => e.every((x) => x !== undefined));
    expect(plain.error!.message).toContain("boom from query");
    expect(withData.error).toBeInstanceOf(ConvexError);
    expect((withData.error as ConvexError<any>).data).toEqual({ code: 42 });
    expect(missing.error!.message).toMatch(/Could not find public function/);
    const failed = watch(a, api.messages.secret, {}); // internal: not for a non-admin
    await waitFor(() => failed.error, (e) => e !== undefined);
  });

  test("mutations and actions report errors and values", async () => {
    const a = client(h);
    expect(await a.action(api.messages.echo, { value: { n: 5 } })).toEqual({ n: 5 });
    await expect(a.mutation(api.messages.send, { channel: 1 } as any)).rejects.toThrow(/ArgumentValidationError|Validator/);
    await expect(a.mutation(api.messages.list, { channel: "x" })).rejects.toThrow();
  });

  test("setAuth: a token mapped by authenticate() becomes the queries' identity", async () => {
    const a = client(h);
    const sub = watch(a, api.messages.whoami, {});
    await waitFor(() => sub.values.length, (n) => n >= 1);
    expect(sub.value).toBe(null);
    const changes: boolean[] = [];
    a.setAuth(async () => fakeJwt("alice"), (isAuthenticated) => changes.push(isAuthenticated));
    await waitFor(() => sub.value, (v) => v === "alice");
    await waitFor(() => changes, (c) => c.includes(true));
    expect(changes).not.toContain(false);
    a.client.clearAuth();
    await waitFor(() => sub.value, (v) => v === null);
  });

  test("a rejected token gets AuthError (baseVersion, authUpdateAttempted) and the client reports failure", async () => {
    const raw = await RawClient.connected(h.url);
    raw.send({ type: "Authenticate", tokenType: "User", value: fakeJwt("bad-user"), baseVersion: 0 });
    raw.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [] });
    const error = await raw.next("AuthError");
    expect(error).toEqual({
      type: "AuthError",
      error: "Could not verify OIDC token claim. Check that the token signature is valid.",
      baseVersion: 0,
      authUpdateAttempted: true,
    });
    await raw.closed;
    expect(raw.ofType("Transition")).toHaveLength(0);

    const a = client(h);
    const sub = watch(a, api.messages.whoami, {});
    const changes: boolean[] = [];
    a.setAuth(async () => fakeJwt("bad-user"), (ok) => changes.push(ok));
    await waitFor(() => changes, (c) => c.includes(false));
    // The client carries on unauthenticated.
    await waitFor(() => sub.values.length, (n) => n >= 1);
    expect(sub.value).toBe(null);
    expect(await a.mutation(api.messages.send, { channel: "after-auth-error", body: "ok" })).toMatch(/./);
  });

  test("the CLI's `env list` / `env get` exchange", async () => {
    const raw = new RawClient(h.url);
    await raw.opened;
    raw.send({ type: "Connect", sessionId: randomUUID(), connectionCount: 0, lastCloseReason: "InitialConnect", clientTs: Date.now() });
    raw.send({ type: "Authenticate", tokenType: "Admin", value: ADMIN_KEY, baseVersion: 0 });
    raw.send({
      type: "ModifyQuerySet",
      baseVersion: 0,
      newVersion: 1,
      modifications: [{ type: "Add", queryId: 0, udfPath: "_system/cli/queryEnvironmentVariables:default", args: [{}] }],
    });
    const t1 = await raw.next("Transition");
    expect(t1.startVersion).toEqual({ querySet: 0, identity: 0, ts: ZERO_TS });
    expect(t1.endVersion).toMatchObject({ querySet: 1, identity: 1 });
    expect(t1.modifications).toEqual([
      {
        type: "QueryUpdated",
        queryId: 0,
        value: [
          { name: "FOO", value: "bar" },
          { name: "SITE", value: "https://x.test" },
        ],
        logLines: [],
        journal: null,
      },
    ]);
    raw.send({
      type: "ModifyQuerySet",
      baseVersion: 1,
      newVersion: 2,
      modifications: [
        { type: "Remove", queryId: 0 },
        { type: "Add", queryId: 1, udfPath: "_system/cli/queryEnvironmentVariables:get", args: [{ name: "FOO" }] },
        { type: "Add", queryId: 2, udfPath: "messages:secret", args: [{}] },
      ],
    });
    const t2 = await raw.next("Transition", 2);
    expect(t2.startVersion).toEqual(t1.endVersion);
    expect(t2.endVersion).toMatchObject({ querySet: 2, identity: 1 });
    expect(t2.modifications).toEqual([
      { type: "QueryRemoved", queryId: 0 },
      { type: "QueryUpdated", queryId: 1, value: { name: "FOO", value: "bar" }, logLines: [], journal: null },
      { type: "QueryUpdated", queryId: 2, value: "s3cret", logLines: [], journal: null }, // admin may call internal functions
    ]);

    const anon = new RawClient(h.url, "/api/0.0.1-anything/sync");
    await anon.opened;
    anon.send(connect());
    anon.send({
      type: "ModifyQuerySet",
      baseVersion: 0,
      newVersion: 1,
      modifications: [{ type: "Add", queryId: 0, udfPath: "_system/cli/queryEnvironmentVariables:default", args: [{}] }],
    });
    const t = await anon.next("Transition");
    expect(t.modifications[0]).toMatchObject({ type: "QueryFailed", queryId: 0, errorMessage: expect.stringMatching(/admin/) });
  });

  test("the official CLI's `npx convex env list` and `env get` read over the sync socket", async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), "convex-local-cli-"));
    try {
      writeFileSync(path.join(cwd, "package.json"), JSON.stringify({ name: "cli-env", private: true, dependencies: { convex: "1.48.0" } }));
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const name of Object.keys(env)) if (name.startsWith("CONVEX_")) delete env[name];
      Object.assign(env, { CONVEX_SELF_HOSTED_URL: h.url, CONVEX_SELF_HOSTED_ADMIN_KEY: ADMIN_KEY });
      const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../../node_modules/convex/bin/main.js");
      const run = (args: string[]) => promisify(execFile)(process.execPath, [cli, ...args], { cwd, env, timeout: 60_000 });
      expect((await run(["env", "list"])).stdout).toBe("FOO=bar\nSITE=https://x.test\n");
      expect((await run(["env", "get", "FOO"])).stdout).toBe("bar\n");
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test("a retried Mutation (same session, same requestId) after a reconnect runs once", async () => {
    const sessionId = randomUUID();
    const first = new RawClient(h.url);
    await first.opened;
    first.send(connect(sessionId, 0));
    first.send({ type: "Mutation", requestId: 7, udfPath: "messages:send", args: [{ channel: "retry", body: "once" }] });
    const r1 = await first.next("MutationResponse");
    first.close();
    await first.closed;

    const second = new RawClient(h.url);
    await second.opened;
    second.send({ ...connect(sessionId, 1), lastCloseReason: "closed with code 1000" });
    second.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "messages:list", args: [{ channel: "retry" }] }] });
    second.send({ type: "Mutation", requestId: 7, udfPath: "messages:send", args: [{ channel: "retry", body: "once" }] });
    second.send({ type: "Mutation", requestId: 8, udfPath: "messages:send", args: [{ channel: "retry", body: "twice" }] });
    const r2 = await second.next("MutationResponse");
    expect(r2).toEqual(r1);
    const r3 = await second.next("MutationResponse", 2);
    expect(r3.result).not.toEqual(r1.result);
    const c = client(h);
    expect(await c.query(api.messages.list, { channel: "retry" })).toEqual(["once", "twice"]);
  });

  test("malformed frames get FatalError and a close; the server keeps serving", async () => {
    const cases: [string, (r: RawClient) => void, RegExp][] = [
      ["not json", (r) => r.send("{not json"), /Invalid JSON/],
      ["binary", (r) => r.sendBinary(Buffer.from([1, 2, 3])), /binary/],
      ["unknown type", (r) => r.send({ type: "Bogus" }), /Unknown client message type/],
      ["bad field", (r) => r.send({ type: "Mutation", requestId: -1, udfPath: "x", args: [] }), /u32/],
      [
        "wrong base version",
        (r) => r.send({ type: "ModifyQuerySet", baseVersion: 5, newVersion: 6, modifications: [] }),
        /Base version 5/,
      ],
      ["array", (r) => r.send("[1,2]"), /Invalid JSON/],
      ["null", (r) => r.send("null"), /Invalid JSON/],
    ];
    for (const [name, sendBad, expected] of cases) {
      const raw = await RawClient.connected(h.url);
      sendBad(raw);
      await raw.closed;
      const fatal = raw.ofType("FatalError");
      expect(fatal, name).toHaveLength(1);
      expect(fatal[0].error, name).toMatch(expected);
      expect(raw.closeCode, name).toBe(1008);
      expect(raw.closeReason, name).toMatch(expected);
    }
    const a = client(h);
    expect(await a.query(api.messages.list, { channel: "still-alive" })).toEqual([]);
  });

  test("a frame quoting a huge client value gets a short FatalError and close reason, at once", async () => {
    const huge = "t".repeat(1024 * 1024);
    const cases: [string, unknown, RegExp][] = [
      ["message type", { type: huge }, /^Unknown client message type "t+\[\.\.\.truncated\]$/],
      ["u32 field", { type: "Mutation", requestId: huge, udfPath: "x", args: [] }, /^Mutation\.requestId must be a u32, got "t+\[\.\.\.truncated\]$/],
      ["u32 field (array)", { type: "Mutation", requestId: Array(100_000).fill(1), udfPath: "x", args: [] }, /^Mutation\.requestId must be a u32, got \[1,1,.*\[\.\.\.truncated\]$/],
      ["tokenType", { type: "Authenticate", baseVersion: 0, tokenType: huge }, /^Unknown Authenticate\.tokenType "t+\[\.\.\.truncated\]$/],
      ["modification type", { type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: huge }] }, /^Unknown query set modification type "t+\[\.\.\.truncated\]$/],
      // Multi-byte characters: the close reason is cut at 123 bytes, never inside a character.
      ["multi-byte type", { type: "é".repeat(500_000) }, /^Unknown client message type "é+\[\.\.\.truncated\]$/],
    ];
    for (const [name, frame, expected] of cases) {
      const raw = await RawClient.connected(h.url);
      const start = performance.now();
      raw.send(frame);
      await raw.closed;
      // Unbounded, the close reason alone took a minute to cut (one character at a time).
      expect(performance.now() - start, name).toBeLessThan(2_000);
      const fatal = raw.ofType("FatalError");
      expect(fatal, name).toHaveLength(1);
      expect(fatal[0].error, name).toMatch(expected);
      expect(fatal[0].error.length, name).toBeLessThan(300);
      expect(raw.closeCode, name).toBe(1008);
      expect(Buffer.byteLength(raw.closeReason), name).toBeLessThanOrEqual(123);
      expect(fatal[0].error.startsWith(raw.closeReason), name).toBe(true);
    }
  });

  test("a frame of more values than an HTTP body may hold is refused before it is parsed", async () => {
    const raw = await RawClient.connected(h.url);
    // 300,000 empty objects: about 900 KB, well within the frame size limit.
    raw.send(`{"type":"Event","eventType":"x","event":[${"{},".repeat(300_000)}{}]}`);
    await raw.closed;
    expect(raw.ofType("FatalError")).toEqual([
      { type: "FatalError", error: "Received Invalid JSON on websocket: the frame holds more than 262144 values, the most convex-local accepts in one message" },
    ]);
    expect(raw.closeCode).toBe(1008);
    // Within the limit, the same kind of frame is an ordinary message.
    const ok = new RawClient(h.url);
    await ok.opened;
    ok.send(connect());
    ok.send(`{"type":"Event","eventType":"x","event":[${"{},".repeat(100_000)}{}]}`);
    ok.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [] });
    await ok.next("Transition");
    expect(ok.ofType("FatalError")).toEqual([]);
  });

  test("other upgrade paths are left alone", async () => {
    const raw = new RawClient(h.url, "/not-sync");
    const outcome = await Promise.race([
      raw.opened.then(() => "opened", () => "failed"),
      new Promise((r) => setTimeout(() => r("pending"), 300)),
    ]);
    expect(outcome).toBe("pending"); // no handler of ours answered it
  });
});

describe("keep-alive", () => {
  test("an idle client gets Ping messages", async () => {
    const h = await startHarness({ syncOptions: { heartbeatIntervalMs: 50 } });
    try {
      const raw = await RawClient.connected(h.url);
      await raw.next("Ping", 2);
    } finally {
      await h.cleanup();
    }
  });
});

describe("liveness", () => {
  test("a silent client that answers WebSocket pings stays; one that does not is dropped", async () => {
    const h = await startHarness({ syncOptions: { heartbeatIntervalMs: 50, clientTimeoutMs: 400 } });
    try {
      const alive = new RawClient(h.url);
      const dead = new RawClient(h.url, "/api/1.48.0/sync", { autoPong: false });
      await Promise.all([alive.opened, dead.opened]);
      alive.send(connect());
      dead.send(connect());
      await dead.closed;
      await new Promise((r) => setTimeout(r, 500));
      expect(alive.closeCode).toBeUndefined();
      expect(h.sync.connectionCount).toBe(1);
    } finally {
      await h.cleanup();
    }
  });
});

describe("restart", () => {
  test("clients reconnect after a server restart and get their subscriptions back", async () => {
    let h = await startHarness();
    const { dataDir, port } = h;
    try {
      const a = client(h);
      const b = client(h);
      const sub = watch(a, api.messages.list, { channel: "restart" });
      await b.mutation(api.messages.send, { channel: "restart", body: "before" });
      await waitFor(() => sub.value, (v) => Array.isArray(v) && v.length === 1);

      await h.stop();
      // A mutation issued while the server is down is sent when the client reconnects.
      const pending = b.mutation(api.messages.send, { channel: "restart", body: "during" });
      h = await startHarness({ dataDir, port });
      await pending;
      await waitFor(() => sub.value, (v) => Array.isArray(v) && v.length === 2, 20_000);
      await b.mutation(api.messages.send, { channel: "restart", body: "after" });
      await waitFor(() => sub.value, (v) => Array.isArray(v) && v.length === 3);
      expect(sub.value).toEqual(["before", "during", "after"]);
      expect(h.sync.connectionCount).toBe(2);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await h.cleanup();
    }
  });
});

describe("limits and isolation", () => {
  test("a failed Mutation is not remembered (as on Convex): its retry after a reconnect runs again", async () => {
    const h = await startHarness();
    try {
      let runs = 0;
      const mutation = h.runner.mutation.bind(h.runner);
      h.runner.mutation = (...args) => {
        runs++;
        return mutation(...args);
      };
      const sessionId = randomUUID();
      const failing = { type: "Mutation", requestId: 3, udfPath: "messages:send", args: [{ channel: 1, body: "x" }] };
      for (const connectionCount of [0, 1]) {
        const raw = new RawClient(h.url);
        await raw.opened;
        raw.send(connect(sessionId, connectionCount));
        raw.send(failing);
        expect(await raw.next("MutationResponse")).toMatchObject({ success: false, result: expect.stringMatching(/ArgumentValidationError/) });
        raw.close();
        await raw.closed;
      }
      expect(runs).toBe(2);
    } finally {
      await h.cleanup();
    }
  });

  test("results past a connection's maxResultBytes fail with a message saying so; its other queries stay live", async () => {
    const h = await startHarness({ syncOptions: { limits: { maxResultBytes: 80 } } });
    try {
      const writer = client(h);
      await writer.mutation(api.messages.send, { channel: "big", body: "x".repeat(80) });
      await writer.mutation(api.messages.send, { channel: "small", body: "s" });
      const raw = await RawClient.connected(h.url);
      raw.send({
        type: "ModifyQuerySet",
        baseVersion: 0,
        newVersion: 1,
        modifications: [
          { type: "Add", queryId: 1, udfPath: "messages:list", args: [{ channel: "small" }] },
          { type: "Add", queryId: 2, udfPath: "messages:list", args: [{ channel: "big" }] },
        ],
      });
      const first = await raw.next("Transition");
      expect(first.modifications).toEqual([
        expect.objectContaining({ type: "QueryUpdated", queryId: 1, value: ["s"] }),
        expect.objectContaining({
          type: "QueryFailed",
          queryId: 2,
          errorMessage: expect.stringMatching(
            /^\[Request ID: [0-9a-f]{16}\] Server Error\nThe query results on this connection exceed 80 bytes, so this query's result was not sent\. Subscribe to fewer or smaller queries on one connection\.\n$/,
          ),
        }),
      ]);
      await writer.mutation(api.messages.send, { channel: "small", body: "t" });
      const second = await waitFor(() => raw.ofType("Transition").find((t) => t.modifications.length > 0 && t !== first), (t) => t !== undefined);
      expect(second.modifications).toEqual([expect.objectContaining({ type: "QueryUpdated", queryId: 1, value: ["s", "t"] })]);
    } finally {
      await h.cleanup();
    }
  });

  test("a connection's query arguments past maxQueryArgsBytes end it with FatalError", async () => {
    const h = await startHarness({ syncOptions: { limits: { maxQueryArgsBytes: 1000 } } });
    try {
      const raw = await RawClient.connected(h.url);
      const add = (queryId: number) => ({ type: "Add", queryId, udfPath: "messages:list", args: [{ channel: "c".repeat(400) }] });
      raw.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [add(1), add(2)] });
      await raw.next("Transition");
      raw.send({ type: "ModifyQuerySet", baseVersion: 1, newVersion: 2, modifications: [add(3)] });
      await raw.closed;
      expect(raw.ofType("FatalError")).toEqual([{ type: "FatalError", error: "The arguments of this connection's queries exceed 1000 bytes" }]);
    } finally {
      await h.cleanup();
    }
  });

  test("a client that stops reading is sent coalesced Transitions, not one per commit, and is not dropped", async () => {
    const h = await startHarness();
    try {
      // 12 documents of 900 KB: each Transition carries about 11 MB, so socket buffers fill fast.
      const writer = client(h);
      const body = (n: number) => `${n} ${"b".repeat(900 * 1024)}`;
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) ids.push(await writer.mutation(api.messages.send, { channel: "slow", body: body(i) }));
      const reader = new WebSocket(`${h.url.replace("http", "ws")}/api/1.48.0/sync`, { maxPayload: 0 });
      let last: any;
      let closeCode: number | undefined;
      reader.on("message", (data) => {
        const message = JSON.parse(String(data));
        if (message.type === "Transition" && message.modifications.length > 0) last = message.modifications[0];
      });
      reader.on("close", (code) => (closeCode = code));
      await new Promise((resolve) => reader.once("open", resolve));
      reader.send(JSON.stringify(connect()));
      reader.send(JSON.stringify({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "messages:list", args: [{ channel: "slow" }] }] }));
      await waitFor(() => last, (m) => m !== undefined);
      const runsBefore = h.executionsOf("messages:list", { channel: "slow" });
      reader.pause();
      const edits = 30;
      for (let n = 1; n <= edits; n++) await writer.mutation(api.messages.edit, { id: ids[0], body: body(1000 + n) });
      const runsWhilePaused = h.executionsOf("messages:list", { channel: "slow" }) - runsBefore;
      reader.resume();
      await waitFor(() => last?.value?.[0] as string | undefined, (first) => first?.startsWith(`${1000 + edits} `) === true, 20_000);
      expect(closeCode).toBeUndefined();
      expect(runsWhilePaused).toBeLessThan(edits / 2);
      reader.close();
    } finally {
      await h.cleanup();
    }
  });

  test("frames queued behind a slow Authenticate are bounded in bytes: past it, FatalError", async () => {
    let release: () => void = () => {};
    const slowAuthenticate = () => new Promise<{ identity: null; admin: false }>((resolve) => (release = () => resolve({ identity: null, admin: false })));
    const h = await startHarness({ authenticate: slowAuthenticate, syncOptions: { limits: { maxQueuedBytes: 1000 } } });
    try {
      const raw = await RawClient.connected(h.url);
      raw.send({ type: "Authenticate", baseVersion: 0, tokenType: "None" });
      for (let i = 0; i < 5; i++) raw.send({ type: "Event", eventType: "x", event: "e".repeat(300) });
      await raw.closed;
      expect(raw.ofType("FatalError")).toEqual([{ type: "FatalError", error: "Too many unprocessed messages on this connection" }]);
    } finally {
      release();
      await h.cleanup();
    }
  });

  test("a frame past maxQueuedBytes is refused before it is parsed", async () => {
    const h = await startHarness({ syncOptions: { limits: { maxQueuedBytes: 1000 } } });
    try {
      const raw = await RawClient.connected(h.url);
      // Invalid JSON: were it parsed first, the FatalError would say so.
      raw.send(`{"type":"Event","eventType":"x","event":"${"e".repeat(2000)}`);
      await raw.closed;
      expect(raw.ofType("FatalError")).toEqual([{ type: "FatalError", error: "Too many unprocessed messages on this connection" }]);
    } finally {
      await h.cleanup();
    }
  });

  test("log lines count against maxResultBytes, as the Transition carries them", async () => {
    const h = await startHarness({ syncOptions: { limits: { maxResultBytes: 10_000 } } });
    try {
      const raw = await RawClient.connected(h.url);
      raw.send({
        type: "ModifyQuerySet",
        baseVersion: 0,
        newVersion: 1,
        modifications: [
          { type: "Add", queryId: 1, udfPath: "messages:chatty", args: [{ lines: 2, size: 100 }] },
          { type: "Add", queryId: 2, udfPath: "messages:chatty", args: [{ lines: 10, size: 2_000 }] },
        ],
      });
      const first = await raw.next("Transition");
      expect(first.modifications).toEqual([
        expect.objectContaining({ type: "QueryUpdated", queryId: 1, value: null, logLines: [expect.stringMatching(/^\[LOG\] 'l{100}'$/), expect.anything()] }),
        expect.objectContaining({ type: "QueryFailed", queryId: 2, errorMessage: expect.stringMatching(/query results on this connection exceed 10000 bytes/), logLines: [] }),
      ]);
    } finally {
      await h.cleanup();
    }
  });

  test("the arguments of a connection's running actions are bounded: one past it is answered with an error", async () => {
    const h = await startHarness({ syncOptions: { limits: { maxInflightActionArgsBytes: 100 } } });
    try {
      const raw = await RawClient.connected(h.url);
      const echo = (requestId: number) => ({ type: "Action", requestId, udfPath: "messages:echo", args: [{ value: "v".repeat(60) }] });
      raw.send(echo(1));
      raw.send(echo(2));
      await raw.next("ActionResponse", 2);
      const byId = new Map(raw.ofType("ActionResponse").map((r) => [r.requestId, r]));
      expect(byId.get(1)).toMatchObject({ success: true, result: "v".repeat(60) });
      expect(byId.get(2)).toMatchObject({
        success: false,
        result: expect.stringMatching(/^\[Request ID: [0-9a-f]{16}\] Server Error\nThe arguments of this connection's running actions would exceed 100 bytes\n$/),
      });
      raw.send(echo(3)); // the first has finished: room again
      expect(await raw.next("ActionResponse", 3)).toMatchObject({ requestId: 3, success: true });
    } finally {
      await h.cleanup();
    }
  });

  test("live queries are bounded on all connections together too; a closed connection frees its share", async () => {
    const h = await startHarness({ syncOptions: { limits: { maxQueriesInTotal: 3 } } });
    try {
      const subscribe = async (queryIds: number[]) => {
        const raw = await RawClient.connected(h.url);
        const modifications = queryIds.map((queryId) => ({ type: "Add", queryId, udfPath: "messages:list", args: [{ channel: `c${queryId}` }] }));
        raw.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications });
        await Promise.race([raw.next("Transition"), raw.closed]);
        return raw;
      };
      const first = await subscribe([1, 2]);
      const second = await subscribe([1, 2]);
      await second.closed;
      expect(second.ofType("FatalError")).toEqual([{ type: "FatalError", error: "Too many queries on all connections (limit 3)" }]);
      first.close();
      await first.closed;
      const third = await subscribe([1, 2, 3]);
      expect(third.closeCode).toBeUndefined();
      expect(third.ofType("Transition")[0].modifications).toHaveLength(3);
    } finally {
      await h.cleanup();
    }
  });

  test("a connection from a web page (an Origin header) may not authenticate with the admin key", async () => {
    const h = await startHarness();
    try {
      const page = new RawClient(h.url, "/api/1.48.0/sync", { origin: "http://localhost:5173" });
      await page.opened;
      page.send(connect());
      page.send({ type: "Authenticate", baseVersion: 0, tokenType: "Admin", value: ADMIN_KEY });
      expect(await page.next("AuthError")).toMatchObject({ error: expect.stringMatching(/does not accept an admin key from a web page \(Origin "http:\/\/localhost:5173"\)/) });
      await page.closed;
      // The page may still sign in with a user token.
      const user = new RawClient(h.url, "/api/1.48.0/sync", { origin: "http://localhost:5173" });
      await user.opened;
      user.send(connect());
      user.send({ type: "Authenticate", baseVersion: 0, tokenType: "User", value: fakeJwt("alice") });
      user.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "messages:whoami", args: [{}] }] });
      await waitFor(() => user.ofType("Transition").flatMap((t) => t.modifications), (m) => m.length > 0);
      expect(user.ofType("Transition").flatMap((t) => t.modifications)).toEqual([expect.objectContaining({ type: "QueryUpdated", value: "alice" })]);
    } finally {
      await h.cleanup();
    }
  });

  test("an exception from one session's queries in a flush ends that session only", async () => {
    const errors: unknown[] = [];
    const h = await startHarness({
      systemQuery: ({ path: fnPath }) => {
        if (fnPath === "_system/explode") throw new RangeError("Maximum call stack size exceeded");
        return undefined;
      },
      syncOptions: { onError: (error) => errors.push(error) },
    });
    try {
      const bystander = client(h);
      const sub = watch(bystander, api.messages.list, { channel: "isolation" });
      await waitFor(() => sub.value, (v) => Array.isArray(v));
      const raw = await RawClient.connected(h.url);
      raw.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 1, udfPath: "_system/explode", args: [{}] }] });
      await raw.closed;
      expect(raw.closeCode).toBe(1011);
      expect(raw.closeReason).toBe("InternalServerError: Maximum call stack size exceeded");
      await bystander.mutation(api.messages.send, { channel: "isolation", body: "still here" });
      await waitFor(() => sub.value, (v) => Array.isArray(v) && v.length === 1);
      expect(errors).toEqual([expect.any(RangeError)]);
    } finally {
      await h.cleanup();
    }
  });
});
