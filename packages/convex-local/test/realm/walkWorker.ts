/**
 * The worker thread of reachability.test.ts: locks its realm down as the query and action workers
 * do, builds an `Isolate` as each of them builds theirs, lets user code (the walker below) reach
 * everything it can from the context's global object, and reports every reached value that is the
 * host's `process`, global object, a `require` or a `Module`, or a function that compiles a string.
 */
import { Module } from "node:module";
import vm from "node:vm";
import { parentPort, workerData } from "node:worker_threads";
import { Isolate, type CallHost } from "../../src/runtime/isolate.js";
import { appendLogLine } from "../../src/runtime/logs.js";
import { lockDownRealm } from "../../src/runtime/realmLockdown.js";
import { webGlobals } from "../../src/runtime/webGlobals.js";

export interface WalkReport {
  reached: number;
  problems: string[];
}

/** How many values the walk reaches at most (a query's realm holds fewer; an action's grows without end). */
const REACH_LIMIT = 100_000;
const { synchronous } = workerData as { synchronous: boolean };
// The host's compilers, taken before the lockdown hides them, to be recognised wherever they are reached.
const compilers = new Map<unknown, string>(
  [function () {}, async function () {}, function* () {}, async function* () {}].map((sample) => {
    const constructor = (Object.getPrototypeOf(sample) as { constructor: { name: string } }).constructor;
    return [constructor, `the host's ${constructor.name}`];
  }),
);
compilers.set(eval, "the host's eval");
const forbidden = new Map<unknown, string>([
  [process, "the host's process"],
  [globalThis, "the host's global object"],
  [Module, "node:module's Module"],
]);
lockDownRealm();

/**
 * Runs in the isolate's realm, as user code: `step()` walks a little further each time the host
 * calls it (host promises settle between calls), and reports whether anything is left to walk.
 */
const walker = `(function makeWalker(languageGlobals, seeds, limit) {
  const reached = new Set();
  const queue = [];
  const exercised = new Set();
  const instancesByPrototype = new Map();
  const origins = new Map();
  let from;
  const reach = (value, how = "?") => {
    if ((typeof value !== "object" && typeof value !== "function") || value === null || reached.has(value)) return;
    reached.add(value);
    origins.set(value, [from, how]);
    queue.push(value);
  };
  const nameOf = (value) => { try { return typeof value === "function" ? "function " + value.name : Object.prototype.toString.call(value); } catch { return "?"; } };
  const pathOf = (value) => {
    const steps = [];
    for (let v = value, n = 0; v !== undefined && n < 30; v = origins.get(v)?.[0], n++) steps.unshift(nameOf(v) + " <" + (origins.get(v)?.[1] ?? "") + ">");
    return steps.join(" -> ");
  };
  // Everything a host function hands to user code it calls back: its receiver, its arguments and the stack's frames.
  const probe = function (...args) { reach(this, "probe this"); args.forEach((a) => reach(a, "probe argument")); void new Error("probe").stack; };
  Error.prepareStackTrace = (error, frames) => {
    for (const frame of frames) { reach(frame, "call site"); try { reach(frame.getThis(), "getThis()"); reach(frame.getFunction(), "getFunction()"); } catch (e) { reach(e); } }
    return "";
  };
  const probeObject = new Proxy({}, { get: (target, key, receiver) => (key === "then" || typeof key === "symbol" ? undefined : probe) });
  const settle = (value) => {
    if (value !== null && (typeof value === "object" || typeof value === "function")) {
      let then;
      try { then = value.then; } catch (e) { reach(e); }
      const parent = from;
      if (typeof then === "function") Promise.resolve(value).then((v) => { from = parent; reach(v, "resolved"); }, (e) => { from = parent; reach(e, "rejected"); });
    }
    reach(value, "result");
  };
  const attempt = (run) => { try { settle(run()); } catch (error) { reach(error, "thrown"); } };
  const argumentLists = [[], ["x"], ["https://example.com/a?b=1"], ["x", probe], [probe], [probeObject], ["x", probeObject], [new Uint8Array([1, 2])], [[]]];
  const hostProvided = Object.getOwnPropertyNames(globalThis).filter((name) => !languageGlobals.includes(name));
  for (const name of hostProvided) { reach(globalThis[name], "global " + name); exercised.add(globalThis[name]); }
  seeds.forEach((seed) => reach(seed, "handed to inspect.custom"));
  // Node 20's Blob#slice passes a non-numeric start or end to a native assertion that aborts the
  // whole process (node_blob.cc ToSlice): it is called only with numbers.
  const abortsOnStrings = new Set([Blob.prototype.slice]);
  function exercise(value) {
    if (abortsOnStrings.has(value)) { attempt(() => new Blob(["ab"]).slice(0, 1)); return; }
    if (value.prototype !== undefined) {
      for (const args of argumentLists) {
        try {
          const instance = new value(...args);
          settle(instance);
          exercised.add(instance);
          const list = instancesByPrototype.get(value.prototype) ?? [];
          list.push(instance);
          instancesByPrototype.set(value.prototype, list);
          for (let p = Object.getPrototypeOf(instance); p !== null; p = Object.getPrototypeOf(p)) exercised.add(p);
        } catch (error) { reach(error); }
      }
    }
    for (const args of argumentLists) attempt(() => value(...args));
    for (const [prototype, instances] of instancesByPrototype) {
      const isMethod = Reflect.ownKeys(prototype).some((key) => { try { return Reflect.getOwnPropertyDescriptor(prototype, key).value === value; } catch { return false; } });
      if (isMethod) for (const instance of instances) for (const args of argumentLists) attempt(() => value.apply(instance, args));
    }
  }
  function visit(value) {
    from = value;
    attempt(() => Object.getPrototypeOf(value));
    attempt(() => value.constructor);
    for (const key of Reflect.ownKeys(value)) {
      let descriptor;
      try { descriptor = Reflect.getOwnPropertyDescriptor(value, key); } catch (error) { reach(error); continue; }
      if (descriptor === undefined) continue;
      reach(descriptor.value, String(key)); reach(descriptor.get, "get " + String(key)); reach(descriptor.set, "set " + String(key));
      if (descriptor.get) {
        attempt(() => descriptor.get.call(value));
        for (const instance of instancesByPrototype.get(value) ?? []) attempt(() => descriptor.get.call(instance));
      }
      if (exercised.has(value) && descriptor.value !== null && (typeof descriptor.value === "object" || typeof descriptor.value === "function")) exercised.add(descriptor.value);
    }
    if (typeof value === "function" && exercised.has(value)) exercise(value);
  }
  return {
    // Exercising host methods makes new objects without end: the walk is breadth-first and bounded.
    step(budget) {
      for (let n = 0; n < budget && queue.length > 0 && reached.size < limit; n++) visit(queue.shift());
      return queue.length > 0 && reached.size < limit;
    },
    reached: () => [...reached],
    pathOf,
  };
})`;

/** A query's or an action's isolate, as syncExecution.ts and actionExecution/executor.ts build them. */
function buildIsolate(): Isolate {
  return new Isolate(new Map(), { synchronous, webGlobals: webGlobals({ actions: !synchronous }), onStrayError: () => {} });
}

/** What user code is handed by `console.log` of an object with a `nodejs.util.inspect.custom` method, as the real hosts log. */
async function inspectArguments(isolate: Isolate, context: vm.Context): Promise<unknown[]> {
  const lines: string[] = [];
  const host: CallHost = { syscall: () => "null", asyncSyscall: () => "null", jsSyscall: () => null, log: (level, args) => appendLogLine(lines, level, args) };
  const invoke = () =>
    vm.runInContext(
      `globalThis.__handed = []; console.log({ [Symbol.for("nodejs.util.inspect.custom")](...args) { __handed.push(this, ...args); return "x"; } });`,
      context,
    );
  const request = { invoke, now: null, seed: null, env: {} };
  if (synchronous) isolate.runSyncBatch([{ host, request }]);
  else await isolate.run(host, request, 10_000);
  return vm.runInContext("__handed", context) as unknown[];
}

interface Walking {
  step(budget: number): boolean;
  reached(): unknown[];
  pathOf(value: unknown): string;
}

async function walk(): Promise<WalkReport> {
  const isolate = buildIsolate();
  // The walk reads the context the isolate built (a private field), to run in it as user code does.
  const context = (isolate as unknown as { context: vm.Context }).context;
  const seeds = await inspectArguments(isolate, context);
  const languageGlobals = vm.runInNewContext("Object.getOwnPropertyNames(globalThis)") as string[];
  const walking = (vm.runInContext(walker, context) as (globals: string[], seeds: unknown[], limit: number) => Walking)(languageGlobals, seeds, REACH_LIMIT);
  context.__walking = walking;
  let idleRounds = 0;
  // `step` runs inside a vm run, so a query realm's microtasks drain; host promises settle in between.
  while (idleRounds < 20) {
    const more = vm.runInContext("__walking.step(200)", context) as boolean;
    idleRounds = more ? 0 : idleRounds + 1;
    await new Promise((resolve) => setTimeout(resolve, more ? 0 : 5));
  }
  const reached = walking.reached();
  const problems = new Set<string>();
  const found = (what: string, value: unknown) => problems.add(`${what}, reached as ${walking.pathOf(value)}`);
  for (const value of reached) {
    const known = forbidden.get(value) ?? compilers.get(value);
    if (known !== undefined) found(known, value);
    else if (value instanceof Module) found("a Module", value);
    else if (typeof value === "function" && "resolve" in value && "cache" in value && "extensions" in value) found("a require function", value);
  }
  for (const name of compilingFunctions(reached, context)) problems.add(`${name} compiles a string`);
  return { reached: reached.length, problems: [...problems] };
}

/** The reached functions that, called or constructed with a body, give a function that runs it (from user code). */
function compilingFunctions(reached: unknown[], context: vm.Context): string[] {
  return vm.runInContext(
    `(reached) => reached.filter((f) => typeof f === "function" && /Function$|^eval$|^Script$|^compile/.test(f.name)).filter((f) => {
      for (const make of [() => f("return 42"), () => new f("return 42"), () => f("42")]) {
        try { const made = make(); if (made === 42 || (typeof made === "function" && made() === 42)) return true; } catch {}
      }
      return false;
    }).map((f) => f.name)`,
    context,
  )(reached) as string[];
}

parentPort!.postMessage(await walk());
