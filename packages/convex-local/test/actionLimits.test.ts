/**
 * The action time limits (Convex: 30 minutes in the default runtime, 10 in Node; 300 ms here): an
 * action still running then fails with Convex's timeout message, and whatever it does afterwards can
 * no longer reach the database; nor can a promise an action left running after it returned. The
 * `convex-local` CLI takes the limits as flags, for tests like these.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { startBackend } from "../src/api/backend.js";
import { main, UsageError } from "../src/cli/index.js";
import { deployFixture, repoRoot, type TestDeployment } from "./harness.js";

const api = anyApi;
const ACTION_TIMEOUT_MS = 300;
let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture();
  await deployment.backend.close();
  deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0, actionTimeoutMs: ACTION_TIMEOUT_MS, nodeActionTimeoutMs: ACTION_TIMEOUT_MS });
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

it("refuses a time limit flag that is not a positive number of seconds", async () => {
  await expect(main(["start", "--action-timeout", "0"])).rejects.toThrow(UsageError);
  await expect(main(["start", "--node-action-timeout", "ten"])).rejects.toThrow('--node-action-timeout must be a number of seconds above 0, got "ten"');
});

it("takes the action time limit from `convex-local start --action-timeout`", async () => {
  await deployment.backend.close();
  const bin = path.join(repoRoot, "packages/convex-local/bin/convex-local.js");
  const child = spawn(process.execPath, [bin, "start", "--port", "0", "--site-port", "0", "--data", deployment.dataDir, "--action-timeout", "0.5"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const ready = /ready: deployment (http:\/\/\S+),/.exec(line);
        if (ready) resolve(ready[1]!);
      });
      child.once("exit", (code) => reject(new Error(`convex-local exited (code ${code}) before it was ready`)));
    });
    await expect(new ConvexHttpClient(url).action(api.actions.waitForever, {})).rejects.toThrow("Function execution timed out (maximum duration: 0.5s)");
  } finally {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}, 60_000);
