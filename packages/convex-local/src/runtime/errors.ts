/** Errors a function call can end with, and how Convex words them for clients. */
import type { JSONValue } from "convex/values";
import { truncateText } from "../text/valueText.js";

/** A failure to report to the caller as a function error (HTTP 560, `status: "error"`). */
export class FunctionError extends Error {
  constructor(
    message: string,
    readonly errorData?: JSONValue,
  ) {
    super(message);
    this.name = "FunctionError";
  }
}

/**
 * A canonical function path as Convex names it in errors (`UdfPath::strip`, sync_types/udf_path.rs):
 * `messages:list`, and `messages` for a default export.
 */
export function strippedFunctionPath(canonicalPath: string): string {
  return canonicalPath.endsWith(":default") ? canonicalPath.slice(0, -":default".length) : canonicalPath;
}

/**
 * The function path names nothing this caller may call, in the words of Convex's
 * `missing_or_internal_error` (crates/udf/src/validation.rs): the same for a missing function
 * and an internal one called from outside, so neither is revealed.
 */
export class FunctionNotFoundError extends FunctionError {
  constructor(canonicalPath: string) {
    super(`Could not find public function for '${strippedFunctionPath(canonicalPath)}'.`);
    this.name = "FunctionNotFoundError";
  }
}

/** A function path Convex would refuse (over HTTP a 400 `BadConvexFunctionIdentifier`), in Convex's words. */
export class InvalidFunctionPathError extends FunctionError {
  constructor(udfPath: string, reason: string) {
    super(`${truncateText(udfPath, 200)} is not a valid path to a Convex function. ${reason}`);
    this.name = "InvalidFunctionPathError";
  }
}

export class ArgumentValidationError extends FunctionError {
  constructor(detail: string) {
    super(`ArgumentValidationError: ${detail}`);
    this.name = "ArgumentValidationError";
  }
}

export class ReturnsValidationError extends FunctionError {
  constructor(detail: string) {
    super(`ReturnsValidationError: ${detail}`);
    this.name = "ReturnsValidationError";
  }
}

/** An execution went over the memory limit, in Convex's words; the thread that ran it was replaced. */
export class OutOfMemoryError extends FunctionError {
  constructor(limitMb: number) {
    super(`JavaScript execution ran out of memory (maximum memory usage: ${limitMb} MB)`);
    this.name = "OutOfMemoryError";
  }
}
