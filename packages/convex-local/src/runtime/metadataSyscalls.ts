/**
 * The metadata syscalls behind `ctx.meta` of `convex/server` (1.48+), answered as a self-hosted
 * Convex backend answers them (crates/isolate/src/environment/{udf,action}/async_syscall.rs), and
 * Convex's error for a syscall it does not know, which the `convex` package recognises (e.g.
 * `getTransactionMetrics()` in an action turns it into its own explanation).
 *
 * @example
 * metadataSyscall("1.0/getFunctionMetadata", "messages.js:list") // { name: "messages:list", componentPath: "" }
 */
import { componentPathOf, localName, namespaceOfName } from "./components.js";
import type { JSONValue } from "convex/values";
import type { Transaction } from "../transactions/transaction.js";
import { parseFunctionPath } from "./modules.js";
import { isSystemTableName } from "./components.js";
import { isJobTable } from "./scheduledFunctionsTable.js";

/** The deployment's name, as `/instance_name` answers it. */
export const DEPLOYMENT_NAME = "convex-local";

/** `ctx.meta.getFunctionMetadata()` / `getDeploymentMetadata()`, or undefined for another syscall. */
export function metadataSyscall(op: string, functionPath: string): JSONValue | undefined {
  switch (op) {
    case "1.0/getFunctionMetadata":
      return { name: strippedPath(localName(functionPath)), componentPath: componentPathOf(namespaceOfName(functionPath)) };
    case "1.0/getDeploymentMetadata":
      // A self-hosted backend's (local_backend/src/lib.rs): no region, the smallest class.
      return { name: DEPLOYMENT_NAME, region: null, class: "s16" };
    default:
      return undefined;
  }
}

/** Convex's limits that convex-local reports but does not count itself (knobs.rs TRANSACTION_MAX_READ_SET_INTERVALS, _NUM_SCHEDULED, _SCHEDULED_TOTAL_ARGUMENT_SIZE_BYTES). */
const MAX_DATABASE_QUERIES = 4096;
const MAX_FUNCTIONS_SCHEDULED = 1000;
const MAX_SCHEDULED_ARGS_BYTES = 16 * 1024 * 1024;

/**
 * `ctx.meta.getTransactionMetrics()`: what the transaction has used so far against its limits, in the
 * shape of Convex's `tx_metrics` (crates/isolate/src/environment/udf/async_syscall.rs). User-table
 * writes count as documents written, the jobs it scheduled as functions scheduled.
 */
export function transactionMetrics(transaction: Transaction): Record<string, { used: number; remaining: number }> {
  const { limits, writes, reads } = transaction;
  const read = transaction.readUsage;
  const userWrites = writes.filter((write) => !isSystemTableName(write.table));
  const scheduled = writes.filter((write) => isJobTable(write.table) && write.before === null && write.after !== null);
  const scheduledArgsBytes = scheduled.reduce((sum, write) => sum + JSON.stringify((JSON.parse(write.after!) as { args?: unknown }).args ?? null).length, 0);
  const metric = (used: number, limit: number) => ({ used, remaining: limit - used });
  return {
    bytesRead: metric(read.bytes, limits.maxBytesRead),
    bytesWritten: metric(userWrites.reduce((sum, write) => sum + (write.after?.length ?? 0), 0), limits.maxBytesWritten),
    databaseQueries: metric(reads.length, MAX_DATABASE_QUERIES),
    documentsRead: metric(read.documents, limits.maxDocumentsRead),
    documentsWritten: metric(userWrites.length, limits.maxDocumentsWritten),
    functionsScheduled: metric(scheduled.length, MAX_FUNCTIONS_SCHEDULED),
    scheduledFunctionArgsBytes: metric(scheduledArgsBytes, MAX_SCHEDULED_ARGS_BYTES),
  };
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
