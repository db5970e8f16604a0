/**
 * Push-time analysis: every pushed module is loaded once, in an executor of the kind that will run
 * its functions (moduleEvaluation.ts) — default-runtime modules in an action worker, `"use node"`
 * ones in a Node process, as Convex analyzes them — and what it exports is read there
 * (actionExecution/moduleAnalysis.ts), and auth.config.js in a run of its own
 * (actionExecution/authConfig.ts). Here the parts become the shapes `start_push` reports and the
 * runner uses. A module that loops, allocates without bound or crashes fails the push with
 * Convex's error; the backend and the deployment already serving are untouched.
 */
import { AUTH_CONFIG_MODULE } from "./actionExecution/authConfig.js";
import type { RawAnalysis } from "./actionExecution/moduleAnalysis.js";
import type { AuthProvider, DeploymentAnalysis, FunctionInfo } from "./functions.js";
import { isFunctionModule } from "./functions.js";
import type { CompiledModule } from "./modules.js";
import type { FunctionRunner } from "./runner.js";

export async function analyzeModules(runner: FunctionRunner, modules: ReadonlyMap<string, CompiledModule>): Promise<DeploymentAnalysis> {
  const byEnvironment = { isolate: [] as string[], node: [] as string[] };
  for (const module of modules.values()) {
    if (isFunctionModule(module.path)) byEnvironment[module.environment].push(module.path);
  }
  // All at once; a failure of the modules' analysis is reported before one of auth.config.js's, as Convex evaluates the auth config after.
  const authPart = modules.has(AUTH_CONFIG_MODULE) ? runner.evaluate<AuthProvider[]>(modules, { kind: "authConfig" }, false) : Promise.resolve([]);
  authPart.catch(() => undefined);
  // The two environments concurrently, as Convex analyzes them.
  const [isolatePart, nodePart] = await Promise.all([
    runner.evaluate<RawAnalysis>(modules, { kind: "analyze", paths: byEnvironment.isolate, withSchema: true }, false),
    byEnvironment.node.length === 0
      ? undefined
      : runner.evaluate<RawAnalysis>(modules, { kind: "analyze", paths: byEnvironment.node, withSchema: false }, true),
  ]);
  const functions = new Map<string, FunctionInfo>();
  for (const info of [...isolatePart.functions, ...(nodePart?.functions ?? [])]) functions.set(info.path, info);
  return {
    modules: { ...isolatePart.modules, ...(nodePart?.modules ?? {}) },
    functions,
    httpRoutes: isolatePart.httpRoutes,
    crons: isolatePart.crons,
    schema: isolatePart.schema,
    auth: await authPart,
  };
}
