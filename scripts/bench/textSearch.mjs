/**
 * The text search figure: p50 of one `withSearchIndex(...).take(10)` query over HTTP on 100k
 * documents, against the same query on 1k (goal ≤ 3×).
 *
 * The corpus is synthetic and seeded (every run and both tables hold the same text): a vocabulary
 * of 20k made-up words drawn with Zipf's law (s = 1, as word frequencies in natural text), 8–40
 * words per document; the 1k table holds the first 1k of the 100k. Each query is typed into a
 * search box: two words of a random document, the second cut to its first four letters (matched as
 * a prefix, as Convex matches the last word), so query words are as frequent as the corpus's own.
 * Every sample is a different query, so none is answered from the query cache.
 *
 * A backend of its own on a temp data dir: the app in `textApp/` is pushed with the official CLI,
 * then the documents are loaded through convex-local's storage layer while the server is stopped
 * (the same documents and search postings a mutation writes), and the server is started again.
 *
 * ```js
 * import { benchTextSearch } from "./bench/textSearch.mjs";
 * await benchTextSearch({ record });           // inside bench.mjs
 * ```
 * Alone: `node scripts/bench/textSearch.mjs` (needs `npm run build -w convex-local`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchDeployment, median, postJson, progress, runAlone, seededRandom } from "./lib.mjs";
import { Storage } from "../../packages/convex-local/dist/storage/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const SMALL = 1_000;
const LARGE = 100_000;
const VOCABULARY = 20_000;
const SAMPLES = 100;
const WARMUP = 20;
const LOAD_BATCH = 1_000;
const SYLLABLES = ["ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "vu", "we", "ba", "de", "fi", "go", "hu", "ja", "ke", "li", "mo", "nu", "pa", "re", "sa", "ti", "vo", "wi", "be", "da", "fo", "gu"];

/** Word `rank` of the vocabulary: three syllables, distinct for every rank below 27000. */
function word(rank) {
  const n = SYLLABLES.length;
  return SYLLABLES[rank % n] + SYLLABLES[Math.floor(rank / n) % n] + SYLLABLES[Math.floor(rank / (n * n)) % n];
}

/** `count` documents of Zipf-distributed words. */
function corpus(count, seed) {
  const next = seededRandom(seed);
  const cumulative = new Float64Array(VOCABULARY);
  let total = 0;
  for (let rank = 0; rank < VOCABULARY; rank++) cumulative[rank] = total += 1 / (rank + 1);
  const zipf = () => {
    const target = next() * total;
    let low = 0;
    let high = VOCABULARY - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cumulative[middle] < target) low = middle + 1;
      else high = middle;
    }
    return word(low);
  };
  const documents = [];
  for (let i = 0; i < count; i++) documents.push(Array.from({ length: 8 + Math.floor(next() * 33) }, zipf).join(" "));
  return documents;
}

/** `count` search-box queries from the documents: a word, then the first four letters of another. */
function queries(documents, count, seed) {
  const next = seededRandom(seed);
  const out = [];
  for (let i = 0; i < count; i++) {
    const words = documents[Math.floor(next() * documents.length)].split(" ");
    const first = words[Math.floor(next() * words.length)];
    const second = words[Math.floor(next() * words.length)];
    out.push(`${first} ${second.slice(0, 4)}`);
  }
  return out;
}

/**
 * Runs the figure and records it with `record` (bench.mjs's). Returns the measurements.
 * @param {{ record: (figure: object) => void }} options
 */
export async function benchTextSearch({ record }) {
  progress(`text search p50: ${LARGE} documents vs ${SMALL}`);
  const root = mkdtempSync(path.join(os.tmpdir(), "convex-bench-text-"));
  let deployment;
  try {
    deployment = await benchDeployment(path.join(here, "textApp"), root, "text");
    await deployment.stop();

    const loadStarted = performance.now();
    const documents = corpus(LARGE, 1234);
    const storage = Storage.open(deployment.databasePath);
    try {
      for (const [table, count] of [["posts1k", SMALL], ["posts100k", LARGE]]) {
        for (let from = 0; from < count; from += LOAD_BATCH) {
          storage.transaction(() => {
            for (let n = from; n < Math.min(from + LOAD_BATCH, count); n++) storage.insertDocument(table, { n, body: documents[n] });
          });
        }
      }
    } finally {
      storage.close();
    }
    progress(`   loaded ${SMALL + LARGE} documents in ${Math.round((performance.now() - loadStarted) / 1000)} s; restarting convex-local`);
    await deployment.start();
    const { url } = deployment;
    const search = async (table, text) => {
      const reply = await postJson(`${url}/api/query`, { path: "text:search", args: { table, text }, format: "json" });
      if (reply.status !== "success") throw new Error(`search failed: ${JSON.stringify(reply)}`);
      return reply.value;
    };

    // Queries from the 1k documents, so both tables have matches for each; distinct per sample.
    const texts = queries(documents.slice(0, SMALL), 2 * (WARMUP + SAMPLES), 99);
    const measure = async (table, offset) => {
      let found = 0;
      for (let i = 0; i < WARMUP; i++) await search(table, texts[offset + i]);
      const times = [];
      for (let i = WARMUP; i < WARMUP + SAMPLES; i++) {
        const started = performance.now();
        const results = await search(table, texts[offset + i]);
        times.push(performance.now() - started);
        found += results.length;
      }
      return { p50: median(times), averageResults: found / SAMPLES };
    };
    const small = await measure("posts1k", 0);
    const large = await measure("posts100k", WARMUP + SAMPLES);
    progress(`   p50 ${large.p50.toFixed(2)} ms at ${LARGE} vs ${small.p50.toFixed(2)} ms at ${SMALL} (${large.averageResults} and ${small.averageResults} results per query)`);
    record({
      name: `Text search p50 (2 words, the last a prefix, best 10) at ${LARGE / 1000}k docs vs ${SMALL / 1000}k`,
      value: large.p50,
      baseline: small.p50,
      unit: "ms",
      goal: 3,
      higherIsBetter: false,
    });
    return { small, large };
  } finally {
    await deployment?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await runAlone(import.meta.url, benchTextSearch);
