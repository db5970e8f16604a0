/**
 * Issue #13 over the sync WebSocket: no client frame crashes or freezes the backend, one client's
 * memory and serialization cost stays bounded and on that client, and a page on any origin gets
 * the public protocol but no admin powers. Each attack runs against a `convex-local start` child
 * process while a control client queries it (see ./target.ts).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import WebSocket from "ws";
import { securityTarget, underAttack } from "./target.js";

// The server writes a heap snapshot on SIGUSR2; taking one collects garbage first, so its RSS
// afterwards is what it retains (see retainedBytes).
const snapshotDir = mkdtempSync(path.join(tmpdir(), "convex-local-heap-"));
process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotDir}`].filter(Boolean).join(" ");
afterAll(() => rmSync(snapshotDir, { recursive: true, force: true }));

const target = securityTarget();

/** The server's RSS once its garbage is collected. */
async function retainedBytes(): Promise<number> {
  const snapshots = readdirSync(snapshotDir).length;
  process.kill(target.pid, "SIGUSR2");
  await waitForCount(() => readdirSync(snapshotDir).length - snapshots, 1);
  // The snapshot is written on the server's event loop: once it answers, the snapshot is done.
  await fetch(`${target.url}/version`);
  return target.rssBytes();
}

interface ServerFrame {
  type: string;
  [field: string]: unknown;
}

/**
 * A raw sync-protocol socket. Frames larger than `keepBytes` are counted but not parsed (only the
 * first is kept, as received), so an attack that makes the server send hundreds of MB neither
 * fills the test process nor stalls its control client.
 */
class SyncSocket {
  readonly frames: ServerFrame[] = [];
  /** Sizes of all frames received, kept or not. */
  readonly frameSizes: number[] = [];
  firstLargeFrame: Buffer | undefined;
  closeCode: number | undefined;
  private readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(url: string, { origin, keepBytes = 1024 * 1024 }: { origin?: string; keepBytes?: number } = {}) {
    this.ws = new WebSocket(`${url.replace("http", "ws")}/api/1.48.0/sync`, { origin, maxPayload: 1024 * 1024 * 1024 });
    this.ws.on("message", (data: Buffer) => {
      this.frameSizes.push(data.length);
      if (data.length <= keepBytes) this.frames.push(JSON.parse(data.toString("utf8")) as ServerFrame);
      else this.firstLargeFrame ??= data;
    });
    this.opened = new Promise((resolve, reject) => this.ws.once("open", () => resolve()).once("error", reject));
    this.closed = new Promise((resolve) =>
      this.ws.once("close", (code) => {
        this.closeCode = code;
        resolve();
      }),
    );
    this.ws.on("error", () => {});
  }

  static async open(url: string, options?: { origin?: string; keepBytes?: number }): Promise<SyncSocket> {
    const socket = new SyncSocket(url, options);
    await socket.opened;
    socket.send({ type: "Connect", sessionId: randomUUID(), connectionCount: 0, lastCloseReason: "InitialConnect", clientTs: Date.now() });
    return socket;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Frames too large to keep. */
  framesOver(keepBytes: number): number {
    return this.frameSizes.filter((size) => size > keepBytes).length;
  }

  ofType(type: string): ServerFrame[] {
    return this.frames.filter((frame) => frame.type === type);
  }

  /** Resolves once a frame matching `predicate` arrived (or rejects after `timeoutMs`). */
  async frame(predicate: (frame: ServerFrame) => boolean, timeoutMs = 20_000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no matching frame in ${timeoutMs} ms; got ${this.frames.map((f) => f.type).join(", ")}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Resolves when the server has closed the connection; rejects after `timeoutMs`. */
  async closedByServer(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([this.closed, timeout]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    this.ws.close(1000);
    await this.closed;
  }
}

/** A mutation through the HTTP API, as another user of the deployment makes it. */
async function httpMutation(url: string, path: string, args: unknown): Promise<{ status: string; errorMessage?: string }> {
  const response = await fetch(`${url}/api/mutation`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path, args, format: "json" }),
  });
  return (await response.json()) as { status: string; errorMessage?: string };
}

/** `{"a":{"a":…0…}}` nested `depth` levels, as text (JSON.stringify itself would overflow). */
function nestedArgsText(depth: number): string {
  return `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`;
}

function addQuery(queryId: number, udfPath: string, argsText = "{}"): string {
  return `{"type":"Add","queryId":${queryId},"udfPath":"${udfPath}","args":[${argsText}]}`;
}

function modifyQuerySet(baseVersion: number, modifications: string[]): string {
  return `{"type":"ModifyQuerySet","baseVersion":${baseVersion},"newVersion":${baseVersion + 1},"modifications":[${modifications.join(",")}]}`;
}

async function settle(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe("finding 1: deeply nested values in a sync frame", () => {
  const deepSubscription = modifyQuerySet(0, [addQuery(1, "sync:anything", nestedArgsText(20_000))]);

  /** Every session's subscriptions re-run after an environment change, this one's included. */
  async function setEnvironmentVariable(): Promise<void> {
    const response = await fetch(`${target.url}/api/update_environment_variables`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Convex ${target.adminKey}` },
      body: JSON.stringify({ changes: [{ name: "SYNC_TEST", value: String(Math.random()) }] }),
    });
    expect(response.status).toBe(200);
  }

  it("refuses a ModifyQuerySet nested 20,000 levels with Convex's FatalError, whatever flushes next; other clients stay live", async () => {
    const bystander = await SyncSocket.open(target.url);
    bystander.send(modifyQuerySet(0, [addQuery(1, "sync:tickCount")]));
    const latestCount = () => {
      const updates = bystander.ofType("Transition").flatMap((t) => t.modifications as { type: string; value?: number }[]);
      return updates.filter((m) => m.type === "QueryUpdated").at(-1)?.value;
    };
    await waitForCount(() => (latestCount() === undefined ? 0 : 1), 1);
    const report = await underAttack(target, async () => {
      // Followed by a mutation on the same socket: its commit flushes while the query is pending.
      const withMutation = await SyncSocket.open(target.url);
      withMutation.send(deepSubscription);
      withMutation.send({ type: "Mutation", requestId: 1, udfPath: "sync:tick", args: [{}] });
      await withMutation.closedByServer();
      // Alone, then an environment change re-runs every subscription.
      const alone = await SyncSocket.open(target.url);
      alone.send(deepSubscription);
      await Promise.race([alone.closed, alone.frame((frame) => frame.type === "Transition").catch(() => undefined)]);
      await setEnvironmentVariable();
      await alone.closedByServer();
      return [withMutation, alone];
    });
    // The bystander's subscription still follows commits.
    const { status } = await httpMutation(target.url, "sync:tick", {});
    expect(status).toBe("success");
    const expected = (await (await fetch(`${target.url}/api/query`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ path: "sync:tickCount", args: {}, format: "json" }) })).json()) as { value: number };
    await waitForCount(() => (latestCount() === expected.value ? 1 : 0), 1, 10_000);
    await bystander.close();
    for (const attacker of report.result) {
      const fatal = attacker.ofType("FatalError");
      expect(fatal).toHaveLength(1);
      expect(fatal[0].error).toMatch(/^Received Invalid JSON on websocket: recursion limit exceeded at line 1 column \d+$/);
    }
  });

  it("answers arguments nested past Convex's value limit (64) but within the JSON limit with a query error", async () => {
    const socket = await SyncSocket.open(target.url);
    socket.send(modifyQuerySet(0, [addQuery(1, "sync:anything", nestedArgsText(100))]));
    const transition = await socket.frame((frame) => frame.type === "Transition");
    expect(transition.modifications).toEqual([expect.objectContaining({ type: "QueryFailed", errorMessage: expect.stringMatching(/Value is too nested/) })]);
    await socket.close();
  });
});

describe("finding 5: memory a sync client can make the server hold", () => {
  it("remembers no failed mutation (as Convex) and caps the successful ones it remembers for retries", async () => {
    const rounds = 2;
    const sessionsPerRound = 4;
    const successes = 64;
    const failures = 4;
    const blob = "e".repeat(512 * 1024);
    // Per session: 32 MiB of successful answers and 4 MiB of failures quoting their argument.
    const round = async () => {
      for (let session = 0; session < sessionsPerRound; session++) {
        const attacker = await SyncSocket.open(target.url, { keepBytes: 4096 });
        for (let requestId = 0; requestId < successes; requestId++) attacker.send({ type: "Mutation", requestId, udfPath: "sync:echo", args: [{ blob }] });
        for (let requestId = successes; requestId < successes + failures; requestId++) {
          attacker.send({ type: "Mutation", requestId, udfPath: "sync:failWith", args: [{ blob: blob + blob }] });
        }
        await waitForCount(() => attacker.ofType("MutationResponse").length + attacker.framesOver(4096), successes + failures);
        await attacker.close();
      }
    };
    const before = await retainedBytes();
    await underAttack(
      target,
      async () => {
        for (let i = 0; i < rounds; i++) await round();
      },
      // The CLI prints each failure's error, cut at 64 KiB.
      { maxPrintedBytes: rounds * sessionsPerRound * failures * 66 * 1024 },
    );
    // Unbounded, the successful answers alone would hold 256 MiB; bounded, at most 32 MiB (plus the heap's slack).
    const retained = (await retainedBytes()) - before;
    expect(retained, `the server retains ${(retained / 2 ** 20).toFixed(0)} MiB more`).toBeLessThan(96 * 1024 * 1024);
  });

  it("keeps a socket with 2,000 subscriptions to a 100 KB query from slowing everyone's commits", async () => {
    const before = await retainedBytes();
    const attacker = await SyncSocket.open(target.url, { keepBytes: 4096 });
    // Commits by someone else while the control client measures: each re-runs the 2,000 subscriptions.
    await underAttack(target, async () => {
      const adds = Array.from({ length: 2_000 }, (_, queryId) => addQuery(queryId, "sync:bigResult"));
      attacker.send(modifyQuerySet(0, adds));
      await waitForCount(() => attacker.frameSizes.filter((size) => size > 100_000).length, 1);
      for (let i = 0; i < 10; i++) {
        expect((await httpMutation(target.url, "sync:tick", {})).status).toBe("success");
        await settle(50);
      }
    });
    // Unbounded, the subscriptions kept each result they sent: 2,000 × 100 KB.
    const retained = (await retainedBytes()) - before;
    expect(retained, `the server retains ${(retained / 2 ** 20).toFixed(0)} MiB more`).toBeLessThan(64 * 1024 * 1024);
    // The subscriptions past the connection's budget fail with a message saying why; the rest update.
    const first = (JSON.parse(attacker.firstLargeFrame!.toString("utf8")) as ServerFrame).modifications as { type: string; errorMessage?: string }[];
    expect(first.filter((m) => m.type === "QueryUpdated").length).toBeGreaterThan(0);
    const failed = first.filter((m) => m.type === "QueryFailed");
    expect(failed.length).toBeGreaterThan(1_000);
    expect(failed[0].errorMessage).toMatch(/query results on this connection exceed \d+ bytes/);
    await attacker.close();
  });
});

describe("finding 7: the sync socket and the Origin header", () => {
  const envList = (queryId: number) => addQuery(queryId, "_system/cli/queryEnvironmentVariables:default");

  it("serves a page on any origin the public protocol, as Convex does, but no admin powers, even with the admin key", async () => {
    const page = await SyncSocket.open(target.url, { origin: "https://evil.example" });
    page.send(modifyQuerySet(0, [addQuery(1, "control:ping", '{"n":7}'), envList(2)]));
    const transition = await page.frame((frame) => frame.type === "Transition");
    expect(transition.modifications).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "QueryUpdated", queryId: 1, value: 7 }),
        expect.objectContaining({ type: "QueryFailed", queryId: 2 }),
      ]),
    );
    page.send({ type: "Authenticate", baseVersion: 0, tokenType: "Admin", value: target.adminKey });
    const refusal = await page.frame((frame) => frame.type === "AuthError");
    expect(refusal.error).toBe('convex-local does not accept an admin key from a web page (Origin "https://evil.example"); use the CLI or a server-side client.');
    await page.closedByServer();
  });

  it("accepts the admin key from a client that is not a web page (the CLI's `env list`)", async () => {
    const cli = await SyncSocket.open(target.url);
    cli.send({ type: "Authenticate", baseVersion: 0, tokenType: "Admin", value: target.adminKey });
    cli.send(modifyQuerySet(0, [envList(1)]));
    const transition = await cli.frame((frame) => frame.type === "Transition" && (frame.modifications as unknown[]).length > 0);
    expect(transition.modifications).toEqual([expect.objectContaining({ type: "QueryUpdated", queryId: 1 })]);
    await cli.close();
  });
});

describe("random and mutated sync frames", () => {
  it("never crash, freeze or flood the server", async () => {
    const depth = fc.integer({ min: 1, max: 30_000 });
    /** Up to 1 MiB of one character (multi-byte ones included): what an error might quote. */
    const longString = fc
      .tuple(fc.integer({ min: 1, max: 1024 * 1024 }), fc.constantFrom("z", "é", "😀", '"', "\\"))
      .map(([n, c]) => c.repeat(Math.ceil(n / c.length)));
    /** Flat arrays around the frame's value limit (262,144), of numbers or of empty objects. */
    const wideArray = fc
      .tuple(fc.integer({ min: 1, max: 300_000 }), fc.constantFrom("0", "{}", '""'))
      .map(([n, item]) => `[${`${item},`.repeat(n - 1)}${item}]`);
    const hostileValue = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
      depth.map((n) => nestedArgsText(n)),
      depth.map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
      fc.integer({ min: 1, max: 256 * 1024 }).map((n) => JSON.stringify("z".repeat(n))),
      longString.map((text) => JSON.stringify(text)),
      wideArray,
      wideArray.map((array) => `{"a":${array}}`),
    );
    /** A string field (a type or tokenType): mostly one the server knows, else anything up to 1 MiB. */
    const typeName = (...known: string[]) => fc.oneof(fc.constantFrom(...known), fc.string(), longString).map((name) => JSON.stringify(name));
    const udfPath = fc.constantFrom("sync:anything", "sync:bigResult", "sync:failWith", "sync:echo", "control:ping", "_system/cli/queryEnvironmentVariables:default", "nope:nope", "");
    // Mostly 0: the version a fresh connection's first ModifyQuerySet or Authenticate must name;
    // else any number, or a value of the wrong type (a long string, a wide array, an object...).
    const u32ish = fc.oneof(
      { weight: 12, arbitrary: fc.constant("0") },
      { weight: 2, arbitrary: fc.oneof(fc.nat(3), fc.integer(), fc.constant(2 ** 32), fc.double()).map((n) => JSON.stringify(n) ?? "null") },
      { weight: 2, arbitrary: hostileValue },
    );
    const modification = fc.oneof(
      fc.tuple(u32ish, udfPath, hostileValue).map(([queryId, path, args]) => addQuery(queryId, path, args)),
      u32ish.map((queryId) => `{"type":"Remove","queryId":${queryId}}`),
      fc.tuple(typeName("Add", "Remove"), u32ish, hostileValue).map(([type, queryId, args]) => `{"type":${type},"queryId":${queryId},"udfPath":"sync:anything","args":[${args}]}`),
    );
    const message = fc.oneof(
      fc.record({ sessionId: fc.oneof(fc.uuid(), fc.string()), count: u32ish }).map(
        ({ sessionId, count }) => `{"type":"Connect","sessionId":${JSON.stringify(sessionId)},"connectionCount":${count},"lastCloseReason":null}`,
      ),
      fc.tuple(u32ish, u32ish, fc.array(modification, { maxLength: 4 })).map(
        ([base, next, mods]) => `{"type":"ModifyQuerySet","baseVersion":${base},"newVersion":${next},"modifications":[${mods.join(",")}]}`,
      ),
      fc.tuple(u32ish, fc.array(modification, { maxLength: 4 })).map(([base, mods]) => modifyQuerySet(0, mods).replace('"baseVersion":0', `"baseVersion":${base}`)),
      fc.tuple(fc.constantFrom("Mutation", "Action"), u32ish, udfPath, hostileValue).map(
        ([type, requestId, path, args]) => `{"type":"${type}","requestId":${requestId},"udfPath":"${path}","args":[${args}]}`,
      ),
      fc.tuple(u32ish, typeName("Admin", "User", "None"), hostileValue).map(
        ([base, tokenType, value]) => `{"type":"Authenticate","baseVersion":${base},"tokenType":${tokenType},"value":${value}}`,
      ),
      hostileValue.map((event) => `{"type":"Event","eventType":"x","event":${event}}`),
      // A message type the server does not know, long or not, with fields of any kind.
      fc.tuple(typeName("Connect", "Mutation", "Action", "Authenticate", "ModifyQuerySet", "Event"), hostileValue).map(
        ([type, value]) => `{"type":${type},"requestId":${value}}`,
      ),
    );
    // Mutations of well-formed frames: truncated, or with a byte flipped.
    const frame = fc.oneof(
      { weight: 4, arbitrary: message },
      { weight: 1, arbitrary: fc.tuple(message, fc.nat()).map(([text, cut]) => text.slice(0, cut % (text.length + 1))) },
      { weight: 1, arbitrary: fc.tuple(message, fc.nat(), fc.string({ minLength: 1, maxLength: 1 })).map(([text, at, c]) => text.slice(0, at % text.length) + c + text.slice((at % text.length) + 1)) },
    );
    // Every answered mutation flushes every session: the trigger's flushes reach the fuzzed ones.
    const trigger = await SyncSocket.open(target.url);
    let framesSent = 1;
    let requestId = 0;
    const flushEverySession = async () => {
      trigger.send({ type: "Mutation", requestId: ++requestId, udfPath: "sync:echo", args: [{ blob: "" }] });
      framesSent++;
      await trigger.frame((frame) => frame.type === "MutationResponse" && frame.requestId === requestId);
    };
    const numRuns = 200;
    const report = await underAttack(
      target,
      () =>
        fc.assert(
          fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 4 }), async (frames) => {
            const socket = await SyncSocket.open(target.url, { keepBytes: 64 * 1024 });
            for (const text of frames) socket.send(text);
            // A mutation right behind them flushes every session while this one's changes are pending.
            socket.send({ type: "Mutation", requestId: 2 ** 31, udfPath: "sync:echo", args: [{ blob: "" }] });
            framesSent += frames.length + 2;
            await settle(10);
            await flushEverySession();
            for (const received of socket.frames) expect(typeof received.type).toBe("string");
            // A connection the server ended was told why (FatalError, AuthError) or closed with a code.
            if (socket.closeCode !== undefined && socket.closeCode !== 1009) {
              expect(socket.frames.some((f) => f.type === "FatalError" || f.type === "AuthError") || socket.closeCode === 1007).toBe(true);
            }
            // However large the frame, what the server says of it is short.
            for (const fatal of socket.ofType("FatalError")) expect((fatal.error as string).length).toBeLessThanOrEqual(1024);
            await socket.close();
          }),
          { numRuns },
        ),
      // Failed functions print nothing; a server error prints one short line. Never more than 1 MB.
      { maxPrintedBytes: 1024 * 1024 - 1 },
    );
    expect(report.printedBytes, `${framesSent} frames sent`).toBeLessThanOrEqual(framesSent * 4 * 1024);
    // No frame left every other client's subscriptions frozen.
    const bystander = await SyncSocket.open(target.url);
    bystander.send(modifyQuerySet(0, [addQuery(1, "sync:tickCount")]));
    await bystander.frame((f) => f.type === "Transition" && (f.modifications as unknown[]).length > 0);
    await httpMutation(target.url, "sync:tick", {});
    await bystander.frame((f) => f.type === "Transition" && (f.modifications as unknown[]).length > 0 && f !== bystander.ofType("Transition")[0]);
    await Promise.all([trigger.close(), bystander.close()]);
  });
});

async function waitForCount(read: () => number, atLeast: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (read() < atLeast) {
    if (Date.now() > deadline) throw new Error(`timed out at ${read()} of ${atLeast}`);
    await settle(10);
  }
}
