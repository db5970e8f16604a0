/**
 * Executes a batch of mutations inside the mutation worker (mutationWorker.ts), serializably with
 * group commit: they run one after another in one vm run, each in its own savepoint (a
 * failing one rolls back alone), and commit together with one fsync. A system caller's hooks
 * (`MutationHooks`: the scheduler starting and completing a job, a cron advancing) are written in
 * the same savepoint as the mutation they belong to, so they commit exactly when it does.
 */
import type { JSONValue } from "convex/values";
import type { Savepoint, Storage } from "../storage/index.js";
import { Transaction, type DocumentWrite } from "../transactions/transaction.js";
import { failure } from "./functionResults.js";
import type { Caller, FunctionResult, MutationHooks } from "./runner.js";
import { completeJob, readJob, startJob } from "./scheduledFunctionsTable.js";
import { packed, type FunctionProcessContext } from "./functionProcess.js";
import type { SyncBatchCall } from "./syncExecution.js";
import type { SyncCall } from "./syncHost.js";

/** A mutation to run: the function, its arguments, who calls, and a system caller's hooks. */
export interface MutationCall {
  path: string;
  args: JSONValue;
  caller: Caller;
  hooks?: MutationHooks;
}

/** How a mutation ran: its result, and its writes when it succeeded. */
export interface ExecutedMutation {
  result: FunctionResult;
  writes: DocumentWrite[];
}

/** A batch's outcome: each mutation's and the commit's timestamp. */
export interface ExecutedBatch {
  executed: ExecutedMutation[];
  commitTs: bigint;
}

/** Runs `calls` in one storage transaction; a failed commit fails every one of them. */
export function executeMutations(calls: readonly MutationCall[], context: FunctionProcessContext): ExecutedBatch {
  try {
    const executed = context.storage.transaction(() => executeInTransaction(calls, context));
    return { executed, commitTs: context.storage.lastCommitTs() };
  } catch (error) {
    // The shared commit failed: none of the batch is durable, so none of it succeeded.
    return { executed: calls.map(() => ({ result: failure(error, []), writes: [] })), commitTs: context.storage.lastCommitTs() };
  }
}

function executeInTransaction(calls: readonly MutationCall[], { storage, catalog, executor, progress }: FunctionProcessContext): ExecutedMutation[] {
  const executed: ExecutedMutation[] = new Array(calls.length);
  const members: { index: number; call: SyncCall; savepoint?: Savepoint }[] = [];
  const batch: SyncBatchCall[] = [];
  let savepointFailure: unknown;
  const finish = (call: SyncCall, result: FunctionResult): ExecutedMutation => ({ result, writes: result.status === "success" ? call.transaction.writes : [] });
  calls.forEach(({ path, args, caller, hooks }, index) => {
    const call: SyncCall = { transaction: new Transaction(storage, true), caller, logLines: [], journal: { previous: null, next: null } };
    try {
      const info = catalog.resolve(path, caller, "Mutation");
      const member: (typeof members)[number] = { index, call };
      batch.push({
        call,
        request: executor.request(info, args, call),
        onStart: () => {
          progress.started(index);
          member.savepoint = storage.savepoint();
          // The job is in progress inside its mutation (and only there, until it commits), as on Convex.
          if (hooks?.completesJob !== undefined) startJob(call.transaction, hooks.completesJob.id);
        },
        onSettle: (outcome) => {
          let result: FunctionResult;
          try {
            result = catalog.resultOf(info, outcome, call.logLines);
            if (result.status === "success" && hooks !== undefined) applyHooks(call.transaction, storage, hooks);
          } catch (error) {
            result = failure(error, call.logLines);
          }
          call.transaction.finish();
          try {
            if (result.status === "success") member.savepoint!.release();
            else member.savepoint!.rollback();
          } catch (error) {
            savepointFailure ??= error;
          }
          member.savepoint = undefined;
          executed[index] = finish(call, result);
        },
      });
      members.push(member);
    } catch (error) {
      executed[index] = finish(call, failure(error, call.logLines));
    }
  });
  if (batch.length > 0) {
    const results = executor.runBatch(batch);
    members.forEach((member, i) => {
      const result = results[i];
      if (!(result instanceof Error)) return;
      // It waited on something other than a syscall: its savepoint is still open.
      member.savepoint?.rollback();
      member.call.transaction.finish();
      executed[member.index] = finish(member.call, failure(result, member.call.logLines));
    });
  }
  // The savepoints' state is unknown: fail the whole batch rather than commit part of a mutation.
  if (savepointFailure !== undefined) throw savepointFailure;
  return packed(executed);
}

/** Writes a system caller's hooks with its mutation; a throw fails the mutation (its writes roll back). */
function applyHooks(transaction: Transaction, storage: Storage, { completesJob, setsMeta }: MutationHooks): void {
  if (completesJob !== undefined) {
    // Not in progress: it was canceled before the mutation started (by one earlier in the batch).
    if (readJob(transaction, completesJob.id)?.state.kind !== "inProgress") throw new Error(`Scheduled job ${completesJob.id} is no longer pending`);
    completeJob(transaction, completesJob.id, { kind: "success" }, completesJob.at);
  }
  if (setsMeta !== undefined) storage.setMeta(setsMeta.key, setsMeta.value);
}
