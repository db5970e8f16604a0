/**
 * A pool of action executors of one kind (worker threads, or Node processes): one run per
 * executor at a time, started on demand up to `maxExecutors` (further runs wait in order), with
 * `warmSpares` started ahead so a run rarely waits for a start (70–120 ms each, measured in
 * docs/notes/runtime-isolation.md). At most `maxStarting` start at once: a burst of 50 actions
 * starting 50 executors together would leave the main thread (HTTP, WebSocket, queries) a 1/50
 * share of the cores for seconds. An executor whose run ended cleanly goes back to the pool; one
 * cut short (time limit, crash, out of memory) is ended and replaced.
 */
import type { ExecutorConnection } from "./executorConnection.js";

export interface ExecutorPoolOptions {
  start: () => ExecutorConnection;
  /** At most this many executors at once (running, idle and starting). */
  maxExecutors: number;
  /** At most this many starting at once. */
  maxStarting: number;
  /** Idle executors kept started ahead of demand. */
  warmSpares: number;
  /** Idle executors kept after a burst; more are ended as they are released. */
  maxIdle: number;
}

export class ExecutorPool {
  /** Ready and not running. */
  private readonly idle: ExecutorConnection[] = [];
  private readonly all = new Set<ExecutorConnection>();
  private starting = 0;
  private readonly waiting: { resolve(executor: ExecutorConnection): void; reject(error: Error): void }[] = [];
  private closed = false;

  constructor(private readonly options: ExecutorPoolOptions) {}

  /** An executor ready to run; waits while `maxExecutors` are busy. */
  acquire(): Promise<ExecutorConnection> {
    if (this.closed) return Promise.reject(new Error("The backend is closing"));
    const executor = new Promise<ExecutorConnection>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.pump();
    return executor;
  }

  /** Gives back an executor whose run ended cleanly. */
  release(executor: ExecutorConnection): void {
    executor.onMessage = executor.onExit = undefined;
    if (!this.all.has(executor)) return;
    if (this.waiting.length === 0 && this.idle.length >= this.options.maxIdle) return this.discard(executor);
    this.idle.push(executor);
    this.pump();
  }

  /** Ends an executor whose run was cut short (its state is unknown); a new one starts when needed. */
  discard(executor: ExecutorConnection): void {
    executor.onMessage = executor.onExit = undefined;
    executor.kill();
    this.forget(executor);
  }

  /** Ends every executor, running or idle; runs still waiting fail. */
  close(): Promise<unknown> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error("The backend is closing"));
    const exits = [...this.all].map((executor) => executor.exited);
    for (const executor of this.all) executor.kill();
    this.all.clear();
    this.idle.length = 0;
    return Promise.all(exits);
  }

  /** Hands idle executors to waiting runs, and starts what waiting runs and the spares still lack. */
  private pump(): void {
    if (this.closed) return;
    while (this.waiting.length > 0 && this.idle.length > 0) this.waiting.shift()!.resolve(this.idle.pop()!);
    const { maxExecutors, maxStarting, warmSpares } = this.options;
    const wanted = this.waiting.length + Math.max(0, warmSpares - this.idle.length);
    while (this.starting < Math.min(wanted, maxStarting) && this.all.size < maxExecutors) this.startOne();
  }

  private startOne(): void {
    const executor = this.options.start();
    this.all.add(executor);
    this.starting++;
    executor.ready.then(
      () => {
        this.starting--;
        if (!this.all.has(executor)) return;
        this.idle.push(executor);
        this.pump();
      },
      () => {
        this.starting--;
        this.forget(executor);
      },
    );
    // One that dies while idle (or is killed by its run) leaves the pool.
    void executor.exited.then(() => this.forget(executor));
  }

  private forget(executor: ExecutorConnection): void {
    if (!this.all.delete(executor)) return;
    const index = this.idle.indexOf(executor);
    if (index !== -1) this.idle.splice(index, 1);
    this.pump();
  }
}
