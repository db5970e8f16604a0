/**
 * The consistent-read worker: a process like a query worker (queryWorker.ts) that also holds
 * snapshots of the store open, so a query can read at the commit `/api/query_ts` handed out
 * (`ConvexHttpClient.consistentQuery`) after later commits. Each held snapshot is a connection of
 * its own with its read transaction left open (`Storage.openHeldSnapshot`). A snapshot is let go
 * once it is `HELD_FOR_MS` old, when more than `MAX_HELD` are held (the oldest goes), and when a
 * push installs new code: the functions at a snapshot are the ones pushed when it was taken, as on
 * Convex, where a read at a timestamp reads the modules as of it. While the WAL is over
 * `WAL_LIMIT_BYTES` every snapshot is let go and none is held. Started by consistentReads.ts.
 *
 * Calls: `{ hold: true }` answers the held snapshot's commit timestamp, or `unheld` when none may be
 * held now; `{ at, query }` runs the query on the snapshot of commit `at`, or answers `unheld` when
 * that snapshot is not held.
 */
import { statSync } from "node:fs";
import { Storage } from "../storage/index.js";
import { HELD_FOR_MS, MAX_HELD, WAL_LIMIT_BYTES } from "./consistentReads.js";
import type { FunctionCatalog } from "./functionCatalog.js";
import { serveFunctions, type FunctionProcessContext } from "./functionProcess.js";
import { executeQueries, type RanQuery } from "./queryExecution.js";
import type { QueryRequest } from "./runner.js";

export type ConsistentReadCall = { hold: true } | { at: bigint; query: QueryRequest };
/** `unheld`: the snapshot asked for is not held, or (for `hold`) none may be held now. */
export type ConsistentReadReply = { ts: bigint } | { executed: RanQuery } | { unheld: true };

interface HeldSnapshot {
  storage: Storage;
  heldAt: number;
  /** The deployment it was taken under (the catalog's analysis is replaced by every push). */
  deployment: unknown;
}

/** Held snapshots by commit timestamp, oldest first (a Map keeps insertion order). */
const held = new Map<bigint, HeldSnapshot>();
/** The process's catalog and store, once a call has come (the interval below reads the deployment installed now from it). */
let served: { catalog: FunctionCatalog; databasePath: string } | undefined;

function release(ts: bigint): void {
  const snapshot = held.get(ts);
  held.delete(ts);
  snapshot?.storage.close();
}

/**
 * Lets go of the snapshots that are too old or were taken under another deployment than the one
 * installed now, and of every snapshot while the WAL is over its bound: held read transactions keep
 * the WAL from restarting, so holds that overlap without end would let it grow without end.
 * Answers whether a snapshot may be held now.
 */
function releaseStale({ catalog, databasePath }: { catalog: FunctionCatalog; databasePath: string }): boolean {
  const now = Date.now();
  const walTooLarge = walBytes(databasePath) > WAL_LIMIT_BYTES;
  for (const [ts, snapshot] of held) {
    if (walTooLarge || now - snapshot.heldAt >= HELD_FOR_MS || snapshot.deployment !== catalog.analysis) release(ts);
  }
  return !walTooLarge;
}

function walBytes(databasePath: string): number {
  try {
    return statSync(`${databasePath}-wal`).size;
  } catch {
    return 0;
  }
}

/** Holds the snapshot of the latest commit (or keeps holding it, when no commit came since it was taken). */
function hold({ storage: reader, catalog }: FunctionProcessContext): ConsistentReadReply {
  const latest = reader.readSnapshot((ts) => ts);
  const existing = held.get(latest);
  if (existing !== undefined) {
    held.delete(latest);
    held.set(latest, { ...existing, heldAt: Date.now() });
    return { ts: latest };
  }
  // A commit may come between the two reads: the snapshot held is then a newer one, as good.
  const storage = Storage.openHeldSnapshot(reader.path);
  const ts = storage.lastCommitTs();
  held.set(ts, { storage, heldAt: Date.now(), deployment: catalog.analysis });
  for (const oldest of held.keys()) {
    if (held.size <= MAX_HELD) break;
    release(oldest);
  }
  return { ts };
}

serveFunctions(
  (data) => Storage.openReader(data.databasePath),
  ([call]: ConsistentReadCall[], context): ConsistentReadReply => {
    served = { catalog: context.catalog, databasePath: context.storage.path };
    const mayHold = releaseStale(served);
    if ("hold" in call!) return mayHold ? hold(context) : { unheld: true };
    const snapshot = held.get(call!.at);
    if (snapshot === undefined) return { unheld: true };
    const [executed] = executeQueries([call!.query], { ...context, storage: snapshot.storage });
    return { executed: executed! };
  },
);

// Snapshots go while no call comes too, so the WAL can restart.
setInterval(() => {
  if (served !== undefined) releaseStale(served);
}, 10_000).unref();
