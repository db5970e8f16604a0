/**
 * The target of the security regression tests: the `security` fixture deployed with the official
 * CLI, then served by a `convex-local start` child process (the built bin, as users run it), so an
 * attack that ends the process ends only that process, its memory is the server's own RSS, and
 * everything it prints is captured and counted.
 *
 * @example
 * const target = securityTarget();
 * it("survives X", async () => {
 *   const answer = await underAttack(target, () => sendX(target.url));
 *   expect(answer.status).toBe(400);
 * });
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { deployFixture, repoRoot, type TestDeployment } from "../harness.js";

const bin = path.join(repoRoot, "packages/convex-local/bin/convex-local.js");

/** Every control query must be answered within this while an attack runs (issue #13's bar). */
export const CONTROL_LATENCY_MS = 250;
/**
 * The fewest control queries an attack is measured with (one every 20 ms: at least 0.5 s of them).
 * With 25 the p95 is the second slowest, so one hiccup of the machine is not a failed test.
 */
const MIN_CONTROL_SAMPLES = 25;

export interface SecurityTarget {
  readonly url: string;
  readonly siteUrl: string;
  readonly adminKey: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Everything the server printed (stdout and stderr) so far. */
  output(): string;
  /** The server's resident memory now, in bytes (from /proc). */
  rssBytes(): number;
  /** Whether the server process is still running. */
  alive(): boolean;
}

interface Running {
  child: ChildProcess;
  url: string;
  siteUrl: string;
  printed: Buffer[];
  exited: boolean;
}

async function startServer(deployment: TestDeployment): Promise<Running> {
  const args = ["start", "--port", "0", "--site-port", "0", "--data", deployment.dataDir, "--admin-key", deployment.backend.adminKey];
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const printed: Buffer[] = [];
  const running: Running = { child, url: "", siteUrl: "", printed, exited: false };
  child.once("exit", () => (running.exited = true));
  child.stderr!.on("data", (chunk: Buffer) => printed.push(chunk));
  return await new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      printed.push(chunk);
      const match = /ready: deployment (http:\/\/\S+), HTTP actions (http:\/\/\S+)/.exec(Buffer.concat(printed).toString());
      if (match && running.url === "") {
        running.url = match[1];
        running.siteUrl = match[2];
        resolve(running);
      }
    });
    child.once("exit", (code) => reject(new Error(`convex-local exited before it was ready (code ${code}):\n${Buffer.concat(printed)}`)));
  });
}

/**
 * Deploys the security fixture (or another fixture app with a `control:ping` query) before the
 * calling file's tests and serves it from a child process; stops and removes it all after the file.
 */
export function securityTarget(fixture = "security"): SecurityTarget {
  let deployment: TestDeployment | undefined;
  let running: Running | undefined;
  beforeAll(async () => {
    deployment = await deployFixture(fixture);
    await deployment.backend.close();
    running = await startServer(deployment);
  }, 180_000);
  afterAll(async () => {
    if (running && !running.exited) {
      const gone = new Promise((resolve) => running!.child.once("exit", resolve));
      running.child.kill("SIGTERM");
      await gone;
    }
    await deployment?.cleanup();
  });
  const current = (): Running & { deployment: TestDeployment } => {
    if (running === undefined || deployment === undefined) throw new Error("The security target starts in beforeAll; use it inside a test");
    return { ...running, deployment };
  };
  return {
    get url() {
      return current().url;
    },
    get siteUrl() {
      return current().siteUrl;
    },
    get adminKey() {
      return current().deployment.backend.adminKey;
    },
    get dataDir() {
      return current().deployment.dataDir;
    },
    get pid() {
      return current().child.pid!;
    },
    output: () => Buffer.concat(current().printed).toString(),
    rssBytes: () => {
      const status = readFileSync(`/proc/${current().child.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    alive: () => !current().exited,
  };
}

/** One uncached control query over HTTP; resolves with its latency in ms. */
async function controlQuery(url: string, n: number): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/api/query`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: "control:ping", args: { n }, format: "json" }),
  });
  const body = (await response.json()) as { status: string; value: unknown };
  expect(body).toEqual({ status: "success", value: n });
  return performance.now() - started;
}

export interface AttackReport<T> {
  /** What the attack resolved with. */
  result: T;
  /** Latencies (ms) of the control queries issued while the attack ran. */
  controlLatencies: number[];
  /** The server's RSS growth over the attack, in bytes. */
  rssGrowth: number;
  /** Bytes the server printed during the attack. */
  printedBytes: number;
}

/**
 * Runs `attack` while a control client sends the server a query every 20 ms, then asserts the issue's
 * invariants: the server is alive and answers, the control client's 95th-percentile latency stays
 * within {@link CONTROL_LATENCY_MS}, and what the server printed stays within `maxPrintedBytes`.
 * Memory growth is reported for the caller to bound (each attack has its own scale).
 */
export async function underAttack<T>(target: SecurityTarget, attack: () => Promise<T>, { maxPrintedBytes = 8 * 1024 } = {}): Promise<AttackReport<T>> {
  const printedBefore = Buffer.byteLength(target.output());
  const rssBefore = target.rssBytes();
  const latencies: number[] = [];
  let n = Math.random();
  // A control query starts every 20 ms whether or not the previous one was answered, so a freeze
  // shows as every query sent during it being slow, not as one slow sample the p95 would hide.
  const pending: Promise<void>[] = [];
  let controlFailure: unknown;
  const ticker = setInterval(() => {
    pending.push(controlQuery(target.url, (n += 1)).then((ms) => void latencies.push(ms), (error: unknown) => void (controlFailure ??= error)));
  }, 20);
  let result: T;
  try {
    result = await attack();
    // A short attack is measured over MIN_CONTROL_SAMPLES queries too, not by the slowest of two or three.
    while (pending.length < MIN_CONTROL_SAMPLES) await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    clearInterval(ticker);
  }
  await Promise.all(pending);
  if (controlFailure !== undefined) throw new Error(`The control client failed during the attack: ${String(controlFailure)}`, { cause: controlFailure });
  // After the attack: the server is still there and answers a fresh query at once.
  latencies.push(await controlQuery(target.url, (n += 1)));
  expect(target.alive()).toBe(true);
  const sorted = [...latencies].sort((a, b) => a - b);
  const p95 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];
  expect(p95, `control latencies (ms): ${sorted.map((ms) => ms.toFixed(0)).join(", ")}`).toBeLessThan(CONTROL_LATENCY_MS);
  const printedBytes = Buffer.byteLength(target.output()) - printedBefore;
  expect(printedBytes, `the server printed:\n${target.output().slice(printedBefore, printedBefore + 2000)}`).toBeLessThanOrEqual(maxPrintedBytes);
  return { result, controlLatencies: latencies, rssGrowth: target.rssBytes() - rssBefore, printedBytes };
}
