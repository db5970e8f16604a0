/**
 * The deployment's function log: a bounded in-memory ring of completed executions, long-polled by
 * `npx convex logs` / `npx convex dev` through `/api/stream_function_logs`, and echoed by the dev
 * command. Executions are recorded within Convex's log limits, so every reader sees bounded lines.
 * As on Convex (crates/application/src/function_log.rs `next_time`), an entry's cursor is the time it
 * was recorded in fractional milliseconds since the epoch, strictly increasing: a reader may start
 * from a time (the MCP server's `logs` tool documents its cursor in ms).
 */
import { componentPathOf, isComponentName, localName, namespaceOfName } from "../runtime/components.js";
import { TRUNCATED_LINE_SUFFIX, boundErrorMessage, boundLogLines } from "../runtime/logs.js";
import type { FunctionLogEntry } from "../runtime/runner.js";
import { truncateText } from "../text/valueText.js";

const CAPACITY = 1000;

export interface StreamedLogEntry {
  kind: "Completion";
  udfType: string;
  identifier: string;
  /** The component whose function ran (null for the app's). */
  componentPath: string | null;
  timestamp: number;
  executionTime: number;
  logLines: { messages: string[]; level: string; timestamp: number; isTruncated: boolean }[];
  success: boolean;
  error: string | null;
  requestId: string;
  cachedResult: boolean;
}

export class FunctionLog {
  /** @param now The clock of the cursors: ms since the epoch, with a fraction. */
  constructor(private readonly now: () => number = () => performance.timeOrigin + performance.now()) {}

  /** The newest executions, oldest first; up to twice CAPACITY between trims, so a record costs O(1). */
  private entries: { cursor: number; entry: FunctionLogEntry }[] = [];
  private waiters = new Set<() => void>();
  private listeners = new Set<(entry: FunctionLogEntry) => void>();

  record(execution: FunctionLogEntry): void {
    const entry = withinLogLimits(execution);
    for (const listener of this.listeners) listener(entry);
    const last = this.entries.at(-1)?.cursor;
    this.entries.push({ cursor: last === undefined ? this.now() : Math.max(this.now(), nextUp(last)), entry });
    if (this.entries.length > 2 * CAPACITY) this.entries = this.entries.slice(-CAPACITY);
    for (const wake of [...this.waiters]) wake();
    this.waiters.clear();
  }

  /** Observes every execution as it completes (the dev command prints them). */
  subscribe(listener: (entry: FunctionLogEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Entries after `cursor`, waiting up to `waitMs` for one to arrive; with none, `newCursor` is `cursor` again. */
  async after(cursor: number, waitMs: number, signal?: AbortSignal): Promise<{ entries: StreamedLogEntry[]; newCursor: number }> {
    const collect = () => {
      const fresh = this.entries.slice(-CAPACITY).filter((item) => item.cursor > cursor);
      return { entries: fresh.map((item) => streamed(item.entry)), newCursor: fresh.length > 0 ? fresh[fresh.length - 1].cursor : cursor };
    };
    const now = collect();
    if (now.entries.length > 0 || waitMs <= 0) return now;
    if (signal?.aborted) return now;
    await new Promise<void>((resolve) => {
      // Woken, timed out or aborted: nothing of this poll stays behind (the waiter, the abort listener).
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
    return collect();
  }

  /** Wakes every long poll (on shutdown). */
  close(): void {
    for (const wake of [...this.waiters]) wake();
    this.waiters.clear();
  }
}

/** The smallest double above `value` (> 0), Rust's `f64::next_up`. */
function nextUp(value: number): number {
  const bits = new BigInt64Array(new Float64Array([value]).buffer);
  bits[0] += 1n;
  return new Float64Array(bits.buffer)[0];
}

function withinLogLimits(entry: FunctionLogEntry): FunctionLogEntry {
  // A path is checked before it runs, but one a check refused is still logged with its error.
  const bounded = { ...entry, path: truncateText(entry.path, 200), logLines: boundLogLines(entry.logLines) };
  if (entry.error !== undefined) bounded.error = boundErrorMessage(entry.error);
  return bounded;
}

/** An execution as `/api/stream_function_logs` answers it. */
function streamed(entry: FunctionLogEntry): StreamedLogEntry {
  return {
    kind: "Completion",
    udfType: entry.udfType,
    // A component's function by its own path, with the component's path beside it (runtime/components.ts).
    identifier: localName(entry.path),
    componentPath: isComponentName(entry.path) ? componentPathOf(namespaceOfName(entry.path)) : null,
    timestamp: entry.timestamp / 1000,
    executionTime: entry.executionTimeMs / 1000,
    logLines: entry.logLines.map((line) => structuredLogLine(line, entry.timestamp)),
    success: entry.error === undefined,
    error: entry.error ?? null,
    requestId: "",
    cachedResult: entry.cached === true,
  };
}

/** `[LOG] 'hello'` → the structured form the CLI prints (it appends the truncation marker itself). */
function structuredLogLine(line: string, timestamp: number) {
  const match = /^\[([A-Z]+)\] ([\s\S]*)$/.exec(line);
  const message = match ? match[2] : line;
  const isTruncated = message.endsWith(TRUNCATED_LINE_SUFFIX);
  return { messages: [isTruncated ? message.slice(0, -TRUNCATED_LINE_SUFFIX.length) : message], level: match ? match[1] : "LOG", timestamp, isTruncated };
}
