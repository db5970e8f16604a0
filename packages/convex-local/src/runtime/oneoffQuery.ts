/**
 * One-off queries (`POST /api/run_test_function`: `npx convex run --inline-query`, the MCP server's
 * `runOneoffQuery` tool), as Convex runs them (crates/application/src/lib.rs
 * `execute_standalone_module`): one ESM module, `testQuery.js`, not pushed, whose default export
 * must be a query, run once as the admin in a query worker on one snapshot and never cached.
 *
 * The module imports `query`/`internalQuery` from `convex:/_system/repl/wrappers.js` (Convex's
 * system-udfs `_system/repl/wrappers.ts` re-exports its generated builders): here that module is
 * the `convex` package's `queryGeneric`/`internalQueryGeneric`, bundled once with esbuild. Both
 * modules are compiled as pushed modules are (modules.ts) and go to the worker with the request
 * (`QueryRequest.oneoff`); the worker loads them in an isolate of their own, beside the pushed
 * modules, for that call only (queryExecution.ts), so nothing stays installed. Installed under a
 * component's namespace, the module reads and writes that component's tables (components.ts).
 *
 * The checks of the module's exports (`oneoffQueryFunction`) run inside the call, with the
 * query's time limit, since reading them runs the module's code.
 *
 * @example
 * const oneoff = prepareOneoffQuery({ path: "testQuery.js", source }, "");
 * const [executed] = await pool.run([{ path: oneoff.functionPath, args: {}, caller, journal: null, oneoff }], environment);
 */
import { createRequire } from "node:module";
import path from "node:path";
import { buildSync } from "esbuild";
import { qualifiedPath } from "./components.js";
import type { UdfType } from "./functions.js";
import { compileModule, ModuleCompileError, type CompiledModule } from "./modules.js";

/** The module path Convex gives every one-off query's module (convex-js cli/lib/runTestFunction.ts). */
export const ONEOFF_MODULE_PATH = "testQuery.js";
/** The module a one-off query imports its builders from, as `convex:/<this>`. */
export const REPL_WRAPPERS_PATH = "_system/repl/wrappers.js";
/** The `convex:` scheme of Convex's module specifiers: `convex:/<module path>` names a module of the caller's bundle. */
export const CONVEX_SCHEME_PREFIX = "convex:/";

/** A one-off query's modules, as a query worker loads them for its one call. */
export interface OneoffModule {
  /** The query's module and the wrappers it imports, qualified with the target component's namespace. */
  modules: CompiledModule[];
  /** The query's module path (qualified). */
  modulePath: string;
  /** The component whose tables it reads ("" for the app). */
  namespace: string;
}

/** A request Convex refuses before running anything: answered with HTTP 400 and `code`. */
export class OneoffQueryRefusal extends Error {
  constructor(
    readonly code: "InvalidModules" | "InvalidTestQuery" | "UnsupportedTestQuery",
    message: string,
  ) {
    super(message);
    this.name = "OneoffQueryRefusal";
  }
}

/** Convex's text for a module that fails to load or analyze (`execute_standalone_module`). */
export function unanalyzableModule(jsError: string): OneoffQueryRefusal {
  return new OneoffQueryRefusal("InvalidModules", `Could not analyze the given module:\n${jsError}`);
}

/** The modules of a one-off query whose module is `source`, targeting the component of `namespace`. */
export function prepareOneoffQuery(source: string, namespace: string): OneoffModule {
  let module: CompiledModule;
  try {
    module = compileModule({ path: qualifiedPath(namespace, ONEOFF_MODULE_PATH), source, environment: "isolate" });
  } catch (error) {
    if (error instanceof ModuleCompileError) throw unanalyzableModule(error.message);
    throw error;
  }
  const wrappers = { ...replWrappers(), path: qualifiedPath(namespace, REPL_WRAPPERS_PATH) };
  return { modules: [module, wrappers], modulePath: module.path, namespace };
}

let wrappersModule: CompiledModule | undefined;

/** `_system/repl/wrappers.js`: the `convex` package's query builders, bundled once per process. */
function replWrappers(): CompiledModule {
  if (wrappersModule !== undefined) return wrappersModule;
  // The `convex` this package runs with is the app's own (a peer dependency).
  const convexServer = createRequire(import.meta.url).resolve("convex/server");
  const built = buildSync({
    stdin: {
      contents: 'export { queryGeneric as query, internalQueryGeneric as internalQuery } from "convex/server";',
      resolveDir: path.dirname(convexServer),
      loader: "js",
    },
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["import"],
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  wrappersModule = compileModule({ path: REPL_WRAPPERS_PATH, source: built.outputFiles[0]!.text, environment: "isolate" });
  return wrappersModule;
}

/** An export as the `convex` package marks a registered function. */
interface RegisteredFunction {
  isQuery?: boolean;
  isMutation?: boolean;
  isAction?: boolean;
  isHttp?: boolean;
  isInternal?: boolean;
  exportArgs?: () => unknown;
  exportReturns?: () => unknown;
}

/** What the checks of a one-off module found: its default export, a query. */
export interface OneoffQueryFunction {
  fn: Record<string, (...args: unknown[]) => unknown>;
  /** The validators' JSON text, as the `convex` package exports them (null when none). */
  args: string | null;
  returns: string | null;
}

/**
 * The module's default export when it is a query; otherwise Convex's refusal, in Convex's order
 * (`execute_standalone_module`): any other exported function, then a default export that is no
 * function, then a mutation, action or HTTP action.
 */
export function oneoffQueryFunction(exports: Record<string, unknown>): OneoffQueryFunction {
  let found: { fn: RegisteredFunction; udfType: UdfType | "HttpAction" } | undefined;
  for (const [name, value] of Object.entries(exports)) {
    const fn = value as RegisteredFunction | null | undefined;
    if (fn === null || (typeof fn !== "object" && typeof fn !== "function")) continue;
    const udfType = fn.isQuery ? "Query" : fn.isMutation ? "Mutation" : fn.isAction ? "Action" : fn.isHttp ? "HttpAction" : undefined;
    if (udfType === undefined) continue;
    if (name !== "default") throw new OneoffQueryRefusal("InvalidTestQuery", "Only `export default` is supported.");
    found = { fn, udfType };
  }
  if (found === undefined) throw new OneoffQueryRefusal("InvalidTestQuery", "Default export is not a Convex function.");
  if (found.udfType === "Mutation") throw new OneoffQueryRefusal("UnsupportedTestQuery", "Mutations are not supported in the REPL yet.");
  if (found.udfType === "Action") throw new OneoffQueryRefusal("UnsupportedTestQuery", "Actions are not supported in the REPL yet.");
  if (found.udfType === "HttpAction") throw new OneoffQueryRefusal("UnsupportedTestQuery", "HTTP actions are not supported in the REPL yet.");
  return {
    fn: found.fn as OneoffQueryFunction["fn"],
    args: validatorText(found.fn.exportArgs?.()),
    returns: validatorText(found.fn.exportReturns?.()),
  };
}

function validatorText(exported: unknown): string | null {
  if (exported === undefined || exported === null) return null;
  if (typeof exported !== "string") throw unanalyzableModule("The default export's validator did not export as JSON text");
  return exported;
}
