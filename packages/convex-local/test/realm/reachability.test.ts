/**
 * Issue #14: default-runtime code reaches nothing that compiles a string and nothing of Node. In a
 * real worker thread locked down as the query and action workers are (realmLockdown.ts), user code
 * walks everything it can reach from its isolate's global object (walkWorker.ts): own string and
 * symbol properties, prototypes, constructors, getters and what they return, instances of every
 * constructible global, what host functions return, throw, settle with or hand to callbacks, and
 * what `console.log` hands a `nodejs.util.inspect.custom` method. Nothing is listed by hand.
 */
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { threadEntry } from "../../src/runtime/threadEntry.js";
import type { WalkReport } from "./walkWorker.js";

function walkInWorker(synchronous: boolean): Promise<WalkReport> {
  const entry = threadEntry(new URL("./walkWorker.js", import.meta.url));
  const worker = new Worker(entry.url, { execArgv: entry.execArgv, workerData: { synchronous } });
  return new Promise<WalkReport>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the walk's worker exited with ${code}`)));
  }).finally(() => void worker.terminate());
}

describe.each([
  ["a query's isolate (as the query worker builds it)", true],
  ["an action's isolate (as the action worker builds it)", false],
])("everything user code reaches from %s, after the lockdown", (_, synchronous) => {
  it("includes nothing that compiles a string and nothing of Node", async () => {
    const report = await walkInWorker(synchronous);
    expect(report.reached).toBeGreaterThan(1000);
    expect(report.problems).toEqual([]);
  }, 120_000);
});
