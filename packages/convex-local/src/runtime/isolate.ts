/**
 * An isolate is one `node:vm` context with Convex's globals and the deployment's modules loaded
 * into it. Queries and mutations run in an isolate whose microtasks drain inside `runInContext`,
 * so a whole async function completes synchronously (their time limit ends the worker thread that
 * runs them, see functionWorker.ts). Actions run in isolates with an ordinary event loop.
 *
 * An isolate also owns what its code leaves behind: an unhandled rejection or an exception from a
 * callback made in its realm fails its running action (see crashAttribution.ts).
 */
import { Console } from "node:console";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { types } from "node:util";
import vm from "node:vm";
import { actionTimers, type ActionTimers } from "./actionTimers.js";
import { attributeCrashes, thrownValue, type CrashKind } from "./crashAttribution.js";
import { CompiledModule, resolveModulePath } from "./modules.js";
import { namespaceOfName, qualifiedPath } from "./components.js";
import { CONVEX_SCHEME_PREFIX } from "./oneoffQuery.js";
import { splitEnvironment } from "./componentEnvironment.js";
import { verbatim } from "./logs.js";
import { userFrames } from "./stackTraces.js";

const preludeSource = readFileSync(new URL("./prelude.js", import.meta.url), "utf8");

/** What a running function may ask of the host. */
export interface CallHost {
  /** `namespace`: the component whose code made the syscall (components.ts; absent or "" for the app). */
  syscall(op: string, args: string, namespace?: string): string;
  /** A JSON string, a promise of one, or for a nested call the callee's promise and the check of its value. */
  asyncSyscall(op: string, args: string, namespace?: string): string | Promise<string> | NestedCall;
  jsSyscall(op: string, args: unknown, namespace?: string): unknown;
  log(level: string, args: unknown[]): void;
}

/**
 * A query or mutation calling another in its transaction: the callee's promise (of its JSON value),
 * the check its value must pass, and the error the caller receives when the callee's code throws.
 */
export interface NestedCall {
  callee: Promise<string>;
  check(value: string): string;
  fail(error: ThrownError): Error;
}

export interface InvokeRequest {
  /** Runs inside the isolate: given the module loader, starts the call and returns its promise. */
  invoke: (load: (modulePath: string) => Record<string, unknown>) => unknown;
  /** Frozen `Date.now()` (ms) for deterministic functions, or null for real time. */
  now: number | null;
  /** Two 64-bit halves seeding `Math.random`, or null for real randomness. */
  seed: [bigint, bigint] | null;
  env: Record<string, string>;
  /** When set, reading a variable `env` lacks throws this error instead of giving undefined (auth config evaluation). */
  unsetVariable?: (name: string) => Error;
}

export interface ThrownError {
  name: string;
  message: string;
  stack: string;
  /** Serialized `ConvexError` data, when a ConvexError was thrown. */
  data?: string;
}

/** A call's result or error; `observedTime` tells whether it read the clock (`Date.now`, `new Date()`). */
export type Outcome = { ok: true; value: unknown; observedTime?: boolean } | { ok: false; error: ThrownError };

export class FunctionTimeoutError extends Error {
  constructor(readonly limitMs: number) {
    super(`Function execution timed out (maximum duration: ${limitMs / 1000}s)`);
    this.name = "FunctionTimeoutError";
  }
}

export class UnsettledFunctionError extends Error {
  constructor() {
    super("Function awaited a promise that never settled (only Convex syscalls complete inside queries and mutations)");
    this.name = "UnsettledFunctionError";
  }
}

interface PendingCall extends BatchCall {
  callId: number;
  outcome?: Outcome;
  resolve?: (outcome: Outcome) => void;
}

/** One call of `runSyncBatch`. */
export interface BatchCall {
  host: CallHost;
  request: InvokeRequest;
  /** Runs just before the call starts (a mutation opens its savepoint here). */
  onStart?: () => void;
  /** Runs as the call settles, before the next one starts. */
  onSettle?: (outcome: Outcome) => void;
}

export interface IsolateOptions {
  /** Queries and mutations: microtasks drain inside each run. */
  synchronous: boolean;
  /** Node actions may `require` Node's built-ins and the app's dependencies from this directory. */
  nodeRequireFrom?: string;
  /** Host globals beyond the language built-ins: web APIs the user code may use. */
  webGlobals: Record<string, unknown>;
  /**
   * A failure of this isolate's code that no running call can take: an unhandled rejection in a
   * query or mutation (Node reports it only once the run is over), or one after an action ended.
   */
  onStrayError: (error: ThrownError) => void;
  /** Name a crash by its Node event, as Convex's Node executor does for `"use node"` actions. */
  nodeCrashNames?: boolean;
}

/** How the isolate reports a crash; for Node actions Convex names the Node event, or `process.exit`. */
type CrashSource = CrashKind | "process.exit";

/**
 * Globals a module's code reads all the time (the `convex` package's own code included). In a vm
 * context every global lookup goes through the context's interceptor, 30–300 times slower than a
 * local; a module reads these as locals bound, when it loads, to the context's own values (the
 * prelude's `Date`, `console` and `Convex` included). A module that declares one of these names
 * shadows it as usual; a global replaced after a module loaded is not seen by that module.
 */
const MODULE_LOCALS = [
  "Object", "Array", "JSON", "Math", "Symbol", "Promise", "Reflect", "String", "Number", "Boolean", "BigInt",
  "Map", "Set", "WeakMap", "WeakSet", "Error", "TypeError", "RangeError", "Date", "RegExp",
  "ArrayBuffer", "DataView", "Uint8Array", "Int32Array", "Float64Array", "TextEncoder", "TextDecoder",
  "parseInt", "parseFloat", "isNaN", "isFinite", "console",
];
/**
 * A module's CommonJS body goes between these: its first line keeps its columns but for this prefix, as before.
 * `Convex` is the prelude's syscall object for the module's component (the app's is the global one), so
 * a component's syscalls say whose they are (components.ts).
 */
const MODULE_PREFIX = `(function (Convex) { const { ${MODULE_LOCALS.join(", ")} } = globalThis; return function (exports, require, module) {`;
/** A component's module also binds `process` as it loads: the component's own (its `env`, componentEnvironment.ts). */
const COMPONENT_MODULE_PREFIX = `(function (Convex) { const { ${[...MODULE_LOCALS, "process"].join(", ")} } = globalThis; return function (exports, require, module) {`;
const MODULE_SUFFIX = "}; })";

const startScript = new vm.Script("__convexStart()", { filename: "convex:start" });
const startEachScript = new vm.Script("__convexStartEach()", { filename: "convex:start-each" });

/**
 * The call's own copy of the app's environment variables (its code may change them), strict when the
 * request says so, and each component's own, by namespace (componentEnvironment.ts).
 */
function environmentOf({ env, unsetVariable }: InvokeRequest): { env: Record<string, string>; componentEnv: Record<string, Record<string, string>> } {
  const { app: copy, components: componentEnv } = splitEnvironment(env);
  if (unsetVariable === undefined) return { env: copy, componentEnv };
  return { env: strictEnvironment(copy, unsetVariable), componentEnv };
}

function strictEnvironment(copy: Record<string, string>, unsetVariable: (name: string) => Error): Record<string, string> {
  return new Proxy(copy, {
    get: (target, name, receiver) => {
      if (typeof name === "string" && !Object.hasOwn(target, name)) throw unsetVariable(name);
      return Reflect.get(target, name, receiver);
    },
  });
}

/** What `runSyncBatch` gives back per call: its outcome, or the error that stopped it. */
export type BatchResult = Outcome | UnsettledFunctionError;

export class Isolate {
  private readonly context: vm.Context;
  private readonly calls = new Map<number, PendingCall>();
  private nextCallId = 1;
  private current: PendingCall | undefined;
  /** The calls of the batch under way (`runSyncBatch`) that have not started yet. */
  private batchQueue: PendingCall[] = [];
  /** Set once a run was cut short: the context's state is unknown, so its owner should discard it. */
  poisoned = false;
  /** The action under way (`run`) until its outcome is delivered: a crash in this realm fails it. */
  private runningAction: { fail(error: ThrownError): void } | undefined;
  /** The prelude's description of a thrown value (realm-aware: reads name, message, stack, ConvexError data). */
  private readonly describeError: (error: unknown) => ThrownError;
  /** This realm's own `Function.prototype.call`, taken before any user code runs. */
  private readonly realmCall: (this: unknown, ...args: unknown[]) => unknown;
  /** Errors already reported, e.g. `process.exit`'s, which fails the call at once and is thrown on. */
  private readonly reported = new WeakSet<object>();
  /** An action isolate's timers (none in queries and mutations). */
  private timers: ActionTimers | undefined;

  constructor(
    private readonly modules: ReadonlyMap<string, CompiledModule>,
    private readonly options: IsolateOptions,
  ) {
    this.context = vm.createContext(
      { ...options.webGlobals },
      {
        name: "convex-isolate",
        codeGeneration: { strings: false, wasm: true },
        microtaskMode: options.synchronous ? "afterEvaluate" : undefined,
      },
    );
    const nodeRequire = options.nodeRequireFrom ? createRequire(options.nodeRequireFrom) : undefined;
    const host = {
      syscall: (op: string, args: string, namespace?: string) => this.active().host.syscall(op, args, namespace),
      asyncSyscall: (op: string, args: string, namespace?: string) => {
        const result = this.active().host.asyncSyscall(op, args, namespace);
        return typeof result === "object" && "callee" in result ? this.failingInRealm(result) : result;
      },
      jsSyscall: (op: string, args: unknown, namespace?: string) => this.active().host.jsSyscall(op, args, namespace),
      log: (level: string, args: unknown[]) => this.current?.host.log(level, args),
      nodeRuntime: options.nodeRequireFrom !== undefined,
      // Convex's own texts first (unquoted), then the caller's values; `stack`'s user frames last.
      logVerbatim: (level: string, texts: string[], args: unknown[], stack?: string) => {
        const frames = stack === undefined ? [] : [verbatim(`\n${userFrames(stack, this.modules).join("\n")}`)];
        this.current?.host.log(level, [...texts.map(verbatim), ...args, ...frames]);
      },
      isArrayBuffer: (value: unknown) => types.isArrayBuffer(value),
      isNativeError: (value: unknown) => types.isNativeError(value),
      compile: (modulePath: string) => this.compile(modulePath),
      resolve: (fromPath: string, specifier: string) => {
        const target = resolveModulePath(fromPath, specifier) ?? resolveConvexSpecifier(fromPath, specifier);
        if (target !== undefined && this.modules.has(target)) return target;
        if (nodeRequire !== undefined) return nodeRequire(specifier);
        throw new Error(`Cannot find module "${specifier}" imported from "${fromPath}"`);
      },
      request: () => {
        const call = this.active();
        return { callId: call.callId, now: call.request.now, seed: call.request.seed, ...environmentOf(call.request) };
      },
      invoke: (load: (modulePath: string) => Record<string, unknown>) => this.active().request.invoke(load),
      next: () => {
        const call = this.batchQueue.shift();
        this.current = call;
        if (call === undefined) return false;
        this.calls.set(call.callId, call);
        call.onStart?.();
        return true;
      },
      settle: (callId: number, outcome: Outcome) => {
        const call = this.calls.get(callId);
        if (call === undefined) return;
        this.calls.delete(callId);
        // An action's promises may outlive it: their syscalls must find no running call.
        if (!options.synchronous && this.current === call) this.current = undefined;
        call.outcome = outcome;
        call.onSettle?.(outcome);
        call.resolve?.(outcome);
      },
    };
    const install = new vm.Script(preludeSource, { filename: "convex:prelude" }).runInContext(this.context);
    const { describeError, inRealmPromise, realmRoot } = install(host);
    this.describeError = describeError;
    this.realmCall = Object.getPrototypeOf(describeError).call;
    // Frames of the host (vm, the worker thread) lie between a resumed function's frames and its
    // async callers; V8's default of 10 frames would cut the callers off a trace Convex shows whole.
    vm.runInContext("Error.stackTraceLimit = 50", this.context);
    attributeCrashes(realmRoot, (error, kind) => this.crashed(error, kind));
    if (!options.synchronous) {
      this.timers = actionTimers((error) => this.crashed(error, "uncaughtException"), { node: options.nodeRequireFrom !== undefined });
      Object.assign(this.context, this.timers.globals);
      // The host's fetch promise belongs to no isolate: an unawaited failing `fetch` could not be
      // attributed (crashAttribution.ts). Adopted by a promise of this realm, it fails the action.
      this.context.fetch = inRealmPromise(this.context.fetch);
    }
    if (options.nodeRequireFrom !== undefined) {
      Object.assign(this.context, { Buffer, process: this.nodeProcess() });
      addSilentConsoleMethods(this.context.console as Record<string, unknown>);
    }
  }

  /**
   * `call` with its callee's failure replaced by the error `call.fail` makes of it. The replacement
   * runs as a continuation of this realm (its own `call`, bound, is the handler), so it runs within
   * the run, in the realm's microtask queue; a host function's would wait in the host's.
   */
  private failingInRealm(call: NestedCall): NestedCall {
    const rethrow = (thrown: unknown) => {
      throw call.fail(this.describeError(thrown));
    };
    const handler = Function.prototype.bind.call(this.realmCall, rethrow, undefined) as (thrown: unknown) => never;
    return { ...call, callee: call.callee.then(undefined, handler) };
  }

  /** Cancels the timers an action left pending: called once the action (or its response) is over. */
  clearTimers(): void {
    this.timers?.clearAll();
  }

  /** Node's `process` for Node actions, without its environment, and whose `exit` fails the call instead of the backend. */
  private nodeProcess(): Record<string, unknown> {
    const failCall = (message: string): never => {
      const error = new Error(message);
      this.crashed(error, "process.exit");
      throw error; // stops the code that called it; the call has already failed
    };
    const exit = (code?: number) => failCall(`process.exit() called ${code === undefined ? "with no exit code" : `with exit code ${code}`}`);
    return { ...process, env: {}, exit, reallyExit: exit, abort: () => failCall("process.abort() called") };
  }

  /**
   * An unhandled rejection or uncaught exception of this realm: fails the running action with it,
   * as Convex does, or reports it as stray. Runs inside Node's process listeners: nothing here may throw.
   */
  private crashed(failure: unknown, source: CrashSource): void {
    const error = thrownValue(failure);
    if (typeof error === "object" && error !== null) {
      if (this.reported.has(error)) return;
      this.reported.add(error);
    }
    let described: ThrownError;
    try {
      described = this.describeError(error);
    } catch {
      described = { name: "Error", message: "(an error that cannot be described)", stack: "" };
    }
    // Convex's Node executor names the event instead of the error ("Uncaught uncaughtException: …").
    if (this.options.nodeCrashNames) described = { name: source, message: described.message, stack: described.stack };
    if (this.runningAction !== undefined) this.runningAction.fail(described);
    else this.options.onStrayError(described);
  }

  /**
   * Runs queries or mutations one after another inside one vm run, each to completion (its
   * microtasks drain inside the run). Only syscalls may be awaited: a call that waits on anything
   * else gets UnsettledFunctionError and the isolate is poisoned. The time limit is the caller's:
   * a function worker's watchdog ends the whole thread (functionWorker.ts), which costs nothing per
   * run, where vm's `timeout` starts and joins a watchdog thread for each (0.1–0.5 ms).
   */
  runSyncBatch(calls: BatchCall[]): BatchResult[] {
    if (!this.options.synchronous) throw new Error("runSyncBatch needs a synchronous isolate");
    const pending = calls.map((call): PendingCall => ({ ...call, callId: this.nextCallId++ }));
    this.batchQueue = [...pending];
    try {
      startEachScript.runInContext(this.context);
    } catch (error) {
      this.poisoned = true;
      throw error;
    } finally {
      this.current = undefined;
      this.batchQueue = [];
      for (const call of pending) this.calls.delete(call.callId);
    }
    return pending.map((call): BatchResult => {
      if (call.outcome !== undefined) return call.outcome;
      // It waited on something other than a syscall: the chain stopped here.
      this.poisoned = true;
      return new UnsettledFunctionError();
    });
  }

  /**
   * Starts an action; its syscalls may complete later. Only one call at a time per isolate. With
   * `timeoutMs`, a call still unsettled then rejects with FunctionTimeoutError: its code may still
   * be waiting on something, so it loses its syscalls and the isolate is poisoned (never reused).
   */
  run(host: CallHost, request: InvokeRequest, timeoutMs?: number): Promise<Outcome> {
    if (this.options.synchronous) throw new Error("run needs an asynchronous isolate");
    return new Promise<Outcome>((resolve, reject) => {
      const call = this.begin(host, request);
      let delivered = false;
      const deliver = (outcome: Outcome | FunctionTimeoutError) => {
        if (delivered) return;
        delivered = true;
        clearTimeout(timer);
        this.runningAction = undefined;
        if (outcome instanceof FunctionTimeoutError) reject(outcome);
        else resolve(outcome);
      };
      // Cut short (time limit, crash): its code may still be waiting on something, so it loses its syscalls.
      const cutShort = (outcome: Outcome | FunctionTimeoutError) => {
        this.calls.delete(call.callId);
        if (this.current === call) this.current = undefined;
        this.poisoned = true;
        deliver(outcome);
      };
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              if (this.calls.has(call.callId)) cutShort(new FunctionTimeoutError(timeoutMs));
            }, timeoutMs);
      this.runningAction = { fail: (error) => cutShort({ ok: false, error }) };
      // Node reports this turn's unhandled rejections after its microtasks: deliver after them, so
      // one made as the action returned still fails it (Convex checks at every microtask checkpoint).
      call.resolve = (outcome) => setImmediate(() => deliver(outcome));
      try {
        startScript.runInContext(this.context);
      } catch (error) {
        this.calls.delete(call.callId);
        call.resolve({ ok: false, error: { name: "Error", message: String((error as Error).message ?? error), stack: "" } });
      }
    });
  }

  /** Pins an action call as the target of this isolate's syscalls until it settles. */
  private begin(host: CallHost, request: InvokeRequest): PendingCall {
    const call: PendingCall = { callId: this.nextCallId++, host, request };
    this.calls.set(call.callId, call);
    this.current = call;
    return call;
  }

  private active(): PendingCall {
    if (this.current !== undefined) return this.current;
    // An action's syscalls arrive after `begin` returned; an action isolate runs one call at a time.
    const [only] = this.calls.values();
    if (only === undefined) throw new Error("Convex syscall made outside of a running function");
    return only;
  }

  private compile(modulePath: string): unknown {
    const module = this.modules.get(modulePath);
    if (module === undefined) throw new Error(`Module "${modulePath}" was not pushed`);
    // A component's module path starts with its namespace (`@echo/lib.js`, components.ts).
    const prefix = modulePath.startsWith("@") ? COMPONENT_MODULE_PREFIX : MODULE_PREFIX;
    return new vm.Script(`${prefix}${module.code}\n${MODULE_SUFFIX}`, { filename: `convex/${modulePath}` }).runInContext(this.context);
  }
}

/**
 * `convex:/<module path>`, Convex's absolute specifier (a one-off query imports
 * `convex:/_system/repl/wrappers.js`, oneoffQuery.ts): that module of the importer's own component.
 */
function resolveConvexSpecifier(fromPath: string, specifier: string): string | undefined {
  if (!specifier.startsWith(CONVEX_SCHEME_PREFIX)) return undefined;
  const modulePath = specifier.slice(CONVEX_SCHEME_PREFIX.length);
  if (modulePath === "" || modulePath.split("/").some((part) => part === "" || part === "." || part === "..")) return undefined;
  return qualifiedPath(namespaceOfName(fromPath), modulePath);
}

/**
 * Node actions' console is, on Convex, a Node `Console` writing nowhere with only the logging and
 * timer methods sending log lines (node-executor's setupConsole): the rest (`table`, `count`,
 * `group`, `trace`, ...) exist and print nothing.
 */
function addSilentConsoleMethods(consoleObject: Record<string, unknown>): void {
  for (const name of nodeConsoleMethods()) {
    if (!(name in consoleObject)) consoleObject[name] = () => undefined;
  }
}

let consoleMethodNames: string[] | undefined;

/** The methods of a Node `Console`, read once (from one that writes nowhere). */
function nodeConsoleMethods(): string[] {
  if (consoleMethodNames === undefined) {
    const nowhere = new Console({ stdout: new Writable({ write: (_chunk, _encoding, done) => done() }) }) as unknown as Record<string, unknown>;
    consoleMethodNames = Object.keys(nowhere).filter((name) => typeof nowhere[name] === "function");
  }
  return consoleMethodNames;
}
