/** Shared pieces of the benchmarks: child servers, bounded load loops, statistics, progress. */
import { execFile, spawn } from "node:child_process";
import http from "node:http";
import { cpSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Progress goes to stderr so stdout carries only the result. */
export function progress(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * Starts `command args` and resolves once its output (stdout or stderr) matches `readyPattern`,
 * with the match, the time it took and the child. The child is killed when the bench exits.
 */
export function startChild(command, args, { readyPattern, cwd, env, timeoutMs = 60_000 }) {
  const started = performance.now();
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${command} ${args.join(" ")} printed no ready line within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const fail = (error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    const onData = (chunk) => {
      output += chunk;
      const match = readyPattern.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      resolve({ child, match, readyMs: performance.now() - started });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => fail(new Error(`${command} ${args.join(" ")} exited with ${code} before it was ready:\n${output}`)));
  });
}

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** Stops a child started by `startChild` and waits for it to exit. */
export function stopChild(child, signal = "SIGTERM") {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill(signal);
  });
}

/** Resident set size of a process and its descendants, in MiB (Linux; pages they share count once per process). */
export function rssMiB(pid) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  const children = readdirSync(`/proc/${pid}/task`).flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(" ").filter(Boolean));
  // A server's own processes count too (convex-local runs functions in processes of its own).
  return Number(/(\d+)/.exec(line)[1]) / 1024 + children.reduce((total, child) => total + rssMiB(Number(child)), 0);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request over a kept-alive connection; resolves with status and body text. */
export function request(url, { method = "GET", body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: payload === undefined ? headers : { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload), ...headers },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** A POST whose answer must be 200; returns the parsed body. */
export async function postJson(url, body, headers) {
  const { status, text } = await request(url, { method: "POST", body, headers });
  if (status !== 200) throw new Error(`POST ${url} answered ${status}: ${text}`);
  return JSON.parse(text);
}

/**
 * Runs `operation(i)` from `concurrency` loops: first for `warmupMs` (not counted), then for
 * `durationMs`; returns completed operations per second. Any failed operation fails the figure.
 * The warm-up lets the JIT settle, so a figure is the server's steady state: convex-local warms
 * its main thread and each query worker (three isolates on two cores), which took the first
 * 3.5 s of an uncached point-read load (1b) to 65-70% of the rate that follows (JIT compiling
 * took a quarter of the CPU); a bare server warms within milliseconds.
 */
export async function throughput(operation, { concurrency = 16, warmupMs = 3000, durationMs = 3000 } = {}) {
  let next = 0;
  let counting = false;
  let counted = 0;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      await operation(next++);
      if (counting) counted++;
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(warmupMs);
  counting = true;
  const started = performance.now();
  await sleep(durationMs);
  counting = false;
  const elapsed = performance.now() - started;
  stop = true;
  await Promise.all(loops);
  return (counted * 1000) / elapsed;
}

/** Median of `samples` latencies (ms) of `operation(i)`, run one at a time after `warmup` runs. */
export async function medianLatency(operation, { samples, warmup = 20 }) {
  for (let i = 0; i < warmup; i++) await operation(i);
  const times = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await operation(warmup + i);
    times.push(performance.now() - started);
  }
  return median(times);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A convex-local of a figure's own: the app folder `appSource` (with its `convex/`) copied into
 * `root` with the workspace's node_modules, a `convex-local start` on a data dir of its own, the
 * app pushed with the official CLI after `environment` is set. `stop()` and `start()` restart it
 * on the same data dir (e.g. around loading documents through the storage layer at
 * `databasePath`); `cli(args)` runs the official CLI against it.
 *
 * @example
 * const deployment = await benchDeployment(path.join(benchDir, "textApp"), root, "text");
 * await deployment.stop(); load(deployment.databasePath); await deployment.start();
 * await postJson(`${deployment.url}/api/query`, …);
 */
export async function benchDeployment(appSource, root, name, { environment = {} } = {}) {
  const appDir = path.join(root, `${name}-app`);
  const dataDir = path.join(root, `${name}-data`);
  cpSync(appSource, appDir, { recursive: true });
  writeFileSync(path.join(appDir, "package.json"), JSON.stringify({ name: `convex-local-bench-${name}`, private: true, type: "module", dependencies: { convex: "1.48.0" } }));
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(appDir, "node_modules"), "dir");
  const deployment = {
    appDir,
    dataDir,
    databasePath: path.join(dataDir, "convex.sqlite3"),
    /** The running server (startChild's answer), and its deployment URL. */
    server: undefined,
    url: undefined,
    async start() {
      deployment.server = await startChild(process.execPath, [path.join(repoRoot, "packages/convex-local/bin/convex-local.js"), "start", "--port", "0", "--site-port", "0", "--data", dataDir], {
        readyPattern: /ready: deployment (\S+), HTTP actions (\S+)\n/,
        cwd: appDir,
        // A restart over 100k freshly loaded documents opens them before it is ready.
        timeoutMs: 300_000,
      });
      deployment.url = deployment.server.match[1];
    },
    async stop() {
      if (deployment.server !== undefined) await stopChild(deployment.server.child);
      deployment.server = undefined;
    },
    cli(args) {
      const env = { ...process.env, CONVEX_SELF_HOSTED_URL: deployment.url, CONVEX_SELF_HOSTED_ADMIN_KEY: readFileSync(path.join(dataDir, "admin_key"), "utf8").trim() };
      for (const key of Object.keys(env)) if (key.startsWith("CONVEX_DEPLOY")) delete env[key];
      return promisify(execFile)(process.execPath, [path.join(repoRoot, "node_modules/convex/bin/main.js"), ...args], { cwd: appDir, env, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
    },
  };
  await deployment.start();
  try {
    for (const [key, value] of Object.entries(environment)) await deployment.cli(["env", "set", key, value]);
    await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
  } catch (error) {
    await deployment.stop();
    throw error;
  }
  return deployment;
}

/** A seeded generator of numbers in [0, 1) (mulberry32), so every run holds the same data. */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Runs a figure's module by itself when it is the program (`node scripts/bench/x.mjs`): `bench`
 * gets a `record` that prints each figure as bench.mjs's table would judge it.
 */
export async function runAlone(moduleUrl, bench) {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(path.resolve(process.argv[1])).href) return;
  await bench({
    record: ({ name, value, baseline, unit, goal, higherIsBetter = true }) => {
      const ratio = value / baseline;
      const verdict = goal === null ? "" : ` (goal ${higherIsBetter ? ">=" : "<="} ${goal}: ${(higherIsBetter ? ratio >= goal : ratio <= goal) ? "pass" : "FAIL"})`;
      process.stdout.write(`${name}: ${value.toFixed(2)} vs ${baseline.toFixed(2)} ${unit} → ${ratio.toFixed(3)}×${verdict}\n`);
    },
  });
  process.exit(0);
}
