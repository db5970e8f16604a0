/**
 * The export/import figure: `npx convex export` of 100k documents from one convex-local and
 * `npx convex import` of that ZIP into a fresh one, as documents per second end to end, against
 * copying the same deployment's SQLite file (goal ≥ 0.2×); the peak memory of each backend (its
 * processes together) while it exports or imports, beside its memory idle; and the slowest of the
 * control queries another client sends every 20 ms while the import runs, beside their median.
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
import { copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchDeployment, postJson, progress, rssMiB, runAlone, sleep } from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const DOCUMENTS = 100_000;
const FILL_BATCH = 1_000;
/** The bench app's Auth.js adapter functions refuse to load without their secret. */
const ENVIRONMENT = { CONVEX_AUTH_ADAPTER_SECRET: "bench-adapter-secret-0123456789" };

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

/** Another client's query every 20 ms until `stop`, which resolves with their latencies in ms, sorted. */
function controlQueries(url) {
  const latencies = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const started = performance.now();
      const query = () => postJson(`${url}/api/query`, { path: "items:get", args: { key: 5 }, format: "json" });
      // A backend that held its thread past the keep-alive timeout may reset the connection: asked again.
      const body = await query().catch(query);
      if (body.status !== "success") throw new Error(`items:get failed: ${body.errorMessage}`);
      latencies.push(performance.now() - started);
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return latencies.sort((a, b) => a - b);
    },
  };
}

export async function benchSnapshot({ record }) {
  const root = mkdtempSync(path.join(os.tmpdir(), "convex-bench-snapshot-"));
  let source;
  let target;
  try {
    progress(`11. export + import of ${DOCUMENTS / 1000}k documents with the official CLI vs copying the SQLite file`);
    source = await benchDeployment(path.join(here, "app"), root, "source", { environment: ENVIRONMENT });
    for (let from = 0; from < DOCUMENTS; from += FILL_BATCH) {
      const body = await postJson(`${source.url}/api/mutation`, { path: "items:fill", args: { from, count: FILL_BATCH }, format: "json" });
      if (body.status !== "success") throw new Error(`items:fill failed: ${body.errorMessage}`);
    }
    await sleep(500);
    const sourceIdle = rssMiB(source.server.child.pid);
    const zip = path.join(root, "snapshot.zip");
    const exported = await timedWithPeak(source.server.child.pid, () => source.cli(["export", "--path", zip]));

    target = await benchDeployment(path.join(here, "app"), root, "target", { environment: ENVIRONMENT });
    await sleep(500);
    const targetIdle = rssMiB(target.server.child.pid);
    const control = controlQueries(target.url);
    const imported = await timedWithPeak(target.server.child.pid, () => target.cli(["import", "--yes", "--replace-all", zip]));
    const latencies = await control.stop();
    const count = await postJson(`${target.url}/api/query`, { path: "items:get", args: { key: DOCUMENTS - 1 }, format: "json" });
    if (count.value?.key !== DOCUMENTS - 1) throw new Error(`the import lacks the last document: ${JSON.stringify(count)}`);

    // The baseline: the source deployment's database, copied as files (the data a backup of the data dir moves).
    await source.stop();
    const files = [source.databasePath, `${source.databasePath}-wal`].filter((file) => statSync(file, { throwIfNoEntry: false }));
    const copyStarted = performance.now();
    for (const file of files) copyFileSync(file, path.join(root, `copy-${path.basename(file)}`));
    const copyMs = performance.now() - copyStarted;
    const megabytes = files.reduce((total, file) => total + statSync(file).size, 0) / 2 ** 20;

    const perSecond = (ms) => (DOCUMENTS * 1000) / ms;
    progress(`export ${Math.round(exported.ms)} ms, import ${Math.round(imported.ms)} ms, ZIP ${(statSync(zip).size / 2 ** 20).toFixed(1)} MiB; copy of ${megabytes.toFixed(1)} MiB in ${copyMs.toFixed(1)} ms`);
    record({ name: `Export + import of ${DOCUMENTS / 1000}k documents (official CLI), vs copying the SQLite file`, value: perSecond(exported.ms + imported.ms), baseline: perSecond(copyMs), unit: "docs/s", goal: 0.2 });
    record({ name: "Peak RSS while exporting, vs idle (backend and its processes)", value: exported.peakMiB, baseline: sourceIdle, unit: "MiB", goal: null });
    record({ name: "Peak RSS while importing, vs idle (backend and its processes)", value: imported.peakMiB, baseline: targetIdle, unit: "MiB", goal: null });
    record({ name: `Slowest control query while importing, vs their median (${latencies.length} queries)`, value: latencies.at(-1), baseline: latencies[latencies.length >> 1], unit: "ms", goal: null });
  } finally {
    await source?.stop();
    await target?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await runAlone(import.meta.url, benchSnapshot);
