/**
 * Scheduled functions' states and errors as Convex records them in `_scheduled_functions`
 * (convex-backend crates/application/src/scheduled_jobs/mod.rs, crates/model/src/scheduled_jobs/,
 * crates/isolate/src/environment/udf/async_syscall.rs `cancel_job`, crates/udf/src/validation.rs
 * `validate_schedule_args`): the fixture in `fixtures/schedulerFidelity` is pushed with the official
 * CLI and driven through `ConvexHttpClient`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import type { FunctionLogEntry } from "../src/runtime/runner.js";
import { convexAtLeast, deployFixture, waitFor, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;
const logs: FunctionLogEntry[] = [];

beforeAll(async () => {
  deployment = await deployFixture("schedulerFidelity");
  deployment.backend.log.subscribe((entry) => logs.push(entry));
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

type Job = { _id: string; name: string; args: unknown[]; scheduledTime: number; completedTime?: number; state: { kind: string; error?: string } };

const job = (id: string): Promise<Job | null> => client.query(api.jobs.job, { id });
const finished = (id: string): Promise<Job> =>
  waitFor(async () => {
    const current = await job(id);
    return current !== null && current.state.kind !== "pending" && current.state.kind !== "inProgress" ? current : null;
  });
const events = (tag: string): Promise<number> => client.query(api.jobs.events, { tag });

describe("a scheduled function canceling itself", () => {
  it.skipIf(convexAtLeast(1, 50))("a mutation sees its own job in progress, and its self-cancel is ignored with Convex's warning: the job succeeds", async () => {
    const id: string = await client.mutation(api.jobs.scheduleSelfCancelingMutation, { key: "self mutation" });
    const done = await finished(id);
    expect(done.state).toEqual({ kind: "success" });
    expect(done.completedTime).toBeTypeOf("number");
    expect(await events("self mutation")).toBe(1);
    const seen = await client.query(api.jobs.observed, { key: "self mutation" });
    expect(seen).toEqual({ kind: "inProgress", request_id: expect.stringMatching(/^[0-9a-f]{16}$/), execution_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const entry = logs.find((candidate) => candidate.path === "jobs:selfCancelingMutation");
    expect(entry?.logLines.join("\n")).toContain(
      "A scheduled mutation canceling itself is deprecated and will throw an error in a future version of Convex.",
    );
  });

  it.runIf(convexAtLeast(1, 50))("a mutation's self-cancel fails it with Convex's error when the app is pushed with convex 1.50 or later: the job fails, its writes roll back", async () => {
    const id: string = await client.mutation(api.jobs.scheduleSelfCancelingMutation, { key: "self mutation, new convex" });
    const done = await finished(id);
    expect(done.state).toEqual({ kind: "failed", error: expect.stringContaining("A mutation cannot cancel itself") });
    expect(await events("self mutation, new convex")).toBe(0);
    expect(await client.query(api.jobs.observed, { key: "self mutation, new convex" })).toBeNull();
  });

  it("an action ends canceled, keeps running, and what it schedules afterwards is born canceled", async () => {
    const id: string = await client.mutation(api.jobs.scheduleSelfCancelingAction, { key: "self action" });
    await waitFor(async () => (await events("self action")) === 1);
    const done = await job(id);
    expect(done?.state).toEqual({ kind: "canceled" });
    expect(done?.completedTime).toBeTypeOf("number");
    const [child] = (await client.query(api.jobs.jobsOf, { key: "self action child" })) as Job[];
    expect(child).toMatchObject({ name: "jobs.js:record", args: [{ tag: "self action child" }], state: { kind: "canceled" } });
    // Convex stamps a job born canceled with the scheduling time for both.
    expect(child!.scheduledTime).toBe(child!.completedTime);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await events("self action child")).toBe(0);
  });
});

describe("ctx.scheduler.cancel", () => {
  it("leaves a finished job as it is, without an error", async () => {
    const id: string = await client.mutation(api.jobs.scheduleRecord, { tag: "finished" });
    const done = await finished(id);
    expect(done.state).toEqual({ kind: "success" });
    await client.mutation(api.jobs.cancel, { id });
    expect(await job(id)).toEqual(done);
  });

  it("refuses an id of another table with Convex's text", async () => {
    const userId: string = await client.mutation(api.tables.addEvent, { tag: "not a job" });
    await expect(client.mutation(api.jobs.cancel, { id: userId })).rejects.toThrow(
      "Invalid scheduled function ID. The ID must be an ID on the '_scheduled_functions' table.",
    );
  });
});

describe("failed jobs", () => {
  it("a throwing mutation's job is failed with its error as Convex prints it (ending in a newline), and commits nothing", async () => {
    const done = await finished(await client.mutation(api.jobs.scheduleFailing, {}));
    expect(done.state.kind).toBe("failed");
    expect(done.state.error).toMatch(/^Uncaught Error: scheduled failure\n/);
    expect(done.state.error!.endsWith("\n")).toBe(true);
  });

  it("scheduling a query succeeds; its job fails when it runs, in Convex's words", async () => {
    const done = await finished(await client.mutation(api.jobs.scheduleQuery, {}));
    expect(done.state).toEqual({
      kind: "failed",
      error: 'Unsupported function type. FunctionName("events") in module "jobs.js" is defined as a Query. "\n                            "Only Mutation and Action can be scheduled.',
    });
  });

  it("arguments are validated when the job runs, not when it is scheduled", async () => {
    const done = await finished(await client.mutation(api.jobs.scheduleWithBadArgs, {}));
    expect(done.state.kind).toBe("failed");
    expect(done.state.error).toMatch(/ArgumentValidationError/);
  });
});

describe("scheduling refusals", () => {
  it("names a missing module or export as Convex does", async () => {
    await expect(client.mutation(api.jobs.scheduleMissing, { path: "nomodule:fn" })).rejects.toThrow(
      "Attempted to schedule function at nonexistent path: nomodule.js",
    );
    await expect(client.mutation(api.jobs.scheduleMissing, { path: "jobs:nope" })).rejects.toThrow(
      "Attempted to schedule function, but no exported function nope found in the file: jobs.js. Did you forget to export it?",
    );
  });

  it("refuses a time more than five years away", async () => {
    const sixYears = 6 * 366 * 24 * 3600 * 1000;
    await expect(client.mutation(api.jobs.scheduleAt, { at: Date.now() + sixYears })).rejects.toThrow(/UnixTimestamp\([0-9.]+s\) is more than 5 years in the future/);
    await expect(client.mutation(api.jobs.scheduleAt, { at: Date.now() - sixYears })).rejects.toThrow(/UnixTimestamp\([0-9.]+s\) is more than 5 years in the past/);
  });
});
