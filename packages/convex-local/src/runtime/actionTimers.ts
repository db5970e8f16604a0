/**
 * The timers of an action's isolate: Node's, except that a callback that throws is handed to
 * `onError` (which fails that action) instead of reaching Node, which would end the process, and
 * that `clearAll` cancels whatever is still pending once the action is over, so an interval an
 * action left behind cannot keep its isolate alive (and the process busy) for good.
 */
type Callback = (...args: unknown[]) => unknown;

export interface ActionTimers {
  /** The globals to install in the isolate. */
  globals: Record<string, unknown>;
  /** Cancels every pending timeout, interval and immediate. */
  clearAll(): void;
}

export function actionTimers(onError: (error: unknown) => void, { node }: { node: boolean }): ActionTimers {
  /** Each pending timer and how to cancel it. */
  const pending = new Map<object, () => void>();
  const guarded = (callback: unknown, args: unknown[], afterFirstRun?: () => void) => {
    if (typeof callback !== "function") throw new TypeError('The "callback" argument must be of type function');
    return () => {
      afterFirstRun?.();
      try {
        (callback as Callback)(...args);
      } catch (error) {
        onError(error);
      }
    };
  };
  function track<T extends object>(handle: T, cancel: (handle: T) => void): T {
    pending.set(handle, () => cancel(handle));
    return handle;
  }
  /** What user code calls to cancel: Node's own function, after forgetting the handle. */
  const untracked = (cancel: (handle: never) => void) => (handle: unknown) => {
    if (typeof handle === "object" && handle !== null) pending.delete(handle);
    cancel(handle as never);
  };
  const globals: Record<string, unknown> = {
    setTimeout: (callback: unknown, ms?: number, ...args: unknown[]) => {
      const handle: NodeJS.Timeout = track(setTimeout(guarded(callback, args, () => pending.delete(handle)), ms), clearTimeout);
      return handle;
    },
    setInterval: (callback: unknown, ms?: number, ...args: unknown[]) => track(setInterval(guarded(callback, args), ms), clearInterval),
    clearTimeout: untracked(clearTimeout),
    clearInterval: untracked(clearInterval),
    queueMicrotask: (callback: unknown) => queueMicrotask(guarded(callback, [])),
  };
  if (node) {
    globals.setImmediate = (callback: unknown, ...args: unknown[]) => {
      const handle: NodeJS.Immediate = track(setImmediate(guarded(callback, args, () => pending.delete(handle))), clearImmediate);
      return handle;
    };
    globals.clearImmediate = untracked(clearImmediate);
  }
  return {
    globals,
    clearAll() {
      for (const cancel of pending.values()) cancel();
      pending.clear();
    },
  };
}
