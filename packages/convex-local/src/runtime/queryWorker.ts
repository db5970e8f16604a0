/**
 * A query worker: a thread that runs queries, so user code never runs on the thread that serves
 * HTTP and WebSockets, and queries run on every core at once. It reads the store through a
 * read-only connection of its own (a consistent snapshot per batch, see queryExecution.ts) and
 * answers each batch with how each query ran. Started by queryWorkerPool.ts (functionWorker.ts).
 */
import { workerData } from "node:worker_threads";
import { Storage } from "../storage/index.js";
import { serveFunctions, type FunctionThreadStart } from "./functionThread.js";
import { executeQueries, type ExecutedQuery } from "./queryExecution.js";
import type { QueryRequest } from "./runner.js";

/** What the worker answers a batch with. */
export interface QueryWorkerReply {
  executed: ExecutedQuery[];
}

const data = workerData as FunctionThreadStart;
serveFunctions(Storage.openReader(data.databasePath), data, (calls: QueryRequest[], context): QueryWorkerReply => ({ executed: executeQueries(calls, context) }));
