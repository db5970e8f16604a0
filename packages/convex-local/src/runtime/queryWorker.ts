/**
 * A query worker: a thread that runs queries, so user code never runs on the thread that serves
 * HTTP and WebSockets, and queries run on every core at once. It reads the store through a
 * read-only connection of its own (a consistent snapshot per batch, see queryExecution.ts), holds
 * the pushed modules in its own synchronous isolate, and answers the main thread's messages
 * (`QueryWorkerRequest`) with `QueryWorkerReply`. Started by queryWorkerPool.ts.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Storage } from "../storage/index.js";
import { FileStorage, type FileStorageReaderOptions } from "./fileStorage.js";
import { FunctionCatalog } from "./functionCatalog.js";
import { executeQueries, type ExecutedQuery } from "./queryExecution.js";
import type { Deployment, QueryRequest } from "./runner.js";
import { SyncExecutor } from "./syncExecution.js";
import { lockDownThreadRealm } from "./realmLockdown.js";

export interface QueryWorkerData {
  databasePath: string;
  /** Where `ctx.storage` finds files, when the backend has file storage. */
  files: FileStorageReaderOptions | null;
  timeoutMs: number;
}

export type QueryWorkerRequest =
  | { type: "install"; deployment: Deployment }
  | { type: "run"; id: number; calls: QueryRequest[]; environment: Record<string, string> };

export type QueryWorkerReply = { type: "ran"; id: number; executed: ExecutedQuery[] } | { type: "failed"; id: number; message: string };

const { databasePath, files, timeoutMs } = workerData as QueryWorkerData;
const storage = Storage.openReader(databasePath);
const fileStorage = files === null ? undefined : FileStorage.forReader(storage, files);
const catalog = new FunctionCatalog(storage);
let environment: Record<string, string> = {};
const executor = new SyncExecutor({
  catalog,
  environment: () => environment,
  fileStorage: () => {
    if (fileStorage === undefined) throw new Error("File storage is not configured on this backend");
    return fileStorage;
  },
  timeoutMs,
});

lockDownThreadRealm();
parentPort!.on("message", (message: QueryWorkerRequest) => {
  if (message.type === "install") {
    catalog.install(message.deployment);
    executor.reset();
    return;
  }
  environment = message.environment;
  let reply: QueryWorkerReply;
  try {
    reply = { type: "ran", id: message.id, executed: executeQueries(message.calls, { storage, catalog, executor }) };
  } catch (error) {
    reply = { type: "failed", id: message.id, message: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
