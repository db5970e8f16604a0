// Evaluated once inside every isolate context, before any user module. `host` is the only way out:
// it carries the current call's syscalls and log sink, swapped by the host between calls.
(function installConvexGlobals(host) {
  "use strict";
  // Globals used per call, bound once: every name looked up on a vm context's global goes
  // through Node's interceptors, many times slower than a local.
  const { Promise, BigInt, Symbol } = globalThis;
  const RealDate = Date;
  const realRandom = Math.random;
  let frozenNow = null;
  let rngState = null;

  // xorshift128+ seeded per call, so queries and mutations are deterministic as on Convex.
  function nextRandom() {
    let [s1, s0] = rngState;
    rngState[0] = s0;
    s1 ^= s1 << 23n & 0xffffffffffffffffn;
    s1 ^= s1 >> 17n;
    s1 ^= s0;
    s1 ^= s0 >> 26n;
    rngState[1] = s1 & 0xffffffffffffffffn;
    return Number((rngState[0] + rngState[1]) & 0x1fffffffffffffn) / 2 ** 53;
  }
  Math.random = function random() {
    return rngState === null ? realRandom() : nextRandom();
  };

  // Whether the running call read the clock: the query cache serves such results only briefly.
  let observedTime = false;
  class ConvexDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) {
        observedTime = true;
        super(frozenNow ?? RealDate.now());
      } else super(...args);
    }
    static now() {
      observedTime = true;
      return frozenNow ?? RealDate.now();
    }
  }
  globalThis.Date = ConvexDate;

  // Bytes made by host APIs (TextEncoder, Response.arrayBuffer, ...) come from the host realm;
  // Convex values recognise bytes with `instanceof ArrayBuffer`, so accept either realm.
  Object.defineProperty(ArrayBuffer, Symbol.hasInstance, { value: (v) => host.isArrayBuffer(v) });

  // The syscall object of a component's modules names the component (its namespace, components.ts);
  // the app's modules use the global one. Made here, out of the app's reach.
  const convexOf = (namespace) => ({
    syscall: (op, args) => host.syscall(op, args, namespace),
    asyncSyscall: (op, args) => {
      try {
        const result = host.asyncSyscall(op, args, namespace);
        // A nested call answers with the callee's promise and a check of its value. The check is
        // chained here: a continuation the host attached would wait in the host's microtask queue,
        // which a query or mutation never reaches before its run ends.
        if (result !== null && typeof result === "object" && typeof result.check === "function") {
          return result.callee.then((value) => result.check(value));
        }
        return Promise.resolve(result);
      } catch (error) {
        return Promise.reject(error);
      }
    },
    jsSyscall: (op, args) => host.jsSyscall(op, args, namespace),
  });
  globalThis.Convex = convexOf(undefined);
  const componentConvex = new Map();
  const convexForModule = (modulePath) => {
    if (!modulePath.startsWith("@")) return globalThis.Convex;
    const namespace = modulePath.slice(0, modulePath.indexOf("/"));
    let convex = componentConvex.get(namespace);
    if (convex === undefined) componentConvex.set(namespace, (convex = Object.freeze(convexOf(namespace))));
    return convex;
  };

  // Convex's console (udf-runtime 02_console.ts, crates/isolate/src/ops/console.rs): these methods
  // and no others; timers live for one call.
  const levels = { log: "LOG", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG" };
  const consoleObject = Object.create({});
  for (const [method, level] of Object.entries(levels)) {
    consoleObject[method] = (...args) => host.log(level, args);
  }
  // Node actions log these texts as values (quoted), and their console.trace prints nothing.
  const say = host.nodeRuntime ? (level, texts, args) => host.log(level, [...texts, ...args]) : host.logVerbatim;
  consoleObject.trace = host.nodeRuntime ? () => undefined : (...args) => host.logVerbatim("LOG", [], args, new Error().stack);
  const timers = new Map();
  const timerLabel = (label) => (label === undefined ? "default" : label === null ? "null" : String(label));
  const elapsed = (name) => `${name}: ${RealDate.now() - timers.get(name)}ms`;
  consoleObject.time = (label) => {
    const name = timerLabel(label);
    if (timers.has(name)) say("WARN", [`Timer '${name}' already exists`], []);
    else timers.set(name, RealDate.now());
  };
  consoleObject.timeLog = (label, ...args) => {
    const name = timerLabel(label);
    if (!timers.has(name)) say("WARN", [`Timer '${name}' does not exist`], []);
    else say("INFO", [elapsed(name)], args);
  };
  consoleObject.timeEnd = (label) => {
    const name = timerLabel(label);
    if (!timers.has(name)) return say("WARN", [`Timer '${name}' does not exist`], []);
    say("INFO", [elapsed(name)], []);
    timers.delete(name);
  };
  Object.defineProperty(consoleObject, Symbol.toStringTag, { value: "console", configurable: true });
  globalThis.console = consoleObject;
  const processObject = { env: {} };
  globalThis.process = processObject;
  // Each component's own `process`, whose `env` shows the component's variables of the running call
  // (componentEnvironment.ts): one object per component for the realm's life, since its modules keep
  // it (their `process` is bound as they load, and `_generated/server`'s `env` is its `process.env`).
  let componentEnv = {};
  const componentProcesses = new Map();
  const componentProcess = (namespace) => {
    let found = componentProcesses.get(namespace);
    if (found !== undefined) return found;
    const own = () => (componentEnv[namespace] ??= {});
    const env = new Proxy(Object.create(null), {
      get: (_target, name) => (typeof name === "string" ? own()[name] : undefined),
      set: (_target, name, value) => ((own()[name] = String(value)), true),
      has: (_target, name) => Object.hasOwn(own(), name),
      deleteProperty: (_target, name) => delete own()[name],
      ownKeys: () => Object.keys(own()),
      getOwnPropertyDescriptor: (_target, name) =>
        Object.hasOwn(own(), name) ? { value: own()[name], writable: true, enumerable: true, configurable: true } : undefined,
    });
    found = { env };
    componentProcesses.set(namespace, found);
    return found;
  };

  const moduleCache = new Map();

  // On Convex each component runs in a realm of its own; here they share one, so a component's module
  // is evaluated with the realm's own globals even while the calling code has replaced some (the
  // workflow component's client patches Math, Date, console, process and crypto while a workflow
  // runs), and the locals a module binds as it loads (isolate.ts MODULE_LOCALS) stay the realm's.
  const REALM_GLOBALS = ["process", "Math", "Date", "console", "crypto", "Crypto", "CryptoKey", "SubtleCrypto"];
  const globalDescriptors = () => new Map(REALM_GLOBALS.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]));
  // Taken as the first module loads, before any of the app's code has run.
  let realmGlobals;
  function withRealmGlobals(namespace, evaluate) {
    const current = globalDescriptors();
    const put = (descriptors) => {
      for (const [name, descriptor] of descriptors) {
        if (descriptor === undefined) delete globalThis[name];
        else Object.defineProperty(globalThis, name, descriptor);
      }
    };
    put(realmGlobals);
    // The component's own `process` while its module loads (the module binds it: isolate.ts).
    Object.defineProperty(globalThis, "process", { value: componentProcess(namespace), writable: true, configurable: true, enumerable: false });
    try {
      return evaluate();
    } finally {
      put(current);
    }
  }
  function load(modulePath) {
    realmGlobals ??= globalDescriptors();
    const cached = moduleCache.get(modulePath);
    if (cached !== undefined) return cached.exports;
    const module = { exports: {} };
    moduleCache.set(modulePath, module);
    const evaluate = () => {
      const body = host.compile(modulePath)(convexForModule(modulePath));
      body.call(module.exports, module.exports, (specifier) => requireFrom(modulePath, specifier), module);
    };
    try {
      if (modulePath.startsWith("@")) withRealmGlobals(modulePath.slice(0, modulePath.indexOf("/")), evaluate);
      else evaluate();
    } catch (error) {
      moduleCache.delete(modulePath);
      throw error;
    }
    return module.exports;
  }
  function requireFrom(fromPath, specifier) {
    const target = host.resolve(fromPath, specifier);
    return typeof target === "string" ? load(target) : target;
  }

  // As Convex's isolate (crates/isolate/src/error.rs): an Error by its name (default "Error") and
  // message; any other thrown value by V8's own message for it, `Uncaught <value>` without frames.
  function describeError(error) {
    if (!(error instanceof Error) && !host.isNativeError(error)) {
      return { name: "", message: thrownValueText(error), stack: "", data: undefined };
    }
    const isConvexError = Symbol.for("ConvexError") in error || error.ConvexErrorSymbol !== undefined;
    return {
      name: error.name === undefined ? "Error" : String(error.name),
      message: error.message === undefined ? "" : String(error.message),
      stack: typeof error.stack === "string" ? error.stack : "",
      data: isConvexError && typeof error.data === "string" ? error.data : undefined,
    };
  }

  // V8's text for a thrown value in its "Uncaught …" message (Object::NoSideEffectsToString).
  function thrownValueText(value) {
    if (typeof value === "symbol") return value.toString();
    if (typeof value !== "object" || value === null) return String(value);
    const constructor = Object.getPrototypeOf(value)?.constructor;
    return `#<${typeof constructor === "function" && constructor.name !== "" ? constructor.name : "Object"}>`;
  }

  // One entry point for every kind of call; the host reads the request and receives the outcome.
  function start() {
    const request = host.request();
    frozenNow = request.now;
    timers.clear();
    observedTime = false;
    rngState = request.seed === null ? null : [BigInt.asUintN(64, BigInt(request.seed[0])), BigInt.asUintN(64, BigInt(request.seed[1]))];
    processObject.env = request.env;
    componentEnv = request.componentEnv ?? {};
    let promise;
    try {
      promise = Promise.resolve(host.invoke(load, request));
    } catch (error) {
      promise = Promise.reject(error);
    }
    return promise.then(
      (value) => host.settle(request.callId, { ok: true, value, observedTime }),
      (error) => host.settle(request.callId, { ok: false, error: describeError(error) }),
    );
  }
  globalThis.__convexStart = start;
  // A batch of queries in one run: each starts once the previous one settled, so none interleave.
  globalThis.__convexStartEach = function startEach() {
    if (host.next()) start().then(startEach);
  };

  // `fn`, returning a promise of this realm that adopts `fn`'s (a host promise) instead.
  function inRealmPromise(fn) {
    return function (...args) {
      return new Promise((resolve) => resolve(fn.apply(this, args)));
    };
  }

  // What the host calls into this realm directly, and the root of every prototype chain in it.
  return { describeError, inRealmPromise, realmRoot: Object.prototype };
})
