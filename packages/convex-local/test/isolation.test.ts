/**
 * Issue #14: user code runs off the backend's main thread. Queries run in query workers, mutations
 * in the mutation worker, default-runtime actions and HTTP actions in action workers, `"use node"`
 * actions in Node processes of their own; a runaway or crashing function fails alone with Convex's
 * error while a control client's queries keep being answered, and the thread or process it ran in
 * is replaced. The backend is embedded here (its main thread is this test's), so a control query
 * answered promptly while a function spins proves the spin is elsewhere; its action time limit is
 * 4 s, its query and mutation limit 1 s. actionConcurrency.test.ts runs many actions against
 * `convex-local start`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { startBackend } from "../src/api/backend.js";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
const ACTION_TIMEOUT_MS = 4000;
/** Issue #14's bar for the control client's p95 while an action loops. */
const CONTROL_P95_MS = 250;
let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture("isolation");
  await deployment.backend.close();
  deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0, actionTimeoutMs: ACTION_TIMEOUT_MS, nodeActionTimeoutMs: ACTION_TIMEOUT_MS, appDirectory: deployment.appDir });
  client = new ConvexHttpClient(deployment.backend.url);
  // Warm: the first runs start the executors.
  expect(await client.action(api.runaways.sleep, { ms: 1, n: 1 })).toBe(1);
  expect(await client.action(api.nodeRunaways.healthy, {})).toMatchObject({ sha: "2d711642" });
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

/** Sends a control query every 20 ms (answered or not) while `work` runs; the p95 of their latencies. */
async function whileControlled<T>(work: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; p95: number; samples: number }> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  let n = Math.random();
  const sample = () => {
    const started = performance.now();
    const value = (n += 1);
    pending.push(
      client.query(api.control.ping, { n: value }).then((answer) => {
        expect(answer).toBe(value);
        latencies.push(performance.now() - started);
      }),
    );
  };
  sample();
  const ticker = setInterval(sample, 20);
  const [result] = await Promise.allSettled([work()]);
  clearInterval(ticker);
  await Promise.all(pending);
  const sorted = latencies.sort((a, b) => a - b);
  const p95 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];
  console.log(`control query p95 ${p95.toFixed(0)} ms over ${sorted.length} samples`);
  return { result, p95, samples: sorted.length };
}

function rejection(result: PromiseSettledResult<unknown>): string {
  expect(result.status).toBe("rejected");
  return String((result as PromiseRejectedResult).reason);
}

describe("runaway queries and mutations", () => {
  it("stops a looping query at 1 s with Convex's error while the control client's queries keep their p95", async () => {
    const { result, p95, samples } = await whileControlled(() => client.query(api.syncRunaways.spinQuery, {}));
    expect(rejection(result)).toContain("Function execution timed out (maximum duration: 1s)");
    expect(samples).toBeGreaterThan(20);
    expect(p95).toBeLessThan(CONTROL_P95_MS);
  });

  it("stops a looping mutation at 1 s, commits none of its writes, and the control client notices nothing", async () => {
    const { result, p95 } = await whileControlled(() => client.mutation(api.syncRunaways.spinMutation, {}));
    expect(rejection(result)).toContain("Function execution timed out (maximum duration: 1s)");
    expect(p95).toBeLessThan(CONTROL_P95_MS);
    expect(await client.query(api.syncRunaways.marks, { by: "spinMutation" })).toBe(0);
  });

  it("ends a mutation past its heap limit with Convex's out-of-memory error; the next mutation commits", async () => {
    const { result, p95 } = await whileControlled(() => client.mutation(api.syncRunaways.allocateMutation, {}));
    expect(rejection(result)).toContain("JavaScript execution ran out of memory (maximum memory usage: 64 MB)");
    expect(p95).toBeLessThan(CONTROL_P95_MS);
    await client.mutation(api.syncRunaways.mark, { by: "after" });
    expect(await client.query(api.syncRunaways.marks, { by: "after" })).toBe(1);
  });
});

describe("inputs that crash Node's native code", () => {
  it("slices a Blob at fractional and non-numeric offsets as the web platform does, instead of aborting the process", async () => {
    expect(await client.action(api.natives.sliceBlob, {})).toEqual(["cdef", "ab", ""]);
  });
});

describe("web objects Node copies", () => {
  it("tees, clones and pipes streams, requests and responses and slices Blobs (Node 24 labels each copy by assigning `constructor`, which the frozen prototypes refused)", async () => {
    expect(await client.action(api.natives.copyWebObjects, {})).toEqual(["abc", "abc", "body", "body", "sent", "abc", "cd"]);
  });
});

describe("runaway default-runtime actions", () => {
  it("preempts `for (;;) {}` at the time limit while the control client's queries keep their p95", async () => {
    const started = performance.now();
    const { result, p95, samples } = await whileControlled(() => client.action(api.runaways.spin, {}));
    expect(rejection(result)).toContain("Function execution timed out (maximum duration: 4s)");
    expect(performance.now() - started).toBeLessThan(ACTION_TIMEOUT_MS + 3000);
    expect(samples).toBeGreaterThan(50);
    expect(p95).toBeLessThan(CONTROL_P95_MS);
    expect(await client.action(api.runaways.sleep, { ms: 1, n: 2 })).toBe(2);
  });

  it("preempts a looping HTTP action at the time limit: 500 with the timeout, the control client unaffected", async () => {
    const { result, p95 } = await whileControlled(async () => {
      const response = await fetch(`${deployment.backend.siteUrl}/spin`);
      return { status: response.status, body: (await response.json()) as { code: string; trace: string } };
    });
    expect(result.status).toBe("fulfilled");
    const { status, body } = (result as PromiseFulfilledResult<{ status: number; body: { code: string; trace: string } }>).value;
    expect(status).toBe(500);
    // Convex's shape for a failed HTTP action: the request id and the error in `code`, its text in `trace`.
    expect(body.code).toMatch(/^\[Request ID: [0-9a-f]{16}\] Server Error: Function execution timed out/);
    expect(body.trace).toContain("Function execution timed out (maximum duration: 4s)");
    expect(p95).toBeLessThan(CONTROL_P95_MS);
  });

  // Many small arrays, and one array grown past the limit in one allocation (which V8 cannot stop short of it).
  it.each([["allocate"], ["growOneArray"]] as const)("ends an action past its heap limit with Convex's out-of-memory error; the backend goes on (%s)", async (name) => {
    const { result, p95 } = await whileControlled(() => client.action(api.runaways[name], {}));
    expect(rejection(result)).toContain("JavaScript execution ran out of memory (maximum memory usage: 64 MB)");
    expect(p95).toBeLessThan(CONTROL_P95_MS);
    expect(await client.action(api.runaways.sleep, { ms: 1, n: 3 })).toBe(3);
  });

  it("streams an HTTP action's request and response bodies through its worker", async () => {
    const response = await fetch(`${deployment.backend.siteUrl}/echo`, { method: "POST", body: "ping" });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-echo")).toBe("yes");
    expect(await response.text()).toBe("ping:done");
  });
});

describe("Node actions in processes of their own", () => {
  /** Runs a crashing Node action under the control client, then checks the next Node action runs (in a process other than the backend's). */
  async function crashes(name: string): Promise<string> {
    const { result, p95 } = await whileControlled(() => client.action(api.nodeRunaways[name], {}));
    expect(p95).toBeLessThan(CONTROL_P95_MS);
    const after = (await client.action(api.nodeRunaways.healthy, {})) as { pid: number };
    expect(after.pid).not.toBe(process.pid);
    return rejection(result);
  }

  it("fails an action whose callback throws with Convex's uncaughtException error", async () => {
    expect(await crashes("throwInCallback")).toContain("Uncaught uncaughtException: callback failed");
  });

  it("fails an action that calls process.exit with Convex's error", async () => {
    expect(await crashes("exitProcess")).toContain("Uncaught process.exit: process.exit() called with exit code 5");
  });

  it("fails an action whose 'error' event nobody listens to", async () => {
    expect(await crashes("unhandledErrorEvent")).toContain("Uncaught uncaughtException: nobody listened");
  });

  it("fails an action whose process crashes natively (SIGSEGV)", async () => {
    expect(await crashes("segfault")).toContain("the Node.js process running the action exited (signal SIGSEGV)");
  });

  it("kills a spinning Node action at the time limit", async () => {
    expect(await crashes("spin")).toContain("Function execution timed out (maximum duration: 4s)");
  });
});
