/**
 * The system queries Convex serves from its own `_system/` modules
 * (npm-packages/system-udfs/convex/_system/**) for the CLI (`npx convex data`, `function-spec`,
 * `env`, `run`), the MCP server's tools and the dashboard, answered by the backend itself with
 * Convex's arguments and answers. As on Convex, only the admin — or a user the admin acts as —
 * may call them (crates/udf/src/validation.rs `require_admin_identity`); anyone else is told no
 * such public function exists.
 *
 *   const answer = systemQuery(context, { path: "_system/cli/tables", args: { paginationOpts }, caller, journal: null });
 *   // a QueryResult, or undefined when `path` names no system query (the runner answers it then)
 */
import type { Value } from "convex/values";
import { ArgumentValidationError, FunctionError } from "../../runtime/errors.js";
import { decodeArgs } from "../../runtime/functionCatalog.js";
import { failure } from "../../runtime/functionResults.js";
import { canonicalFunctionPath } from "../../runtime/modules.js";
import { componentPathOf, localName, namespaceOfName } from "../../runtime/components.js";
import type { QueryRequest, QueryResult } from "../../runtime/runner.js";
import { validateValue } from "../../runtime/validator.js";
import { apiSpec } from "./apiSpec.js";
import { cloudUrl } from "./deploymentUrl.js";
import { getEnvironmentVariable, listEnvironmentVariables } from "./environmentVariables.js";
import { getSchemas } from "./schemas.js";
import { listComponents } from "./components.js";
import { tableData } from "./tableData.js";
import { tables } from "./tables.js";
import { tableSize } from "./tableSize.js";
import { importById, latestExport, recentImports } from "../snapshot/snapshotJobs.js";
import type { SystemQuery, SystemQueryContext } from "./systemQuery.js";

export type { SystemQueryContext } from "./systemQuery.js";

/** Each system query by its canonical path. */
const SYSTEM_QUERIES: ReadonlyMap<string, SystemQuery> = new Map([
  ["_system/cli/queryEnvironmentVariables:default", listEnvironmentVariables],
  ["_system/cli/queryEnvironmentVariables:get", getEnvironmentVariable],
  ["_system/cli/tables:default", tables],
  ["_system/cli/tableData:default", tableData],
  ["_system/cli/tableSize:default", tableSize],
  ["_system/cli/modules:apiSpec", apiSpec],
  ["_system/cli/convexUrl:cloudUrl", cloudUrl],
  ["_system/frontend/getSchemas:default", getSchemas],
  ["_system/frontend/components:list", listComponents],
  ["_system/cli/exports:getLatest", latestExport],
  ["_system/cli/queryImport:default", importById],
  ["_system/cli/queryImport:list", recentImports],
]);

/**
 * Runs the system query `request` names; undefined when it names none. A path qualified with a
 * component's namespace (a client's `componentPath`, runtime/components.ts) runs the query in that
 * component, for the queries that answer there.
 */
export function systemQuery(context: SystemQueryContext, { path, args, caller, journal }: QueryRequest): QueryResult | undefined {
  const namespace = namespaceOfName(path);
  const local = localName(path);
  if (!local.startsWith("_system/")) return undefined;
  const canonical = canonicalFunctionPath(local);
  const query = SYSTEM_QUERIES.get(canonical);
  if (query === undefined) return undefined;
  const failed = (error: unknown): QueryResult => ({ result: failure(error, []), reads: [], journal: null, snapshotTs: context.storage.lastCommitTs() });
  // Convex names the path as given, without `.js` or `:default` (UdfPath::strip), after its component's path.
  const named = `${namespace === "" ? "" : `${componentPathOf(namespace)}/`}${canonical.replace(/:default$/, "")}`;
  if (!caller.admin) return failed(new FunctionError(`Could not find public function for '${named}'.`));
  if (namespace !== "" && !query.inComponents) return failed(new FunctionError(`Could not find function for '${named}'. convex-local answers this system query for the app only.`));
  if (namespace !== "" && !componentExists(context, namespace)) return failed(new FunctionError(`Component "${componentPathOf(namespace)}" not found: no component with this path is installed or holds data.`));
  try {
    const decoded = checkedArgs(args, canonical, query);
    const answer = query.run(context, decoded, journal, namespace);
    return {
      result: { status: "success", value: answer.value, logLines: [] },
      reads: answer.reads ?? [],
      journal: answer.journal ?? null,
      snapshotTs: answer.snapshotTs ?? context.storage.lastCommitTs(),
    };
  } catch (error) {
    return failed(error);
  }
}

/** Whether a component of `namespace` is installed or, unmounted, still holds tables. */
function componentExists({ analysis, storage }: SystemQueryContext, namespace: string): boolean {
  const installed = Object.keys(analysis()?.modules ?? {}).some((modulePath) => namespaceOfName(modulePath) === namespace);
  return installed || storage.listTables().some(({ name }) => namespaceOfName(name) === namespace);
}

/** The arguments as Convex values, checked against the query's validator as a function's are (functionCatalog.ts). */
function checkedArgs(args: QueryRequest["args"], path: string, query: SystemQuery): Record<string, Value> {
  const value = decodeArgs(args);
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof ArrayBuffer) {
    throw new ArgumentValidationError(`Function arguments for ${path} must be an object.`);
  }
  const mismatch = validateValue(value, query.args, () => null);
  if (mismatch !== null) throw new ArgumentValidationError(mismatch.message);
  return value as Record<string, Value>;
}
