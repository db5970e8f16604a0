/**
 * Push analysis's access to code: loads a set of modules (not yet installed) in an executor of the
 * kind that will run their functions — an action worker thread for the default runtime, a Node
 * process for `"use node"` modules — and analyzes them there, with no database, so a module whose
 * top level loops, allocates without bound or ends its process fails the push, not the backend.
 *
 * Only plain data crosses to an executor, so what runs there is named (an `AnalyzeInvocation`), not
 * passed as a function. Failures read as Convex reports them to the CLI
 * (crates/application/src/lib.rs `analyze_modules`, crates/isolate/src/environment/analyze.rs).
 */
import type { AnalyzeInvocation } from "./actionExecution/protocol.js";
import { authConfigFailure, invalidAuthConfig } from "./actionExecution/authConfig.js";
import { PushAnalysisError } from "./actionExecution/moduleAnalysis.js";
import { ANONYMOUS } from "./runner.js";
import type { ActionRunner } from "./actionRunner.js";
import { hostWithoutDatabase } from "./actionHost.js";
import type { FunctionCatalog } from "./functionCatalog.js";
import { uncaughtMessage } from "./functionResults.js";
import { FunctionTimeoutError, type ThrownError } from "./isolate.js";
import type { CompiledModule } from "./modules.js";

/** Convex's time limit per analyzed module (ISOLATE_ANALYZE_USER_TIMEOUT, crates/common/src/knobs.rs). */
export const ANALYZE_TIMEOUT_MS = 4000;

/** Convex's Node executor's answer when its request outlives the action time limit (crates/node_executor/src/executor.rs). */
const NODE_TIMEOUT_MESSAGE = "Function execution unexpectedly timed out. Check your function for infinite loops or other long-running operations.";

export interface ModuleEvaluationOptions {
  /** Whose executors run the analysis. */
  actions: ActionRunner;
  /** Function handles created during evaluation resolve against the installed deployment. */
  catalog: FunctionCatalog;
  environment: () => Record<string, string>;
  nodeRequireFrom: () => string;
}

/**
 * Runs the analysis `invocation` names over `modules` in an action worker,
 * or with `node` in a Node process; resolves with its plain-data result. Rejects with
 * PushAnalysisError in Convex's words when a module throws, loops past {@link ANALYZE_TIMEOUT_MS},
 * runs out of memory or ends its process.
 */
export async function evaluateModules<T>(modules: ReadonlyMap<string, CompiledModule>, invocation: AnalyzeInvocation, node: boolean, options: ModuleEvaluationOptions): Promise<T> {
  const { actions } = options;
  const logLines: string[] = [];
  let loading: string | undefined;
  let outcome;
  try {
    ({ outcome } = await actions.runRemotely(node, {
      modules,
      nodeRequireFrom: node ? options.nodeRequireFrom() : undefined,
      env: options.environment(),
      invocation,
      host: hostWithoutDatabase(ANONYMOUS, logLines, options.catalog),
      logLines,
      // A Node process gets the action time limit, as Convex's Node executor's request does.
      timeoutMs: node ? actions.nodeTimeoutMs : ANALYZE_TIMEOUT_MS,
      onProgress: (modulePath) => (loading = modulePath),
    }));
  } catch (error) {
    const message = node && error instanceof FunctionTimeoutError ? NODE_TIMEOUT_MESSAGE : (error as Error).message;
    throw invocation.kind === "authConfig" ? invalidAuthConfig(message) : new PushAnalysisError(loadingFailed(message));
  }
  if (!outcome.ok) {
    if (invocation.kind === "authConfig") throw authConfigFailure(outcome.error, modules);
    throw new PushAnalysisError(loadingFailed(describeFailure(outcome.error, loading, node, modules)));
  }
  return outcome.value as T;
}

/** Convex's InvalidModules message around the analysis's error. */
function loadingFailed(error: string): string {
  return `Loading the pushed modules encountered the following\n    error:\n${error}`;
}

/**
 * A module's own error names the module, as Convex does; a Node process's crash (`process.exit`,
 * `uncaughtException`) is its message alone, and so is an export the analysis refused.
 */
function describeFailure(error: ThrownError, loading: string | undefined, node: boolean, modules: ReadonlyMap<string, CompiledModule>): string {
  if (error.name === "PushAnalysisError") return error.message;
  if (node && (error.name === "process.exit" || error.name === "uncaughtException" || error.name === "unhandledRejection")) return error.message;
  // Convex's Node executor reports the message; its isolate the whole "Uncaught …" with frames.
  const text = node ? error.message : uncaughtMessage(error, modules);
  return loading === undefined ? text : `Failed to analyze ${loading}: ${text}`;
}
