/**
 * Convex's shapes for how a run ended: a failed call's `FunctionResult` (from a thrown error or an
 * error the function's code threw), the `Uncaught …` message with the user's own stack frames, the
 * log entry of a run, and the backend's log line for an error no call can take any more.
 */
import type { JSONValue } from "convex/values";
import { printable } from "../text/terminalText.js";
import { FunctionError } from "./errors.js";
import type { UdfType } from "./functions.js";
import type { ThrownError } from "./isolate.js";
import { boundErrorMessage } from "./logs.js";
import { canonicalFunctionPath, type CompiledModule } from "./modules.js";
import type { FunctionLogEntry, FunctionResult } from "./runner.js";
import { userFrames } from "./stackTraces.js";

/**
 * `Uncaught Error: message` plus the user's own frames, source-mapped, as Convex reports it, with
 * the message cut at 64 KiB as Convex cuts it when it builds the error (errors.rs), so the caller's
 * answer is bounded too, not only the log.
 */
export function uncaughtMessage(error: ThrownError, modules: ReadonlyMap<string, CompiledModule>): string {
  const name = error.data !== undefined ? "ConvexError" : error.name;
  return [`Uncaught ${name}: ${boundErrorMessage(error.message)}`, ...userFrames(error.stack, modules)].join("\n");
}

/** The result of a call whose code threw `error` (a `ConvexError` keeps its data). */
export function errorResult(error: ThrownError, logLines: string[], modules: ReadonlyMap<string, CompiledModule>): FunctionResult {
  const result: FunctionResult = { status: "error", errorMessage: uncaughtMessage(error, modules), logLines };
  if (error.data !== undefined) result.errorData = JSON.parse(error.data) as JSONValue;
  return result;
}

/** The result of a call that failed outside the function's code (lookup, validation, time limit, the host). */
export function failure(error: unknown, logLines: string[]): FunctionResult {
  if (error instanceof FunctionError) {
    const result: FunctionResult = { status: "error", errorMessage: error.message, logLines };
    if (error.errorData !== undefined) result.errorData = error.errorData;
    return result;
  }
  const message = error instanceof Error ? `${error.name === "Error" ? "Uncaught Error" : error.name}: ${error.message}` : String(error);
  return { status: "error", errorMessage: message, logLines };
}

/** The log entry of a query, mutation or action that started at `started` (`performance.now()`). */
export function runLogEntry(path: string, udfType: UdfType, started: number, result: FunctionResult, cached = false): FunctionLogEntry {
  return {
    path: canonicalFunctionPath(path),
    udfType,
    timestamp: Date.now(),
    executionTimeMs: performance.now() - started,
    logLines: result.logLines,
    error: result.status === "error" ? result.errorMessage : undefined,
    ...(cached ? { cached } : {}),
  };
}

/** A failure of a function's code that no call can take any more: a backend log line, bounded. */
export function reportStrayError(what: string, error: ThrownError, modules: ReadonlyMap<string, CompiledModule>): void {
  const message = uncaughtMessage(error, modules);
  console.error(`convex-local: ${what}: ${printable(message)}`);
}
