/**
 * The write path: runs mutations serializably, either alone in their own storage transaction or
 * with group commit (the mutations queued within one turn of the event loop share one timed vm
 * run and one commit and fsync, each in its own savepoint so a failing one rolls back alone), and
 * commits the system's own bookkeeping writes. Every commit that wrote something is announced.
 */
import type { JSONValue } from "convex/values";
import type { Savepoint, Storage } from "../storage/index.js";
import { Transaction, type DocumentWrite } from "../transactions/transaction.js";
import type { FunctionCatalog } from "./functionCatalog.js";
import { failure, runLogEntry } from "./functionResults.js";
import type { Caller, FunctionLogEntry, FunctionResult, MutationHooks, MutationResult } from "./runner.js";
import type { SyncBatchCall, SyncExecutor } from "./syncExecution.js";
import type { SyncCall } from "./syncHost.js";

export interface MutationRunnerOptions {
  storage: Storage;
  catalog: FunctionCatalog;
  executor: SyncExecutor;
  onLog?: (entry: FunctionLogEntry) => void;
  /** Called after every commit that wrote something. */
  onCommitted: (writes: DocumentWrite[], commitTs: bigint) => void;
}

interface QueuedMutation {
  path: string;
  args: JSONValue;
  caller: Caller;
  resolve: (outcome: MutationResult) => void;
}

export class MutationRunner {
  private readonly queue: QueuedMutation[] = [];

  constructor(private readonly options: MutationRunnerOptions) {}

  /** Runs a mutation now, in a storage transaction of its own (a savepoint when inside one). */
  mutation(path: string, args: JSONValue, caller: Caller, hooks: MutationHooks = {}): MutationResult {
    const outcome = this.executeMutation(path, args, caller, hooks);
    if (outcome.writes.length > 0) this.options.onCommitted(outcome.writes, this.options.storage.lastCommitTs());
    return outcome;
  }

  /**
   * Runs a mutation with group commit: the mutations queued within one turn of the event loop run
   * one after another, each in its own savepoint (a failing one rolls back alone), and commit
   * together with one fsync. Each resolves only once that shared commit is durable.
   */
  queueMutation(path: string, args: JSONValue, caller: Caller): Promise<MutationResult> {
    return new Promise((resolve) => {
      if (this.queue.length === 0) setImmediate(() => this.commitQueuedMutations());
      this.queue.push({ path, args, caller, resolve });
    });
  }

  /**
   * Runs `write` in its own writable transaction outside any function (system bookkeeping such as
   * the scheduler's job states) and reports its writes like a mutation's, for reactivity.
   */
  systemWrite<T>(write: (transaction: Transaction) => T): T {
    const transaction = new Transaction(this.options.storage, true);
    const result = this.options.storage.transaction(() => write(transaction));
    if (transaction.writes.length > 0) this.options.onCommitted(transaction.writes, this.options.storage.lastCommitTs());
    return result;
  }

  private commitQueuedMutations(): void {
    const batch = this.queue.splice(0);
    let outcomes: (MutationResult | undefined)[];
    try {
      outcomes = this.options.storage.transaction(() => this.runMutationBatch(batch));
    } catch (error) {
      // The shared commit failed: none of the batch is durable, so none of it succeeded.
      for (const { resolve } of batch) resolve({ result: failure(error, []), writes: [] });
      return;
    }
    // Mutations the run did not get to start go first in the next batch.
    const notStarted = batch.filter((_, i) => outcomes[i] === undefined);
    if (notStarted.length > 0) {
      if (this.queue.length === 0) setImmediate(() => this.commitQueuedMutations());
      this.queue.unshift(...notStarted);
    }
    const commitTs = this.options.storage.lastCommitTs();
    for (const outcome of outcomes) if (outcome !== undefined && outcome.writes.length > 0) this.options.onCommitted(outcome.writes, commitTs);
    batch.forEach(({ resolve }, i) => {
      const outcome = outcomes[i];
      if (outcome !== undefined) resolve(outcome);
    });
  }

  /**
   * Runs queued mutations inside the running transaction, in one vm run so they share one
   * time-limit watchdog, each in its own savepoint so a failing one rolls back alone. A mutation
   * the run did not get to start comes back undefined.
   */
  private runMutationBatch(batch: { path: string; args: JSONValue; caller: Caller }[]): (MutationResult | undefined)[] {
    const { storage, catalog, executor } = this.options;
    const outcomes: (MutationResult | undefined)[] = new Array(batch.length);
    const members: { index: number; path: string; started: number; call: SyncCall; savepoint?: Savepoint }[] = [];
    const calls: SyncBatchCall[] = [];
    let savepointFailure: unknown;
    batch.forEach(({ path, args, caller }, index) => {
      const started = performance.now();
      const call: SyncCall = { transaction: new Transaction(storage, true), caller, logLines: [], journal: { previous: null, next: null } };
      try {
        const info = catalog.resolve(path, caller, "Mutation");
        const member: (typeof members)[number] = { index, path, started, call };
        calls.push({
          call,
          request: executor.request(info, args, call),
          onStart: () => {
            member.savepoint = storage.savepoint();
          },
          onSettle: (outcome) => {
            call.transaction.finish();
            let result: FunctionResult;
            try {
              result = catalog.resultOf(info, outcome, call.logLines);
            } catch (error) {
              result = failure(error, call.logLines);
            }
            try {
              if (result.status === "success") member.savepoint!.release();
              else member.savepoint!.rollback();
            } catch (error) {
              savepointFailure ??= error;
            }
            member.savepoint = undefined;
            outcomes[index] = this.finishMutation(path, started, call, result);
          },
        });
        members.push(member);
      } catch (error) {
        outcomes[index] = this.finishMutation(path, started, call, failure(error, call.logLines));
      }
    });
    if (calls.length > 0) {
      const results = executor.runBatch(calls);
      members.forEach((member, i) => {
        const result = results[i];
        if (!(result instanceof Error)) return;
        // Cut short (time limit, a promise that never settles): its savepoint is still open.
        member.savepoint?.rollback();
        member.call.transaction.finish();
        outcomes[member.index] = this.finishMutation(member.path, member.started, member.call, failure(result, member.call.logLines));
      });
    }
    // The savepoints' state is unknown: fail the whole batch rather than commit part of a mutation.
    if (savepointFailure !== undefined) throw savepointFailure;
    return outcomes;
  }

  private finishMutation(path: string, started: number, call: SyncCall, result: FunctionResult): MutationResult {
    this.options.onLog?.(runLogEntry(path, "Mutation", started, result));
    return { result, writes: result.status === "success" ? call.transaction.writes : [] };
  }

  /** Runs a mutation in a transaction (a savepoint when inside one); the caller reports its commit. */
  private executeMutation(path: string, args: JSONValue, caller: Caller, hooks: MutationHooks): MutationResult {
    const logLines: string[] = [];
    const started = performance.now();
    const transaction = new Transaction(this.options.storage, true);
    let result: FunctionResult;
    try {
      const info = this.options.catalog.resolve(path, caller, "Mutation");
      result = this.options.storage.transaction(() => {
        const outcome = this.options.executor.run(info, args, { transaction, caller, logLines, journal: { previous: null, next: null } });
        if (outcome.status === "error") throw new RolledBack(outcome);
        hooks.beforeCommit?.(transaction);
        return outcome;
      });
    } catch (error) {
      result = error instanceof RolledBack ? error.result : failure(error, logLines);
    }
    this.options.onLog?.(runLogEntry(path, "Mutation", started, result));
    return { result, writes: result.status === "success" ? transaction.writes : [] };
  }
}

/** Carries a failed mutation's result out of its storage transaction, rolling the transaction back. */
class RolledBack extends Error {
  constructor(readonly result: FunctionResult) {
    super("rolled back");
  }
}
