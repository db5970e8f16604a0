/**
 * The main thread's handle on one action executor: a process of the runtime's own
 * (runtimeProcess.ts) that speaks protocol.ts — for default-runtime actions and HTTP actions, or for
 * `"use node"` actions. This file hides how they are started, stopped and how they die.
 *
 * Heap limits, as Convex's (crates/common/src/knobs.rs; docs "Limits"), by `--max-old-space-size`;
 * V8 aborts the process when one is reached, which the backend sees as an out-of-memory exit:
 * - default runtime: {@link DEFAULT_RUNTIME_HEAP_MB} = Convex's 64 MiB user heap plus its 32 MiB extra
 *   (ISOLATE_MAX_USER_HEAP_SIZE + ISOLATE_MAX_HEAP_EXTRA_SIZE), the realm locked down;
 * - Node: {@link NODE_HEAP_MB}, Convex's 512 MiB Node runtime.
 * ArrayBuffers are outside V8's heap and not capped by either.
 */
import { DEFAULT_RUNTIME_HEAP_MB, RuntimeProcess, type RuntimeProcessExit } from "../runtimeProcess.js";
import { threadEntry } from "../threadEntry.js";
import type { ExecutorMessage, HostMessage } from "./protocol.js";

export const NODE_HEAP_MB = 512;

/** Why an executor went away. */
export type ExecutorExit = RuntimeProcessExit;

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

const defaultRuntimeEntry = threadEntry(new URL("./workerEntry.js", import.meta.url));
const nodeEntry = threadEntry(new URL("./childEntry.js", import.meta.url));

/** An executor for default-runtime actions and HTTP actions. */
export function startDefaultRuntimeExecutor(): ExecutorConnection {
  return connect(new RuntimeProcess(defaultRuntimeEntry, { heapMb: DEFAULT_RUNTIME_HEAP_MB, lockedDown: true }));
}

/** An executor for `"use node"` actions. */
export function startNodeExecutor(): ExecutorConnection {
  return connect(new RuntimeProcess(nodeEntry, { heapMb: NODE_HEAP_MB, lockedDown: false }));
}

/** `ready` on the executor's first message; the others go to the run's listener. */
function connect(child: RuntimeProcess): ExecutorConnection {
  let markReady!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    void child.exited.then((exit) => reject(new Error(`The action executor exited before it was ready (${exit.reason})`)));
  });
  ready.catch(() => undefined);
  const handle: ExecutorConnection = {
    send: (message) => child.send(message),
    kill: () => child.kill(),
    ready,
    exited: child.exited,
    onMessage: undefined,
    onExit: undefined,
    modulesVersion: undefined,
  };
  void child.exited.then((exit) => handle.onExit?.(exit));
  child.onMessage = (message) => {
    if ((message as ExecutorMessage).type === "ready") markReady();
    else handle.onMessage?.(message as ExecutorMessage);
  };
  return handle;
}
