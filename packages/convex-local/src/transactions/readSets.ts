/**
 * Read-set invalidation: a reader (a live subscription, a cached query result) registers the index
 * ranges it read; a committed write invalidates exactly the readers with a range containing the
 * index key of the written document (before or after the write) in some index of the written table.
 */
import type { IndexInfo } from "../storage/index.js";
import { rangeContains } from "../storage/keys.js";
import { indexKeyOf, parseDocument } from "../storage/documents.js";
import type { DocumentWrite, ReadRange } from "./transaction.js";

/** The index keys a write touched, per index name: the key of the old and of the new document. */
export function writtenKeys(write: DocumentWrite, indexes: readonly IndexInfo[]): Map<string, Buffer[]> {
  const docs = [write.before, write.after].filter((d): d is string => d !== null).map(parseDocument);
  const keys = new Map<string, Buffer[]>();
  for (const index of indexes) {
    keys.set(
      index.name,
      docs.map((doc) => indexKeyOf(doc, index.keyFields)),
    );
  }
  return keys;
}

/** Looks up the indexes of a table; undefined when unknown (e.g. the table was just deleted). */
export type IndexLookup = (table: string) => readonly IndexInfo[] | undefined;

/**
 * Subscribers (any object identity) and the ranges they read, indexed by table so a commit only
 * examines the subscribers of the tables it wrote.
 */
export class ReadSetIndex<S> {
  private readonly byTable = new Map<string, Set<S>>();
  private readonly readsOf = new Map<S, ReadRange[]>();

  get size(): number {
    return this.readsOf.size;
  }

  /** Replaces the read set of `subscriber`. */
  set(subscriber: S, reads: readonly ReadRange[]): void {
    this.delete(subscriber);
    const kept = [...reads];
    this.readsOf.set(subscriber, kept);
    for (const read of kept) {
      let set = this.byTable.get(read.table);
      if (set === undefined) this.byTable.set(read.table, (set = new Set()));
      set.add(subscriber);
    }
  }

  clear(): void {
    this.byTable.clear();
    this.readsOf.clear();
  }

  delete(subscriber: S): void {
    const reads = this.readsOf.get(subscriber);
    if (reads === undefined) return;
    this.readsOf.delete(subscriber);
    for (const read of reads) {
      const set = this.byTable.get(read.table);
      if (set === undefined) continue;
      set.delete(subscriber);
      if (set.size === 0) this.byTable.delete(read.table);
    }
  }

  /** The subscribers whose read set intersects the keys written by `writes`. */
  affected(writes: readonly DocumentWrite[], indexesOf: IndexLookup): Set<S> {
    const hit = new Set<S>();
    const indexCache = new Map<string, readonly IndexInfo[] | undefined>();
    for (const write of writes) {
      const readers = this.byTable.get(write.table);
      if (readers === undefined || readers.size === 0) continue;
      if (!indexCache.has(write.table)) indexCache.set(write.table, indexesOf(write.table));
      const indexes = indexCache.get(write.table);
      if (indexes === undefined) {
        // Unknown indexes: be conservative, every reader of the table re-runs.
        for (const reader of readers) hit.add(reader);
        continue;
      }
      const keys = writtenKeys(write, indexes);
      for (const reader of readers) {
        if (hit.has(reader)) continue;
        for (const read of this.readsOf.get(reader)!) {
          if (read.table !== write.table) continue;
          const indexKeys = keys.get(read.index);
          // A read of an index the table no longer has: conservatively invalid.
          if (indexKeys === undefined || indexKeys.some((key) => rangeContains(read.range, key))) {
            hit.add(reader);
            break;
          }
        }
      }
    }
    return hit;
  }
}
