/**
 * Locks down the host realm of a runtime process (runtimeProcess.ts) or worker thread that runs
 * user code. User code runs in a `node:vm` context, but the web globals it is given (TextEncoder,
 * URL, Response, crypto, streams, timers …) and the errors and promises host functions hand back
 * are objects of the host's own realm, so `TextEncoder.constructor("return process")()` would
 * compile code there and return the real `process`. Convex's default runtime compiles nothing from strings (V8 runs with
 * `--disallow-code-generation-from-strings`); this makes the host realm do the same, once, at no
 * cost per call:
 * - the `constructor` of `Function.prototype` and of the AsyncFunction, GeneratorFunction and
 *   AsyncGeneratorFunction prototypes becomes a function that throws V8's own EvalError, fixed
 *   (non-writable, non-configurable), so no host function leads to a compiler;
 * - the realm's language intrinsics (but `RegExp.prototype`, see freezeAll) and the web globals'
 *   constructors and prototypes are frozen, so user code can neither plant a getter, setter or
 *   replaced method that host code would later call with host objects (a capability leak, and state
 *   that would outlive its run in a reused worker), nor set the host `Error.prepareStackTrace`;
 * - `Headers#forEach` and `FormData#forEach` stop handing their callback this realm's global object;
 * - `Blob#slice` converts its offsets as the web platform does before Node's native code sees them
 *   (Node 20 aborts the whole process on `new Blob(["ab"]).slice(1.5)`);
 * - `constructor` stays assignable on instances of Blob and the three stream classes: Node 24 makes
 *   some of them by assigning it (`blob.slice()`, `stream.tee()`, `response.clone()`, `pipeThrough`,
 *   so also `fetch` with a body), which a frozen prototype would refuse.
 * Assigning a property a frozen prototype defines (e.g.
 *   `this.name = …` in an Error subclass) still works: those few properties become accessors that
 *   define the property on the object assigned to, as Node's `--frozen-intrinsics` does.
 * Call it after the process's setup: a package that loads its native addon through `bindings` (as
 * better-sqlite3 does on its first `new Database`) sets `Error.prepareStackTrace`, which then fails.
 * The embedding program's own realm is never locked down: on a main thread, it refuses to run
 * unless the process was started as a locked-down runtime process.
 *
 * @example
 * // a runtime process's entry module, after its imports and setup:
 * lockDownRealm();
 * process.on("message", run);
 */
import vm from "node:vm";
import { isMainThread } from "node:worker_threads";
import { LOCKED_DOWN_PROCESS } from "./runtimeProcess.js";
import { webGlobals } from "./webGlobals.js";

/** V8's text when a context may not compile strings (`codeGeneration: { strings: false }`). */
export const CODE_GENERATION_REFUSED = "Code generation from strings disallowed for this context";

/**
 * Properties that ordinary code overrides by assignment on derived objects (`this.name = …`,
 * `Foo.prototype.toString = …`); on a frozen prototype such an assignment would throw (the
 * "override mistake"), so these become accessors. Others stay data properties: an accessor
 * `constructor` on Array.prototype or Promise.prototype would take V8 off its fast paths.
 */
const OVERRIDABLE = new Set<PropertyKey>(["name", "message", "toString", "valueOf", "toLocaleString", "toJSON"]);

let lockedDown = false;

/** Locks down this realm (idempotent). Throws on the main thread of any other process than a locked-down runtime process. */
export function lockDownRealm(): void {
  if (isMainThread && process.env[LOCKED_DOWN_PROCESS] !== "1") {
    throw new Error("lockDownRealm() locks down the realm of a runtime process or worker thread; it never runs in the embedding program");
  }
  if (lockedDown) return;
  refuseCodeGeneration();
  const web = Object.values(webGlobals({ actions: true }));
  for (const global of web) repairForEach(global);
  repairBlobSlice();
  for (const relabeled of [Blob, ReadableStream, WritableStream, TransformStream]) allowOverrideByAssignment(relabeled.prototype, "constructor", relabeled, false);
  freezeAll([...languageIntrinsics(), ...web]);
  lockedDown = true;
}

/** The four function constructors of this realm, each reached only as its prototype's `constructor`. */
function functionPrototypes(): object[] {
  const samples = [function () {}, async function () {}, function* () {}, async function* () {}];
  return samples.map((sample) => Object.getPrototypeOf(sample) as object);
}

function refuseCodeGeneration(): void {
  for (const prototype of functionPrototypes()) {
    const { name } = (prototype as { constructor: { name: string } }).constructor;
    const refused = function () {
      throw new EvalError(CODE_GENERATION_REFUSED);
    };
    // Keeps the name (code tests `fn.constructor.name === "AsyncFunction"`) and the prototype link.
    Object.defineProperty(refused, "name", { value: name });
    Object.defineProperty(refused, "prototype", { value: prototype, writable: false });
    Object.defineProperty(prototype, "constructor", { value: refused, writable: false, enumerable: false, configurable: false });
  }
}

/**
 * Node's `Headers#forEach` and `FormData#forEach` call their callback with this realm's global
 * object when no `thisArg` is given (undici: `thisArg = globalThis`); the web platform passes
 * `undefined`. Their callbacks are called with the `thisArg` given, and nothing else.
 */
function repairForEach(global: unknown): void {
  const prototype = (global as { prototype?: { forEach?: unknown } } | null)?.prototype;
  if (typeof prototype?.forEach !== "function" || !Object.hasOwn(prototype, "forEach")) return;
  const original = prototype.forEach as (this: unknown, callback: unknown) => unknown;
  Object.defineProperty(prototype, "forEach", {
    value: function forEach(this: unknown, callback: unknown, thisArg?: unknown) {
      if (typeof callback !== "function") return original.call(this, callback); // its own TypeError
      return original.call(this, (...args: unknown[]) => Reflect.apply(callback, thisArg, args));
    },
  });
}

/**
 * Node 20's `Blob#slice` hands a fractional or non-numeric offset to native code that aborts the
 * process. The web platform converts each offset to an integer first (WebIDL `[Clamp] long long`:
 * NaN is 0, clamped, rounded half to even): this does that conversion, then calls Node's.
 */
function repairBlobSlice(): void {
  const original = Blob.prototype.slice;
  const offset = (value: unknown): number | undefined => {
    if (value === undefined) return undefined;
    const number = Number(value); // a Symbol or BigInt throws its TypeError here, as the spec says
    if (Number.isNaN(number)) return 0;
    const clamped = Math.min(Math.max(number, -(2 ** 53) + 1), 2 ** 53 - 1);
    const floor = Math.floor(clamped);
    const rounded = clamped - floor === 0.5 ? (floor % 2 === 0 ? floor : floor + 1) : Math.round(clamped);
    return rounded === 0 ? 0 : rounded;
  };
  Object.defineProperty(Blob.prototype, "slice", {
    value: function slice(this: Blob, start?: unknown, end?: unknown, contentType?: string) {
      return original.call(this, offset(start), offset(end), contentType);
    },
  });
}

/** What user code reaches of the language's intrinsics: the globals a fresh context has, and the prototypes only instances lead to. */
function languageIntrinsics(): unknown[] {
  const names = vm.runInNewContext("Object.getOwnPropertyNames(globalThis)") as string[];
  const language = names.filter((name) => name !== "globalThis").map((name) => (globalThis as Record<string, unknown>)[name]);
  const throughInstances = [
    ...functionPrototypes(),
    (function* () {})(),
    (async function* () {})(),
    [][Symbol.iterator](),
    new Map().entries(),
    new Set().values(),
    ""[Symbol.iterator](),
    /x/[Symbol.matchAll](""),
  ];
  return [...language, ...throughInstances];
}

/**
 * Freezes every object reachable from `roots` by prototypes and properties, except the thread's own
 * globals and `RegExp.prototype`: V8 runs a regular expression on its fast path only while that
 * prototype is unmodified (measured: a host `replace` + `split` went from 0.9 to 7 µs frozen).
 */
function freezeAll(roots: unknown[]): void {
  const seen = new Set<object>([globalThis, process, RegExp.prototype]);
  const queue: object[] = [];
  const enqueue = (value: unknown) => {
    if ((typeof value === "object" || typeof value === "function") && value !== null && !seen.has(value)) {
      seen.add(value);
      queue.push(value);
    }
  };
  roots.forEach(enqueue);
  for (let object = queue.shift(); object !== undefined; object = queue.shift()) {
    enqueue(Object.getPrototypeOf(object));
    for (const key of Reflect.ownKeys(object)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(object, key)!;
      if ("value" in descriptor) {
        enqueue(descriptor.value);
        if (OVERRIDABLE.has(key) && descriptor.configurable && typeof object !== "function") allowOverrideByAssignment(object, key, descriptor.value, descriptor.enumerable);
      } else {
        enqueue(descriptor.get);
        enqueue(descriptor.set);
      }
    }
    Object.freeze(object);
  }
}

/** Turns `object[key]` into an accessor: reads give `value`, an assignment on a derived object defines it there. */
function allowOverrideByAssignment(object: object, key: PropertyKey, value: unknown, enumerable: boolean | undefined): void {
  Object.defineProperty(object, key, {
    get: () => value,
    set(this: object, replacement: unknown) {
      if (this === object) throw new TypeError(`Cannot assign to read only property '${String(key)}' of a frozen intrinsic`);
      Object.defineProperty(this, key, { value: replacement, writable: true, enumerable: true, configurable: true });
    },
    enumerable,
    configurable: false,
  });
}
