import { getEventListeners } from "node:events";
import { describe, expect, test } from "vitest";
import type { FunctionLogEntry } from "../runtime/runner.js";
import { FunctionLog } from "./functionLogs.js";

const execution = (n: number, extra: Partial<FunctionLogEntry> = {}): FunctionLogEntry => ({
  path: "messages.js:list",
  udfType: "Query",
  timestamp: 1_700_000_000_000 + n,
  executionTimeMs: 2,
  logLines: [`[LOG] 'call ${n}'`],
  ...extra,
});

/** A clock standing at `times`, one reading each (the cursor of each record), then at the last. */
const clockAt = (...times: number[]) => () => (times.length > 1 ? times.shift()! : times[0]);

describe("FunctionLog", () => {
  test("streams executions after a cursor in the CLI's shape", async () => {
    const log = new FunctionLog(clockAt(1_700_000_000_100.25, 1_700_000_000_200.5));
    log.record(execution(1));
    log.record(execution(2, { error: "Uncaught Error: boom", cached: true, logLines: [] }));
    const { entries, newCursor } = await log.after(0, 0);
    expect(newCursor).toBe(1_700_000_000_200.5);
    expect(entries[0]).toEqual({
      kind: "Completion",
      udfType: "Query",
      identifier: "messages.js:list",
      componentPath: null,
      timestamp: 1_700_000_000.001,
      executionTime: 0.002,
      logLines: [{ messages: ["'call 1'"], level: "LOG", timestamp: 1_700_000_000_001, isTruncated: false }],
      success: true,
      error: null,
      requestId: "",
      cachedResult: false,
    });
    expect(entries[1]).toMatchObject({ success: false, error: "Uncaught Error: boom", cachedResult: true });
    expect((await log.after(1_700_000_000_100.25, 0)).entries).toHaveLength(1);
    expect(await log.after(1_700_000_000_200.5, 0)).toEqual({ entries: [], newCursor: 1_700_000_000_200.5 });
  });

  test("cursors are the record time in ms, strictly increasing when the clock stands still or goes back, as Convex's", async () => {
    const log = new FunctionLog(clockAt(5000, 5000, 4000));
    for (let n = 1; n <= 3; n++) log.record(execution(n));
    const cursors: number[] = [];
    for (let cursor = 0; ; ) {
      const { entries, newCursor } = await log.after(cursor, 0);
      if (entries.length === 0) break;
      cursors.push(newCursor);
      cursor = newCursor;
      // Each poll from the previous cursor returns everything after it.
      expect(entries.at(-1)!.logLines[0].messages[0]).toBe("'call 3'");
    }
    expect(cursors).toHaveLength(1);
    const all = (log as unknown as { entries: { cursor: number }[] }).entries.map((entry) => entry.cursor);
    expect(all[0]).toBe(5000);
    expect(all[1]).toBeGreaterThan(5000);
    expect(all[2]).toBeGreaterThan(all[1]);
    expect(all[2] - 5000).toBeLessThan(0.001);
    // A reader starting from a time sees what was recorded after it.
    expect((await log.after(all[0], 0)).entries.map((entry) => entry.logLines[0].messages[0])).toEqual(["'call 2'", "'call 3'"]);
  });

  test("a poll with no new execution answers its own cursor again, as Convex's timed-out poll", async () => {
    const log = new FunctionLog(clockAt(1000));
    log.record(execution(1));
    expect(await log.after(123_456.5, 1)).toEqual({ entries: [], newCursor: 123_456.5 });
  });

  test("a long poll wakes on the next execution", async () => {
    const log = new FunctionLog(clockAt(42));
    const waiting = log.after(0, 10_000);
    log.record(execution(7));
    const { entries, newCursor } = await waiting;
    expect(newCursor).toBe(42);
    expect(entries.map((entry) => entry.logLines[0].messages[0])).toEqual(["'call 7'"]);
  });

  test("a long poll that times out or is aborted leaves no waiter and no abort listener behind", async () => {
    const log = new FunctionLog(clockAt(77));
    const waiters = () => (log as unknown as { waiters: Set<unknown> }).waiters.size;
    const timedOut = new AbortController();
    for (let i = 0; i < 100; i++) expect(await log.after(0, 1, timedOut.signal)).toEqual({ entries: [], newCursor: 0 });
    expect(waiters()).toBe(0);
    expect(getEventListeners(timedOut.signal, "abort")).toHaveLength(0);

    const aborted = new AbortController();
    const polls = Array.from({ length: 10 }, () => log.after(0, 60_000, aborted.signal));
    expect(waiters()).toBe(10);
    aborted.abort();
    expect(await Promise.all(polls)).toEqual(Array(10).fill({ entries: [], newCursor: 0 }));
    expect(waiters()).toBe(0);
    // An already aborted signal does not wait at all.
    expect(await log.after(0, 60_000, aborted.signal)).toEqual({ entries: [], newCursor: 0 });
    expect(waiters()).toBe(0);

    // A woken poll takes its listener off the signal too.
    const woken = new AbortController();
    const waiting = log.after(0, 60_000, woken.signal);
    log.record(execution(1));
    expect((await waiting).newCursor).toBe(77);
    expect(getEventListeners(woken.signal, "abort")).toHaveLength(0);
  });

  test("keeps the newest 1000 executions", async () => {
    const log = new FunctionLog(clockAt(...Array.from({ length: 2500 }, (_, i) => 1000 + i)));
    for (let n = 1; n <= 2500; n++) log.record(execution(n));
    const { entries, newCursor } = await log.after(0, 0);
    expect(newCursor).toBe(3499);
    expect(entries).toHaveLength(1000);
    expect(entries[0].logLines[0].messages[0]).toBe("'call 1501'");
  });
});

describe("FunctionLog within Convex's log limits", () => {
  test("cuts a long line at 32768 bytes of message and streams it marked as truncated", async () => {
    const log = new FunctionLog();
    const seen: FunctionLogEntry[] = [];
    log.subscribe((entry) => seen.push(entry));
    log.record(execution(1, { logLines: [`[WARN] ${"é".repeat(20_000)}`] }));
    // 16384 two-byte characters fill 32768 bytes exactly.
    expect(seen[0].logLines).toEqual([`[WARN] ${"é".repeat(16_384)} (truncated due to length)`]);
    const { entries } = await log.after(0, 0);
    expect(entries[0].logLines).toEqual([{ messages: ["é".repeat(16_384)], level: "WARN", timestamp: 1_700_000_000_001, isTruncated: true }]);
  });

  test("keeps 255 lines of an execution and ends with Convex's overflow line", async () => {
    const log = new FunctionLog();
    log.record(execution(1, { logLines: Array.from({ length: 1000 }, (_, i) => `[LOG] ${i}`) }));
    const lines = (await log.after(0, 0)).entries[0].logLines;
    expect(lines).toHaveLength(256);
    expect(lines[254].messages).toEqual(["254"]);
    expect(lines[255]).toMatchObject({ level: "ERROR", messages: ["Log overflow (maximum 256). Remaining log lines omitted."] });
  });

  test("cuts an error message at 64 KiB", async () => {
    const log = new FunctionLog();
    log.record(execution(1, { error: `Uncaught Error: ${"z".repeat(1_000_000)}` }));
    const { entries } = await log.after(0, 0);
    expect(entries[0].error).toHaveLength(65_536);
  });

  test("leaves executions within the limits as they are", async () => {
    const log = new FunctionLog();
    const lines = Array.from({ length: 255 }, () => `[LOG] '${"a".repeat(32_766)}'`);
    const seen: FunctionLogEntry[] = [];
    log.subscribe((entry) => seen.push(entry));
    log.record(execution(1, { logLines: lines, error: "e".repeat(65_536) }));
    expect(seen[0]).toEqual(execution(1, { logLines: lines, error: "e".repeat(65_536) }));
  });
});
