/**
 * Convex's shapes for how a run ended: a failed call's `FunctionResult` (from a thrown error or an
 * error the function's code threw), the `Uncaught …` message with the user's own stack frames, the
 * log entry of a run, and the backend's log line for an error no call can take any more.
 *
 * A failed call's `errorMessage` is the text of Convex's `JsError` (crates/common/src/errors.rs,
 * `Display for JsError`): the message, a newline, then each stack frame on a line of its own, each
 * ending in a newline. Clients receive it after the `[Request ID: …] Server Error` line, a nested
 * call's caller as its error's message, a failed scheduled function in its state — as on Convex.
 */
import type { JSONValue } from "convex/values";
import { printable } from "../text/terminalText.js";
import { FunctionError } from "./errors.js";
import type { UdfType } from "./functions.js";
import { FunctionTimeoutError, type ThrownError } from "./isolate.js";
import { boundErrorMessage } from "./logs.js";
import { canonicalFunctionPath, type CompiledModule } from "./modules.js";
import type { FunctionLogEntry, FunctionResult } from "./runner.js";
import { userFrames } from "./stackTraces.js";

/** Convex's text of a function's error: `message`, then `frames` (see the module comment). */
export function jsErrorText(message: string, frames: readonly string[] = []): string {
  return `${message}\n${frames.map((frame) => `${frame}\n`).join("")}`;
}

/** Convex's `format_uncaught_error` (crates/isolate/src/helpers.rs): `Uncaught <name>: <message>`, leaving out an empty part. */
function uncaughtText(name: string, message: string): string {
  if (name !== "" && message !== "") return `Uncaught ${name}: ${message}`;
  if (name !== "" || message !== "") return `Uncaught ${name}${message}`;
  return "Uncaught";
}

/**
 * `Uncaught Error: message` plus the user's own frames, source-mapped, as Convex reports it. The
 * error keeps its own name (a `ConvexError` subclass's too). The message is cut at 64 KiB as Convex
 * cuts it when it builds the error (errors.rs), so the caller's answer is bounded too, not only the log.
 */
export function uncaughtMessage(error: ThrownError, modules: ReadonlyMap<string, CompiledModule>): string {
  return jsErrorText(uncaughtText(error.name, boundErrorMessage(error.message)), userFrames(error.stack, modules));
}

/** The result of a call whose code threw `error` (a `ConvexError` keeps its data). */
export function errorResult(error: ThrownError, logLines: string[], modules: ReadonlyMap<string, CompiledModule>): FunctionResult {
  const result: FunctionResult = { status: "error", errorMessage: uncaughtMessage(error, modules), logLines };
  if (error.data !== undefined) result.errorData = JSON.parse(error.data) as JSONValue;
  return result;
}

/**
 * What a nested `ctx.runQuery` / `ctx.runMutation` rejects with when the callee's code threw
 * `error`, as Convex's syscall error carries it (crates/isolate/src/environment/helpers/promise.rs):
 * the callee's whole error text as the message — the caller's `convex` code rethrows it from the
 * caller's frame, so it reads `Uncaught Error: Uncaught Error: …` — and a ConvexError's data, parsed.
 */
export function nestedCallError(error: ThrownError, modules: ReadonlyMap<string, CompiledModule>): Error {
  const rejection = new Error(uncaughtMessage(error, modules)) as Error & { data?: JSONValue };
  if (error.data !== undefined) rejection.data = JSON.parse(error.data) as JSONValue;
  return rejection;
}

/** The JSON text of results made by {@link resultFromJson}. */
const valueTexts = new WeakMap<FunctionResult, string>();

/**
 * A successful result whose value is the JSON text the function produced (a query's, sent by its
 * worker as text): parsed only when something reads `value`, and given back by {@link valueJsonOf}
 * without a parse and a re-serialization — an HTTP answer, the query cache and a subscription's
 * Transition use the text as it is.
 */
export function resultFromJson(valueJson: string, logLines: string[]): FunctionResult {
  let parsed = false;
  let value: JSONValue = null;
  const result: FunctionResult = {
    status: "success",
    get value(): JSONValue {
      if (!parsed) {
        value = JSON.parse(valueJson) as JSONValue;
        parsed = true;
      }
      return value;
    },
    logLines,
  };
  valueTexts.set(result, valueJson);
  return result;
}

/** The JSON text of a successful result's value: the function's own, when the result carries it. */
export function valueJsonOf(result: FunctionResult & { status: "success" }): string {
  return valueTexts.get(result) ?? JSON.stringify(result.value);
}

/**
 * The result of a call that failed outside the function's code (lookup, validation, time limit, the
 * host): Convex's message alone, no frames.
 */
export function failure(error: unknown, logLines: string[]): FunctionResult {
  const result: FunctionResult = { status: "error", errorMessage: jsErrorText(failureMessage(error)), logLines };
  if (error instanceof FunctionError && error.errorData !== undefined) result.errorData = error.errorData;
  return result;
}

function failureMessage(error: unknown): string {
  if (error instanceof FunctionError || error instanceof FunctionTimeoutError) return error.message;
  if (error instanceof Error) return `${error.name === "Error" ? "Uncaught Error" : error.name}: ${error.message}`;
  return String(error);
}

/** A failed HTTP action as Convex answers it (redaction.rs `to_http_response_parts`): its error's message, its whole text, a ConvexError's data. */
export interface HttpActionFailure {
  message: string;
  trace: string;
  data?: JSONValue;
}

/** The failure of an HTTP action whose code threw `error`. */
export function thrownHttpActionFailure(error: ThrownError, modules: ReadonlyMap<string, CompiledModule>): HttpActionFailure {
  const message = uncaughtText(error.name, boundErrorMessage(error.message));
  const failed: HttpActionFailure = { message, trace: jsErrorText(message, userFrames(error.stack, modules)) };
  if (error.data !== undefined) failed.data = JSON.parse(error.data) as JSONValue;
  return failed;
}

/** The failure of an HTTP action outside its code (time limit, the host). */
export function hostHttpActionFailure(error: unknown): HttpActionFailure {
  const message = failureMessage(error);
  return { message, trace: jsErrorText(message) };
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
