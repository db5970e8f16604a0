/**
 * The vector search figure: p50 of one `ctx.vectorSearch` (10 nearest, from an action over HTTP)
 * over 100k documents of 768 dimensions, against the same search over 1k (goal ≤ 5×), with the
 * recall@10 of both measured against a brute-force reference computed here. The vectors are
 * uniformly random, the hardest case for the int8 first pass large indexes use (vectorSearch.ts).
 *
 * A backend of its own on a temp data dir: the app in `vectorApp/` is pushed with the official CLI,
 * then the documents are loaded through convex-local's storage layer while the server is stopped
 * (the same documents and vector entries a mutation writes), and the server is started again.
 *
 * ```js
 * import { benchVectorSearch } from "./bench/vectorSearch.mjs";
 * await benchVectorSearch({ record });           // inside bench.mjs
 * ```
 * Alone: `node scripts/bench/vectorSearch.mjs` (needs `npm run build -w convex-local`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchDeployment, median, postJson, progress, runAlone, seededRandom } from "./lib.mjs";
import { Storage } from "../../packages/convex-local/dist/storage/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const DIMENSIONS = 768;
const SMALL = 1_000;
const LARGE = 100_000;
const LIMIT = 10;
const SAMPLES = 60;
const RECALL_QUERIES = 20;
const LOAD_BATCH = 1_000;

/** `count` vectors, rounded to 6 significant digits (as an app's stored embeddings, in JSON). */
function vectors(count, seed) {
  const next = seededRandom(seed);
  const out = [];
  for (let i = 0; i < count; i++) out.push(Array.from({ length: DIMENSIONS }, () => Number((next() * 2 - 1).toPrecision(6))));
  return out;
}

/** The ids of the `LIMIT` documents nearest `query` by cosine: the reference every result is checked against. */
function bruteForce(query, corpus, ids) {
  const norms = corpus.norms;
  let qn = 0;
  for (const x of query) qn += x * x;
  const scored = [];
  for (let d = 0; d < corpus.vectors.length; d++) {
    const v = corpus.vectors[d];
    let dot = 0;
    for (let i = 0; i < DIMENSIONS; i++) dot += v[i] * query[i];
    scored.push({ id: ids[d], score: dot / Math.sqrt(qn * norms[d]) });
  }
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, LIMIT).map((s) => s.id);
}

function withNorms(vectorList) {
  return { vectors: vectorList, norms: vectorList.map((v) => v.reduce((sum, x) => sum + x * x, 0)) };
}

/**
 * Runs the figure and records it with `record` (bench.mjs's). Returns the measurements.
 * @param {{ record: (figure: object) => void }} options
 */
export async function benchVectorSearch({ record }) {
  progress(`vector search p50: ${LARGE} × ${DIMENSIONS}-dimension vectors vs ${SMALL}`);
  const root = mkdtempSync(path.join(os.tmpdir(), "convex-bench-vectors-"));
  let deployment;
  try {
    deployment = await benchDeployment(path.join(here, "vectorApp"), root, "vectors");
    await deployment.stop();

    // The 1k table holds the first 1k of the 100k table's vectors.
    const loadStarted = performance.now();
    const all = vectors(LARGE, 768);
    const ids = { chunks1k: [], chunks100k: [] };
    const storage = Storage.open(deployment.databasePath);
    try {
      for (const [table, count] of [["chunks1k", SMALL], ["chunks100k", LARGE]]) {
        for (let from = 0; from < count; from += LOAD_BATCH) {
          storage.transaction(() => {
            for (let n = from; n < Math.min(from + LOAD_BATCH, count); n++) ids[table].push(storage.insertDocument(table, { n, embedding: all[n] }).id);
          });
        }
      }
    } finally {
      storage.close();
    }
    progress(`   loaded ${SMALL + LARGE} documents in ${Math.round((performance.now() - loadStarted) / 1000)} s; restarting convex-local`);
    await deployment.start();
    const { url } = deployment;
    const search = async (table, vector) => {
      const reply = await postJson(`${url}/api/action`, { path: "vectors:nearest", args: { table, vector }, format: "json" });
      if (reply.status !== "success") throw new Error(`vectorSearch failed: ${JSON.stringify(reply)}`);
      return reply.value;
    };

    const queries = vectors(SAMPLES + RECALL_QUERIES, 4242);
    const measure = async (table) => {
      const loadStarted = performance.now();
      await search(table, queries[0]); // loads the index into memory
      const firstMs = performance.now() - loadStarted;
      for (let i = 0; i < 5; i++) await search(table, queries[i]);
      const times = [];
      for (let i = 0; i < SAMPLES; i++) {
        const started = performance.now();
        await search(table, queries[i]);
        times.push(performance.now() - started);
      }
      const corpus = withNorms(table === "chunks1k" ? all.slice(0, SMALL) : all);
      let found = 0;
      for (let i = SAMPLES; i < SAMPLES + RECALL_QUERIES; i++) {
        const expected = new Set(bruteForce(queries[i], corpus, ids[table]));
        for (const { _id } of await search(table, queries[i])) if (expected.has(_id)) found++;
      }
      return { p50: median(times), firstMs, recall: found / (RECALL_QUERIES * LIMIT) };
    };
    const small = await measure("chunks1k");
    const large = await measure("chunks100k");
    progress(
      `   p50 ${large.p50.toFixed(2)} ms at ${LARGE} vs ${small.p50.toFixed(2)} ms at ${SMALL}; recall@10 ${large.recall} and ${small.recall}; first search (loads the index) ${Math.round(large.firstMs)} ms and ${Math.round(small.firstMs)} ms`,
    );
    record({
      name: `Vector search p50 (10 nearest of ${DIMENSIONS} dims; recall@10 ${large.recall} at ${LARGE / 1000}k, ${small.recall} at ${SMALL / 1000}k) at ${LARGE / 1000}k docs vs ${SMALL / 1000}k`,
      value: large.p50,
      baseline: small.p50,
      unit: "ms",
      goal: 5,
      higherIsBetter: false,
    });
    return { small, large };
  } finally {
    await deployment?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await runAlone(import.meta.url, benchVectorSearch);
