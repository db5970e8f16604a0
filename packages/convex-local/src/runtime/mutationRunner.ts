/**
 * The write path, from the main thread: mutations run in the mutation worker (mutationWorker.ts),
 * serializably with group commit — the mutations queued while the worker is busy go together in
 * its next batch, one vm run, one commit and one fsync. The system's own bookkeeping writes
 * (`systemWrite`) run on the main thread's connection, each in a turn of its own between batches,
 * so the two never wait on each other's SQLite lock. Every commit that wrote something is
 * announced, in commit order, before its callers hear of it.
 */
import type { JSONValue } from "convex/values";
import type { Storage } from "../storage/index.js";
import { Transaction, type DocumentWrite } from "../transactions/transaction.js";
import { checkArgsNesting } from "./functionCatalog.js";
import { failure, runLogEntry } from "./functionResults.js";
import type { FunctionProcessData } from "./functionProcess.js";
import { afterFailure, FunctionWorker } from "./functionWorker.js";
import type { HeardCommits } from "./heardCommits.js";
import type { ExecutedMutation, MutationCall } from "./mutationExecution.js";
import type { MutationWorkerReply } from "./mutationWorker.js";
import type { Caller, Deployment, FunctionLogEntry, MutationHooks, MutationResult } from "./runner.js";

export interface MutationRunnerOptions {
  storage: Storage;
  data: FunctionProcessData;
  /** The environment variables a mutation sees. */
  environment: () => Record<string, string>;
  onLog?: (entry: FunctionLogEntry) => void;
  /** Called after every commit that wrote something. */
  onCommitted: (writes: DocumentWrite[], commitTs: bigint) => void;
  /** Told of every commit the worker made, once its writes are announced. */
  heard: HeardCommits;
}

/** Most mutations in one batch (one vm run, one commit). */
const MAX_BATCH = 256;

interface QueuedMutation extends MutationCall {
  started: number;
  /** Run without other mutations: the worker failed while running it along with others. */
  alone: boolean;
  resolve(outcome: MutationResult): void;
}

export class MutationRunner {
  private readonly worker: FunctionWorker;
  private readonly queue: QueuedMutation[] = [];
  /** Writes waiting for their turn: system writes, and other connections' (`writeElsewhere`). */
  private readonly waitingWrites: (() => void)[] = [];
  private dispatchScheduled = false;
  /** Another connection of the backend's own holds the turn to write (`writeElsewhere`). */
  private writingElsewhere = false;
  private closed = false;

  constructor(private readonly options: MutationRunnerOptions) {
    this.worker = new FunctionWorker(new URL("./mutationWorker.js", import.meta.url), options.data);
  }

  /** Loads a newly pushed deployment in the worker; mutations queued after this run its code. Resolves once it is loaded. */
  install(deployment: Deployment): Promise<void> {
    return this.worker.install(deployment);
  }

  /**
   * Runs a mutation with group commit; resolves once its commit is durable and announced.
   * `hooks`: what a system caller (the scheduler) commits along with it if it succeeds.
   */
  mutation(path: string, args: JSONValue, caller: Caller, hooks?: MutationHooks): Promise<MutationResult> {
    const started = performance.now();
    if (this.closed) return Promise.resolve(this.finish({ path, started }, { result: failure(new Error("The backend is shutting down"), []), writes: [] }, 0n));
    try {
      checkArgsNesting(args);
    } catch (error) {
      return Promise.resolve(this.finish({ path, started }, { result: failure(error, []), writes: [] }, 0n));
    }
    return new Promise((resolve) => {
      this.queue.push({ path, args, caller, hooks, started, alone: false, resolve });
      this.scheduleDispatch();
    });
  }

  /**
   * Runs `write` in its own writable transaction outside any function (system bookkeeping such as
   * the scheduler's job states), in a turn between mutation batches, and reports its writes like
   * a mutation's, for reactivity.
   */
  async systemWrite<T>(write: (transaction: Transaction) => T): Promise<T> {
    await this.turn();
    const { storage } = this.options;
    const transaction = new Transaction(storage, true);
    try {
      const result = storage.transaction(() => write(transaction));
      if (transaction.writes.length > 0) this.options.onCommitted(transaction.writes, storage.lastCommitTs());
      return result;
    } finally {
      this.scheduleDispatch();
    }
  }

  /**
   * Gives the turn to write to another connection of the backend's own — a push worker's
   * (pushWork.ts), an import worker's — until `write` settles: no mutation batch or system write
   * starts meanwhile, so none waits on its SQLite lock. `write` resolves with its commit's
   * timestamp, if it made one, which is then heard of as a batch's is.
   */
  async writeElsewhere<T>(write: () => Promise<{ commitTs?: bigint; result: T }>): Promise<T> {
    await this.turn();
    this.writingElsewhere = true;
    try {
      const { commitTs, result } = await write();
      if (commitTs !== undefined) {
        this.options.storage.noteCommit(commitTs);
        this.options.heard.advanced();
      }
      return result;
    } finally {
      this.writingElsewhere = false;
      this.scheduleDispatch();
    }
  }

  /** Resolves when no batch runs and no other process writes: the caller's write goes next. */
  private async turn(): Promise<void> {
    if (this.worker.busy || this.writingElsewhere) await new Promise<void>((resolve) => this.waitingWrites.push(resolve));
  }

  /** Ends the worker; mutations still queued or running fail (nothing of a running batch commits). */
  async close(): Promise<void> {
    this.closed = true;
    for (const queued of this.queue.splice(0)) queued.resolve(this.finish(queued, { result: failure(new Error("The backend is shutting down"), []), writes: [] }, 0n));
    await this.worker.close();
    for (const resume of this.waitingWrites.splice(0)) resume();
  }

  /** Next turn: the mutations queued by then go in one batch (system writes waiting go first). */
  private scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.worker.busy || this.writingElsewhere) return;
    // A system write runs synchronously when resumed, so it ends before the next batch starts.
    const resume = this.waitingWrites.shift();
    if (resume !== undefined) return resume();
    if (this.queue.length === 0 || this.closed) return;
    let count = 1;
    if (!this.queue[0]!.alone) while (count < this.queue.length && count < MAX_BATCH && !this.queue[count]!.alone) count++;
    void this.runBatch(this.queue.splice(0, count));
  }

  private async runBatch(batch: QueuedMutation[]): Promise<void> {
    const calls: MutationCall[] = batch.map(({ path, args, caller, hooks }) => ({ path, args, caller, hooks }));
    try {
      const { batch: ran } = await this.worker.run<MutationWorkerReply>(calls, this.options.environment());
      const { storage } = this.options;
      storage.noteCommit(ran.commitTs);
      // Every write is announced before any caller hears of its mutation.
      for (const executed of ran.executed) if (executed.writes.length > 0) this.options.onCommitted(executed.writes, ran.commitTs);
      this.options.heard.advanced();
      batch.forEach((queued, i) => queued.resolve(this.finish(queued, ran.executed[i]!, ran.commitTs)));
    } catch (thrown) {
      // Nothing of the batch committed (the worker's transaction ends with it), so running again is safe.
      const { error, failed, retry } = afterFailure(batch, thrown);
      for (const queued of this.closed ? batch : failed) queued.resolve(this.finish(queued, { result: failure(error, []), writes: [] }, 0n));
      if (!this.closed) this.queue.unshift(...retry);
    }
    this.scheduleDispatch();
  }

  private finish({ path, started }: { path: string; started: number }, { result, writes }: ExecutedMutation, commitTs: bigint): MutationResult {
    this.options.onLog?.(runLogEntry(path, "Mutation", started, result));
    return { result, writes, commitTs: writes.length > 0 ? commitTs : null };
  }
}
