/**
 * The browser tests drive Debian's Chromium at /usr/bin/chromium through playwright-core (which cannot
 * download a browser here). Before `npm test` builds anything, this finds that browser, or installs it
 * with apt-get when it runs as root (as the bench does for PostgreSQL), or stops with one line naming the
 * command to run. `node scripts/test/chromium.mjs` runs the check; `ensureChromium` is also the vitest
 * global setup's (scripts/test/prerequisites.ts), for runs of `npx vitest` without `npm test`.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Where the browser tests (apps/web/tests/e2e, packages/convex-local/test/browser.test.ts) launch Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** An executable file's path, or undefined. */
function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return file;
  } catch {
    return undefined;
  }
}

/** The first `name` on the search path `searchPath` (a PATH value), or undefined. */
export function findOnPath(name, searchPath) {
  for (const dir of (searchPath ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const found = executable(path.join(dir, name));
    if (found) return found;
  }
  return undefined;
}

/**
 * What to do about Chromium, decided from the machine's state alone:
 * `{ action: "ready" }`, `{ action: "install", aptGet }` (root with apt-get), or
 * `{ action: "stop", message }` with the one line to print.
 *
 * @param {{ chromiumPath?: string, searchPath?: string, isRoot?: boolean }} [machine]
 */
export function planChromium(machine = {}) {
  const chromiumPath = machine.chromiumPath ?? CHROMIUM_PATH;
  const searchPath = machine.searchPath ?? process.env.PATH;
  const isRoot = machine.isRoot ?? process.getuid?.() === 0;
  if (executable(chromiumPath)) return { action: "ready" };
  const aptGet = findOnPath("apt-get", searchPath);
  if (aptGet && isRoot) return { action: "install", aptGet };
  const command = aptGet ? "sudo apt-get install -y chromium" : `install Chromium so that ${chromiumPath} runs it`;
  return { action: "stop", message: `npm test needs Chromium at ${chromiumPath} for the browser tests: run \`${command}\`, then npm test again.` };
}

/**
 * Makes sure Chromium is there: returns when it is (installing it first when the plan says so),
 * throws an Error whose message is the one line to print otherwise.
 *
 * @param {{ chromiumPath?: string, searchPath?: string, isRoot?: boolean, log?: (line: string) => void }} [machine]
 */
export function ensureChromium(machine = {}) {
  const chromiumPath = machine.chromiumPath ?? CHROMIUM_PATH;
  const log = machine.log ?? ((line) => process.stderr.write(`${line}\n`));
  const plan = planChromium(machine);
  if (plan.action === "ready") return;
  if (plan.action === "stop") throw new Error(plan.message);
  log(`Chromium is not installed (${chromiumPath}): running apt-get update and apt-get install -y chromium`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive", PATH: machine.searchPath ?? process.env.PATH };
  for (const args of [["update", "-q"], ["install", "-y", "-q", "chromium"]]) {
    const run = spawnSync(plan.aptGet, args, { stdio: ["ignore", process.stderr, process.stderr], env });
    if (run.status !== 0) {
      throw new Error(`apt-get ${args[0]} failed (${run.error?.message ?? `exit status ${run.status}`}): install Chromium yourself (apt-get install -y chromium), then npm test again.`);
    }
  }
  if (!executable(chromiumPath)) {
    throw new Error(`apt-get installed chromium but ${chromiumPath} is still missing: install Chromium so that ${chromiumPath} runs it, then npm test again.`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureChromium();
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
