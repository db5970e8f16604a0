/**
 * Issue #14: push analysis runs off the backend's main thread — default-runtime modules in an action
 * worker (4 s per module, Convex's ISOLATE_ANALYZE_USER_TIMEOUT), `"use node"` modules in a Node
 * process. A push whose module loops, allocates without bound, throws, exits or crashes at top
 * level fails with Convex's InvalidModules text (what `npx convex deploy` prints), while a control
 * client's queries keep their p95 and the deployment already serving keeps answering. The backend
 * is `convex-local start` (security/target.ts), so a crash that ended it would show.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./harness.js";
import { securityTarget, underAttack } from "./security/target.js";

const api = anyApi;
const run = promisify(execFile);
const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures/pushAnalysis");
const target = securityTarget("pushAnalysis");
const scratch = mkdtempSync(path.join(tmpdir(), "convex-local-push-analysis-"));

// Warm: the server's query workers and executors start with it; the control bar is for a running backend.
beforeAll(async () => await expectFirstPushServing(), 60_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Deploys the fixture app plus `extra` modules (path under convex/ → source) with the official CLI; resolves with what it printed. */
async function push(name: string, extra: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const appDir = path.join(scratch, name);
  cpSync(fixture, appDir, { recursive: true });
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(appDir, "node_modules"), "dir");
  for (const [file, source] of Object.entries(extra)) writeFileSync(path.join(appDir, "convex", file), source);
  const env: NodeJS.ProcessEnv = { ...process.env, CONVEX_SELF_HOSTED_URL: target.url, CONVEX_SELF_HOSTED_ADMIN_KEY: target.adminKey };
  delete env.CONVEX_DEPLOYMENT;
  delete env.CONVEX_DEPLOY_KEY;
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(repoRoot, "node_modules/convex/bin/main.js"), "deploy", "--yes", "--typecheck", "disable"], {
      cwd: appDir,
      env,
      timeout: 90_000,
    });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    return { ok: false, output: stdout + stderr };
  }
}

/** The first push's functions, default runtime and Node, still answer. */
async function expectFirstPushServing(): Promise<void> {
  const client = new ConvexHttpClient(target.url);
  expect(await client.query(api.live.version, {})).toBe("first push");
  expect(await client.action(api.nodeLive.digest, {})).toBe("d9913477");
}

/** Convex answers 400 `InvalidModules` with this message (crates/application/src/lib.rs, analyze_modules). */
const LOADING_FAILED = "Loading the pushed modules encountered the following\n    error:\n";

describe("a push whose module misbehaves at top level fails alone", () => {
  const cases: { name: string; source: string; error: string }[] = [
    { name: "loops", source: "while (true) {}\nexport {};\n", error: "Function execution timed out (maximum duration: 4s)" },
    {
      name: "allocates without bound",
      source: "const kept: number[][] = [];\nwhile (true) kept.push(new Array(100_000).fill(1));\nexport {};\n",
      error: "JavaScript execution ran out of memory (maximum memory usage: 64 MB)",
    },
    { name: "throws", source: 'throw new Error("top-level failure");\nexport {};\n', error: "Failed to analyze bad.js: Uncaught Error: top-level failure" },
    { name: "calls process.exit in a Node module", source: '"use node";\nprocess.exit(3);\nexport {};\n', error: "process.exit() called with exit code 3" },
    {
      name: "segfaults in a Node module",
      source: '"use node";\nprocess.kill(process.pid, "SIGSEGV");\nexport {};\n',
      error: "Node server request failed: the Node.js process analyzing the pushed modules exited (signal SIGSEGV)",
    },
  ];

  it.each(cases)("$name: the CLI prints Convex's error, the control client keeps its p95, the first push keeps serving", async ({ name, source, error }) => {
    const { result } = await underAttack(target, () => push(name.replace(/\W+/g, "-"), { "bad.ts": source }));
    expect(result.ok).toBe(false);
    expect(result.output).toContain("400 Bad Request: InvalidModules: ");
    expect(result.output).toContain(`${LOADING_FAILED}${error}`);
    await expectFirstPushServing();
  }, 120_000);

  it("accepts the next good push, and its functions and crons come from the analysis", async () => {
    const { ok, output } = await push("good", { "live.ts": 'import { query } from "./_generated/server";\nexport const version = query({ args: {}, handler: async () => "second push" });\n' });
    expect(ok, output).toBe(true);
    const client = new ConvexHttpClient(target.url);
    expect(await client.query(api.live.version, {})).toBe("second push");
    expect(await client.action(api.nodeLive.digest, {})).toBe("d9913477");
  }, 120_000);
});

describe("a failure no function owns in a Node executor process", () => {
  it("is reported as ending that process, not as the backend going on", async () => {
    const client = new ConvexHttpClient(target.url);
    await expect(client.action(api.nodeLive.strayRejection, {})).rejects.toThrow(/Uncaught unhandledRejection: .*ENOENT/);
    const reported = "outside any function in a Node action executor process (it is replaced)";
    // The child prints it after it answered the run: wait for its stderr.
    for (let waited = 0; !target.output().includes(reported) && waited < 5000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(target.output()).toContain(reported);
    expect(target.output()).not.toContain("(the backend keeps running)");
  }, 60_000);
});
