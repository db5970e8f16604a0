/**
 * Components from npm that work in the background, unchanged: `@convex-dev/aggregate`,
 * `@convex-dev/workpool`, `@convex-dev/action-retrier`, `@convex-dev/migrations` and
 * `@convex-dev/workflow` (which uses a workpool of its own) in the fixture app
 * test/fixtures/componentsBackground, pushed with the official CLI. Their scheduled functions run
 * inside the components; the tests wait for the work to finish through the components' own
 * status APIs and the app's tables, and check a live subscription and a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import type { Backend } from "../../src/api/backend.js";
import { deployFixture, startTestBackend, waitFor, type TestDeployment } from "../harness.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture("componentsBackground");
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

describe("aggregate", () => {
  it("counts and sums, and follows deletes", async () => {
    const ids = [];
    for (const [player, score] of [["ada", 70], ["grace", 40], ["alan", 90]] as const) ids.push(await client.mutation(api.scores.add, { player, score }));
    expect(await client.query(api.scores.stats, {})).toEqual({ count: 3, sum: 200, top: 90, above50: 2 });
    await client.mutation(api.scores.remove, { id: ids[2] });
    expect(await client.query(api.scores.stats, {})).toEqual({ count: 2, sum: 110, top: 70, above50: 1 });
  });

  it("updates a live subscription", async () => {
    const live = new ConvexClient(deployment.backend.url);
    try {
      const seen: { count: number; sum: number }[] = [];
      const unsubscribe = live.onUpdate(api.scores.stats, {}, (value: { count: number; sum: number }) => seen.push(value));
      await waitFor(() => seen.length > 0);
      await client.mutation(api.scores.add, { player: "edsger", score: 5 });
      await waitFor(() => seen.at(-1)?.count === 3 && seen.at(-1)?.sum === 115);
      unsubscribe();
    } finally {
      await live.close();
    }
  });
});

describe("workpool", () => {
  it("runs every enqueued action to completion", async () => {
    const ids: string[] = await client.mutation(api.jobs.enqueue, { names: ["a", "b", "c"] });
    const results = await waitFor(async () => {
      const done = await client.query(api.results.list, { source: "workpool" });
      return done.length === 3 ? done : null;
    }, 30_000);
    expect(results.map((result: { value: string }) => result.value).sort()).toEqual(["done a", "done b", "done c"]);
    for (const id of ids) await waitFor(async () => (await client.query(api.jobs.workStatus, { id })).state === "finished", 30_000);
  });
});

describe("action-retrier", () => {
  it("retries a failing action until it succeeds", async () => {
    const runId: string = await client.mutation(api.jobs.runFlaky, { name: "flaky" });
    const status = await waitFor(async () => {
      const current = await client.query(api.jobs.retryStatus, { id: runId });
      return current.type === "completed" ? current : null;
    }, 30_000);
    expect(status.result).toEqual({ type: "success", returnValue: "attempt 3" });
    expect(await client.query(api.results.list, { source: "retrier" })).toEqual([{ name: "flaky", value: "succeeded on attempt 3" }]);
  });
});

describe("migrations", () => {
  it("runs a migration over every document in batches to completion", async () => {
    await client.mutation(api.migrations.seed, { count: 10 });
    await client.mutation(api.migrations.start, {});
    const status = await waitFor(async () => {
      const current = await client.query(api.migrations.status, {});
      return current.state === "success" ? current : null;
    }, 30_000);
    expect(status).toEqual({ state: "success", processed: 10, doubled: 10, total: 10 });
  });
});

describe("workflow", () => {
  it("runs a workflow's query, action and mutation steps to completion", async () => {
    const id: string = await client.mutation(api.flows.start, { name: "ada" });
    const status = await waitFor(async () => {
      const current = await client.query(api.flows.status, { id });
      return current.type === "completed" ? current : null;
    }, 30_000);
    expect(status.result).toBe("HELLO, ADA!");
    expect(await client.query(api.results.list, { source: "workflow" })).toEqual([{ name: "ada", value: "HELLO, ADA!" }]);
  });
});

describe("restart", () => {
  let restarted: Backend | undefined;

  afterAll(async () => {
    await restarted?.close();
  });

  it("keeps the components' state and runs new work after a restart", async () => {
    await deployment.backend.close();
    restarted = await startTestBackend(deployment.dataDir);
    const after = new ConvexHttpClient(restarted.url);
    expect(await after.query(api.scores.stats, {})).toEqual({ count: 3, sum: 115, top: 70, above50: 1 });
    expect(await after.query(api.migrations.status, {})).toMatchObject({ state: "success", doubled: 10 });
    await after.mutation(api.jobs.enqueue, { names: ["after restart"] });
    await waitFor(async () => (await after.query(api.results.list, { source: "workpool" })).length === 4, 30_000);
    const id: string = await after.mutation(api.flows.start, { name: "grace" });
    await waitFor(async () => (await after.query(api.flows.status, { id })).type === "completed", 30_000);
  });
});
