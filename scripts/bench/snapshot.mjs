/**
 * The export/import figure: `npx convex export` of 100k documents from one convex-local and
 * `npx convex import` of that ZIP into a fresh one, as documents per second end to end, against
 * copying the same deployment's SQLite file (goal ≥ 0.2×); and the peak memory of each backend
 * (its processes together) while it exports or imports, beside its memory idle.
 *
 * Backends of their own on temp data dirs: the bench app (`app/`) is pushed with the official CLI
 * and filled with `items:fill` (1000 documents per mutation).
 *
 * ```js
 * import { benchSnapshot } from "./bench/snapshot.mjs";
 * await benchSnapshot({ record });           // inside bench.mjs
 * ```
 * Alone: `node scripts/bench/snapshot.mjs` (needs `npm run build -w convex-local`).
 */
import { execFile } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { postJson, progress, rssMiB, sleep, startChild, stopChild } from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const DOCUMENTS = 100_000;
const FILL_BATCH = 1_000;
const DATABASE_FILE = "convex.sqlite3";

/** A convex-local on a data dir of its own with the bench app pushed; `cli(args)` runs the official CLI against it. */
async function deployment(root, name) {
  const appDir = path.join(root, `${name}-app`);
  cpSync(path.join(here, "app"), appDir, { recursive: true });
  writeFileSync(path.join(appDir, "package.json"), JSON.stringify({ name: `bench-${name}`, private: true, type: "module", dependencies: { convex: "1.48.0" } }));
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(appDir, "node_modules"), "dir");
  const dataDir = path.join(root, `${name}-data`);
  const server = await startChild(process.execPath, [path.join(repoRoot, "packages/convex-local/bin/convex-local.js"), "start", "--port", "0", "--site-port", "0", "--data", dataDir], {
    readyPattern: /ready: deployment (\S+), HTTP actions (\S+)\n/,
    cwd: appDir,
  });
  const url = server.match[1];
  const env = { ...process.env, CONVEX_SELF_HOSTED_URL: url, CONVEX_SELF_HOSTED_ADMIN_KEY: readFileSync(path.join(dataDir, "admin_key"), "utf8").trim() };
  for (const key of Object.keys(env)) if (key.startsWith("CONVEX_DEPLOY")) delete env[key];
  const cli = (args) => promisify(execFile)(process.execPath, [path.join(repoRoot, "node_modules/convex/bin/main.js"), ...args], { cwd: appDir, env, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  await cli(["env", "set", "CONVEX_AUTH_ADAPTER_SECRET", "bench-adapter-secret-0123456789"]);
  await cli(["deploy", "--yes", "--typecheck", "disable"]);
  return { url, dataDir, appDir, server, cli };
}

/** Runs `work` while sampling the RSS of `pid` and its processes; resolves with its time and the peak. */
async function timedWithPeak(pid, work) {
  let peak = rssMiB(pid);
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      // a worker process that ended between listing and reading
    }
  }, 25);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return { ms: performance.now() - started, peakMiB: peak };
}

export async function benchSnapshot({ record }) {
  const root = mkdtempSync(path.join(os.tmpdir(), "convex-bench-snapshot-"));
  let source;
  let target;
  try {
    progress(`11. export + import of ${DOCUMENTS / 1000}k documents with the official CLI vs copying the SQLite file`);
    source = await deployment(root, "source");
    for (let from = 0; from < DOCUMENTS; from += FILL_BATCH) {
      const body = await postJson(`${source.url}/api/mutation`, { path: "items:fill", args: { from, count: FILL_BATCH }, format: "json" });
      if (body.status !== "success") throw new Error(`items:fill failed: ${body.errorMessage}`);
    }
    await sleep(500);
    const sourceIdle = rssMiB(source.server.child.pid);
    const zip = path.join(root, "snapshot.zip");
    const exported = await timedWithPeak(source.server.child.pid, () => source.cli(["export", "--path", zip]));

    target = await deployment(root, "target");
    await sleep(500);
    const targetIdle = rssMiB(target.server.child.pid);
    const imported = await timedWithPeak(target.server.child.pid, () => target.cli(["import", "--yes", "--replace-all", zip]));
    const count = await postJson(`${target.url}/api/query`, { path: "items:get", args: { key: DOCUMENTS - 1 }, format: "json" });
    if (count.value?.key !== DOCUMENTS - 1) throw new Error(`the import lacks the last document: ${JSON.stringify(count)}`);

    // The baseline: the source deployment's database, copied as files (the data a backup of the data dir moves).
    await stopChild(source.server.child);
    source = undefined;
    const files = [DATABASE_FILE, `${DATABASE_FILE}-wal`].map((file) => path.join(root, "source-data", file)).filter((file) => statSync(file, { throwIfNoEntry: false }));
    const copyStarted = performance.now();
    for (const file of files) copyFileSync(file, path.join(root, `copy-${path.basename(file)}`));
    const copyMs = performance.now() - copyStarted;
    const megabytes = files.reduce((total, file) => total + statSync(file).size, 0) / 2 ** 20;

    const perSecond = (ms) => (DOCUMENTS * 1000) / ms;
    progress(`export ${Math.round(exported.ms)} ms, import ${Math.round(imported.ms)} ms, ZIP ${(statSync(zip).size / 2 ** 20).toFixed(1)} MiB; copy of ${megabytes.toFixed(1)} MiB in ${copyMs.toFixed(1)} ms`);
    record({ name: `Export + import of ${DOCUMENTS / 1000}k documents (official CLI), vs copying the SQLite file`, value: perSecond(exported.ms + imported.ms), baseline: perSecond(copyMs), unit: "docs/s", goal: 0.2 });
    record({ name: "Peak RSS while exporting, vs idle (backend and its processes)", value: exported.peakMiB, baseline: sourceIdle, unit: "MiB", goal: null });
    record({ name: "Peak RSS while importing, vs idle (backend and its processes)", value: imported.peakMiB, baseline: targetIdle, unit: "MiB", goal: null });
  } finally {
    if (source) await stopChild(source.server.child);
    if (target) await stopChild(target.server.child);
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await benchSnapshot({ record: (figure) => console.log(JSON.stringify(figure)) });
}
