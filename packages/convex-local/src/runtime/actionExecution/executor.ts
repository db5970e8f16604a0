/**
 * The executor side of an action run, shared by the worker thread (default runtime, HTTP actions)
 * and the forked Node process (`"use node"`): for each `run` it builds a new `Isolate` (never
 * reused: a promise an action left running must not make syscalls in the next caller's run) with
 * a host whose syscalls are messages to the main thread, runs the action or HTTP action there and
 * reports the outcome, then serves an HTTP response body chunk by chunk as the main thread pulls it.
 * Push analysis runs the same way (moduleAnalysis.ts), its value plain data. One run at a time; the main thread enforces the time limit by ending the whole executor.
 */
import { exportedFunction, type Load } from "../functionCatalog.js";
import { reportStrayError } from "../functionResults.js";
import { Isolate, type CallHost, type Outcome } from "../isolate.js";
import { appendLogLine } from "../logs.js";
import type { CompiledModule } from "../modules.js";
import { webGlobals } from "../webGlobals.js";
import { readAuthConfig, unsetVariableError } from "./authConfig.js";
import { readComponentDefinition } from "./componentDefinition.js";
import { inspectModules } from "./moduleAnalysis.js";
import { crashError, decodeJsValue, encodeJsValue, type BodyChunk, type ExecutorMessage, type HostMessage, type Invocation, type ResponseHead, type RunMessage } from "./protocol.js";

/** The router `convex/http.ts` exports, as the `convex` package builds it. */
interface HttpRouter {
  lookup(path: string, method: string): [{ invokeHttpAction(request: Request): Promise<Response> }, string, string] | null;
}

/** The run under way: its isolate, its pending syscalls and the bodies it streams. */
interface Run {
  isolate: Isolate;
  syscalls: Map<number, { resolve(value: unknown): void; reject(error: Error): void }>;
  /** Set once its outcome was sent: later failures are stray. */
  reported: boolean;
  requestBodyWaiter?: (part: BodyChunk) => void;
  responseBody?: ReadableStreamDefaultReader<unknown>;
}

export class ActionExecutor {
  private modules: { version: number; map: ReadonlyMap<string, CompiledModule> } | undefined;
  private run: Run | undefined;
  private nextCallId = 1;

  constructor(private readonly send: (message: ExecutorMessage) => void) {}

  receive(message: HostMessage): void {
    switch (message.type) {
      case "run":
        // A failure to set the run up (not the action's own error) fails it and retires this executor.
        this.start(message).catch((error: unknown) => this.send({ type: "outcome", outcome: { ok: false, error: crashError("Error", error) }, exiting: true }));
        return;
      case "syscallResult": {
        const pending = this.run?.syscalls.get(message.callId);
        if (pending === undefined) return;
        this.run!.syscalls.delete(message.callId);
        if (message.ok) pending.resolve(message.value);
        else pending.reject(Object.assign(new Error(message.error.message), message.error.data === undefined ? {} : { data: message.error.data }));
        return;
      }
      case "requestBodyChunk": {
        const waiter = this.run?.requestBodyWaiter;
        if (this.run) this.run.requestBodyWaiter = undefined;
        waiter?.(message.part);
        return;
      }
      case "responsePull":
        void this.sendResponseChunk();
        return;
      case "responseCancel":
        this.endResponse();
        return;
    }
  }

  /**
   * A failure of the whole process (a Node executor's `uncaughtException`, `unhandledRejection`):
   * fails the running action with it in Convex's words; between actions it is reported and the
   * executor ends, as Convex's Node executor exits after any of them. Returns whether a run took it.
   */
  crashed(kind: string, failure: unknown): boolean {
    const run = this.run;
    if (run === undefined || run.reported) return false;
    this.report(run, { outcome: { ok: false, error: crashError(kind, failure) }, exiting: true });
    return true;
  }

  private async start(message: RunMessage): Promise<void> {
    if (message.modules !== undefined) this.modules = { version: message.modules.version, map: new Map(message.modules.modules) };
    const modules = this.modules?.version === message.modulesVersion ? this.modules.map : undefined;
    if (modules === undefined) throw new Error("An action run arrived without its modules");
    const node = message.nodeRequireFrom !== undefined;
    // The Node process is the action's own: packages it requires read the deployment's variables, as in Convex's Node executor.
    if (node) process.env = { ...message.env };
    const isolate = new Isolate(modules, {
      synchronous: false,
      webGlobals: webGlobals({ actions: true }),
      nodeRequireFrom: message.nodeRequireFrom,
      onStrayError: (error) => reportStrayError("an action failed after it had ended", error, modules),
      nodeCrashNames: node,
    });
    const run: Run = { isolate, syscalls: new Map(), reported: false };
    this.run = run;
    let routePath: string | undefined;
    const invoke = (load: Load): unknown => {
      const { invocation } = message;
      if (invocation.kind === "action") return exportedFunction(load, invocation.modulePath, invocation.exportName).invokeAction(invocation.requestId, invocation.argsJson);
      if (invocation.kind === "analyze") return inspectModules(this.announcingLoad(load), modules, invocation.paths, invocation.withSchema);
      if (invocation.kind === "authConfig") return readAuthConfig(load);
      if (invocation.kind === "componentDefinition") return readComponentDefinition(load, invocation.modulePath);
      return this.routeRequest(load, invocation, (path) => (routePath = path));
    };
    // auth.config.js may read only variables the deployment sets, as on Convex.
    const unsetVariable = message.invocation.kind === "authConfig" ? unsetVariableError : undefined;
    const outcome = await isolate.run(this.proxyHost(run), { invoke, now: null, seed: null, env: message.env, unsetVariable });
    if (run.reported) return;
    if (message.invocation.kind !== "http" || !outcome.ok) {
      isolate.clearTimers();
      return this.report(run, { outcome, exiting: isolate.poisoned });
    }
    const response = outcome.value;
    if (!(response instanceof Response)) {
      isolate.clearTimers();
      return this.report(run, { outcome: { ok: true, value: null }, routePath, exiting: isolate.poisoned });
    }
    let head: ResponseHead;
    try {
      head = responseHead(response);
    } catch (error) {
      isolate.clearTimers();
      return this.report(run, { outcome: { ok: false, error: crashError("Error", error) }, routePath, exiting: false });
    }
    // Its timers stay until the body is over: a streamed body may need them.
    if (head.hasBody) run.responseBody = response.body!.getReader();
    else isolate.clearTimers();
    this.report(run, { outcome: { ok: true, value: null }, response: head, routePath, exiting: false });
  }

  private report(run: Run, result: { outcome: Outcome; response?: ResponseHead; routePath?: string; exiting: boolean }): void {
    run.reported = true;
    this.send({ type: "outcome", ...result });
  }

  /** Push analysis's loader: the main thread hears of each module it starts (its time limit is per module). */
  private announcingLoad(load: Load): Load {
    return (modulePath) => {
      this.send({ type: "progress", modulePath });
      return load(modulePath);
    };
  }

  /**
   * Looks the request's route up in `convex/http.ts` (or, for a mounted component, in its `http.js`
   * under the path left after its mount) and calls it; 404 when none matches, as on Convex.
   */
  private async routeRequest(load: Load, invocation: Extract<Invocation, { kind: "http" }>, matched: (routePath: string) => void): Promise<Response> {
    const request = new Request(invocation.url, {
      method: invocation.method,
      headers: invocation.headers,
      body: invocation.hasBody ? this.requestBody() : undefined,
      duplex: invocation.hasBody ? "half" : undefined,
    } as RequestInit);
    const router = load(invocation.router ?? "http.js").default as HttpRouter;
    const match = router.lookup(invocation.routedPath ?? new URL(invocation.url).pathname, invocation.method);
    if (match === null) return new Response("No matching routes found", { status: 404 });
    matched(match[2]);
    return await match[0].invokeHttpAction(request);
  }

  /** The request body, pulled from the main thread only as the action reads it. */
  private requestBody(): ReadableStream<Uint8Array> {
    const run = this.run!;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const part = await new Promise<BodyChunk>((resolve) => {
          run.requestBodyWaiter = resolve;
          this.send({ type: "requestBodyPull" });
        });
        if ("chunk" in part) controller.enqueue(part.chunk);
        else if ("done" in part) controller.close();
        else controller.error(new Error(part.error));
      },
      cancel: () => this.send({ type: "requestBodyCancel" }),
    });
  }

  private async sendResponseChunk(): Promise<void> {
    const run = this.run;
    const reader = run?.responseBody;
    if (reader === undefined) return this.send({ type: "responseChunk", part: { done: true } });
    let part: BodyChunk;
    try {
      const { value, done } = await reader.read();
      if (done) part = { done: true };
      else if (ArrayBuffer.isView(value)) part = { chunk: new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)) };
      else part = { error: "TypeError: an HTTP action's response body must be a stream of Uint8Arrays" };
    } catch (error) {
      part = { error: String((error as Error | null)?.message ?? error) };
    }
    if (!("chunk" in part)) this.endResponse();
    this.send({ type: "responseChunk", part });
  }

  /** The response is over (sent, failed or cancelled by the client): its stream and timers stop. */
  private endResponse(): void {
    const run = this.run;
    if (run === undefined) return;
    run.responseBody?.cancel().catch(() => undefined);
    run.responseBody = undefined;
    run.isolate.clearTimers();
  }

  /** The isolate's syscalls, answered by the main thread; log lines are kept within Convex's limits here. */
  private proxyHost(run: Run): CallHost {
    const call = (kind: "async" | "js", op: string, args: unknown, namespace?: string) =>
      new Promise<unknown>((resolve, reject) => {
        const callId = this.nextCallId++;
        run.syscalls.set(callId, { resolve, reject });
        this.send({ type: "syscall", callId, kind, op, args, ...(namespace ? { namespace } : {}) });
      });
    const lines: string[] = [];
    return {
      syscall: refuseSyncSyscall,
      asyncSyscall: (op, args, namespace) => call("async", op, args, namespace) as Promise<string>,
      jsSyscall: async (op, args, namespace) => decodeJsValue(await call("js", op, await encodeJsValue(args), namespace)),
      log: (level, args) => {
        const before = lines.length;
        appendLogLine(lines, level, args);
        if (lines.length > before) this.send({ type: "log", line: lines[lines.length - 1] });
      },
    };
  }
}

/** Actions have no transaction: the synchronous (database) syscalls of queries and mutations fail. */
export function refuseSyncSyscall(op: string): never {
  throw new Error(`The syscall ${op} is not available in actions`);
}

/** A Response's status and headers (`Set-Cookie` kept as separate lines), read in the executor: reading them may throw. */
function responseHead(response: Response): ResponseHead {
  const headers: [string, string][] = [];
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers.push([name, value]);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push(["set-cookie", cookie]);
  return { status: response.status, statusText: response.statusText, headers, hasBody: response.body !== null };
}
