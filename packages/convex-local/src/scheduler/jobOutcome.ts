/**
 * What a due job runs and how its run is recorded, in Convex's words
 * (convex-backend crates/application/src/scheduled_jobs/mod.rs `run_function`, and the
 * ModuleNotFound / FunctionNotFound texts of crates/model/src/modules/user_error.rs):
 *
 *   const target = scheduledTarget(runner.analysis, "jobs.js:send"); // { udfType } or { error }
 *   const state = outcomeState(result);                             // success, or failed with the error
 *
 * The function is looked up when the job runs, in the code deployed then: a module or export
 * removed since, or a target that is not a mutation or action, fails the job without running it.
 */
import type { DeploymentAnalysis } from "../runtime/functions.js";
import { localName } from "../runtime/components.js";
import { parseFunctionPath } from "../runtime/modules.js";
import type { FunctionResult } from "../runtime/runner.js";
import type { JobState } from "../runtime/scheduledFunctionsTable.js";

export type ScheduledTarget = { udfType: "Mutation" | "Action" } | { error: string };

/** The kind of function job `name` (`module.js:export`, qualified for a component's) runs, or the error its job fails with. */
export function scheduledTarget(analysis: DeploymentAnalysis | undefined, name: string): ScheduledTarget {
  const { modulePath: qualifiedModule, exportName } = parseFunctionPath(name);
  const module = analysis?.modules[qualifiedModule];
  // A component's module is named in its errors by its path inside the component, as Convex does.
  const modulePath = localName(qualifiedModule);
  if (module === undefined) return { error: `Couldn't find JavaScript module '${modulePath}'. Did you forget to run \`npx convex dev\`?` };
  const udfType = module.functions.find((fn) => fn.name === exportName)?.udfType;
  if (udfType === undefined) return { error: `Couldn't find ${rustDebug(exportName)} in module ${rustDebug(modulePath)}.` };
  if (udfType === "Mutation" || udfType === "Action") return { udfType };
  // Convex's format string spans two source lines, quotes and indentation included.
  return {
    error:
      `Unsupported function type. FunctionName(${rustDebug(exportName)}) in module "${modulePath}" is defined as a ${udfType}. "\n` +
      `                            "Only Mutation and Action can be scheduled.`,
  };
}

/**
 * The state a finished run leaves its job in. A failed job's `error` is the function's error as
 * Convex's `JsError` prints it: the message and each stack frame on a line of its own, each line
 * ending in a newline (crates/common/src/errors.rs, `impl Debug for JsError`).
 */
export function outcomeState(result: FunctionResult): JobState {
  return result.status === "success" ? { kind: "success" } : { kind: "failed", error: `${result.errorMessage}\n` };
}

/** A string as Rust's `{:?}` prints it (identifiers and module paths need only quotes and escapes). */
function rustDebug(text: string): string {
  return JSON.stringify(text);
}
