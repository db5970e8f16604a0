/**
 * Crash durability: the `convex-local start` process is killed with SIGKILL again and again while
 * clients stream mutations; each restart on the same data directory must hold every acknowledged
 * write, pass SQLite's integrity check, and bring live subscriptions back up to date.
 */
import path from "node:path";
import Database from "better-sqlite3";
import { expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import {
  deployForServerProcesses,
  freePorts,
  stopServerProcess,
  streamWrites,
  syncClient,
  untilAcknowledged,
  valueOf,
  type ServerProcess,
} from "./serverProcess.js";

const api = anyApi;
const KILLS = 3;
const WRITERS = 3;
const ACKS_PER_ROUND = 40;
const deployment = deployForServerProcesses();

it("keeps every acknowledged write across repeated SIGKILLs, with an intact database and resumed subscriptions", async () => {
  const ports = await freePorts();
  const url = `http://127.0.0.1:${ports[0]}`;
  const watcher = syncClient(url);
  const acknowledged: string[] = [];
  let server: ServerProcess = await deployment.start(ports);
  try {
    for (let round = 0; round < KILLS; round++) {
      const stream = streamWrites(url, "crash", WRITERS);
      await untilAcknowledged(stream, ACKS_PER_ROUND);
      await stopServerProcess(server, "SIGKILL");
      await stream.done;
      acknowledged.push(...stream.acknowledged);

      server = await deployment.start(ports);
      const stored = new Set<string>(await new ConvexHttpClient(url).query(api.entries.idsOf, { batch: "crash" }));
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
      // The subscription opened before the first kill reconnects by itself and sees the data as it is now.
      expect(await valueOf<number>(watcher, api.entries.countOf, { batch: "crash" }, (count) => count === stored.size)).toBe(stored.size);
    }
  } finally {
    await watcher.close();
    await stopServerProcess(server, "SIGKILL");
  }
  expect(acknowledged.length).toBeGreaterThanOrEqual(KILLS * ACKS_PER_ROUND);
  const database = new Database(path.join(deployment.dataDir, "convex.sqlite3"), { readonly: true });
  try {
    expect(database.pragma("integrity_check", { simple: true })).toBe("ok");
  } finally {
    database.close();
  }
}, 180_000);
