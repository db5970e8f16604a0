/**
 * The pushed deployment as calls see it: looks a function path up (internal functions only for the
 * admin), validates a call's arguments and return value against the function's validators, and
 * turns an execution's outcome into the call's `FunctionResult`.
 */
import type { JSONValue, Value } from "convex/values";
import type { Storage } from "../storage/index.js";
import { decodeDocumentId } from "../storage/ids.js";
import { jsonToValue } from "../storage/values.js";
import { truncateText } from "../text/valueText.js";
import { checkValueNesting, prototypeFieldPath } from "./documentValues.js";
import { ArgumentValidationError, FunctionError, FunctionNotFoundError, ReturnsValidationError } from "./errors.js";
import { errorResult } from "./functionResults.js";
import type { AnalyzedSchema, DeploymentAnalysis, FunctionInfo, SchemaTable, UdfType } from "./functions.js";
import { displayName, localName, namespaceOfName, qualifiedPath, visibleTableName } from "./components.js";
import { functionHandle, functionPathOf, type FunctionAddress } from "./functionHandles.js";
import type { Outcome } from "./isolate.js";
import { canonicalFunctionPath, checkFunctionPath, type CompiledModule } from "./modules.js";
import type { Caller, Deployment, FunctionResult } from "./runner.js";
import { validateValue } from "./validator.js";

/** Loads one of the deployment's modules inside an isolate and returns its exports. */
export type Load = (modulePath: string) => Record<string, unknown>;

/** A function exported by a module as the `convex` package wraps it. */
type ConvexFunction = Record<string, (...args: unknown[]) => unknown>;

/** `modulePath`'s export `exportName`, loaded with `load`. */
export function exportedFunction(load: Load, modulePath: string, exportName: string): ConvexFunction {
  const fn = load(modulePath)[exportName] as ConvexFunction | undefined;
  if (fn === undefined) throw new FunctionNotFoundError(`${modulePath.slice(0, -3)}:${exportName}`);
  return fn;
}

/**
 * A call's arguments as Convex values; an ArgumentValidationError when they are nested too deeply
 * or not Convex JSON.
 */
export function decodeArgs(args: JSONValue): Value {
  try {
    checkValueNesting(args);
    return jsonToValue(args);
  } catch (error) {
    throw invalidArgs(error);
  }
}

/**
 * An ArgumentValidationError when a call's arguments are nested too deeply. Checked before
 * arguments go to another thread: copying them there would overflow the stack first.
 */
export function checkArgsNesting(args: JSONValue): void {
  try {
    checkValueNesting(args);
  } catch (error) {
    throw invalidArgs(error);
  }
}

function invalidArgs(error: unknown): ArgumentValidationError {
  // The message may quote a field name of any length.
  return new ArgumentValidationError(`Invalid argument encoding: ${truncateText((error as Error).message)}`);
}

export class FunctionCatalog {
  private deployment: Deployment | undefined;
  /** Per namespace (components.ts; "" for the app), the schema's tables by name when it validates writes (null otherwise); derived once per push. */
  private schemaTables = new Map<string, Map<string, SchemaTable> | null>();

  constructor(private readonly storage: Storage) {}

  get analysis(): DeploymentAnalysis | undefined {
    return this.deployment?.analysis;
  }

  /** The schema's tables of the code in `namespace` (the app's by default) when writes must match it, else null. */
  schemaByTable(namespace = ""): Map<string, SchemaTable> | null {
    return this.schemaTables.get(namespace) ?? null;
  }

  /** The pushed modules (none before the first push). */
  get modules(): ReadonlyMap<string, CompiledModule> {
    return this.deployment?.modules ?? new Map();
  }

  /** The pushed modules, for running a function: an error before the first push. */
  modulesToRun(): ReadonlyMap<string, CompiledModule> {
    if (this.deployment === undefined) throw new FunctionError("No functions have been pushed to this deployment yet.");
    return this.deployment.modules;
  }

  /** The `convex` package version the running push was made with (absent for pushes recorded before it was kept). */
  get udfServerVersion(): string | undefined {
    return this.deployment?.udfServerVersion;
  }

  install(deployment: Deployment): void {
    this.deployment = deployment;
    const tablesOf = (schema: AnalyzedSchema | null) => (schema?.schemaValidation ? new Map(schema.tables.map((table) => [table.tableName, table])) : null);
    this.schemaTables = new Map([["", tablesOf(deployment.analysis.schema)]]);
    for (const [namespace, schema] of Object.entries(deployment.analysis.componentSchemas ?? {})) this.schemaTables.set(namespace, tablesOf(schema));
  }

  /**
   * Looks a function up as `caller` may see it: internal functions only for the admin. A component's
   * function (a path qualified with its namespace, components.ts) only for the admin and for calls
   * from functions, never for clients.
   */
  resolve(path: string, caller: Caller, expected?: UdfType): FunctionInfo {
    const namespace = namespaceOfName(path);
    checkFunctionPath(localName(path));
    const canonical = qualifiedPath(namespace, canonicalFunctionPath(localName(path)));
    const info = this.deployment?.analysis.functions.get(canonical);
    if (info === undefined || (info.visibility === "internal" && !caller.admin) || (namespace !== "" && !caller.admin)) {
      throw new FunctionNotFoundError(displayName(canonical));
    }
    if (expected !== undefined && info.udfType !== expected) {
      throw new FunctionError(
        `Trying to execute ${canonical} as ${expected}, but it is defined as ${info.udfType}.`,
      );
    }
    return info;
  }

  /** `1.0/createFunctionHandle`: a handle for any of the deployment's functions, internal ones included. */
  createFunctionHandle(address: FunctionAddress, namespace = ""): string {
    return functionHandle(this.resolve(functionPathOf(address, namespace), { identity: null, admin: true }).path);
  }

  /** Checks a call's arguments (an object matching the function's validator, no `__proto__` field); returns them. */
  checkArgs(info: FunctionInfo, args: JSONValue): JSONValue {
    const value = decodeArgs(args);
    if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof ArrayBuffer) {
      throw new ArgumentValidationError(`Function arguments for ${info.path} must be an object.`);
    }
    if (info.args !== null) {
      const failure = validateValue(value, info.args, this.idTableOf(info));
      if (failure) throw new ArgumentValidationError(failure.message);
    }
    const prototypePath = prototypeFieldPath(value);
    if (prototypePath !== null) {
      throw new ArgumentValidationError(
        `Field name __proto__ is not supported in function arguments: inside the function it would set the object's prototype instead of a field.\nPath: ${truncateText(prototypePath)}`,
      );
    }
    return args;
  }

  /** Checks a return value (its JSON text) against the function's `returns` validator. */
  checkReturns(info: FunctionInfo, valueJson: unknown): void {
    if (info.returns === null || typeof valueJson !== "string") return;
    const failure = validateValue(jsonToValue(JSON.parse(valueJson)), info.returns, this.idTableOf(info));
    if (failure) throw new ReturnsValidationError(failure.message);
  }

  /** The call's result: its checked return value, or the error its code threw. */
  resultOf(info: FunctionInfo, outcome: Outcome, logLines: string[]): FunctionResult {
    if (!outcome.ok) return errorResult(outcome.error, logLines, this.modules);
    this.checkReturns(info, outcome.value);
    return { status: "success", value: JSON.parse(outcome.value as string) as JSONValue, logLines };
  }

  /** The table of an id as the function's own code names it (a component's tables by their own names: components.ts). */
  private idTableOf(info: FunctionInfo): (id: string) => string | null {
    const namespace = namespaceOfName(info.path);
    return (id) => {
      const decoded = decodeDocumentId(id);
      const stored = decoded === null ? undefined : this.storage.tableName(decoded.tableNumber);
      return stored === undefined ? null : visibleTableName(namespace, stored);
    };
  }
}
