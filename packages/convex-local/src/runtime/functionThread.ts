/**
 * The body of a worker thread that runs functions (queryWorker.ts, mutationWorker.ts): the
 * deployment's catalog and a synchronous isolate over the thread's own connection to the store,
 * the thread's realm locked down once all that is set up (realmLockdown.ts), and the message loop
 * of functionWorker.ts — `install` a pushed deployment (answered `installed`), `run` a batch of
 * calls and answer `ran` with its result or `failed` with what went wrong.
 *
 * @example
 * serveFunctions(Storage.openReader(path), workerData, (calls, context) => ({ executed: executeQueries(calls, context) }));
 */
import { parentPort } from "node:worker_threads";
import { CallProgress } from "./callProgress.js";
import type { Storage } from "../storage/index.js";
import { FileStorage, type FileStorageThreadOptions } from "./fileStorage.js";
import { FunctionCatalog } from "./functionCatalog.js";
import { lockDownThreadRealm } from "./realmLockdown.js";
import type { Deployment } from "./runner.js";
import { SyncExecutor } from "./syncExecution.js";

/** What a function thread is started with. */
export interface FunctionThreadData {
  databasePath: string;
  /** Where `ctx.storage` finds files, when the backend has file storage. */
  files: FileStorageThreadOptions | null;
  /** The time limit of one call (the main thread's watchdog enforces it). */
  timeoutMs: number;
}

/** What the thread is started with: its data and the buffer its CallProgress shares with the main thread. */
export type FunctionThreadStart = FunctionThreadData & { progress: SharedArrayBuffer };

/** What a batch runs against; `progress` is told as each call starts (the watchdog reads it). */
export interface FunctionThreadContext {
  storage: Storage;
  catalog: FunctionCatalog;
  executor: SyncExecutor;
  progress: CallProgress;
}

type Message<Call> = { type: "install"; deployment: Deployment } | { type: "run"; id: number; calls: Call[]; environment: Record<string, string> };

export function serveFunctions<Call, Reply extends object>(
  storage: Storage,
  { files, progress: progressBuffer }: FunctionThreadStart,
  run: (calls: Call[], context: FunctionThreadContext) => Reply,
): void {
  if (parentPort === null) throw new Error("serveFunctions runs in a worker thread");
  const port = parentPort;
  const fileStorage = files === null ? undefined : FileStorage.inThread(storage, files);
  const catalog = new FunctionCatalog(storage);
  let environment: Record<string, string> = {};
  const executor = new SyncExecutor({
    catalog,
    environment: () => environment,
    fileStorage: () => {
      if (fileStorage === undefined) throw new Error("File storage is not configured on this backend");
      return fileStorage;
    },
  });
  const progress = new CallProgress(progressBuffer);
  lockDownThreadRealm();
  port.on("message", (message: Message<Call>) => {
    if (message.type === "install") {
      catalog.install(message.deployment);
      executor.reset();
      port.postMessage({ type: "installed" });
      return;
    }
    environment = message.environment;
    try {
      port.postMessage({ type: "ran", id: message.id, ...run(message.calls, { storage, catalog, executor, progress }) });
    } catch (error) {
      port.postMessage({ type: "failed", id: message.id, message: error instanceof Error ? error.message : String(error) });
    } finally {
      progress.idle();
    }
  });
}

/**
 * The same array without holes in V8's eyes: one made by `new Array(n)` stays "holey" once filled,
 * and the structured clone that carries it to the main thread copies a holey array as a sparse
 * one, index by index as object keys, several times slower.
 */
export function packed<T>(array: T[]): T[] {
  return Array.from(array);
}
