/**
 * Test harness: a fresh backend on random ports over a temp data dir, and a scratch copy of a
 * fixture app pushed to it with the official `convex` CLI, exactly as a user would.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startBackend, type Backend } from "../src/api/backend.js";

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../..");
export const convexCli = path.join(repoRoot, "node_modules/convex/bin/main.js");

/** The installed `convex` package, which fixtures are pushed with (`npm run test:node24` installs a newer one than the locked). */
export const convexVersion = (JSON.parse(readFileSync(path.join(repoRoot, "node_modules/convex/package.json"), "utf8")) as { version: string }).version;

/** Whether the installed `convex` is `major.minor` or later: Convex changes some behaviours with the version an app is pushed with. */
export function convexAtLeast(major: number, minor: number): boolean {
  const [installedMajor, installedMinor] = convexVersion.split(".").map(Number);
  return installedMajor > major || (installedMajor === major && installedMinor >= minor);
}

export interface TestDeployment {
  backend: Backend;
  appDir: string;
  dataDir: string;
  /** Runs the official CLI in the app directory against the backend. */
  cli(args: string[]): Promise<{ stdout: string; stderr: string }>;
  cleanup(): Promise<void>;
}

export async function startTestBackend(dataDir = mkdtempSync(path.join(tmpdir(), "convex-local-data-"))): Promise<Backend> {
  return await startBackend({ dataDir, port: 0, sitePort: 0, queryTimeoutMs: 1000 });
}

/**
 * Copies `test/fixtures/<name>` to a temp dir, starts a backend, sets the deployment's environment
 * variables (the push evaluates auth.config.ts with them) and deploys the app to it.
 */
export async function deployFixture(name = "app", environment: Record<string, string> = {}): Promise<TestDeployment> {
  const root = mkdtempSync(path.join(tmpdir(), "convex-local-test-"));
  const appDir = path.join(root, "app");
  const dataDir = path.join(root, "data");
  cpSync(path.join(here, "fixtures", name), appDir, { recursive: true });
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(appDir, "node_modules"), "dir");
  const backend = await startTestBackend(dataDir);
  const cli = (args: string[]) =>
    run(process.execPath, [convexCli, ...args], {
      cwd: appDir,
      env: { ...cleanEnv(), CONVEX_SELF_HOSTED_URL: backend.url, CONVEX_SELF_HOSTED_ADMIN_KEY: backend.adminKey },
      timeout: 120_000,
    });
  for (const [variable, value] of Object.entries(environment)) await cli(["env", "set", variable, value]);
  await cli(["deploy", "--yes", "--typecheck", "disable"]);
  return {
    backend,
    appDir,
    dataDir,
    cli,
    async cleanup() {
      await backend.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** This process's environment without any `CONVEX_*` variable (none may point the CLI elsewhere). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("CONVEX_")) delete env[name];
  return env;
}

/** Polls `check` every 25 ms until it returns a truthy value, and resolves with it; fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms (last value ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The live child processes of this test process whose command line contains `program` (Linux: read from /proc; zombies left out). */
export function childProcesses(program: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const [state, parent] = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      if (Number(parent) === process.pid && state !== "Z" && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(program)) found.push(Number(pid));
    } catch {
      // a process that ended while being read
    }
  }
  return found;
}
