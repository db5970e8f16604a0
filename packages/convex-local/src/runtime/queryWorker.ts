/**
 * A query worker: a process that runs queries, so user code never runs in the process that serves
 * HTTP and WebSockets, and queries run on every core at once. It reads the store through a
 * read-only connection of its own (a consistent snapshot per batch, see queryExecution.ts) and
 * answers each batch with how each query ran. Started by queryWorkerPool.ts (functionWorker.ts).
 */
import { Storage } from "../storage/index.js";
import { serveFunctions } from "./functionProcess.js";
import { executeQueries, type RanQuery } from "./queryExecution.js";
import type { QueryRequest } from "./runner.js";

/** What the worker answers a batch with. */
export interface QueryWorkerReply {
  executed: RanQuery[];
}

serveFunctions(
  (data) => Storage.openReader(data.databasePath),
  (calls: QueryRequest[], context): QueryWorkerReply => ({ executed: executeQueries(calls, context) }),
);
