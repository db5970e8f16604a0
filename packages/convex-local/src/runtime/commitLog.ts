/**
 * The recent commits, for checking results computed elsewhere: a query worker runs a query on the
 * snapshot of some commit, and by the time its result reaches the main thread later commits may
 * have written into what it read. `staleOf` tells which results those are (their caller runs them
 * again), so a result is cached, or sent to a subscriber, only while it is still current.
 *
 * Commits are kept for a while and up to a number; a result older than the oldest kept commit is
 * treated as stale.
 */
import type { DocumentWrite, ReadRange } from "../transactions/transaction.js";
import { ReadSetIndex, type IndexLookup } from "../transactions/readSets.js";

/** A result's read set and the commit timestamp of the snapshot it read. */
export interface SnapshotRead {
  reads: readonly ReadRange[];
  snapshotTs: bigint;
}

export interface CommitLogLimits {
  maxCommits: number;
  maxAgeMs: number;
}

interface Commit {
  ts: bigint;
  writes: readonly DocumentWrite[];
  at: number;
}

export class CommitLog {
  private commits: Commit[] = [];
  /** Commits at or before this timestamp are no longer kept. */
  private horizon: bigint;

  constructor(
    private readonly indexesOf: IndexLookup,
    latestTs: bigint,
    private readonly limits: CommitLogLimits = { maxCommits: 4096, maxAgeMs: 60_000 },
  ) {
    this.horizon = latestTs;
  }

  record(writes: readonly DocumentWrite[], ts: bigint): void {
    const now = Date.now();
    this.commits.push({ ts, writes, at: now });
    let drop = 0;
    while (drop < this.commits.length && (this.commits.length - drop > this.limits.maxCommits || now - this.commits[drop]!.at > this.limits.maxAgeMs)) drop++;
    if (drop > 0) {
      this.horizon = this.commits[drop - 1]!.ts;
      this.commits = this.commits.slice(drop);
    }
  }

  /**
   * Whether a commit after `after` and up to `through` wrote into `reads`, or may have: true too
   * when some of those commits are no longer kept, or not yet recorded (a query worker may read a
   * commit the main thread has not heard of). False means `reads` saw the same data at both.
   */
  writtenBetween(reads: readonly ReadRange[], after: bigint, through: bigint): boolean {
    if (reads.length === 0 || through <= after) return false;
    if (after < this.horizon || through > (this.commits.at(-1)?.ts ?? this.horizon)) return true;
    const readers = new ReadSetIndex<number>();
    readers.set(0, reads);
    for (let c = this.commits.length - 1; c >= 0 && this.commits[c]!.ts > after; c--) {
      const { ts, writes } = this.commits[c]!;
      if (ts <= through && readers.affected(writes, this.indexesOf).size > 0) return true;
    }
    return false;
  }

  /** The positions in `results` of those a commit after their snapshot wrote into. */
  staleOf(results: readonly SnapshotRead[]): Set<number> {
    const stale = new Set<number>();
    const latest = this.commits.at(-1)?.ts ?? this.horizon;
    const readers = new ReadSetIndex<number>();
    let oldest: bigint | undefined;
    results.forEach(({ reads, snapshotTs }, i) => {
      // Nothing committed since its snapshot (the common case): current, nothing to index.
      if (reads.length === 0 || snapshotTs >= latest) return;
      if (snapshotTs < this.horizon) {
        stale.add(i);
        return;
      }
      readers.set(i, reads);
      if (oldest === undefined || snapshotTs < oldest) oldest = snapshotTs;
    });
    if (oldest === undefined) return stale;
    for (let c = this.commits.length - 1; c >= 0 && this.commits[c]!.ts > oldest; c--) {
      const { ts, writes } = this.commits[c]!;
      for (const i of readers.affected(writes, this.indexesOf)) {
        if (results[i]!.snapshotTs < ts) stale.add(i);
      }
    }
    return stale;
  }
}
