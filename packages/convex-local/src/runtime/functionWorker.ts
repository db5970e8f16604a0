/**
 * One worker thread that runs functions (a query worker or the mutation worker), seen from the
 * main thread: it is started with the deployment's modules loaded, given one batch of calls at a
 * time, and replaced when it fails. Its heap is capped. The calls' time limit is enforced here:
 * the thread reports which call runs since when (callProgress.ts), and one that passes the limit
 * ends the thread — the batch fails with a ThreadFailure naming that call (`timedOutCall`). A
 * batch that outlives every call's limit and a grace period means the thread is stuck outside
 * user code. The worker's entry module (functionThread.ts) answers `{ type: "run", id, calls,
 * environment }` with `{ type: "ran", id, ...result }` or `{ type: "failed", id, message }`, and
 * `{ type: "install", deployment }` with `{ type: "installed" }`.
 *
 * @example
 * const worker = new FunctionWorker(new URL("./queryWorker.js", import.meta.url), data);
 * await worker.install(deployment); // resolves once the thread has loaded it
 * const reply = await worker.run(calls, environment); // rejects with a ThreadFailure
 * await worker.close();
 */
import { Worker } from "node:worker_threads";
import { CallProgress } from "./callProgress.js";
import { OutOfMemoryError } from "./errors.js";
import { FunctionTimeoutError } from "./isolate.js";
import type { FunctionThreadData } from "./functionThread.js";
import type { Deployment } from "./runner.js";
import { threadEntry } from "./threadEntry.js";
import { truncateText } from "../text/valueText.js";

/** Convex's memory limit, which the error of work over it names. */
const CONVEX_MEMORY_LIMIT_MB = 64;
/** A thread's heap: Convex's 64 MiB user heap plus its 32 MiB of headroom. */
const HEAP_MB = 96;
/** A batch this long past the time its calls may take in all is stuck outside user code: its thread is replaced. */
const WATCHDOG_GRACE_MS = 5_000;

/** What a caller is told of a thread's own failure (cut short: it may quote anything). */
function internalError(message: string): Error {
  return new Error(`InternalServerError: ${truncateText(message)}`);
}

/** The thread running a batch failed; `error` is what its caller is told, `timedOutCall` the call that passed its time limit, if that was why. */
export class ThreadFailure extends Error {
  constructor(
    readonly error: Error,
    readonly timedOutCall?: number,
  ) {
    super(error.message);
    this.name = "ThreadFailure";
  }
}

interface Running {
  id: number;
  resolve(reply: Record<string, unknown>): void;
  reject(failure: ThreadFailure): void;
  /** The batch's overall watchdog and the time-limit check of the call running now. */
  watchdog: NodeJS.Timeout;
  limitCheck: NodeJS.Timeout | undefined;
}

export class FunctionWorker {
  private worker: Worker | undefined;
  private deployment: Deployment | undefined;
  private running: Running | undefined;
  /** Shared with the thread running now: which call it runs, since when. */
  private progress = new CallProgress();
  private nextId = 1;
  private closed = false;
  /** The thread has acknowledged the last deployment sent to it. */
  private installed = false;
  private readonly installWaiters: (() => void)[] = [];
  private readonly entry: ReturnType<typeof threadEntry>;

  constructor(
    entry: URL,
    private readonly data: FunctionThreadData,
  ) {
    this.entry = threadEntry(entry);
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Started and holding the current deployment (not still starting). */
  get ready(): boolean {
    return this.worker !== undefined && this.installed;
  }

  /**
   * Loads a newly pushed deployment; work sent after this runs its code. The thread starts now if
   * it has not. Resolves once the thread has it loaded (or the worker is closed).
   */
  install(deployment: Deployment): Promise<void> {
    this.deployment = deployment;
    this.installed = false;
    if (this.worker !== undefined) this.worker.postMessage({ type: "install", deployment });
    else if (!this.closed) this.start();
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.installWaiters.push(resolve));
  }

  /**
   * Sends one batch; resolves with the thread's reply. Rejects with a ThreadFailure when the thread
   * fails, a call runs past the time limit (the thread is ended) or the batch is stuck.
   */
  run<Reply>(calls: readonly unknown[], environment: Record<string, string>): Promise<Reply> {
    const callLimitMs = this.data.timeoutMs;
    const watchdogMs = calls.length * callLimitMs + WATCHDOG_GRACE_MS;
    if (this.closed) return Promise.reject(new ThreadFailure(new Error("The backend is shutting down")));
    if (this.running !== undefined) throw new Error("FunctionWorker.run: the worker is busy");
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const watchdog = setTimeout(() => this.fail(worker, new Error(`A function worker did not answer within ${watchdogMs} ms`)), watchdogMs);
      const running: Running = { id, resolve: resolve as (reply: Record<string, unknown>) => void, reject, watchdog, limitCheck: undefined };
      this.running = running;
      // Checked when the call running now would reach its limit; calls that end sooner cost nothing.
      const checkLimit = () => {
        if (this.running !== running) return;
        const call = this.progress.runningCall();
        const now = performance.timeOrigin + performance.now();
        if (call !== undefined && now - call.startedAt >= callLimitMs) {
          return this.fail(worker, new FunctionTimeoutError(callLimitMs), call.index);
        }
        running.limitCheck = setTimeout(checkLimit, call === undefined ? callLimitMs : call.startedAt + callLimitMs - now);
      };
      running.limitCheck = setTimeout(checkLimit, callLimitMs);
      worker.ref();
      worker.postMessage({ type: "run", id, calls, environment });
    });
  }

  /** Ends the thread; work under way fails. */
  async close(): Promise<void> {
    this.closed = true;
    for (const resolve of this.installWaiters.splice(0)) resolve();
    const worker = this.worker;
    if (worker !== undefined) this.fail(worker, new Error("The backend is shutting down"));
    await worker?.terminate();
  }

  private start(): Worker {
    this.installed = false;
    this.progress = new CallProgress();
    const worker = new Worker(this.entry.url, {
      workerData: { ...this.data, progress: this.progress.buffer },
      execArgv: this.entry.execArgv,
      resourceLimits: { maxOldGenerationSizeMb: HEAP_MB },
    });
    this.worker = worker;
    worker.unref();
    if (this.deployment !== undefined) worker.postMessage({ type: "install", deployment: this.deployment });
    worker.on("message", (reply: { type: string; id: number; message?: string }) => {
      if (reply.type === "installed") {
        if (this.worker !== worker) return;
        this.installed = true;
        for (const resolve of this.installWaiters.splice(0)) resolve();
        return;
      }
      const running = this.running;
      if (running === undefined || running.id !== reply.id) return;
      this.settle(worker);
      if (reply.type === "failed") running.reject(new ThreadFailure(internalError(reply.message ?? "")));
      else running.resolve(reply as unknown as Record<string, unknown>);
    });
    worker.on("error", (error) => this.fail(worker, error));
    worker.on("exit", (code) => this.fail(worker, new Error(`A function worker stopped (exit code ${code})`)));
    return worker;
  }

  private settle(worker: Worker): Running | undefined {
    const running = this.running;
    if (running !== undefined) {
      clearTimeout(running.watchdog);
      clearTimeout(running.limitCheck);
    }
    this.running = undefined;
    worker.unref();
    return running;
  }

  /** Ends a failed thread (the next work starts a new one) and fails the work it had; `timedOutCall`: the call that passed its time limit. */
  private fail(worker: Worker, error: Error, timedOutCall?: number): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const running = this.settle(worker);
    void worker.terminate();
    const outOfMemory = (error as { code?: unknown }).code === "ERR_WORKER_OUT_OF_MEMORY";
    const reported = outOfMemory ? new OutOfMemoryError(CONVEX_MEMORY_LIMIT_MB) : error instanceof FunctionTimeoutError ? error : internalError(error.message);
    running?.reject(new ThreadFailure(reported, timedOutCall));
    // Started again at once, so the next work does not wait for it.
    if (!this.closed && this.deployment !== undefined) this.start();
  }
}

/**
 * What becomes of a batch whose thread failed: the call that passed its time limit gets the error
 * and the others run again as they were; when the culprit is unknown (out of memory, a crash),
 * each runs again alone, so only a call that fails alone gets the error.
 */
export function afterFailure<T extends { alone: boolean }>(batch: readonly T[], failure: unknown): { error: Error; failed: T[]; retry: T[] } {
  const error = failure instanceof ThreadFailure ? failure.error : (failure as Error);
  const timedOut = failure instanceof ThreadFailure ? failure.timedOutCall : undefined;
  if (timedOut !== undefined) return { error, failed: [batch[timedOut]!], retry: batch.filter((_, i) => i !== timedOut) };
  if (batch.length === 1) return { error, failed: [...batch], retry: [] };
  return { error, failed: [], retry: batch.map((item) => ({ ...item, alone: true })) };
}
