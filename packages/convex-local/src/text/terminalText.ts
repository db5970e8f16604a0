/**
 * Text that clients control (function paths, logged values, error messages) made safe to print to
 * a developer's terminal: control characters would otherwise act there (ESC and CSI/OSC sequences
 * retitle the window, write the clipboard, move the cursor; CR overwrites a line; bidi controls
 * reorder what is shown), so each is printed as a visible escape such as `\x1b` or `\u009b`.
 */

import { truncateText } from "./valueText.js";

/** C0 controls but tab and newline, DEL, C1 controls, and Unicode's bidirectional overrides and isolates. */
const CONTROL_IN_TEXT = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
/** The same plus tab and newline, for one-line fields such as a function path. */
const CONTROL_IN_LINE = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

/** Multi-line text (log lines, error messages with stack traces): keeps newlines and tabs. */
export function terminalText(text: string): string {
  return text.replace(CONTROL_IN_TEXT, visibleEscape);
}

/** A one-line field: escapes newlines and tabs too, so it cannot start a forged line. */
export function terminalLine(text: string): string {
  return text.replace(CONTROL_IN_LINE, visibleEscape);
}

function visibleEscape(character: string): string {
  const code = character.charCodeAt(0);
  return code <= 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** Text for a backend log line: bounded as error quotes are, and escaped. */
export function printable(text: string): string {
  return terminalText(truncateText(text));
}

/** A failure for a backend log line: its message (or text), bounded and escaped. */
export function printableError(error: unknown): string {
  return printable(error instanceof Error ? error.message : String(error));
}
