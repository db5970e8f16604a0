/**
 * The query workers (queryWorker.ts), one per core by default: queries queued on the main thread
 * are shared out among the idle workers, each taking an equal part of the queue, so concurrent
 * queries use every core and user code never runs on the thread that serves HTTP and WebSockets.
 *
 * A worker's heap is capped (`resourceLimits`); a worker that runs out of memory, crashes or
 * hangs past its watchdog is replaced. When that happens to a worker running several queries, each
 * of them is run again on its own, so only a query that fails alone gets the error.
 *
 * @example
 * const pool = new QueryWorkerPool({ data: { databasePath, files: null, timeoutMs: 1000 } });
 * pool.install(deployment);
 * const [executed] = await pool.run([{ path: "messages:list", args: {}, caller, journal: null }], environment);
 * await pool.close();
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { KeyRange } from "../storage/keys.js";
import { OutOfMemoryError } from "./errors.js";
import { failedExecution, type ExecutedQuery } from "./queryExecution.js";
import type { QueryWorkerData, QueryWorkerReply, QueryWorkerRequest } from "./queryWorker.js";
import type { Deployment, QueryRequest } from "./runner.js";
import { threadEntry } from "./threadEntry.js";

export interface QueryWorkerPoolOptions {
  data: QueryWorkerData;
  /** How many workers (default: the cores Node may use, at most 8). */
  size?: number;
  /** Heap of one worker in MiB (default 96: Convex's 64 MiB user heap plus its 32 MiB of headroom). */
  heapMb?: number;
}

/** Convex's limit, which the error a query over it gets names. */
const CONVEX_MEMORY_LIMIT_MB = 64;
/** A worker this long past the time its queries may take in all is stuck outside user code: it is replaced. */
const WATCHDOG_GRACE_MS = 5_000;
const entry = threadEntry(new URL("./queryWorker.js", import.meta.url));

interface QueuedQuery {
  request: QueryRequest;
  environment: Record<string, string>;
  /** Run without other queries: a worker running it along with others failed. */
  alone: boolean;
  resolve(executed: ExecutedQuery): void;
}

interface PoolWorker {
  worker: Worker;
  /** The queries it is running, or undefined when idle. */
  running: { id: number; queries: QueuedQuery[]; watchdog: NodeJS.Timeout } | undefined;
}

export class QueryWorkerPool {
  private readonly workers = new Set<PoolWorker>();
  private readonly queue: QueuedQuery[] = [];
  private readonly size: number;
  private readonly heapMb: number;
  private deployment: Deployment | undefined;
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: QueryWorkerPoolOptions) {
    this.size = Math.max(1, options.size ?? Math.min(availableParallelism(), 8));
    this.heapMb = options.heapMb ?? 96;
  }

  /** Loads a newly pushed deployment in every worker, starting the pool's workers so the first queries find them ready; queries sent after this run its code. */
  install(deployment: Deployment): void {
    this.deployment = deployment;
    for (const { worker } of this.workers) this.post(worker, { type: "install", deployment });
    while (!this.closed && this.workers.size < this.size) this.spawn();
  }

  /** Runs the queries (in parallel on the idle workers) and gives back how each ran, in order. */
  run(requests: readonly QueryRequest[], environment: Record<string, string>): Promise<ExecutedQuery[]> {
    if (this.closed) return Promise.reject(new Error("The backend is shutting down"));
    const runs = requests.map(
      (request) => new Promise<ExecutedQuery>((resolve) => this.queue.push({ request, environment, alone: false, resolve })),
    );
    this.dispatch();
    return Promise.all(runs);
  }

  /** Stops every worker; queries still running get an error. */
  async close(): Promise<void> {
    this.closed = true;
    for (const queued of this.queue.splice(0)) queued.resolve(this.failed(new Error("The backend is shutting down")));
    await Promise.all([...this.workers].map((pooled) => this.retire(pooled, new Error("The backend is shutting down"))));
  }

  /** Gives each idle worker an equal share of the queue (starting workers up to the pool's size). */
  private dispatch(): void {
    while (this.workers.size < this.size && this.queue.length > 0) this.spawn();
    const idle = [...this.workers].filter((pooled) => pooled.running === undefined);
    for (let i = 0; i < idle.length && this.queue.length > 0; i++) {
      const share = Math.ceil(this.queue.length / (idle.length - i));
      this.start(idle[i]!, this.takeShare(share));
    }
  }

  /** Up to `share` queries from the head of the queue with one environment; a query to run alone goes by itself. */
  private takeShare(share: number): QueuedQuery[] {
    const first = this.queue[0]!;
    if (first.alone) return [this.queue.shift()!];
    let count = 1;
    while (count < share && count < this.queue.length && !this.queue[count]!.alone && this.queue[count]!.environment === first.environment) count++;
    return this.queue.splice(0, count);
  }

  private start(pooled: PoolWorker, queries: QueuedQuery[]): void {
    const id = this.nextId++;
    const limit = queries.length * (this.options.data.timeoutMs + 20) + WATCHDOG_GRACE_MS;
    const watchdog = setTimeout(() => void this.retire(pooled, new Error(`A query worker did not answer within ${limit} ms`)), limit);
    pooled.running = { id, queries, watchdog };
    pooled.worker.ref();
    this.post(pooled.worker, { type: "run", id, calls: queries.map(({ request }) => request), environment: queries[0]!.environment });
  }

  private spawn(): void {
    const worker = new Worker(entry.url, {
      workerData: this.options.data,
      execArgv: entry.execArgv,
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    const pooled: PoolWorker = { worker, running: undefined };
    this.workers.add(pooled);
    worker.unref();
    if (this.deployment !== undefined) this.post(worker, { type: "install", deployment: this.deployment });
    worker.on("message", (reply: QueryWorkerReply) => this.answered(pooled, reply));
    worker.on("error", (error) => void this.retire(pooled, error));
    worker.on("exit", (code) => void this.retire(pooled, new Error(`A query worker stopped (exit code ${code})`)));
  }

  private answered(pooled: PoolWorker, reply: QueryWorkerReply): void {
    const running = pooled.running;
    if (running === undefined || running.id !== reply.id) return;
    clearTimeout(running.watchdog);
    pooled.running = undefined;
    pooled.worker.unref();
    running.queries.forEach((queued, i) => {
      queued.resolve(reply.type === "ran" ? withBufferKeys(reply.executed[i]!) : this.failed(new Error(reply.message)));
    });
    this.dispatch();
  }

  /**
   * Replaces a worker that failed (out of memory, crashed, stopped, hung). What it was running is
   * run again one query at a time; a query that was already alone gets the error.
   */
  private async retire(pooled: PoolWorker, error: Error): Promise<void> {
    if (!this.workers.delete(pooled)) return;
    const running = pooled.running;
    pooled.running = undefined;
    if (running !== undefined) {
      clearTimeout(running.watchdog);
      if (running.queries.length === 1 || this.closed) {
        for (const queued of running.queries) queued.resolve(this.failed(error));
      } else {
        this.queue.unshift(...running.queries.map((queued) => ({ ...queued, alone: true })));
      }
    }
    const stopped = pooled.worker.terminate();
    if (!this.closed) this.dispatch();
    await stopped;
  }

  private failed(error: Error): ExecutedQuery {
    const outOfMemory = (error as { code?: unknown }).code === "ERR_WORKER_OUT_OF_MEMORY";
    const reported = outOfMemory ? new OutOfMemoryError(CONVEX_MEMORY_LIMIT_MB) : new Error(`InternalServerError: ${error.message}`);
    return failedExecution(reported);
  }

  private post(worker: Worker, message: QueryWorkerRequest): void {
    worker.postMessage(message);
  }
}

/** Index keys arrive as plain Uint8Arrays (structured clone): the read-set code compares Buffers. */
function withBufferKeys(executed: ExecutedQuery): ExecutedQuery {
  const buffer = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const range = (r: KeyRange): KeyRange => ({ ...r, lower: buffer(r.lower), upper: buffer(r.upper) });
  return { ...executed, reads: executed.reads.map((read) => ({ ...read, range: range(read.range) })) };
}
