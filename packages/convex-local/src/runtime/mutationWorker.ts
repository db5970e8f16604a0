/**
 * The mutation worker: the process that runs mutations, so a mutation that loops or allocates never
 * holds up the process serving HTTP and WebSockets. It has its own connection to the store and runs
 * one batch at a time (group commit, see mutationExecution.ts), answering with each mutation's
 * outcome and the commit's timestamp. Started by mutationRunner.ts (functionWorker.ts).
 */
import { Storage } from "../storage/index.js";
import { serveFunctions } from "./functionProcess.js";
import { executeMutations, type ExecutedBatch, type MutationCall } from "./mutationExecution.js";

/** What the worker answers a batch with. */
export interface MutationWorkerReply {
  batch: ExecutedBatch;
}

serveFunctions(
  (data) => Storage.open(data.databasePath),
  (calls: MutationCall[], context): MutationWorkerReply => ({ batch: executeMutations(calls, context) }),
);
