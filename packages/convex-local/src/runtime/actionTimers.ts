/**
 * The timers of one action's isolate. A callback that throws fails that action (through
 * `onError`) instead of reaching Node, which would end the process; and when the action ends its
 * pending timers are dropped, as Convex drops them, so nothing of it runs on afterwards.
 */
type Callback = (...args: unknown[]) => unknown;

export class ActionTimers {
  /** Pending timers, each with how to clear it (`clearImmediate` on a timeout corrupts Node's counts). */
  private readonly pending = new Map<object, () => void>();
  private closed = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  /** The globals an action sees: web timers, plus `setImmediate` for Node actions. */
  globals({ node }: { node: boolean }): Record<string, unknown> {
    const timers: Record<string, unknown> = {
      setTimeout: (callback: Callback, ms?: number, ...args: unknown[]) => this.timeout(callback, ms, args, false),
      setInterval: (callback: Callback, ms?: number, ...args: unknown[]) => this.timeout(callback, ms, args, true),
      clearTimeout: (timer: unknown) => this.clear(timer),
      clearInterval: (timer: unknown) => this.clear(timer),
      queueMicrotask: (callback: Callback) => queueMicrotask(this.guard(checkCallback(callback), [])),
    };
    if (node) {
      timers.setImmediate = (callback: Callback, ...args: unknown[]) => this.immediate(callback, args);
      timers.clearImmediate = (immediate: unknown) => this.clear(immediate);
    }
    return timers;
  }

  /** Drops every pending timer; later ones never start. */
  close(): void {
    this.closed = true;
    for (const clear of this.pending.values()) clear();
    this.pending.clear();
  }

  private timeout(callback: Callback, ms: number | undefined, args: unknown[], repeat: boolean): NodeJS.Timeout | undefined {
    const run = this.guard(checkCallback(callback), args);
    if (this.closed) return undefined;
    const timer: NodeJS.Timeout = repeat
      ? setInterval(run, ms)
      : setTimeout(() => {
          this.pending.delete(timer);
          run();
        }, ms);
    this.pending.set(timer, () => clearTimeout(timer));
    return timer;
  }

  private immediate(callback: Callback, args: unknown[]): NodeJS.Immediate | undefined {
    const run = this.guard(checkCallback(callback), args);
    if (this.closed) return undefined;
    const immediate = setImmediate(() => {
      this.pending.delete(immediate);
      run();
    });
    this.pending.set(immediate, () => clearImmediate(immediate));
    return immediate;
  }

  private clear(timer: unknown): void {
    const clear = this.pending.get(timer as object);
    if (clear === undefined) return;
    this.pending.delete(timer as object);
    clear();
  }

  private guard(callback: Callback, args: unknown[]): () => void {
    return () => {
      try {
        callback(...args);
      } catch (error) {
        this.onError(error);
      }
    };
  }
}

function checkCallback(callback: unknown): Callback {
  if (typeof callback !== "function") throw new TypeError('The "callback" argument must be of type function');
  return callback as Callback;
}
