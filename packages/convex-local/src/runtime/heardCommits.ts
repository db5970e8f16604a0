/**
 * Which commits the backend has heard of, for results read in another process. The mutation worker
 * commits, then replies; a query worker may read that commit before its reply reaches the backend
 * (they come through different channels). Such a result is newer than everything the backend can
 * check it against — a Transition would carry it at an older version, beside results read before
 * the commit (an optimistic update the client still applies would then show twice). So the
 * backend waits to hear of the commits a result read before it uses the result: the mutation
 * worker's reply is already on its way.
 *
 * @example
 * const heard = new HeardCommits(storage);
 * await heard.through(result.snapshotTs); // after the mutation runner's `heard.advanced()`
 */
import type { Storage } from "../storage/index.js";

/** How long a result waits for a commit nobody announces (none should: every writer is the backend's). */
const MAX_WAIT_MS = 1_000;

interface Waiter {
  ts: bigint;
  resolve(): void;
  timer: NodeJS.Timeout;
}

export class HeardCommits {
  private waiters: Waiter[] = [];

  constructor(private readonly storage: Pick<Storage, "lastCommitTs">) {}

  /** Resolves once the backend has heard of every commit through `ts`; undefined when it has already. */
  through(ts: bigint): Promise<void> | undefined {
    if (ts <= this.storage.lastCommitTs()) return undefined;
    return new Promise((resolve) => {
      const waiter: Waiter = { ts, resolve, timer: setTimeout(() => this.release((w) => w === waiter), MAX_WAIT_MS) };
      this.waiters.push(waiter);
    });
  }

  /** The backend heard of a commit made elsewhere (its storage's `lastCommitTs` moved). */
  advanced(): void {
    if (this.waiters.length === 0) return;
    const latest = this.storage.lastCommitTs();
    this.release((waiter) => waiter.ts <= latest);
  }

  private release(which: (waiter: Waiter) => boolean): void {
    const released = this.waiters.filter(which);
    if (released.length === 0) return;
    this.waiters = this.waiters.filter((waiter) => !which(waiter));
    for (const { resolve, timer } of released) {
      clearTimeout(timer);
      resolve();
    }
  }
}
