/**
 * Scheduled functions and crons, end to end: the fixture in `fixtures/scheduler` is pushed with
 * the official CLI and driven through `ConvexHttpClient`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { startBackend } from "../src/api/backend.js";
import { deployFixture, waitFor, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture("scheduler");
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const events = (tag: string): Promise<number> => client.query(api.jobs.events, { tag });
type Job = { _id: string; name: string; args: unknown[]; scheduledTime: number; state: { kind: string; error?: string }; completedTime?: number };
const job = (id: string): Promise<Job | null> => client.query(api.jobs.job, { id });
const stateOf = async (id: string) => (await job(id))?.state.kind;

describe("scheduling from mutations", () => {
  it("runs a runAfter target mutation exactly once", async () => {
    const id: string = await client.mutation(api.jobs.scheduleRecord, { tag: "once", delayMs: 50 });
    expect(typeof id).toBe("string");
    await waitFor(async () => (await events("once")) === 1);
    await waitFor(async () => (await stateOf(id)) === "success");
    await sleep(200);
    expect(await events("once")).toBe(1);
  });

  it("schedules nothing when the mutation throws", async () => {
    const before = (await client.query(api.jobs.jobs, {})).length;
    await expect(client.mutation(api.jobs.scheduleThenThrow, { tag: "rolled back" })).rejects.toThrow(/abort after scheduling/);
    expect((await client.query(api.jobs.jobs, {})).length).toBe(before);
    await sleep(200);
    expect(await events("rolled back")).toBe(0);
  });

  it("does not run a canceled job", async () => {
    const id: string = await client.mutation(api.jobs.scheduleRecord, { tag: "canceled", delayMs: 200 });
    await client.mutation(api.jobs.cancel, { id });
    expect(await stateOf(id)).toBe("canceled");
    await sleep(400);
    expect(await events("canceled")).toBe(0);
    expect(await stateOf(id)).toBe("canceled");
    expect((await job(id))?.completedTime).toBeTypeOf("number");
  });

  it("runs a runAt in the past promptly", async () => {
    const started = Date.now();
    const id: string = await client.mutation(api.jobs.scheduleRecordAt, { tag: "past", at: Date.now() - 60_000 });
    await waitFor(async () => (await events("past")) === 1, 2000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await stateOf(id)).toBe("success");
  });

  it("exposes _scheduled_functions through ctx.db.system", async () => {
    const at = Date.now() + 60_000;
    const id: string = await client.mutation(api.jobs.scheduleRecordAt, { tag: "later", at });
    const document = await job(id);
    expect(document).toMatchObject({ _id: id, name: "jobs.js:recordInternal", args: [{ tag: "later" }], state: { kind: "pending" } });
    expect(document!.scheduledTime).toBeCloseTo(at, 0);
    expect(document!._creationTime).toBeTypeOf("number");
    const all: Job[] = await client.query(api.jobs.jobs, {});
    expect(all.some((candidate) => candidate._id === id)).toBe(true);
    await client.mutation(api.jobs.cancel, { id });
  });

  it("marks a throwing scheduled mutation failed and commits none of its writes", async () => {
    const id: string = await client.mutation(api.jobs.scheduleFailing, {});
    const done = await waitFor(async () => {
      const document = await job(id);
      return document?.state.kind === "failed" ? document : null;
    });
    expect(done.state.error).toMatch(/scheduled failure/);
    expect(await events("failing")).toBe(0);
  });

  it("refuses user writes to system tables; a scheduled query fails when it runs", async () => {
    const id: string = await client.mutation(api.jobs.scheduleRecordAt, { tag: "protected", at: Date.now() + 60_000 });
    await expect(client.mutation(api.jobs.deleteJob, { id })).rejects.toThrow("System tables can only be accessed with db.system.");
    expect(await stateOf(id)).toBe("pending");
    await client.mutation(api.jobs.cancel, { id });
    const query: string = await client.mutation(api.jobs.scheduleQuery, {});
    await waitFor(async () => (await stateOf(query)) === "failed");
  });
});

describe("scheduling actions", () => {
  it("runs a scheduled action and records success", async () => {
    const id: string = await client.mutation(api.jobs.scheduleAction, { tag: "action" });
    await waitFor(async () => (await stateOf(id)) === "success");
    expect(await events("action")).toBe(1);
  });

  it("records a failed action", async () => {
    const id: string = await client.mutation(api.jobs.scheduleAction, { tag: "x", fail: true });
    const document = await waitFor(async () => {
      const current = await job(id);
      return current?.state.kind === "failed" ? current : null;
    });
    expect(document.state.error).toMatch(/action failed/);
  });

  it("schedules and cancels from an action", async () => {
    const id: string = await client.action(api.jobs.scheduleFromAction, { tag: "from action" });
    await waitFor(async () => (await events("from action")) === 1);
    expect(await stateOf(id)).toBe("success");
    const canceled: string = await client.action(api.jobs.scheduleFromAction, { tag: "from action canceled", cancel: true });
    expect(await stateOf(canceled)).toBe("canceled");
    await sleep(400);
    expect(await events("from action canceled")).toBe(0);
  });
});

describe("crons", () => {
  it("runs an interval cron from crons.ts", async () => {
    await waitFor(async () => (await events("cron")) >= 1, 5000);
    const state = deployment.backend.storage.getMeta<{ nextRun: number; lastRun: number }>("scheduler/cron/record every second");
    expect(state!.lastRun).toBeTypeOf("number");
    expect(state!.nextRun).toBeGreaterThan(state!.lastRun);
  });
});

describe("restart", () => {
  it("runs jobs scheduled before a restart after it, and fails actions it interrupted", async () => {
    const pending: string = await client.mutation(api.jobs.scheduleRecord, { tag: "restart", delayMs: 300 });
    const slow: string = await client.mutation(api.jobs.scheduleSlowAction, { ms: 1000 });
    await waitFor(async () => (await stateOf(slow)) === "inProgress");
    const cronBefore = deployment.backend.storage.getMeta<{ nextRun: number }>("scheduler/cron/record every second")!;
    await deployment.backend.close();
    expect(await new Promise((resolve) => setTimeout(() => resolve(true), 10))).toBe(true);
    deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0, queryTimeoutMs: 1000 });
    client = new ConvexHttpClient(deployment.backend.url);
    // The cron keeps its persisted next run (or has since advanced past it), not a fresh one.
    expect(deployment.backend.storage.getMeta<{ nextRun: number }>("scheduler/cron/record every second")!.nextRun).toBeGreaterThanOrEqual(
      cronBefore.nextRun,
    );
    const interrupted = await job(slow);
    expect(interrupted?.state).toEqual({ kind: "failed", error: "Transient error while executing action" });
    await waitFor(async () => (await events("restart")) === 1);
    expect(await stateOf(pending)).toBe("success");
  });
});
