/**
 * Where a worker thread or child process of the runtime starts. From the compiled package that is
 * the module's `.js` file; when the sources run directly (the tests), it is the `.ts` file, loaded
 * through `scripts/from-source/register.mjs`.
 *
 * @example
 * const entry = threadEntry(new URL("./queryWorker.js", import.meta.url));
 * new Worker(entry.url, { execArgv: entry.execArgv });
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface ThreadEntry {
  url: URL;
  /** Node options the thread or process needs to load `url`. */
  execArgv: string[];
}

const fromSource = new URL("../../scripts/from-source/register.mjs", import.meta.url);

export function threadEntry(compiled: URL): ThreadEntry {
  if (existsSync(fileURLToPath(compiled))) return { url: compiled, execArgv: [] };
  const source = new URL(compiled.href.replace(/\.js$/, ".ts"));
  if (!existsSync(fileURLToPath(source))) throw new Error(`convex-local is incomplete: ${fileURLToPath(compiled)} is missing`);
  return { url: source, execArgv: ["--import", fromSource.href] };
}
