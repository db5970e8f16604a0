/**
 * Push analysis's access to code: loads a set of modules (not yet installed) in a scratch isolate
 * and evaluates a function there, with no database, so a push can inspect what the modules export.
 */
import { FunctionError } from "./errors.js";
import type { FunctionCatalog, Load } from "./functionCatalog.js";
import { hostWithoutDatabase } from "./actionHost.js";
import { reportStrayError, uncaughtMessage } from "./functionResults.js";
import { Isolate } from "./isolate.js";
import type { CompiledModule } from "./modules.js";
import { ANONYMOUS } from "./runner.js";
import { webGlobals } from "./webGlobals.js";

export interface ModuleEvaluationOptions {
  /** Function handles created during evaluation resolve against the installed deployment. */
  catalog: FunctionCatalog;
  environment: () => Record<string, string>;
  nodeRequireFrom: () => string;
}

/** Evaluates `invoke` in a scratch isolate holding `modules`; `node`: Node's built-ins and packages available. */
export async function evaluateModules<T>(modules: ReadonlyMap<string, CompiledModule>, invoke: (load: Load) => T, node: boolean, options: ModuleEvaluationOptions): Promise<T> {
  const isolate = new Isolate(modules, {
    synchronous: false,
    webGlobals: webGlobals({ actions: true }),
    nodeRequireFrom: node ? options.nodeRequireFrom() : undefined,
    onStrayError: (error) => reportStrayError("a module failed after it was loaded for analysis", error, modules),
  });
  const logLines: string[] = [];
  const outcome = await isolate.run(hostWithoutDatabase(ANONYMOUS, logLines, options.catalog), {
    invoke: (load) => invoke(load),
    now: null,
    seed: null,
    env: options.environment(),
  });
  if (!outcome.ok) throw new FunctionError(uncaughtMessage(outcome.error, modules));
  return outcome.value as T;
}
