/**
 * The main thread's handle on one action executor, whichever its transport: a worker thread
 * (default-runtime actions, HTTP actions) or a forked Node process (`"use node"` actions). Both
 * speak protocol.ts; this file hides how they are started, stopped and how they die.
 *
 * Limits, as Convex's (crates/common/src/knobs.rs; docs "Limits"):
 * - worker: `maxOldGenerationSizeMb` {@link WORKER_HEAP_MB} = Convex's 64 MiB user heap plus its
 *   32 MiB extra (ISOLATE_MAX_USER_HEAP_SIZE + ISOLATE_MAX_HEAP_EXTRA_SIZE); reaching it ends the
 *   worker with ERR_WORKER_OUT_OF_MEMORY. ArrayBuffers are outside V8's heap and not capped.
 * - process: `--max-old-space-size` {@link NODE_HEAP_MB}, Convex's 512 MiB Node runtime; V8 aborts
 *   the process when it is reached (seen here as "heap out of memory" on its stderr).
 */
import { fork, type ChildProcess } from "node:child_process";
import { Worker } from "node:worker_threads";
import { threadEntry } from "../threadEntry.js";
import type { ExecutorMessage, HostMessage } from "./protocol.js";

export const WORKER_HEAP_MB = 96;
export const NODE_HEAP_MB = 512;

/** Why an executor went away. */
export interface ExecutorExit {
  outOfMemory: boolean;
  /** e.g. "exit code 1", "signal SIGSEGV". */
  reason: string;
}

export interface ExecutorConnection {
  send(message: HostMessage): void;
  /** The listeners of the run that holds it (one at a time); the pool clears them when the run gives it back. */
  onMessage: ((message: ExecutorMessage) => void) | undefined;
  onExit: ((exit: ExecutorExit) => void) | undefined;
  /** Resolves once it is ready to run; rejects if it went away first. */
  readonly ready: Promise<void>;
  /** Resolves once it is gone. */
  readonly exited: Promise<ExecutorExit>;
  /** Ends it at once (a spinning action included). */
  kill(): void;
  /** The version of the deployment's modules it holds. */
  modulesVersion: number | undefined;
}

/** Wires the shared parts: `ready` on the executor's first message, messages to the run's listener. */
function connection(send: (message: HostMessage) => void, kill: () => void, exited: Promise<ExecutorExit>): ExecutorConnection & { deliver(message: ExecutorMessage): void } {
  let markReady!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    void exited.then((exit) => reject(new Error(`The action executor exited before it was ready (${exit.reason})`)));
  });
  ready.catch(() => undefined);
  void exited.then((exit) => handle.onExit?.(exit));
  const handle = {
    send,
    kill,
    ready,
    exited,
    onMessage: undefined as ((message: ExecutorMessage) => void) | undefined,
    onExit: undefined as ((exit: ExecutorExit) => void) | undefined,
    modulesVersion: undefined as number | undefined,
    deliver(message: ExecutorMessage) {
      if (message.type === "ready") markReady();
      else handle.onMessage?.(message);
    },
  };
  return handle;
}

const workerEntry = threadEntry(new URL("./workerEntry.js", import.meta.url));

/** A worker thread for default-runtime actions and HTTP actions. */
export function startWorkerExecutor(): ExecutorConnection {
  const worker = new Worker(workerEntry.url, {
    execArgv: workerEntry.execArgv,
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    env: {},
  });
  let outOfMemory = false;
  worker.on("error", (error: Error & { code?: string }) => {
    if (error.code === "ERR_WORKER_OUT_OF_MEMORY") outOfMemory = true;
    else console.error(`convex-local: an action worker failed: ${error.message}`);
  });
  const exited = new Promise<ExecutorExit>((resolve) => worker.once("exit", (code) => resolve({ outOfMemory, reason: `exit code ${code}` })));
  const handle = connection(
    (message) => worker.postMessage(message),
    () => void worker.terminate(),
    exited,
  );
  worker.on("message", (message: ExecutorMessage) => handle.deliver(message));
  // An idle worker must not keep the embedding program alive.
  worker.unref();
  return handle;
}

const childEntry = threadEntry(new URL("./childEntry.js", import.meta.url));

/** A Node process for `"use node"` actions; what it prints goes to the backend's stderr. */
export function startProcessExecutor(): ExecutorConnection {
  const child: ChildProcess = fork(childEntry.url, [], {
    execArgv: [...childEntry.execArgv, `--max-old-space-size=${NODE_HEAP_MB}`],
    serialization: "advanced",
    stdio: ["ignore", "inherit", "pipe", "ipc"],
    env: {},
  });
  let outOfMemory = false;
  child.stderr!.on("data", (chunk: Buffer) => {
    // V8's fatal error when the heap limit is reached: "… JavaScript heap out of memory".
    if (chunk.includes("heap out of memory")) outOfMemory = true;
    process.stderr.write(chunk);
  });
  const exited = new Promise<ExecutorExit>((resolve) =>
    child.once("exit", (code, signal) => resolve({ outOfMemory, reason: signal === null ? `exit code ${code}` : `signal ${signal}` })),
  );
  const handle = connection(
    (message) => {
      if (child.connected) child.send(message);
    },
    () => void child.kill("SIGKILL"),
    exited,
  );
  child.on("message", (message) => handle.deliver(message as ExecutorMessage));
  // Sending to a process that just died fails asynchronously; its exit is what the run reports.
  child.on("error", () => undefined);
  child.unref();
  (child.channel as { unref?: () => void } | undefined)?.unref?.();
  (child.stderr as unknown as { unref(): void }).unref();
  return handle;
}
