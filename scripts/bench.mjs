/**
 * `npm run bench [-- --json]`: convex-local and convex-authjs against the physical limit and their
 * peers. Every figure is a ratio against a baseline measured in the same run on this machine, with
 * bounded load on 127.0.0.1 only. Progress goes to stderr; stdout gets a table, or with `--json`
 * one JSON object.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { randomUUID } from "node:crypto";
import PostgresAdapter from "@auth/pg-adapter";
import { ConvexAdapter } from "convex-authjs/adapter";
import { convexSessionCallback, createConvexTokenMinter, generateSigningKeyPair } from "convex-authjs/jwt";
import { importPKCS8, SignJWT } from "jose";
import pg from "pg";
import WebSocket from "ws";
import { median, medianLatency, postJson, progress, request, rssMiB, sleep, startChild, stopChild, throughput } from "./bench/lib.mjs";
import { startPostgres } from "./bench/postgres.mjs";
import { Storage } from "../packages/convex-local/dist/storage/index.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const benchDir = path.join(repoRoot, "scripts/bench");
const convexLocalBin = path.join(repoRoot, "packages/convex-local/bin/convex-local.js");
const convexCli = path.join(repoRoot, "node_modules/convex/bin/main.js");
const ADAPTER_SECRET = "bench-adapter-secret-0123456789";
const SUBSCRIBERS = 1000;
const FAN_OUT_ROUNDS = 10;
const LARGE_ROWS = 1_000_000;
const SMALL_ROWS = 10_000;
const BULK_BATCH = 10_000;
const RANGE_ROWS = 10;
const DISTINCT_KEYS = 20_000;
const DISTINCT_KEY_BASE = 1_000_000;
const DISTINCT_SESSIONS = 2000;

const jsonOutput = process.argv.includes("--json");
const figures = [];
const benchStarted = performance.now();
const loadAtStart = Math.round(os.loadavg()[0] * 100) / 100;

/** Records a figure. `higherIsBetter` says which way the ratio value/baseline must clear `goal`. */
function record({ name, value, baseline, unit, goal, higherIsBetter = true }) {
  const ratio = value / baseline;
  const pass = goal === null ? null : higherIsBetter ? ratio >= goal : ratio <= goal;
  figures.push({ name, value: round(value), baseline: round(baseline), ratio: round(ratio), goal: goal === null ? null : `${higherIsBetter ? ">=" : "<="} ${goal}`, unit, pass });
  progress(`${name}: ${round(value)} vs ${round(baseline)} ${unit} → ${round(ratio)}×${pass === null ? "" : pass ? " (pass)" : " (FAIL)"}`);
}

const round = (x) => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 1000) / 1000);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const nodeServer = (file, env = {}) => startChild(process.execPath, [path.join(benchDir, "baselines", file)], { readyPattern: /ready (\d+)\n/, env });
const urlOf = (started) => `http://127.0.0.1:${started.match[1]}`;

// ------------------------------------------------------------------------------------------ setup

const root = mkdtempSync(path.join(os.tmpdir(), "convex-bench-"));
process.on("exit", () => rmSync(root, { recursive: true, force: true }));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

const appDir = path.join(root, "app");
cpSync(path.join(benchDir, "app"), appDir, { recursive: true });
writeFileSync(path.join(appDir, "package.json"), JSON.stringify({ name: "convex-local-bench", private: true, type: "module", dependencies: { convex: "1.48.0" } }));
symlinkSync(path.join(repoRoot, "node_modules"), path.join(appDir, "node_modules"), "dir");

const dataDir = path.join(root, "data");
let port = 0;
let sitePort = 0;
/** Starts `convex-local start` (on the ports of the first start when restarting). */
const startConvexLocal = () =>
  startChild(process.execPath, [convexLocalBin, "start", "--port", String(port), "--site-port", String(sitePort), "--data", dataDir], {
    readyPattern: /ready: deployment (\S+), HTTP actions (\S+)\n/,
    cwd: appDir,
  });

progress("starting convex-local");
let convexLocal = await startConvexLocal();
const backendUrl = convexLocal.match[1];
// `start` prints where the admin key is, not the key.
const adminKey = readFileSync(path.join(dataDir, "admin_key"), "utf8").trim();
port = Number(new URL(backendUrl).port);
sitePort = Number(new URL(convexLocal.match[2]).port);
const startupMs = convexLocal.readyMs;
const bareStart = await nodeServer("json-server.mjs", { BENCH_RESPONSE: "{}" });
await sleep(1000);
const idleRss = rssMiB(convexLocal.child.pid);
const bareIdleRss = rssMiB(bareStart.child.pid);
await stopChild(bareStart.child);

progress("deploying the bench app with the official convex CLI");
const cliEnv = { ...process.env, CONVEX_SELF_HOSTED_URL: backendUrl, CONVEX_SELF_HOSTED_ADMIN_KEY: adminKey };
for (const name of Object.keys(cliEnv)) if (name.startsWith("CONVEX_DEPLOY")) delete cliEnv[name];
const convexCliRun = (args) => promisify(execFile)(process.execPath, [convexCli, ...args], { cwd: appDir, env: cliEnv, timeout: 180_000 });
await convexCliRun(["env", "set", "CONVEX_AUTH_ADAPTER_SECRET", ADAPTER_SECRET]);
await convexCliRun(["deploy", "--yes", "--typecheck", "disable"]);

async function callConvex(kind, functionPath, args) {
  const body = await postJson(`${backendUrl}/api/${kind}`, { path: functionPath, args, format: "json" });
  if (body.status !== "success") throw new Error(`${functionPath} failed: ${body.errorMessage}`);
  return body.value;
}

// ------------------------------------------------------------------- 1. HTTP query (point read)

{
  progress("1. HTTP point-read query vs a bare node:http JSON server");
  await callConvex("mutation", "items:insert", { key: 1, value: "the document every query reads" });
  const queryBody = { path: "items:get", args: { key: 1 }, format: "json" };
  const { text: answer } = await request(`${backendUrl}/api/query`, { method: "POST", body: queryBody });
  const bare = await nodeServer("json-server.mjs", { BENCH_RESPONSE: answer });
  const baseline = await throughput(() => postJson(`${urlOf(bare)}/api/query`, queryBody));
  await stopChild(bare.child);
  const value = await throughput(() => postJson(`${backendUrl}/api/query`, queryBody));
  record({ name: "HTTP query (point read by index), repeated: query cache", value, baseline, unit: "req/s", goal: 0.5 });
}

{
  // Every request reads another document: no answer comes from the query cache (it keeps 1000).
  progress(`1b. the same with ${DISTINCT_KEYS} distinct keys, so every query runs`);
  for (let from = 0; from < DISTINCT_KEYS; from += 1000) await callConvex("mutation", "items:fill", { from: DISTINCT_KEY_BASE + from, count: 1000 });
  const queryBody = (i) => ({ path: "items:get", args: { key: DISTINCT_KEY_BASE + (i % DISTINCT_KEYS) }, format: "json" });
  const { text: answer } = await request(`${backendUrl}/api/query`, { method: "POST", body: queryBody(0) });
  const bare = await nodeServer("json-server.mjs", { BENCH_RESPONSE: answer });
  const baseline = await throughput((i) => postJson(`${urlOf(bare)}/api/query`, queryBody(i)));
  await stopChild(bare.child);
  const value = await throughput(async (i) => {
    const body = await postJson(`${backendUrl}/api/query`, queryBody(i));
    if (body.value?.key !== DISTINCT_KEY_BASE + (i % DISTINCT_KEYS)) throw new Error(`items:get answered ${JSON.stringify(body)}`);
  });
  record({ name: "HTTP query (point read by index), uncached", value, baseline, unit: "req/s", goal: 0.5 });
}

// -------------------------------------------------------------- 2. durable insert mutations

{
  progress("2. durable single-document insert mutations vs node:http + better-sqlite3");
  const insertBody = (i) => ({ path: "items:insert", args: { key: 1000 + i, value: `value ${i}` }, format: "json" });
  const bare = await nodeServer("sqlite-insert-server.mjs", { BENCH_DATA_DIR: root });
  const baseline = await throughput((i) => postJson(`${urlOf(bare)}/api/mutation`, insertBody(i)));
  await stopChild(bare.child);
  const value = await throughput(async (i) => {
    const body = await postJson(`${backendUrl}/api/mutation`, insertBody(i));
    if (body.status !== "success") throw new Error(body.errorMessage);
  });
  record({ name: "Durable insert mutation", value, baseline, unit: "req/s", goal: 0.5 });
}

// ------------------------------------------------------------------------------ 3. fan-out

/** Opens `count` sockets to `url`; each calls `onMessage(index, text)`; resolves once all are open. */
async function openSockets(url, count, onOpen, onMessage) {
  const sockets = [];
  for (let start = 0; start < count; start += 100) {
    const batch = Array.from({ length: Math.min(100, count - start) }, (_, k) => {
      const index = start + k;
      const socket = new WebSocket(url, { perMessageDeflate: false });
      sockets.push(socket);
      socket.on("message", (data) => onMessage(index, data.toString()));
      return new Promise((resolve, reject) => {
        socket.once("open", () => {
          onOpen(socket);
          resolve();
        });
        socket.once("error", reject);
      });
    });
    await Promise.all(batch);
  }
  return sockets;
}

/** Runs `rounds` rounds of `trigger(round)`; each ends when every socket saw its round. Median ms. */
async function fanOutRounds(rounds, trigger, waitForAll) {
  const times = [];
  for (let roundIndex = 1; roundIndex <= rounds; roundIndex++) {
    const allSeen = waitForAll(roundIndex);
    const started = performance.now();
    await trigger(roundIndex);
    await allSeen;
    times.push(performance.now() - started);
  }
  return median(times);
}

/** Per-socket latest round seen, and a promise per round that resolves when all reached it. */
function roundTracker(count) {
  const seen = new Array(count).fill(0);
  let waiting;
  return {
    saw(index, roundSeen) {
      if (roundSeen <= seen[index]) return;
      seen[index] = roundSeen;
      if (waiting !== undefined && seen.every((r) => r >= waiting.round)) {
        waiting.resolve();
        waiting = undefined;
      }
    },
    waitFor(roundWanted) {
      return new Promise((resolve) => {
        if (seen.every((r) => r >= roundWanted)) resolve();
        else waiting = { round: roundWanted, resolve };
      });
    },
  };
}

{
  progress(`3. fan-out to ${SUBSCRIBERS} WebSocket subscribers vs a bare ws broadcast`);
  const payload = "x".repeat(100);
  await callConvex("mutation", "ticker:bump", { round: 0, payload });
  const tracker = roundTracker(SUBSCRIBERS);
  let capturedTransition;
  const syncUrl = `${backendUrl.replace("http", "ws")}/api/1.48.0/sync`;
  const subscribers = await openSockets(
    syncUrl,
    SUBSCRIBERS,
    (socket) => {
      socket.send(JSON.stringify({ type: "Connect", sessionId: randomUUID(), connectionCount: 0, lastCloseReason: null }));
      socket.send(
        JSON.stringify({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "ticker:latest", args: [{}] }] }),
      );
    },
    (index, text) => {
      const message = JSON.parse(text);
      if (message.type !== "Transition") return;
      for (const modification of message.modifications) {
        if (modification.type === "QueryUpdated" && modification.value !== null) {
          tracker.saw(index, modification.value.round + 1);
          if (modification.value.round > 0) capturedTransition ??= text;
        }
      }
    },
  );
  await tracker.waitFor(1); // everyone has the initial result (round 0)
  const value = await fanOutRounds(FAN_OUT_ROUNDS, (r) => callConvex("mutation", "ticker:bump", { round: r, payload }), (r) => tracker.waitFor(r + 1));
  for (const socket of subscribers) socket.terminate();

  const bare = await nodeServer("ws-broadcast-server.mjs");
  const bareTracker = roundTracker(SUBSCRIBERS);
  const bareSockets = await openSockets(urlOf(bare).replace("http", "ws"), SUBSCRIBERS, () => {}, (index, text) => {
    JSON.parse(text);
    bareTracker.saw(index, bareTracker.next);
  });
  const baseline = await fanOutRounds(
    FAN_OUT_ROUNDS,
    async (r) => {
      bareTracker.next = r;
      const { status } = await request(`${urlOf(bare)}/broadcast`, { method: "POST", body: capturedTransition });
      if (status !== 200) throw new Error(`broadcast answered ${status}`);
    },
    (r) => bareTracker.waitFor(r),
  );
  for (const socket of bareSockets) socket.terminate();
  await stopChild(bare.child);
  record({ name: `Fan-out to ${SUBSCRIBERS} subscribers (mutation → last update)`, value, baseline, unit: "ms", goal: 2, higherIsBetter: false });
}

// -------------------------------------------------------------- 4. Auth.js getSessionAndUser

/** Creates `count` users with a session each, then measures lookups cycling through the sessions. */
async function sessionLookups(adapter, count) {
  const sessions = [];
  for (let start = 0; start < count; start += 16) {
    const created = await Promise.all(
      Array.from({ length: Math.min(16, count - start) }, async () => {
        const user = await adapter.createUser({ id: randomUUID(), name: "Bench User", email: `bench-${randomUUID()}@example.com`, emailVerified: null });
        const sessionToken = randomUUID();
        await adapter.createSession({ sessionToken, userId: user.id, expires: new Date(Date.now() + 86_400_000) });
        return { sessionToken, userId: user.id };
      }),
    );
    sessions.push(...created);
  }
  return throughput(async (i) => {
    const { sessionToken, userId } = sessions[i % count];
    const found = await adapter.getSessionAndUser(sessionToken);
    if (found?.user.id !== userId) throw new Error("getSessionAndUser did not find the session");
  });
}

{
  progress("4. Auth.js getSessionAndUser: ConvexAdapter on convex-local vs @auth/pg-adapter on PostgreSQL");
  const postgres = await startPostgres(await freePort());
  const pool = new pg.Pool({ ...postgres.connection, max: 16 });
  // Idle clients see the server's shutdown at the end as an error; nothing else reaches here.
  pool.on("error", (error) => {
    if (error.code !== "57P01") throw error;
  });
  try {
    await pool.query(postgres.schema);
    const pgAdapter = PostgresAdapter(pool);
    const convexAdapter = ConvexAdapter({ url: backendUrl, secret: ADAPTER_SECRET });
    const baseline = await sessionLookups(pgAdapter, 1);
    const value = await sessionLookups(convexAdapter, 1);
    record({ name: "Auth.js getSessionAndUser, one session: query cache", value, baseline, unit: "req/s", goal: 1.0 });
    // More sessions than the query cache keeps, looked up in turn: every lookup runs its query.
    progress(`4b. the same over ${DISTINCT_SESSIONS} sessions`);
    const manyBaseline = await sessionLookups(pgAdapter, DISTINCT_SESSIONS);
    const many = await sessionLookups(convexAdapter, DISTINCT_SESSIONS);
    record({ name: `Auth.js getSessionAndUser, ${DISTINCT_SESSIONS} sessions in turn, uncached`, value: many, baseline: manyBaseline, unit: "req/s", goal: 1.0 });
  } finally {
    await pool.end();
    await postgres.stop();
  }
}

// ---------------------------------------------------------------------- 5. Convex token mint

/** Calls per second of `operation`, one at a time, over `durationMs`. */
async function sequentialRate(operation, durationMs = 1500) {
  for (let i = 0; i < 20; i++) await operation();
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < durationMs) {
    await operation();
    calls++;
  }
  return (calls * 1000) / (performance.now() - started);
}

{
  progress("5. Convex token in the session callback vs importing the key and signing on every call");
  const { privateKeyPem } = await generateSigningKeyPair("RS256");
  const issuer = "http://127.0.0.1:3211";
  const session = { user: { name: "Bench User", email: "bench@example.com" }, expires: new Date(Date.now() + 86_400_000).toISOString() };
  const callback = convexSessionCallback(createConvexTokenMinter({ privateKey: privateKeyPem, issuer }));
  const value = await sequentialRate(() => callback({ session, user: { id: "user-1" } }));
  // The seed guide's session callback: import the PEM and sign a fresh token on every call.
  const baseline = await sequentialRate(async () => {
    const key = await importPKCS8(privateKeyPem, "RS256");
    const convexToken = await new SignJWT({ sub: "user-1" })
      .setProtectedHeader({ alg: "RS256" })
      .setIssuedAt()
      .setIssuer(issuer)
      .setAudience("convex")
      .setExpirationTime("1h")
      .sign(key);
    return { ...session, convexToken };
  });
  record({ name: "Convex token in the session callback", value, baseline, unit: "calls/s", goal: 20 });
}

// ------------------------------------------------------------------- 6. range query at scale

/**
 * Loads rows 0..rows-1 straight through convex-local's storage layer while the server is stopped:
 * the same documents and index entries `rows:fill` writes, without a million function calls.
 */
function bulkLoad(storage, table, rows) {
  for (let from = 0; from < rows; from += BULK_BATCH) {
    storage.transaction(() => {
      for (let n = from; n < Math.min(from + BULK_BATCH, rows); n++) storage.insertDocument(table, { n, payload: `row ${n}` });
    });
  }
}

let restartMs;
{
  progress(`6. index range query p50 at ${LARGE_ROWS} documents vs at ${SMALL_ROWS}`);
  // Both tables through the functions first, so the bulk-loaded rows match what a mutation writes.
  await callConvex("mutation", "rows:fill", { table: "rows10k", from: 0, count: 100 });
  await callConvex("mutation", "rows:fill", { table: "rows1m", from: 0, count: 100 });
  await stopChild(convexLocal.child);
  const loadStarted = performance.now();
  const storage = Storage.open(path.join(dataDir, "convex.sqlite3"));
  try {
    bulkLoad(storage, "rows10k", SMALL_ROWS);
    bulkLoad(storage, "rows1m", LARGE_ROWS);
  } finally {
    storage.close();
  }
  progress(`   loaded ${SMALL_ROWS + LARGE_ROWS} rows in ${Math.round((performance.now() - loadStarted) / 1000)} s; restarting convex-local`);
  convexLocal = await startConvexLocal();
  restartMs = convexLocal.readyMs;
  // The same pseudo-random positions in both tables (the 100 function-written rows are duplicates of 0..99).
  const position = (i, rows) => 100 + ((i * 7919) % (rows - 100 - RANGE_ROWS));
  const rangeP50 = (table, rows) =>
    medianLatency(
      async (i) => {
        const found = await callConvex("query", "rows:range", { table, from: position(i, rows), count: RANGE_ROWS });
        if (found.length !== RANGE_ROWS) throw new Error(`range read ${found.length} rows, expected ${RANGE_ROWS}`);
      },
      { samples: 500 },
    );
  const baseline = await rangeP50("rows10k", SMALL_ROWS);
  const value = await rangeP50("rows1m", LARGE_ROWS);
  record({ name: `Index range query p50 (${RANGE_ROWS} rows) at 1M docs vs 10k`, value, baseline, unit: "ms", goal: 1.5, higherIsBetter: false });
}

// ------------------------------------------------------------------- 7. startup and idle RSS

record({ name: "convex-local start to ready, empty (vs bare node:http)", value: startupMs, baseline: bareStart.readyMs, unit: "ms", goal: null, higherIsBetter: false });
record({ name: "convex-local start to ready, 1M docs (vs bare node:http)", value: restartMs, baseline: bareStart.readyMs, unit: "ms", goal: null, higherIsBetter: false });
record({ name: "Idle RSS after start (vs bare node:http)", value: idleRss, baseline: bareIdleRss, unit: "MiB", goal: null, higherIsBetter: false });

// ------------------------------------------------------------- 8. parallel uncached queries

{
  progress("8. CPU-bound uncached queries: 4 clients vs 1 (queries run in a worker per core)");
  let seed = 0;
  const crunch = () => callConvex("query", "isolation:crunch", { seed: seed++ });
  const baseline = await throughput(crunch, { concurrency: 1 });
  const value = await throughput(crunch, { concurrency: 4 });
  record({ name: "CPU-bound uncached query throughput, 4 clients vs 1", value, baseline, unit: "q/s", goal: 1.6 });
}

// ------------------------------------------------------------ 9. control query beside a busy action

/** p95 latency of a trivial uncached query sent every 20 ms for `durationMs`. */
async function controlP95(durationMs) {
  const latencies = [];
  const pending = [];
  let n = Math.random();
  const started = performance.now();
  while (performance.now() - started < durationMs) {
    const sent = performance.now();
    const value = (n += 1);
    pending.push(callConvex("query", "isolation:ping", { n: value }).then(() => latencies.push(performance.now() - sent)));
    await sleep(20);
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return latencies[Math.floor(latencies.length * 0.95)];
}

{
  progress("9. control query p95 while an action spins for 3 s without awaiting, vs idle");
  const baseline = await controlP95(2500);
  const busy = callConvex("action", "isolation:busy", { ms: 3000 });
  await sleep(200);
  const value = await controlP95(2500);
  await busy;
  record({ name: "Control query p95 while an action spins (vs idle)", value, baseline, unit: "ms", goal: 2, higherIsBetter: false });
}

await stopChild(convexLocal.child);

// ------------------------------------------------------------ 10. vector search at scale (a backend of its own)

await (await import("./bench/vectorSearch.mjs")).benchVectorSearch({ record });

// ------------------------------------------------------ 11. export + import (backends of their own)

await (await import("./bench/snapshot.mjs")).benchSnapshot({ record });

// ------------------------------------------------------------ 11. text search at scale (a backend of its own)

await (await import("./bench/textSearch.mjs")).benchTextSearch({ record });

// ------------------------------------------------------------------------------------ report

const machine = {
  cpu: os.cpus()[0]?.model.trim(),
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  os: `${os.type()} ${os.release()}`,
  node: process.version,
  // Other work on the machine squeezes every figure and its baseline alike, but not equally.
  loadAverage: { atStart: loadAtStart, atEnd: round(os.loadavg()[0]) },
};
const durationS = Math.round((performance.now() - benchStarted) / 1000);
if (jsonOutput) {
  process.stdout.write(`${JSON.stringify({ machine, durationS, figures }, null, 2)}\n`);
} else {
  const lines = [
    "| figure | value | baseline | ratio | goal | pass |",
    "| --- | ---: | ---: | ---: | --- | --- |",
    ...figures.map((f) => `| ${f.name} | ${f.value} ${f.unit} | ${f.baseline} ${f.unit} | ${f.ratio}× | ${f.goal ?? "—"} | ${f.pass === null ? "—" : f.pass ? "yes" : "no"} |`),
  ];
  process.stdout.write(`${lines.join("\n")}\n\nMachine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}; load average ${machine.loadAverage.atStart} at start, ${machine.loadAverage.atEnd} at end; ${durationS} s\n`);
}
// A missed goal is a result, not a crash: it shows in the table's pass column.
process.exit(0);
