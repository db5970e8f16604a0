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

describe("FunctionLog", () => {
  test("streams executions after a cursor in the CLI's shape", async () => {
    const log = new FunctionLog();
    log.record(execution(1));
    log.record(execution(2, { error: "Uncaught Error: boom", cached: true, logLines: [] }));
    const { entries, newCursor } = await log.after(0, 0);
    expect(newCursor).toBe(2);
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
    expect(await log.after(2, 0)).toEqual({ entries: [], newCursor: 2 });
  });

  test("a long poll wakes on the next execution", async () => {
    const log = new FunctionLog();
    const waiting = log.after(0, 10_000);
    log.record(execution(7));
    const { entries, newCursor } = await waiting;
    expect(newCursor).toBe(1);
    expect(entries.map((entry) => entry.logLines[0].messages[0])).toEqual(["'call 7'"]);
  });

  test("keeps the newest 1000 executions", async () => {
    const log = new FunctionLog();
    for (let n = 1; n <= 2500; n++) log.record(execution(n));
    const { entries, newCursor } = await log.after(0, 0);
    expect(newCursor).toBe(2500);
    expect(entries).toHaveLength(1000);
    expect(entries[0].logLines[0].messages[0]).toBe("'call 1501'");
  });
});
