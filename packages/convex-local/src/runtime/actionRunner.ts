/**
 * Actions (`"use node"` ones included) and HTTP actions: each runs concurrently in an isolate of
 * its own with an ordinary event loop, under the action time limit, reaching the database only
 * through `actionHost` (whole queries and mutations, as on Convex).
 */
import { randomUUID } from "node:crypto";
import type { JSONValue } from "convex/values";
import type { Storage } from "../storage/index.js";
import { actionHost, type ActionServices } from "./actionHost.js";
import { exportedFunction, type FunctionCatalog, type Load } from "./functionCatalog.js";
import { failure, reportStrayError, runLogEntry, uncaughtMessage } from "./functionResults.js";
import { Isolate, type Outcome } from "./isolate.js";
import { parseFunctionPath } from "./modules.js";
import type { Caller, FunctionLogEntry, FunctionResult } from "./runner.js";
import { webGlobals } from "./webGlobals.js";

export interface ActionRunnerOptions {
  storage: Storage;
  catalog: FunctionCatalog;
  /** What an action's syscalls reach: nested queries, mutations and actions, system writes, files. */
  services: ActionServices;
  /** The environment variables an action sees. */
  environment: () => Record<string, string>;
  /** The `package.json` from which `"use node"` actions resolve packages. */
  nodeRequireFrom: () => string;
  timeoutMs: number;
  onLog?: (entry: FunctionLogEntry) => void;
}

export class ActionRunner {
  constructor(private readonly options: ActionRunnerOptions) {}

  /** Stops the executors of running actions. */
  async close(): Promise<void> {}

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
      const outcome = await this.runInNewIsolate(caller, logLines, node, (load) => {
        const fn = exportedFunction(load, modulePath, exportName);
        return fn.invokeAction(randomUUID(), JSON.stringify([validatedArgs]));
      });
      result = catalog.resultOf(info, outcome, logLines);
    } catch (error) {
      result = failure(error, logLines);
    }
    this.options.onLog?.(runLogEntry(path, "Action", started, result));
    return result;
  }

  /**
   * Routes a request through `convex/http.ts`; 404 when no route matches, as on Convex. `caller`
   * carries the identity of a valid `Authorization: Bearer` token, if the request had one.
   */
  async httpAction(request: Request, caller: Caller): Promise<Response> {
    const logLines: string[] = [];
    const started = performance.now();
    const url = new URL(request.url);
    const hasRouter = this.options.catalog.modules.has("http.js");
    if (!hasRouter) return new Response("No HTTP routes are defined (convex/http.ts)", { status: 404 });
    let routePath = url.pathname;
    const outcome = await this.runInNewIsolate(caller, logLines, false, async (load) => {
      const router = load("http.js").default as {
        lookup(path: string, method: string): [{ invokeHttpAction(request: Request): Promise<Response> }, string, string] | null;
      };
      const match = router.lookup(url.pathname, request.method);
      if (match === null) return new Response("No matching routes found", { status: 404 });
      routePath = match[2];
      return await match[0].invokeHttpAction(request);
    }, this.options.timeoutMs);
    const entry: FunctionLogEntry = {
      path: `${request.method} ${routePath}`,
      udfType: "HttpAction",
      timestamp: Date.now(),
      executionTimeMs: performance.now() - started,
      logLines,
    };
    if (outcome.ok && outcome.value instanceof Response) {
      this.options.onLog?.(entry);
      return outcome.value;
    }
    const message = outcome.ok ? "HTTP action did not return a Response" : uncaughtMessage(outcome.error, this.options.catalog.modules);
    this.options.onLog?.({ ...entry, error: message });
    return new Response(JSON.stringify({ code: "HttpActionError", message }), {
      status: 500,
      headers: { "Content-Type": "application/json" },
    });
  }

  /**
   * Runs an action or HTTP action in an isolate of its own. Isolates are not reused: a promise the
   * function left running (not awaited) could otherwise make syscalls while the next caller's
   * function runs there, under that caller's identity. `node`: a `"use node"` action (its crashes
   * are named as Convex's Node executor names them). Timers it left pending are cancelled when it
   * ends, or `lingerMs` later (an HTTP action's streamed body may still need them).
   */
  private async runInNewIsolate(caller: Caller, logLines: string[], node: boolean, invoke: (load: Load) => unknown, lingerMs = 0): Promise<Outcome> {
    const { catalog, storage, services } = this.options;
    const modules = catalog.modulesToRun();
    const isolate = new Isolate(modules, {
      synchronous: false,
      webGlobals: webGlobals({ actions: true }),
      nodeRequireFrom: this.options.nodeRequireFrom(),
      onStrayError: (error) => reportStrayError("an action failed after it had ended", error, modules),
      nodeCrashNames: node,
    });
    const host = actionHost(caller, logLines, services, catalog, storage);
    try {
      return await isolate.run(host, { invoke, now: null, seed: null, env: this.options.environment() }, this.options.timeoutMs);
    } finally {
      if (lingerMs === 0) isolate.clearTimers();
      // A streamed response's body may still use timers: they are cancelled at the action time limit.
      else setTimeout(() => isolate.clearTimers(), lingerMs).unref();
    }
  }
}
