/**
 * The query workers (queryWorker.ts), one per core by default: queries queued on the main thread
 * are shared out among the idle workers, each taking an equal part of the queue, so concurrent
 * queries use every core and user code never runs in the process that serves HTTP and WebSockets.
 * Cheap ones (by their functions' recent execution times) go to fewer workers: a batch worth less
 * than half a millisecond is not worth waking a second worker for (a wake-up costs 0.1-0.2 ms on
 * a busy machine; above that, halving the batch's time wins, e.g. bench figure 4b's 16 queries).
 * When queries have waited a while because every worker is stuck in one call (e.g. queries that
 * loop until their time limit), the pool grows by a worker for each waiting query, up to four per
 * core; workers beyond the base number leave after a while idle. Workers that keep finishing calls
 * are not stuck: a queue that is long because the cores are saturated gets no new processes, which
 * would only take CPU from the others while they start and warm up.
 *
 * A worker that runs out of memory, crashes or hangs is replaced (functionWorker.ts). When that
 * happens to a worker running several queries, each of them is run again on its own, so only a
 * query that fails alone gets the error.
 *
 * @example
 * const pool = new QueryWorkerPool({ data: { databasePath, files: null, timeoutMs: 1000 } });
 * pool.install(deployment);
 * const [executed] = await pool.run([{ path: "messages:list", args: {}, caller, journal: null }], environment);
 * await pool.close();
 */
import { availableParallelism } from "node:os";
import { afterFailure, FunctionWorker } from "./functionWorker.js";
import { failedExecution, receivedQuery, type ExecutedQuery } from "./queryExecution.js";
import type { FunctionProcessData } from "./functionProcess.js";
import type { QueryWorkerReply } from "./queryWorker.js";
import type { Deployment, QueryRequest } from "./runner.js";

export interface QueryWorkerPoolOptions {
  data: FunctionProcessData;
  /** How many workers are kept (default: the cores Node may use, at most 8); up to four times as many while queries wait, at most 32. */
  size?: number;
}
/** Queued work worth waking another worker for (ms); 0.5 beat 2 and 0.25 in bench figures 1b and 4b. */
const WORTH_A_WORKER_MS = 0.5;
/**
 * The pool grows once a query has waited this long for a worker and every worker has been in its
 * current call this long (ordinary queries take milliseconds), and again only once the workers it
 * started are ready.
 */
const GROWTH_WAIT_MS = 50;
/** A worker beyond the kept number leaves after this long idle. */
const IDLE_RETIRE_MS = 30_000;
const ENTRY = new URL("./queryWorker.js", import.meta.url);

interface QueuedQuery {
  request: QueryRequest;
  environment: Record<string, string>;
  /** When it was queued (`performance.now()`). */
  queuedAt: number;
  /** Run without other queries: a worker running it along with others failed. */
  alone: boolean;
  resolve(executed: ExecutedQuery): void;
}

export class QueryWorkerPool {
  private readonly workers: FunctionWorker[];
  private readonly queue: QueuedQuery[] = [];
  private readonly size: number;
  private readonly maxSize: number;
  private deployment: Deployment | undefined;
  private lastGrowth = -Infinity;
  private dispatchScheduled = false;
  /** Each function's recent execution time (ms, a moving average). */
  private readonly costByPath = new Map<string, number>();
  private growthTimer: NodeJS.Timeout | undefined;
  private readonly retireTimers = new Map<FunctionWorker, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly options: QueryWorkerPoolOptions) {
    this.size = Math.max(1, options.size ?? Math.min(availableParallelism(), 8));
    this.maxSize = Math.max(this.size, Math.min(4 * this.size, 32));
    this.workers = Array.from({ length: this.size }, () => this.newWorker());
  }

  /** Loads a newly pushed deployment in every worker (starting them); resolves once they all have it. */
  async install(deployment: Deployment): Promise<void> {
    this.deployment = deployment;
    await Promise.all(this.workers.map((worker) => worker.install(deployment)));
  }

  /** Runs the queries (in parallel on the idle workers) and gives back how each ran, in order. */
  run(requests: readonly QueryRequest[], environment: Record<string, string>): Promise<ExecutedQuery[]> {
    if (this.closed) return Promise.resolve(requests.map(() => failedExecution(new Error("The backend is shutting down"))));
    const runs = requests.map(
      (request) => new Promise<ExecutedQuery>((resolve) => this.queue.push({ request, environment, queuedAt: performance.now(), alone: false, resolve })),
    );
    // The queries that arrive within this turn of the event loop are shared out together: a
    // message to a worker and its snapshot cost more than a point read.
    if (!this.dispatchScheduled) {
      this.dispatchScheduled = true;
      setImmediate(() => {
        this.dispatchScheduled = false;
        if (!this.closed) this.dispatch();
      });
    }
    return Promise.all(runs);
  }

  /** Stops every worker; queries still running or queued get an error. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.growthTimer);
    for (const timer of this.retireTimers.values()) clearTimeout(timer);
    for (const queued of this.queue.splice(0)) queued.resolve(failedExecution(new Error("The backend is shutting down")));
    await Promise.all(this.workers.map((worker) => worker.close()));
  }

  /** Gives each idle worker an equal share of the queue; grows the pool while queries still wait. */
  private dispatch(): void {
    const idle = this.workers.filter((worker) => !worker.busy);
    // Cheap queries go to as few workers as their cost warrants: waking a worker costs more than they do.
    const workers = Math.min(idle.length, Math.max(1, Math.ceil(this.queuedCostMs() / WORTH_A_WORKER_MS)));
    for (let i = 0; i < workers && this.queue.length > 0; i++) {
      void this.runOn(idle[i]!, this.takeShare(Math.ceil(this.queue.length / (workers - i))));
    }
    // Not while workers are starting: more starts would only take the cores from them.
    if (this.queue.length === 0 || this.workers.length >= this.maxSize || this.growthTimer !== undefined) return;
    if (this.workers.some((worker) => !worker.ready)) return;
    const now = performance.now();
    const waited = Math.max(this.queue[0]!.queuedAt, this.lastGrowth);
    // The workers' calls are read (a file each) only once the queue has waited long enough.
    const wait = now - waited < GROWTH_WAIT_MS ? waited + GROWTH_WAIT_MS - now : growthWaitMs(waited, this.workers.map((worker) => worker.callStartedAt), now);
    if (wait > 0) {
      this.growthTimer = setTimeout(() => {
        this.growthTimer = undefined;
        if (!this.closed) this.dispatch();
      }, wait);
      return;
    }
    this.lastGrowth = now;
    for (let added = Math.min(this.queue.length, this.maxSize - this.workers.length); added > 0; added--) {
      const worker = this.newWorker();
      this.workers.push(worker);
      void this.runOn(worker, this.takeShare(1));
    }
  }

  private newWorker(): FunctionWorker {
    const worker = new FunctionWorker(ENTRY, this.options.data);
    // Once it is ready, queries still waiting may need yet another.
    if (this.deployment !== undefined) void worker.install(this.deployment).then(() => this.closed || this.dispatch());
    return worker;
  }

  /** A worker beyond the kept number that stays idle leaves. */
  private retireWhenIdle(worker: FunctionWorker): void {
    if (this.workers.indexOf(worker) < this.size || this.retireTimers.has(worker)) return;
    const timer = setTimeout(() => {
      this.retireTimers.delete(worker);
      if (worker.busy || this.closed) return;
      this.workers.splice(this.workers.indexOf(worker), 1);
      void worker.close();
    }, IDLE_RETIRE_MS);
    timer.unref();
    this.retireTimers.set(worker, timer);
  }

  /** What the queued queries will take, from their functions' recent runs (one not seen yet counts as worth a worker). */
  private queuedCostMs(): number {
    let total = 0;
    for (const { request } of this.queue) total += this.costByPath.get(request.path) ?? WORTH_A_WORKER_MS;
    return total;
  }

  /** Up to `share` queries from the head of the queue with one environment; a query to run alone goes by itself. */
  private takeShare(share: number): QueuedQuery[] {
    const first = this.queue[0]!;
    if (first.alone) return [this.queue.shift()!];
    let count = 1;
    while (count < share && count < this.queue.length && !this.queue[count]!.alone && this.queue[count]!.environment === first.environment) count++;
    return this.queue.splice(0, count);
  }

  private async runOn(worker: FunctionWorker, queries: QueuedQuery[]): Promise<void> {
    clearTimeout(this.retireTimers.get(worker));
    this.retireTimers.delete(worker);
    try {
      const reply = await worker.run<QueryWorkerReply>(
        queries.map(({ request }) => request),
        queries[0]!.environment,
      );
      queries.forEach((queued, i) => {
        const executed = reply.executed[i]!;
        const cost = this.costByPath.get(queued.request.path);
        this.costByPath.set(queued.request.path, cost === undefined ? executed.executionTimeMs : 0.8 * cost + 0.2 * executed.executionTimeMs);
        queued.resolve(receivedQuery(executed));
      });
    } catch (failure) {
      const { error, failed, retry } = afterFailure(queries, failure);
      for (const queued of this.closed ? queries : failed) queued.resolve(failedExecution(error));
      if (!this.closed) this.queue.unshift(...retry);
    }
    if (this.closed) return;
    this.dispatch();
    if (!worker.busy) this.retireWhenIdle(worker);
  }
}

/**
 * How long (ms) until the pool should grow: once the oldest queued query has waited
 * `GROWTH_WAIT_MS` since `waitingSince` and every worker has been that long in the call it runs
 * now (`callStarts`: ms since the epoch; undefined for a worker between calls). `waitingSince` and
 * `now` are `performance.now()` times. Zero or less: now.
 */
export function growthWaitMs(waitingSince: number, callStarts: readonly (number | undefined)[], now: number): number {
  let wait = waitingSince + GROWTH_WAIT_MS - now;
  for (const startedAt of callStarts) {
    wait = Math.max(wait, startedAt === undefined ? GROWTH_WAIT_MS : startedAt - performance.timeOrigin + GROWTH_WAIT_MS - now);
  }
  return wait;
}
