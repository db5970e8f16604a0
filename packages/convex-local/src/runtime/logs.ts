/**
 * Convex's log lines: `console.*` arguments formatted as `[LOG] 'hello' { a: 1 }`, within Convex's
 * limits, so a function that logs (or fails with) a huge value cannot flood the log or the terminal.
 * The numbers and texts are Convex's own: convex-backend `crates/common/src/log_lines.rs`
 * (MAX_LOG_LINE_LENGTH, TRUNCATED_LINE_SUFFIX), `crates/isolate/src/environment/udf/mod.rs`
 * (MAX_LOG_LINES and the overflow line) and `crates/common/src/errors.rs` (MAX_ERROR_MESSAGE_LENGTH).
 */
import { inspect } from "node:util";
import { truncateUtf8 } from "../text/utf8Text.js";

/** A line's messages are cut at this many UTF-8 bytes, then marked with {@link TRUNCATED_LINE_SUFFIX}. */
export const MAX_LOG_LINE_BYTES = 32_768;
export const TRUNCATED_LINE_SUFFIX = " (truncated due to length)";
/** Lines an execution keeps, the last being {@link LOG_OVERFLOW_LINE} when it logged more. */
export const MAX_LOG_LINES = 256;
export const LOG_OVERFLOW_LINE = `[ERROR] Log overflow (maximum ${MAX_LOG_LINES}). Remaining log lines omitted.`;
/** Error messages from user code are cut (without a marker) at 64 KiB. */
export const MAX_ERROR_MESSAGE_BYTES = 1 << 16;

function formatLogLine(level: string, args: unknown[]): string {
  const parts = args.map((arg) => (typeof arg === "string" ? `'${arg}'` : inspect(arg, { depth: 4, breakLength: Infinity })));
  return boundLogLine(`[${level}] ${parts.join(" ")}`);
}

/**
 * A message that goes into a log line as it is, not formatted as a value: Convex's own texts
 * (`console.timeEnd`'s `label: 5ms`, `console.trace`'s frames) are not quoted as strings are.
 */
export function verbatim(text: string): object {
  return { [inspect.custom]: () => text };
}

/**
 * Adds a `console.*` call to an execution's lines as Convex's isolate does: past 255 lines, one
 * overflow line and then nothing (not even formatted), so neither the log nor the function's answer
 * (HTTP `logLines`, a Transition's) grows with what the function logs.
 */
export function appendLogLine(lines: string[], level: string, args: unknown[]): void {
  if (lines.length >= MAX_LOG_LINES) return;
  lines.push(lines.length === MAX_LOG_LINES - 1 ? LOG_OVERFLOW_LINE : formatLogLine(level, args));
}

/** An execution's log lines within Convex's limits on their number and length. */
export function boundLogLines(lines: string[]): string[] {
  const kept = lines.length < MAX_LOG_LINES ? lines : [...lines.slice(0, MAX_LOG_LINES - 1), LOG_OVERFLOW_LINE];
  return kept.map(boundLogLine);
}

/** A `[LEVEL] message` line whose message is at most {@link MAX_LOG_LINE_BYTES}, marked when cut. */
export function boundLogLine(line: string): string {
  const level = /^\[[A-Z]+\] /.exec(line)?.[0] ?? "";
  const message = line.slice(level.length);
  const kept = truncateUtf8(message, MAX_LOG_LINE_BYTES);
  // Cutting a cut line again yields the same line: the first MAX_LOG_LINE_BYTES bytes are unchanged.
  return kept === message ? line : `${level}${kept}${TRUNCATED_LINE_SUFFIX}`;
}

export function boundErrorMessage(message: string): string {
  return truncateUtf8(message, MAX_ERROR_MESSAGE_BYTES);
}
