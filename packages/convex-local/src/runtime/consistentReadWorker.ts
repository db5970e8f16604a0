/**
 * The consistent-read worker: a process like a query worker (queryWorker.ts) that also holds
 * snapshots of the store open, so a query can read at the commit `/api/query_ts` handed out
 * (`ConvexHttpClient.consistentQuery`) after later commits. Each held snapshot is a connection of
 * its own with its read transaction left open (`Storage.openHeldSnapshot`). A snapshot is let go
 * once it is `HELD_FOR_MS` old, when more than `MAX_HELD` are held (the oldest goes), and when a
 * push installs new code: the functions at a snapshot are the ones pushed when it was taken, as on
 * Convex, where a read at a timestamp reads the modules as of it. Started by consistentReads.ts.
 *
 * Calls: `{ hold: true }` answers the held snapshot's commit timestamp; `{ at, query }` runs the
 * query on the snapshot of commit `at`, or answers `unheld` when that snapshot is not held.
 */
import { Storage } from "../storage/index.js";
import { HELD_FOR_MS, MAX_HELD } from "./consistentReads.js";
import { serveFunctions } from "./functionProcess.js";
import { executeQueries, type RanQuery } from "./queryExecution.js";
import type { QueryRequest } from "./runner.js";

export type ConsistentReadCall = { hold: true } | { at: bigint; query: QueryRequest };
export type ConsistentReadReply = { ts: bigint } | { executed: RanQuery } | { unheld: true };

interface HeldSnapshot {
  storage: Storage;
  heldAt: number;
  /** The deployment it was taken under (the catalog's analysis is replaced by every push). */
  deployment: unknown;
}

/** Held snapshots by commit timestamp, oldest first (a Map keeps insertion order). */
const held = new Map<bigint, HeldSnapshot>();

function release(ts: bigint): void {
  held.get(ts)?.storage.close();
  held.delete(ts);
}

/** Lets go of the snapshots that are too old, and of those taken under another deployment than `deployment`. */
function releaseStale(deployment: unknown): void {
  const now = Date.now();
  for (const [ts, snapshot] of held) if (now - snapshot.heldAt >= HELD_FOR_MS || snapshot.deployment !== deployment) release(ts);
}

function hold(databasePath: string, deployment: unknown): ConsistentReadReply {
  const storage = Storage.openHeldSnapshot(databasePath);
  const ts = storage.lastCommitTs();
  const existing = held.get(ts);
  if (existing !== undefined) {
    storage.close(); // no commit since: the snapshot already held serves, its time restarted
    held.delete(ts);
    held.set(ts, { ...existing, heldAt: Date.now() });
    return { ts };
  }
  held.set(ts, { storage, heldAt: Date.now(), deployment });
  for (const oldest of held.keys()) {
    if (held.size <= MAX_HELD) break;
    release(oldest);
  }
  return { ts };
}

/** The deployment of the last call (the interval below has no context of its own). */
let deployment: unknown;

serveFunctions(
  (data) => Storage.openReader(data.databasePath),
  ([call]: ConsistentReadCall[], context): ConsistentReadReply => {
    deployment = context.catalog.analysis;
    releaseStale(deployment);
    if ("hold" in call!) return hold(context.storage.path, deployment);
    const snapshot = held.get(call!.at);
    if (snapshot === undefined) return { unheld: true };
    const [executed] = executeQueries([call!.query], { ...context, storage: snapshot.storage });
    return { executed: executed! };
  },
);

// Old snapshots go while no call comes too, so the WAL can restart.
setInterval(() => releaseStale(deployment), 10_000).unref();
