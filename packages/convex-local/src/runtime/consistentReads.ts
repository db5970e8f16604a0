/**
 * Reads at an earlier commit, for `ConvexHttpClient.consistentQuery`: `/api/query_ts` holds a
 * snapshot of the store open in the consistent-read worker (consistentReadWorker.ts) and hands out
 * its commit timestamp; `/api/query_at_ts` runs the query on that snapshot for as long as it is
 * held (Convex's index retention, 4 minutes). The worker is a process of its own, started by the
 * first `hold` and stopped once nothing it held can still be read, so a backend whose clients never
 * call `consistentQuery` pays nothing for it. Calls run one at a time: they are rare, and each
 * snapshot is its own connection. A worker that fails (a query past its time limit ends it) loses
 * its snapshots; a read at one of them then answers as for a timestamp no longer held.
 *
 * @example
 * const reads = new ConsistentReads({ databasePath, files: null, timeoutMs: 1000 });
 * reads.install(deployment);
 * const ts = await reads.hold(environment); // undefined: no snapshot could be held
 * const executed = await reads.queryAt(request, ts, environment); // undefined: not held (any more)
 */
import type { ConsistentReadCall, ConsistentReadReply } from "./consistentReadWorker.js";
import { OutOfMemoryError } from "./errors.js";
import type { FunctionProcessData } from "./functionProcess.js";
import { FunctionWorker, WorkerFailure } from "./functionWorker.js";
import { failedExecution, receivedQuery, type ExecutedQuery } from "./queryExecution.js";
import type { Deployment, QueryRequest } from "./runner.js";

/** Convex keeps index history this long (`INDEX_RETENTION_DELAY`, crates/common/src/knobs.rs: 4 minutes). */
export const HELD_FOR_MS = 4 * 60_000;
/** At most this many snapshots are held: each is a connection, and the oldest keeps the WAL from restarting. */
export const MAX_HELD = 32;
/**
 * While the WAL is larger than this, every snapshot is let go and none is held (`/api/query_ts`
 * then answers the latest commit unheld): snapshots held one after the other without a gap would
 * keep the WAL from restarting, and so from being truncated, for ever.
 */
export const WAL_LIMIT_BYTES = 256 * 1024 * 1024;
const ENTRY = new URL("./consistentReadWorker.js", import.meta.url);

export class ConsistentReads {
  private worker: FunctionWorker | undefined;
  private deployment: Deployment | undefined;
  /** The call running now, then the ones waiting for it (a worker runs one batch at a time). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Stops the worker once its last snapshot can no longer be read. */
  private stopTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly data: FunctionProcessData) {}

  /** A newly pushed deployment: snapshots held before it are let go (their code is gone). */
  install(deployment: Deployment): void {
    this.deployment = deployment;
    void this.worker?.install(deployment);
  }

  /** Holds a snapshot of the latest commit and returns its timestamp; undefined before the first push or when the worker failed. */
  async hold(environment: Record<string, string>): Promise<bigint | undefined> {
    if (this.deployment === undefined || this.closed) return undefined;
    clearTimeout(this.stopTimer);
    this.stopTimer = setTimeout(() => this.stop(), HELD_FOR_MS).unref();
    // A worker that failed holds nothing: the caller reads unheld, as after the snapshot is let go.
    const reply = await this.run({ hold: true }, environment).catch(() => undefined);
    return reply !== undefined && "ts" in reply ? reply.ts : undefined;
  }

  /** Runs `request` on the snapshot of commit `ts`; undefined when that snapshot is not held. */
  async queryAt(request: QueryRequest, ts: bigint, environment: Record<string, string>): Promise<ExecutedQuery | undefined> {
    if (this.worker === undefined || this.closed) return undefined;
    let reply: ConsistentReadReply;
    try {
      reply = await this.run({ at: ts, query: request }, environment);
    } catch (failure) {
      // The query's own failure (its time or memory limit) is its error; the worker's is not, and its snapshots are gone.
      const own = failure instanceof WorkerFailure && (failure.timedOutCall !== undefined || failure.error instanceof OutOfMemoryError);
      return own ? failedExecution(failure.error) : undefined;
    }
    return "executed" in reply ? receivedQuery(reply.executed) : undefined;
  }

  /** Ends the worker; a call under way fails. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.stopTimer);
    const worker = this.worker;
    this.worker = undefined;
    await worker?.close();
  }

  private run(call: ConsistentReadCall, environment: Record<string, string>): Promise<ConsistentReadReply> {
    const worker = this.worker ?? this.start();
    const ran = this.queue.then(() => worker.run<ConsistentReadReply>([call], environment));
    this.queue = ran.catch(() => undefined);
    return ran;
  }

  private start(): FunctionWorker {
    const worker = new FunctionWorker(ENTRY, this.data);
    this.worker = worker;
    void worker.install(this.deployment!);
    return worker;
  }

  /** Ends the worker once the calls already sent to it are done; a call from now on starts another. */
  private async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await this.queue;
    await worker?.close();
  }
}
