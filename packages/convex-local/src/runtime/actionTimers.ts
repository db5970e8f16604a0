/**
 * The timers of an action's isolate: Node's, except that a callback that throws is handed to
 * `onError` (which fails that action) instead of reaching Node, which would end the process.
 * Pending timers outlive the action, as a streamed HTTP action's body may still need them.
 */
type Callback = (...args: unknown[]) => unknown;

export function actionTimers(onError: (error: unknown) => void, { node }: { node: boolean }): Record<string, unknown> {
  const guard = (callback: unknown, args: unknown[]) => {
    if (typeof callback !== "function") throw new TypeError('The "callback" argument must be of type function');
    return () => {
      try {
        (callback as Callback)(...args);
      } catch (error) {
        onError(error);
      }
    };
  };
  const timers: Record<string, unknown> = {
    setTimeout: (callback: unknown, ms?: number, ...args: unknown[]) => setTimeout(guard(callback, args), ms),
    setInterval: (callback: unknown, ms?: number, ...args: unknown[]) => setInterval(guard(callback, args), ms),
    clearTimeout,
    clearInterval,
    queueMicrotask: (callback: unknown) => queueMicrotask(guard(callback, [])),
  };
  if (node) {
    timers.setImmediate = (callback: unknown, ...args: unknown[]) => setImmediate(guard(callback, args));
    timers.clearImmediate = clearImmediate;
  }
  return timers;
}
