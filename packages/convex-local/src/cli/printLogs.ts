/**
 * Prints each completed execution as `npx convex dev` does: one line per log line, then the error.
 * The log recorded them within Convex's limits; what clients control is escaped for the terminal.
 */
import type { Backend } from "../api/backend.js";
import { displayName } from "../runtime/components.js";
import { terminalLine, terminalText } from "../text/terminalText.js";

export function printLogs(backend: Backend): void {
  backend.log.subscribe((entry) => {
    // A cached query's code did not run: its lines were printed when it did. Most runs print nothing.
    if (entry.cached || (entry.logLines.length === 0 && entry.error === undefined)) return;
    const kind = entry.udfType === "HttpAction" ? "H" : entry.udfType[0];
    const prefix = `${new Date(entry.timestamp).toLocaleTimeString()} [${kind}] ${terminalLine(displayName(entry.path))}`;
    for (const line of entry.logLines) console.log(`${prefix} ${terminalText(line)}`);
    if (entry.error !== undefined) console.log(`${prefix} failed: ${terminalText(entry.error)}`);
  });
}
