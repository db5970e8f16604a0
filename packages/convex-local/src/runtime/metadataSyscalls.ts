/**
 * The metadata syscalls behind `ctx.meta` of `convex/server` (1.48+), answered as a self-hosted
 * Convex backend answers them (crates/isolate/src/environment/{udf,action}/async_syscall.rs), and
 * Convex's error for a syscall it does not know, which the `convex` package recognises (e.g.
 * `getTransactionMetrics()` in an action turns it into its own explanation).
 *
 * @example
 * metadataSyscall("1.0/getFunctionMetadata", "messages.js:list") // { name: "messages:list", componentPath: "" }
 */
import type { JSONValue } from "convex/values";
import { parseFunctionPath } from "./modules.js";

/** The deployment's name, as `/instance_name` answers it. */
export const DEPLOYMENT_NAME = "convex-local";

/** `ctx.meta.getFunctionMetadata()` / `getDeploymentMetadata()`, or undefined for another syscall. */
export function metadataSyscall(op: string, functionPath: string): JSONValue | undefined {
  switch (op) {
    case "1.0/getFunctionMetadata":
      return { name: strippedPath(functionPath), componentPath: "" };
    case "1.0/getDeploymentMetadata":
      // A self-hosted backend's (local_backend/src/lib.rs): no region, the smallest class.
      return { name: DEPLOYMENT_NAME, region: null, class: "s16" };
    default:
      return undefined;
  }
}

/** A function path as Convex shows it to the function (UdfPath::strip): no `.js`, no `:default`. */
function strippedPath(functionPath: string): string {
  const { modulePath, exportName } = parseFunctionPath(functionPath);
  const module = modulePath.replace(/\.js$/, "");
  return exportName === "default" ? module : `${module}:${exportName}`;
}

/** Convex's error for an async syscall it does not know. */
export function unknownAsyncOperation(op: string): Error {
  return new Error(`Unknown async operation ${op}`);
}

/** Convex's error for a synchronous syscall it does not know. */
export function unknownOperation(op: string): Error {
  return new Error(`Unknown operation ${op}`);
}

/** Convex's error for a JS syscall it does not know (udf-runtime's setup.ts). */
export function unknownJsSyscall(op: string): Error {
  return new Error(`Unknown JS syscall: ${op}`);
}
