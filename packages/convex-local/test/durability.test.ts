/**
 * Durability of the whole backend: functions and data come back after a clean restart, and every
 * mutation acknowledged over HTTP survives a SIGKILL of the `convex-local start` process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { startBackend } from "../src/api/backend.js";
import { deployFixture, repoRoot, type TestDeployment } from "./harness.js";

const api = anyApi;
const bin = path.join(repoRoot, "packages/convex-local/bin/convex-local.js");
let deployment: TestDeployment;

beforeAll(async () => {
  deployment = await deployFixture();
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

/** Starts `convex-local start` on random ports and resolves with its URL once it prints `ready`. */
function startProcess(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [bin, "start", "--port", "0", "--site-port", "0", "--data", dataDir], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const match = /ready: deployment (http:\/\/\S+),/.exec(line);
      if (match) resolve({ child, url: match[1] });
    });
    child.once("exit", (code) => reject(new Error(`convex-local exited early with code ${code}`)));
  });
}

describe("restart", () => {
  it("serves the pushed functions and stored data after a restart", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    const id = await client.mutation(api.messages.send, { author: "durable", body: "before restart" });
    await deployment.backend.close();
    deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0 });
    const after = new ConvexHttpClient(deployment.backend.url);
    expect(await after.query(api.messages.get, { id })).toMatchObject({ body: "before restart" });
  });

  it("keeps every acknowledged mutation when the server process is killed with SIGKILL", async () => {
    await deployment.backend.close();
    let server = await startProcess(deployment.dataDir);
    const client = new ConvexHttpClient(server.url);
    const acknowledged: string[] = [];
    const writer = (async () => {
      for (let i = 0; i < 10_000; i++) {
        try {
          acknowledged.push(await client.mutation(api.messages.send, { author: "kill", body: `k${i}` }));
        } catch {
          return;
        }
      }
    })();
    while (acknowledged.length < 50) await new Promise((resolve) => setTimeout(resolve, 10));
    server.child.kill("SIGKILL");
    await writer;
    server = await startProcess(deployment.dataDir);
    try {
      const reader = new ConvexHttpClient(server.url);
      const stored = new Set((await reader.query(api.messages.byAuthor, { author: "kill" })).map((doc: { _id: string }) => doc._id));
      expect(acknowledged.length).toBeGreaterThanOrEqual(50);
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      server.child.kill("SIGTERM");
    }
    deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0 });
  });
});
