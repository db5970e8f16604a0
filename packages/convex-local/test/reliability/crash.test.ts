/**
 * Crash durability: the `convex-local start` process is killed with SIGKILL again and again while
 * clients stream mutations; each restart on the same data directory must hold every acknowledged
 * write, pass SQLite's integrity check, and bring live subscriptions back up to date.
 */
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { deployFixture, type TestDeployment } from "../harness.js";
import { freePorts, startServerProcess, syncClient, valueOf, type ServerProcess } from "./serverProcess.js";

const api = anyApi;
const KILLS = 3;
const WRITERS = 3;
const ACKS_PER_ROUND = 40;
let deployment: TestDeployment;

beforeAll(async () => {
  deployment = await deployFixture("reliability");
  await deployment.backend.close();
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

/** Mutations from several HTTP clients until the server goes away; returns the ids it acknowledged. */
function streamWrites(url: string, batch: string): { acknowledged: string[]; done: Promise<void> } {
  const acknowledged: string[] = [];
  const writer = async (writerIndex: number) => {
    const client = new ConvexHttpClient(url);
    for (let i = 0; ; i++) {
      try {
        acknowledged.push(await client.mutation(api.entries.add, { batch, body: `${writerIndex}-${i}` }));
      } catch {
        return; // the server died: this write's outcome is unknown, so it is not counted
      }
    }
  };
  return { acknowledged, done: Promise.all(Array.from({ length: WRITERS }, (_, index) => writer(index))).then(() => undefined) };
}

it("keeps every acknowledged write across repeated SIGKILLs, with an intact database and resumed subscriptions", async () => {
  const ports = await freePorts();
  const url = `http://127.0.0.1:${ports[0]}`;
  const watcher = syncClient(url);
  const acknowledged: string[] = [];
  let server: ServerProcess = await startServerProcess(deployment.dataDir, deployment.backend.adminKey, ports);
  try {
    for (let round = 0; round < KILLS; round++) {
      const stream = streamWrites(url, "crash");
      while (stream.acknowledged.length < ACKS_PER_ROUND) await new Promise((resolve) => setTimeout(resolve, 5));
      server.child.kill("SIGKILL");
      await stream.done;
      await server.exited;
      acknowledged.push(...stream.acknowledged);

      server = await startServerProcess(deployment.dataDir, deployment.backend.adminKey, ports);
      const stored = new Set<string>(await new ConvexHttpClient(url).query(api.entries.idsOf, { batch: "crash" }));
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
      // The subscription opened before the first kill reconnects by itself and sees the data as it is now.
      expect(await valueOf<number>(watcher, api.entries.countOf, { batch: "crash" }, (count) => count === stored.size)).toBe(stored.size);
    }
  } finally {
    await watcher.close();
    server.child.kill("SIGKILL");
    await server.exited;
  }
  expect(acknowledged.length).toBeGreaterThanOrEqual(KILLS * ACKS_PER_ROUND);
  const database = new Database(path.join(deployment.dataDir, "convex.sqlite3"), { readonly: true });
  try {
    expect(database.pragma("integrity_check", { simple: true })).toBe("ok");
  } finally {
    database.close();
  }
}, 180_000);
