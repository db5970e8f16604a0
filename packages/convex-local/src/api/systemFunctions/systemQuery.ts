/**
 * The shape of one system query: what it reads from, its arguments' validator and its handler.
 * The handlers mirror Convex's own `_system/` modules (npm-packages/system-udfs/convex/_system/**);
 * index.ts routes calls to them.
 *
 *   export const cloudUrl: SystemQuery = {
 *     args: argsValidator({}),
 *     run: ({ systemEnvironment }) => ({ value: systemEnvironment.CONVEX_CLOUD_URL! }),
 *   };
 */
import { v, type JSONValue, type PropertyValidators, type Value } from "convex/values";
import type { Storage } from "../../storage/index.js";
import type { DeploymentState } from "../../runtime/deployment.js";
import type { DeploymentAnalysis } from "../../runtime/functions.js";
import type { ValidatorJson } from "../../runtime/validator.js";
import type { ReadRange } from "../../transactions/transaction.js";
import { truncateText } from "../../text/valueText.js";

/** What system queries read: the database, the deployment's state and the variables every function sees. */
export interface SystemQueryContext {
  storage: Storage;
  deployment: DeploymentState;
  /** The analysis of the functions being served (undefined before the first push). */
  analysis(): DeploymentAnalysis | undefined;
  /** `CONVEX_CLOUD_URL` and `CONVEX_SITE_URL`, which Convex's system functions read from `process.env` too. */
  systemEnvironment: Readonly<Record<string, string>>;
}

/** A system query's answer; `reads` and `snapshotTs` when it read documents (so a subscription re-runs when they change). */
export interface SystemQueryAnswer {
  value: JSONValue;
  reads?: ReadRange[];
  snapshotTs?: bigint;
  /** The end cursor of its paginated read, repeated by a re-run (as a query's journal). */
  journal?: string | null;
}

export interface SystemQuery {
  /** The arguments' validator, checked before `run`. */
  args: ValidatorJson;
  /**
   * Whether it answers inside a component too, as Convex runs its `_system/` modules in each
   * component (`componentPath`: `npx convex data --component`, `run --component`'s list of functions).
   */
  inComponents?: boolean;
  /**
   * `args` are decoded Convex values; `journal` is the one the previous run returned; `namespace` the
   * component it runs in (runtime/components.ts; "" for the app, the only one unless `inComponents`).
   * Throws a function's error.
   */
  run(context: SystemQueryContext, args: Record<string, Value>, journal: string | null, namespace: string): SystemQueryAnswer;
}

/** The JSON form of the arguments validator `v.object(fields)`, as Convex's system functions declare theirs. */
export function argsValidator(fields: PropertyValidators): ValidatorJson {
  // `json` is the validator's JSON form, the one `exportArgs()` pushes (kept out of convex's public types).
  return (v.object(fields) as unknown as { json: ValidatorJson }).json;
}

/**
 * The `componentId` argument of the system functions that can read a component (Convex re-runs them
 * there): this deployment is the app alone, so only null or absent names it.
 */
export function requireApp(componentId: Value | undefined): void {
  if (componentId !== undefined && componentId !== null) {
    throw new Error(`convex-local does not support Convex components (componentId ${JSON.stringify(truncateText(String(componentId), 200))}).`);
  }
}
