/**
 * One function worker (a query worker or the mutation worker), seen from the backend: a process of
 * the runtime's own (runtimeProcess.ts) started with the deployment's modules loaded, given one
 * batch of calls at a time, and replaced when it fails. Its heap is capped. The calls' time limit is
 * enforced here: the process marks each call as it starts (callProgress.ts), and one that passes
 * the limit ends the process — the batch fails with a WorkerFailure naming that call (`timedOutCall`). A batch that
 * outlives every call's limit and a grace period means the process is stuck outside user code. The
 * process (functionProcess.ts) answers `{ type: "run", id, calls, environment? }` (the environment
 * only when it is not the one the process last had) with
 * `{ type: "ran", id, ...result }` or `{ type: "failed", id, message }`, and
 * `{ type: "install", deployment }` with `{ type: "installed" }`.
 *
 * @example
 * const worker = new FunctionWorker(new URL("./queryWorker.js", import.meta.url), data);
 * await worker.install(deployment); // resolves once the process has loaded it
 * const reply = await worker.run(calls, environment); // rejects with a WorkerFailure
 * await worker.close();
 */
import { CallProgress } from "./callProgress.js";
import { OutOfMemoryError } from "./errors.js";
import { FUNCTION_PROCESS_DATA, type FunctionProcessData, type FunctionProcessReply, type FunctionProcessStart } from "./functionProcess.js";
import { FunctionTimeoutError } from "./isolate.js";
import type { Deployment } from "./runner.js";
import { CONVEX_USER_HEAP_MB, DEFAULT_RUNTIME_HEAP_MB, RuntimeProcess, type RuntimeProcessExit } from "./runtimeProcess.js";
import { threadEntry } from "./threadEntry.js";
import { truncateText } from "../text/valueText.js";

/** A batch this long past the time its calls may take in all is stuck outside user code: its process is replaced. */
const WATCHDOG_GRACE_MS = 5_000;

/** What a caller is told of a process's own failure (cut short: it may quote anything). */
function internalError(message: string): Error {
  return new Error(`InternalServerError: ${truncateText(message)}`);
}

/** The process running a batch failed; `error` is what its caller is told, `timedOutCall` the call that passed its time limit, if that was why. */
export class WorkerFailure extends Error {
  constructor(
    readonly error: Error,
    readonly timedOutCall?: number,
  ) {
    super(error.message);
    this.name = "WorkerFailure";
  }
}

interface Running {
  id: number;
  resolve(reply: Record<string, unknown>): void;
  reject(failure: WorkerFailure): void;
  /** The batch's overall watchdog and the time-limit check of the call running now. */
  watchdog: NodeJS.Timeout;
  limitCheck: NodeJS.Timeout | undefined;
}

export class FunctionWorker {
  private process: RuntimeProcess | undefined;
  private deployment: Deployment | undefined;
  private running: Running | undefined;
  /** Shared with the process running now: which call it runs, since when. */
  private readonly progress = CallProgress.create();
  private nextId = 1;
  private closed = false;
  /** The process has acknowledged the last deployment sent to it. */
  private installed = false;
  /** The environment the process running now was last sent (the same object means the same variables). */
  private sentEnvironment: Record<string, string> | undefined;
  private readonly installWaiters: (() => void)[] = [];
  private readonly entry: ReturnType<typeof threadEntry>;

  constructor(
    entry: URL,
    private readonly data: FunctionProcessData,
  ) {
    this.entry = threadEntry(entry);
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** When the call it runs now started (ms since the epoch), or undefined between batches. */
  get callStartedAt(): number | undefined {
    return this.running === undefined ? undefined : this.progress.runningCall()?.startedAt;
  }

  /** Started and holding the current deployment (not still starting). */
  get ready(): boolean {
    return this.process !== undefined && this.installed;
  }

  /**
   * Loads a newly pushed deployment; work sent after this runs its code. The process starts now if
   * it has not. Resolves once the process has it loaded (or the worker is closed).
   */
  install(deployment: Deployment): Promise<void> {
    this.deployment = deployment;
    this.installed = false;
    if (this.process !== undefined) this.process.send({ type: "install", deployment });
    else if (!this.closed) this.start();
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.installWaiters.push(resolve));
  }

  /**
   * Sends one batch; resolves with the process's reply. Rejects with a WorkerFailure when the
   * process fails, a call runs past the time limit (the process is ended) or the batch is stuck.
   */
  run<Reply>(calls: readonly unknown[], environment: Record<string, string>): Promise<Reply> {
    const callLimitMs = this.data.timeoutMs;
    const watchdogMs = calls.length * callLimitMs + WATCHDOG_GRACE_MS;
    if (this.closed) return Promise.reject(new WorkerFailure(new Error("The backend is shutting down")));
    if (this.running !== undefined) throw new Error("FunctionWorker.run: the worker is busy");
    const child = this.process ?? this.start();
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const watchdog = setTimeout(() => this.fail(child, new Error(`A function worker did not answer within ${watchdogMs} ms`)), watchdogMs);
      const running: Running = { id, resolve: resolve as (reply: Record<string, unknown>) => void, reject, watchdog, limitCheck: undefined };
      this.running = running;
      // Checked when the call running now would reach its limit; calls that end sooner cost nothing.
      const checkLimit = () => {
        if (this.running !== running) return;
        const call = this.progress.runningCall();
        const now = performance.timeOrigin + performance.now();
        if (call !== undefined && now - call.startedAt >= callLimitMs) return this.fail(child, new FunctionTimeoutError(callLimitMs), call.index);
        running.limitCheck = setTimeout(checkLimit, call === undefined ? callLimitMs : call.startedAt + callLimitMs - now);
      };
      running.limitCheck = setTimeout(checkLimit, callLimitMs);
      child.hold(true);
      try {
        child.send({ type: "run", id, calls, ...(environment === this.sentEnvironment ? {} : { environment }) });
      } catch (error) {
        // Calls the serializer refuses (e.g. nested beyond its stack) never reach the process: only this batch fails.
        this.settle(child);
        reject(new WorkerFailure(error as Error));
        return;
      }
      this.sentEnvironment = environment;
    });
  }

  /** Ends the process; work under way fails. */
  async close(): Promise<void> {
    this.closed = true;
    for (const resolve of this.installWaiters.splice(0)) resolve();
    const child = this.process;
    if (child !== undefined) {
      this.fail(child, new Error("The backend is shutting down"));
      await child.exited;
    }
    this.progress.close();
  }

  private start(): RuntimeProcess {
    this.installed = false;
    this.sentEnvironment = undefined;
    this.progress.idle();
    const start: FunctionProcessStart = { ...this.data, progressFile: this.progress.path };
    const child = new RuntimeProcess(this.entry, { heapMb: DEFAULT_RUNTIME_HEAP_MB, lockedDown: true, env: { [FUNCTION_PROCESS_DATA]: JSON.stringify(start) } });
    this.process = child;
    if (this.deployment !== undefined) child.send({ type: "install", deployment: this.deployment });
    child.onMessage = (message) => this.receive(child, message as FunctionProcessReply);
    void child.exited.then((exit) => this.fail(child, exitError(exit)));
    return child;
  }

  private receive(child: RuntimeProcess, reply: FunctionProcessReply): void {
    if (reply.type === "installed") {
      if (this.process !== child) return;
      this.installed = true;
      for (const resolve of this.installWaiters.splice(0)) resolve();
      return;
    }
    const running = this.running;
    if (running === undefined || running.id !== reply.id || this.process !== child) return;
    this.settle(child);
    if (reply.type === "failed") running.reject(new WorkerFailure(internalError(reply.message)));
    else running.resolve(reply as unknown as Record<string, unknown>);
  }

  private settle(child: RuntimeProcess): Running | undefined {
    const running = this.running;
    if (running !== undefined) {
      clearTimeout(running.watchdog);
      clearTimeout(running.limitCheck);
    }
    this.running = undefined;
    child.hold(false);
    return running;
  }

  /** Ends a failed process (the next work starts a new one) and fails the work it had; `timedOutCall`: the call that passed its time limit. */
  private fail(child: RuntimeProcess, error: Error, timedOutCall?: number): void {
    if (this.process !== child) return;
    this.process = undefined;
    const running = this.settle(child);
    child.kill();
    const reported = error instanceof FunctionTimeoutError || error instanceof OutOfMemoryError ? error : internalError(error.message);
    running?.reject(new WorkerFailure(reported, timedOutCall));
    // Started again at once, so the next work does not wait for it.
    if (!this.closed && this.deployment !== undefined) this.start();
  }
}

/** What the work of a process that went away is told: Convex's out-of-memory error, or why it ended. */
function exitError(exit: RuntimeProcessExit): Error {
  return exit.outOfMemory ? new OutOfMemoryError(CONVEX_USER_HEAP_MB) : new Error(`A function worker stopped (${exit.reason})`);
}

/**
 * What becomes of a batch whose worker failed: the call that passed its time limit gets the error
 * and the others run again as they were; when the culprit is unknown (out of memory, a crash),
 * each runs again alone, so only a call that fails alone gets the error.
 */
export function afterFailure<T extends { alone: boolean }>(batch: readonly T[], failure: unknown): { error: Error; failed: T[]; retry: T[] } {
  const error = failure instanceof WorkerFailure ? failure.error : (failure as Error);
  const timedOut = failure instanceof WorkerFailure ? failure.timedOutCall : undefined;
  if (timedOut !== undefined) return { error, failed: [batch[timedOut]!], retry: batch.filter((_, i) => i !== timedOut) };
  if (batch.length === 1) return { error, failed: [...batch], retry: [] };
  return { error, failed: [], retry: batch.map((item) => ({ ...item, alone: true })) };
}
