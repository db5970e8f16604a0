/**
 * The mutation worker: the thread that runs mutations, so a mutation that loops or allocates never
 * holds up the thread serving HTTP and WebSockets. It has its own connection to the store and runs
 * one batch at a time (group commit, see mutationExecution.ts), answering with each mutation's
 * outcome and the commit's timestamp. Started by mutationRunner.ts (functionWorker.ts).
 */
import { workerData } from "node:worker_threads";
import { Storage } from "../storage/index.js";
import { serveFunctions, type FunctionThreadStart } from "./functionThread.js";
import { executeMutations, type ExecutedBatch, type MutationCall } from "./mutationExecution.js";

/** What the worker answers a batch with. */
export interface MutationWorkerReply {
  batch: ExecutedBatch;
}

const data = workerData as FunctionThreadStart;
serveFunctions(Storage.open(data.databasePath), data, (calls: MutationCall[], context): MutationWorkerReply => ({ batch: executeMutations(calls, context) }));
