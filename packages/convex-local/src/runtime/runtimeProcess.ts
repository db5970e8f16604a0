/**
 * A process of the runtime's own, where user code runs: the query and mutation workers
 * (functionWorker.ts) and the action executors (actionExecution/executorConnection.ts). Each is a
 * forked Node process whose heap is capped by `--max-old-space-size`, so whatever a function does to
 * its heap ends that process alone. A worker thread's `resourceLimits` cannot promise that: Node
 * ends the thread from V8's near-heap-limit callback with 16 MiB of leeway, and an allocation that
 * needs more before the termination lands — growing one large array or Map, and on Node 24 even a
 * loop of small arrays — reaches V8's hard limit, which aborts the whole process
 * (docs/notes/runtime-isolation.md has the measurements).
 *
 * The backend sees the child's exit. V8's out-of-memory report on the child's stderr tells an
 * out-of-memory end from any other, and is not repeated on the backend's stderr; whatever else the
 * child prints is.
 *
 * On Linux the child runs under SCHED_BATCH (through util-linux's `chrt`, when it is there): the
 * same share of the CPU as any process, but its wake-ups do not preempt a running one. A message to
 * a worker otherwise hands the core to the worker while the backend's own thread — which parses
 * every request and frame — waits behind user code (docs/notes/runtime-isolation.md, "Scheduling").
 * A child that runs no user code and that the backend waits on (the import worker) opts out.
 *
 * @example
 * const child = new RuntimeProcess(threadEntry(url), { heapMb: 96, lockedDown: true });
 * child.send(message);
 * child.onMessage = (message) => …;
 * const { outOfMemory, reason } = await child.exited;
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ThreadEntry } from "./threadEntry.js";

/** Convex's heap limit for default-runtime code (ISOLATE_MAX_USER_HEAP_SIZE), which its out-of-memory error names. */
export const CONVEX_USER_HEAP_MB = 64;
/** The heap of a process running default-runtime code: that limit plus Convex's 32 MiB of headroom (ISOLATE_MAX_HEAP_EXTRA_SIZE). */
export const DEFAULT_RUNTIME_HEAP_MB = 96;

/** Set in the environment of a process that locks its realm down (realmLockdown.ts checks it). */
export const LOCKED_DOWN_PROCESS = "CONVEX_LOCAL_LOCKED_DOWN_PROCESS";

/**
 * How long the backend waits, after a child exited, for the end of what it printed (which says
 * whether it ran out of memory). Its stderr closes at once unless a process it started holds it.
 */
const STDERR_DRAIN_MS = 5_000;

/** Why a runtime process went away. */
export interface RuntimeProcessExit {
  outOfMemory: boolean;
  /** e.g. "exit code 1", "signal SIGSEGV". */
  reason: string;
}

export interface RuntimeProcessOptions {
  /** The cap of V8's old generation, in MiB. */
  heapMb: number;
  /** The child locks its realm down (realmLockdown.ts): it runs default-runtime code. */
  lockedDown: boolean;
  /** More environment for the child, whose environment is otherwise empty. */
  env?: Record<string, string>;
  /** Runs the child under SCHED_BATCH where it can (the default): false keeps the backend's policy. */
  batch?: boolean;
}

export class RuntimeProcess {
  /** Receives each message the child sends. */
  onMessage: ((message: unknown) => void) | undefined;
  /** Resolves once the child is gone. */
  readonly exited: Promise<RuntimeProcessExit>;
  private readonly child;

  constructor(entry: ThreadEntry, { heapMb, lockedDown, env = {}, batch: underBatch = true }: RuntimeProcessOptions) {
    const node = [process.execPath, ...entry.execArgv, `--max-old-space-size=${heapMb}`, fileURLToPath(entry.url)];
    const batch = underBatch ? batchScheduler() : undefined;
    this.child = spawn(batch?.command ?? node[0]!, [...(batch?.args ?? []), ...node.slice(batch === undefined ? 1 : 0)], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "pipe", "ipc"],
      env: lockedDown ? { ...env, [LOCKED_DOWN_PROCESS]: "1" } : env,
    });
    const stderr = new StderrFilter();
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (text: string) => stderr.write(text));
    const drained = new Promise<void>((resolve) => this.child.stderr!.once("close", resolve));
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        const reason = signal === null ? `exit code ${code}` : `signal ${signal}`;
        const timer = setTimeout(() => finish(), STDERR_DRAIN_MS);
        const finish = () => {
          clearTimeout(timer);
          stderr.end();
          resolve({ outOfMemory: stderr.outOfMemory, reason });
        };
        void drained.then(finish);
      }),
    );
    this.child.on("message", (message) => this.onMessage?.(message));
    // Sending to a child that just died fails asynchronously; its exit is what callers are told.
    this.child.on("error", () => undefined);
    this.hold(false);
  }

  /** The child's process id (undefined when it could not be started). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends a message; one to a child that is gone is dropped (its exit tells why). */
  send(message: unknown): void {
    if (this.child.connected) this.child.send(message as object);
  }

  /** Ends the child at once, whatever it is doing. */
  kill(): void {
    this.child.kill("SIGKILL");
  }

  /** Whether the child keeps the embedding program alive: while it has work, not while idle. */
  hold(held: boolean): void {
    const handles = [this.child, this.child.channel, this.child.stderr] as ({ ref?(): void; unref?(): void } | null | undefined)[];
    for (const handle of handles) (held ? handle?.ref : handle?.unref)?.call(handle);
  }
}

/** How to start a program under SCHED_BATCH here, or undefined when this system cannot. */
let batchPrefix: { command: string; args: string[] } | null | undefined;

/** `chrt --batch 0 <program>`, once checked to work (Linux with util-linux; a container may refuse the policy). */
export function batchScheduler(): { command: string; args: string[] } | undefined {
  if (batchPrefix === undefined) {
    batchPrefix = null;
    if (process.platform === "linux") {
      const chrt = (process.env.PATH ?? "/usr/bin:/bin").split(path.delimiter).map((dir) => path.join(dir, "chrt")).find((file) => existsSync(file));
      const args = ["--batch", "0"];
      if (chrt !== undefined && spawnSync(chrt, [...args, chrt, "--pid", String(process.pid)], { stdio: "ignore", timeout: 5_000 }).status === 0) {
        batchPrefix = { command: chrt, args };
      }
    }
  }
  return batchPrefix ?? undefined;
}

/**
 * Passes a child's stderr on line by line, except V8's out-of-memory report, which it notes:
 * from its first line (`<--- Last few GCs --->`, or the `FATAL ERROR: … heap out of memory` line
 * when that comes first) to the end.
 */
class StderrFilter {
  outOfMemory = false;
  private pending = "";
  private inReport = false;
  private blankLines = 0;

  write(text: string): void {
    const lines = (this.pending + text).split("\n");
    this.pending = lines.pop()!;
    for (const line of lines) this.line(line);
  }

  end(): void {
    if (this.pending !== "") this.line(this.pending);
    if (!this.inReport && this.blankLines > 0) process.stderr.write("\n".repeat(this.blankLines));
    this.pending = "";
    this.blankLines = 0;
  }

  private line(line: string): void {
    if (line.includes("heap out of memory")) this.outOfMemory = true;
    if (line.startsWith("<--- Last few GCs") || this.outOfMemory) this.inReport = true;
    if (this.inReport) return;
    // V8 opens its report with an empty line: empty lines wait to see what follows them.
    if (line === "") {
      this.blankLines++;
      return;
    }
    process.stderr.write(`${"\n".repeat(this.blankLines)}${line}\n`);
    this.blankLines = 0;
  }
}
