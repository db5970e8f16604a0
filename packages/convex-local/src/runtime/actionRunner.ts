/**
 * Actions (`"use node"` ones included) and HTTP actions, run off the backend's main thread: each
 * runs in an executor of its own (actionExecution/), default-runtime actions and HTTP actions in a
 * pool of worker threads, `"use node"` actions in a pool of Node processes, as Convex runs them.
 * The main thread keeps the time limit (it ends the executor, preempting any loop) and answers the
 * action's syscalls through `actionHost`: it reaches the database only through whole queries and
 * mutations, as on Convex.
 *
 * Pool sizes: at most {@link MAX_ACTION_WORKERS} actions of the default runtime run at once (each
 * worker costs about 8 MiB at rest and up to 96 MiB of heap (executorConnection.ts); Convex allows 300
 * isolate workers on its own hardware), and {@link MAX_NODE_PROCESSES} Node actions (about 40 MiB
 * each at rest, up to 512 MiB). Further runs wait for a free executor.
 *
 * Push analysis runs in these executors too (moduleEvaluation.ts): a worker or Node process that
 * analyzed a push already holds its modules when the push's first actions run.
 */
import { randomUUID } from "node:crypto";
import { availableParallelism } from "node:os";
import type { JSONValue } from "convex/values";
import type { Storage } from "../storage/index.js";
import { actionHost, type ActionServices } from "./actionHost.js";
import { NODE_HEAP_MB, startDefaultRuntimeExecutor, startNodeExecutor, type ExecutorExit } from "./actionExecution/executorConnection.js";
import { CONVEX_USER_HEAP_MB } from "./runtimeProcess.js";
import { ExecutorPool } from "./actionExecution/executorPool.js";
import type { Invocation } from "./actionExecution/protocol.js";
import { runRemotely, type RemoteOutcome, type RemoteRunRequest } from "./actionExecution/remoteRun.js";
import type { FunctionCatalog } from "./functionCatalog.js";
import { failure, hostHttpActionFailure, runLogEntry, thrownHttpActionFailure, type HttpActionFailure } from "./functionResults.js";
import { parseFunctionPath } from "./modules.js";
import { httpModuleOf, routeHttpRequest } from "./httpRouting.js";
import type { Caller, FunctionLogEntry, FunctionResult } from "./runner.js";

export const MAX_ACTION_WORKERS = 64;
export const MAX_NODE_PROCESSES = 16;
/** Executors of a pool starting at once: one per core, so a burst of starts leaves the main thread its share. */
const STARTING_AT_ONCE = availableParallelism();

export interface ActionRunnerOptions {
  storage: Storage;
  catalog: FunctionCatalog;
  /** What an action's syscalls reach: nested queries, mutations and actions, system writes, files. */
  services: ActionServices;
  /** The environment variables an action sees. */
  environment: () => Record<string, string>;
  /** The `package.json` from which `"use node"` actions resolve packages. */
  nodeRequireFrom: () => string;
  /** Time limit of a default-runtime action or HTTP action. */
  timeoutMs: number;
  /** Time limit of a `"use node"` action. */
  nodeTimeoutMs: number;
  onLog?: (entry: FunctionLogEntry) => void;
}

/** Convex's words for an isolate past its heap limit (crates/isolate/src/termination.rs, OutOfMemoryError). */
function outOfMemoryMessage(limitMb: number): string {
  return `JavaScript execution ran out of memory (maximum memory usage: ${limitMb} MB)`;
}

function headerEntries(headers: Headers): [string, string][] {
  const entries: [string, string][] = [];
  headers.forEach((value, name) => entries.push([name, value]));
  return entries;
}

/** A default-runtime worker ends only by running out of memory, or by a bug of the backend. */
function describeWorkerExit(exit: ExecutorExit): string {
  return exit.outOfMemory ? outOfMemoryMessage(CONVEX_USER_HEAP_MB) : `The action's isolate ended unexpectedly (${exit.reason})`;
}

/** A Node process can also crash natively (a signal), as Convex's Node executor server can (local.rs drops it). */
function describeProcessExit(exit: ExecutorExit, task: string): string {
  return exit.outOfMemory ? outOfMemoryMessage(NODE_HEAP_MB) : `Node server request failed: the Node.js process ${task} exited (${exit.reason})`;
}

/** A run in an executor, as ActionRunner.runRemotely takes it: the pool and crash texts are the runner's. */
export type ExecutorRunRequest = Omit<RemoteRunRequest, "pool" | "describeExit">;

export class ActionRunner {
  private readonly workers = new ExecutorPool({ start: startDefaultRuntimeExecutor, maxExecutors: MAX_ACTION_WORKERS, maxStarting: STARTING_AT_ONCE, warmSpares: 2, maxIdle: 8 });
  private readonly processes = new ExecutorPool({ start: startNodeExecutor, maxExecutors: MAX_NODE_PROCESSES, maxStarting: STARTING_AT_ONCE, warmSpares: 1, maxIdle: 4 });

  constructor(private readonly options: ActionRunnerOptions) {}

  /** The time limit of a `"use node"` action (push analysis in a Node process gets it too). */
  get nodeTimeoutMs(): number {
    return this.options.nodeTimeoutMs;
  }

  /** Ends every executor: actions still running fail. */
  async close(): Promise<void> {
    await Promise.all([this.workers.close(), this.processes.close()]);
  }

  async action(path: string, args: JSONValue, caller: Caller): Promise<FunctionResult> {
    const { catalog } = this.options;
    const logLines: string[] = [];
    const started = performance.now();
    let result: FunctionResult;
    try {
      const info = catalog.resolve(path, caller, "Action");
      const validatedArgs = catalog.checkArgs(info, args);
      const { modulePath, exportName } = parseFunctionPath(info.path);
      const node = catalog.modules.get(modulePath)?.environment === "node";
      const invocation: Invocation = { kind: "action", modulePath, exportName, argsJson: JSON.stringify([validatedArgs]), requestId: randomUUID() };
      const { outcome } = await this.run(caller, logLines, node, invocation);
      result = catalog.resultOf(info, outcome, logLines);
    } catch (error) {
      result = failure(error, logLines);
    }
    this.options.onLog?.(runLogEntry(path, "Action", started, result));
    return result;
  }

  /**
   * Routes a request through `convex/http.ts`; 404 when no route matches, as on Convex. `caller`
   * carries the identity of a valid `Authorization: Bearer` token, if the request had one. Resolves
   * with the app's Response, or with how the run failed (the API answers it in Convex's shape).
   */
  async httpAction(request: Request, caller: Caller): Promise<Response | HttpActionFailure> {
    const logLines: string[] = [];
    const started = performance.now();
    // The app's `http.js` (under its httpPrefix), or a mounted component's (`app.use(x, { httpPrefix })`).
    const route = routeHttpRequest(this.options.catalog.analysis, new URL(request.url).pathname, request.method);
    if (route === null) return new Response("No HTTP routes are defined (convex/http.ts)", { status: 404 });
    const invocation: Invocation = {
      kind: "http",
      method: request.method,
      url: request.url,
      headers: headerEntries(request.headers),
      hasBody: request.body !== null,
      routedPath: route.routedPath,
      ...(route.namespace === "" ? {} : { router: httpModuleOf(route.namespace) }),
    };
    let result: RemoteOutcome | undefined;
    let failed: HttpActionFailure;
    try {
      result = await this.run(caller, logLines, false, invocation, request.body);
      failed = result.outcome.ok
        ? hostHttpActionFailure(new Error("HTTP actions must return a Response"))
        : thrownHttpActionFailure(result.outcome.error, this.options.catalog.modules);
    } catch (error) {
      failed = hostHttpActionFailure(error);
    }
    const entry: FunctionLogEntry = {
      path: `${request.method} ${result?.routePath ?? new URL(request.url).pathname}`,
      udfType: "HttpAction",
      timestamp: Date.now(),
      executionTimeMs: performance.now() - started,
      logLines,
    };
    if (result?.outcome.ok && result.response !== undefined) {
      this.options.onLog?.(entry);
      return result.response;
    }
    this.options.onLog?.({ ...entry, error: failed.trace });
    return failed;
  }

  /** Runs in a worker (default runtime) or a Node process (`"use node"`): an action, an HTTP action, or push analysis. */
  runRemotely(node: boolean, request: ExecutorRunRequest): Promise<RemoteOutcome> {
    const task = request.invocation.kind === "analyze" || request.invocation.kind === "authConfig" ? "analyzing the pushed modules" : "running the action";
    return runRemotely({
      ...request,
      pool: node ? this.processes : this.workers,
      describeExit: node ? (exit) => describeProcessExit(exit, task) : describeWorkerExit,
    });
  }

  /** Runs an action or HTTP action of the installed deployment. */
  private run(caller: Caller, logLines: string[], node: boolean, invocation: Invocation, requestBody?: ReadableStream<Uint8Array> | null): Promise<RemoteOutcome> {
    const { catalog, storage, services } = this.options;
    return this.runRemotely(node, {
      modules: catalog.modulesToRun(),
      nodeRequireFrom: node ? this.options.nodeRequireFrom() : undefined,
      env: this.options.environment(),
      invocation,
      host: actionHost(caller, logLines, services, catalog, storage, invocation.kind === "action" ? `${invocation.modulePath}:${invocation.exportName}` : undefined),
      logLines,
      timeoutMs: node ? this.options.nodeTimeoutMs : this.options.timeoutMs,
      requestBody,
    });
  }
}
