/**
 * The action time limit (Convex: 10 minutes; 300 ms here): an action still running then fails with
 * Convex's timeout message, and whatever it does afterwards can no longer reach the database; nor
 * can a promise an action left running after it returned.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { startBackend } from "../src/api/backend.js";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
const ACTION_TIMEOUT_MS = 300;
let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture();
  await deployment.backend.close();
  deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0, actionTimeoutMs: ACTION_TIMEOUT_MS });
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

it("fails an action that outlives its time limit with Convex's message", async () => {
  await expect(client.action(api.actions.waitForever, {})).rejects.toThrow("Function execution timed out (maximum duration: 0.3s)");
});

it("refuses the database to an action past its limit, and runs the next action normally", async () => {
  await expect(client.action(api.actions.writeLate, { afterMs: ACTION_TIMEOUT_MS + 200 })).rejects.toThrow(/timed out/);
  await new Promise((resolve) => setTimeout(resolve, 400)); // the abandoned action wakes up and tries to write
  expect(await client.query(api.messages.byAuthor, { author: "too late" })).toEqual([]);
  expect(await client.action(api.actions.sendAndCount, { author: "on time", body: "after the timeout" })).toBeGreaterThan(0);
});

it("refuses the database to a promise an action left running after it returned", async () => {
  expect(await client.action(api.actions.leaveWriteRunning, { afterMs: 100 })).toBe("returned");
  // Meanwhile another action runs, as another caller would: the dangling write must not ride on it.
  expect(await client.action(api.actions.sendAndCount, { author: "meanwhile", body: "x" })).toBeGreaterThan(0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(await client.query(api.messages.byAuthor, { author: "dangling" })).toEqual([]);
});
