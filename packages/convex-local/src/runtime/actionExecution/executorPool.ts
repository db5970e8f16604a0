/**
 * A pool of action executors of one kind (worker threads, or Node processes): one run per
 * executor at a time, started on demand up to `maxExecutors` (further runs wait in order), with
 * `warmSpares` started ahead so a run rarely waits for a start (28–165 ms measured, see
 * docs/notes/runtime-isolation.md). An executor whose run ended cleanly goes back to the pool; one
 * cut short (time limit, crash, out of memory) is ended and replaced.
 */
import type { ExecutorConnection } from "./executorConnection.js";

export interface ExecutorPoolOptions {
  start: () => ExecutorConnection;
  /** At most this many executors at once (running and idle). */
  maxExecutors: number;
  /** Idle executors kept started ahead of demand. */
  warmSpares: number;
  /** Idle executors kept after a burst; more are ended as they are released. */
  maxIdle: number;
}

export class ExecutorPool {
  private readonly idle: ExecutorConnection[] = [];
  private readonly all = new Set<ExecutorConnection>();
  private readonly waiting: { resolve(executor: ExecutorConnection): void; reject(error: Error): void }[] = [];
  private closed = false;

  constructor(private readonly options: ExecutorPoolOptions) {}

  /** An executor ready to run, started if none is idle; waits when `maxExecutors` are busy. */
  async acquire(): Promise<ExecutorConnection> {
    if (this.closed) throw new Error("The backend is closing");
    const executor = this.idle.pop() ?? (this.all.size < this.options.maxExecutors ? this.started() : await this.queued());
    this.topUpSpares();
    try {
      await executor.ready;
    } catch (error) {
      this.forget(executor);
      throw error;
    }
    return executor;
  }

  /** Gives back an executor whose run ended cleanly. */
  release(executor: ExecutorConnection): void {
    executor.onMessage = undefined;
    if (!this.all.has(executor)) return;
    const waiter = this.waiting.shift();
    if (waiter !== undefined) return waiter.resolve(executor);
    if (this.idle.length >= this.options.maxIdle) return this.discard(executor);
    this.idle.push(executor);
  }

  /** Ends an executor whose run was cut short (its state is unknown) and starts what is missing. */
  discard(executor: ExecutorConnection): void {
    executor.onMessage = undefined;
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

  get size(): number {
    return this.all.size;
  }

  private started(): ExecutorConnection {
    const executor = this.options.start();
    this.all.add(executor);
    // One that dies while idle (or killed by a run) leaves the pool.
    void executor.exited.then(() => this.forget(executor));
    return executor;
  }

  private queued(): Promise<ExecutorConnection> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private forget(executor: ExecutorConnection): void {
    if (!this.all.delete(executor)) return;
    const index = this.idle.indexOf(executor);
    if (index !== -1) this.idle.splice(index, 1);
    if (this.closed) return;
    // A slot came free: a waiting run gets a new executor.
    const waiter = this.waiting.shift();
    if (waiter !== undefined) waiter.resolve(this.started());
  }

  private topUpSpares(): void {
    while (!this.closed && this.idle.length < this.options.warmSpares && this.all.size < this.options.maxExecutors) this.idle.push(this.started());
  }
}
