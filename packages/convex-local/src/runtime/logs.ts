/** Formats `console.*` arguments into Convex log lines such as `[LOG] 'hello' { a: 1 }`. */
import { inspect } from "node:util";

export function formatLogLine(level: string, args: unknown[]): string {
  const parts = args.map((arg) => (typeof arg === "string" ? `'${arg}'` : inspect(arg, { depth: 4, breakLength: Infinity })));
  return `[${level}] ${parts.join(" ")}`;
}
