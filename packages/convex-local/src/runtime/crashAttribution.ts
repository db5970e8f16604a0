/**
 * Keeps an app bug from ending the process. Node reports an unhandled promise rejection and an
 * exception thrown from a callback (a Node API's callback, an `'error'` event nobody listens to)
 * only process-wide, and by default exits. So one `unhandledRejection` and one `uncaughtException`
 * listener attribute each to the isolate whose realm made the promise or the error: every vm
 * context has its own intrinsics, so a value's prototype chain ends at its realm's
 * `Object.prototype`. The isolate then fails its running call with it, as Convex does.
 *
 * What no realm owns (a promise Node's own API made, e.g. an unawaited `fs.promises` call; a bug
 * of the backend itself or of an embedding program) is printed; then the `convex-local` CLI goes
 * on (it called {@link keepRunningOnUnattributedFailures}), and so does a program that listens for
 * these events itself, while any other embedding program exits as Node would have without us. In a
 * Node action executor process (childEntry.ts, {@link inNodeExecutorProcess}) it is the process, not
 * the backend, that the failure ends: the running action fails and the process is replaced.
 * AsyncLocalStorage would attribute those too, but its promise hooks slow every `await` in
 * the process (on Node 20 about 2x in host code, 30% in isolates), so realms it is.
 */
import { types } from "node:util";
import { printable } from "../text/terminalText.js";

export type CrashKind = "uncaughtException" | "unhandledRejection";

/** Receives a failure attributed to a realm; `error` is what was thrown or rejected. */
export type CrashHandler = (error: unknown, kind: CrashKind) => void;

const handlers = new WeakMap<object, CrashHandler>();
let listening = false;
let keepRunning = false;
let executorProcess: CrashPolicy | undefined;

/** What a Node action executor process does with a failure: fail the running action, or end itself. */
export type CrashPolicy = (kind: CrashKind, failure: unknown) => void;

/** The CLI's choice: a failure no function owns is printed and the backend keeps serving. */
export function keepRunningOnUnattributedFailures(): void {
  keepRunning = true;
}

/**
 * This process is a Node action executor (childEntry.ts): every failure goes to `policy`, as in
 * Convex's Node executor, after one no function owns was printed as ending this process.
 */
export function inNodeExecutorProcess(policy: CrashPolicy): void {
  executorProcess = policy;
  listen();
}

/** Sends failures of the realm whose `Object.prototype` is `realmRoot` to `handler` from now on. */
export function attributeCrashes(realmRoot: object, handler: CrashHandler): void {
  handlers.set(realmRoot, handler);
  listen();
}

function listen(): void {
  if (listening) return;
  listening = true;
  // A promise Node made may still carry an isolate's error.
  process.on("unhandledRejection", (reason, promise) => dispatch("unhandledRejection", reason, handlerOf(promise) ?? handlerOf(reason)));
  process.on("uncaughtException", (error) => dispatch("uncaughtException", error, handlerOf(thrownValue(error))));
}

function dispatch(kind: CrashKind, error: unknown, handler: CrashHandler | undefined): void {
  // Printed before the policy runs: the backend ends this process as soon as it hears of the failure.
  if (executorProcess !== undefined) {
    if (handler === undefined) console.error(`convex-local: ${kind} outside any function in a Node action executor process (it is replaced): ${describe(error)}`);
    return executorProcess(kind, error);
  }
  try {
    if (handler !== undefined) return handler(error, kind);
  } catch (failure) {
    error = failure;
  }
  // Ours is not the only listener: the embedding program decides what a failure of its own means.
  if (keepRunning || process.listenerCount(kind) > 1) {
    console.error(`convex-local: ${kind} outside any function (the backend keeps running): ${describe(error)}`);
    return;
  }
  console.error(`convex-local: ${kind} outside any function: ${describe(error)}`);
  process.exit(1);
}

/** The handler of the realm `value` belongs to; proxies are not followed (their traps are user code). */
function handlerOf(value: unknown): CrashHandler | undefined {
  let object = value;
  for (let depth = 0; depth < 100; depth++) {
    if ((typeof object !== "object" && typeof object !== "function") || object === null || types.isProxy(object)) return undefined;
    const handler = handlers.get(object);
    if (handler !== undefined) return handler;
    object = Object.getPrototypeOf(object);
  }
  return undefined;
}

/**
 * What the code threw. `emit('error')` with no listener throws its argument, or, when that is not
 * an Error of the host's realm (an isolate's Error is not), wraps it in ERR_UNHANDLED_ERROR.
 */
export function thrownValue(error: unknown): unknown {
  // Reads own data properties only: nothing here may run user code (a proxy's trap, a getter), which could throw.
  if (!types.isNativeError(error) || types.isProxy(error)) return error;
  const { code, context } = Object.getOwnPropertyDescriptors(error);
  return code?.value === "ERR_UNHANDLED_ERROR" && context !== undefined ? context.value : error;
}

function describe(error: unknown): string {
  let text: string;
  try {
    text = types.isNativeError(error) ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  } catch {
    text = "(an error that cannot be printed)";
  }
  return printable(text);
}
