/**
 * Read-set invalidation: a reader (a live subscription, a cached query result) registers the index
 * ranges it read; a committed write invalidates exactly the readers with a range containing the
 * index key of the written document (before or after the write) in some index of the written table.
 */
import type { IndexInfo } from "../storage/index.js";
import { prefixSuccessor, rangeContains, type KeyRange } from "../storage/keys.js";
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
 * The readers of one index. Most reads cover a whole key prefix (an `eq` query, `db.get`, a full
 * scan): `[p, prefixSuccessor(p))`, which holds exactly the keys that start with `p`. Those are
 * found by looking up the written key's own prefixes, so a commit costs one map lookup per
 * distinct prefix length instead of one range check per reader. Other ranges are checked one by one.
 */
interface IndexReaders<S> {
  /** Readers by the prefix they read (its bytes as a latin1 string). */
  byPrefix: Map<string, Set<S>>;
  /** How many prefixes of each length are registered: the only lengths worth looking up. */
  prefixLengths: Map<number, number>;
  /** Readers of ranges that are not whole prefixes. */
  ranges: Map<S, KeyRange[]>;
}

/** The prefix `p` when `range` is exactly `[p, prefixSuccessor(p))`, else undefined. */
function prefixOf(range: KeyRange): Buffer | undefined {
  const prefix = range.lower ?? EMPTY;
  if (range.lower !== undefined && !range.lowerInclusive) return undefined;
  const successor = prefixSuccessor(prefix);
  if (successor === undefined) return range.upper === undefined ? prefix : undefined;
  return range.upper !== undefined && !range.upperInclusive && range.upper.equals(successor) ? prefix : undefined;
}

const EMPTY = Buffer.alloc(0);

/**
 * Readers (any object identity) and the ranges they read, indexed by table and index so a commit
 * examines only what could contain the keys it wrote.
 */
/** A registered read, with its prefix (when it is a whole-prefix read) worked out once. */
interface RegisteredRead extends ReadRange {
  prefix: Buffer | undefined;
  /** The prefix as its `byPrefix` key. */
  prefixKey: string;
}

export class ReadSetIndex<S> {
  private readonly byTable = new Map<string, Map<string, IndexReaders<S>>>();
  private readonly readsOf = new Map<S, RegisteredRead[]>();

  get size(): number {
    return this.readsOf.size;
  }

  /** Replaces the read set of `reader`. */
  set(reader: S, reads: readonly ReadRange[]): void {
    this.delete(reader);
    const kept = reads.map((read): RegisteredRead => {
      const prefix = prefixOf(read.range);
      return { ...read, prefix, prefixKey: prefix === undefined ? "" : prefix.toString("latin1") };
    });
    this.readsOf.set(reader, kept);
    for (const read of kept) {
      let indexes = this.byTable.get(read.table);
      if (indexes === undefined) this.byTable.set(read.table, (indexes = new Map()));
      let readers = indexes.get(read.index);
      if (readers === undefined) indexes.set(read.index, (readers = { byPrefix: new Map(), prefixLengths: new Map(), ranges: new Map() }));
      const { prefix, prefixKey: key } = read;
      if (prefix === undefined) {
        const ranges = readers.ranges.get(reader);
        if (ranges === undefined) readers.ranges.set(reader, [read.range]);
        else ranges.push(read.range);
        continue;
      }
      let set = readers.byPrefix.get(key);
      if (set === undefined) {
        readers.byPrefix.set(key, (set = new Set()));
        readers.prefixLengths.set(prefix.length, (readers.prefixLengths.get(prefix.length) ?? 0) + 1);
      }
      set.add(reader);
    }
  }

  clear(): void {
    this.byTable.clear();
    this.readsOf.clear();
  }

  delete(reader: S): void {
    const reads = this.readsOf.get(reader);
    if (reads === undefined) return;
    this.readsOf.delete(reader);
    for (const read of reads) {
      const indexes = this.byTable.get(read.table);
      const readers = indexes?.get(read.index);
      if (indexes === undefined || readers === undefined) continue;
      readers.ranges.delete(reader);
      const { prefix, prefixKey: key } = read;
      if (prefix !== undefined) {
        const set = readers.byPrefix.get(key);
        if (set !== undefined && set.delete(reader) && set.size === 0) {
          readers.byPrefix.delete(key);
          const remaining = readers.prefixLengths.get(prefix.length)! - 1;
          if (remaining === 0) readers.prefixLengths.delete(prefix.length);
          else readers.prefixLengths.set(prefix.length, remaining);
        }
      }
      if (readers.byPrefix.size === 0 && readers.ranges.size === 0) indexes.delete(read.index);
      if (indexes.size === 0) this.byTable.delete(read.table);
    }
  }

  /** The readers whose read set intersects the keys written by `writes`. */
  affected(writes: readonly DocumentWrite[], indexesOf: IndexLookup): Set<S> {
    const hit = new Set<S>();
    const indexCache = new Map<string, readonly IndexInfo[] | undefined>();
    for (const write of writes) {
      const readIndexes = this.byTable.get(write.table);
      if (readIndexes === undefined) continue;
      if (!indexCache.has(write.table)) indexCache.set(write.table, indexesOf(write.table));
      const indexes = indexCache.get(write.table);
      // Unknown indexes (e.g. the table was just deleted): be conservative, every reader re-runs.
      const keys = indexes === undefined ? undefined : writtenKeys(write, indexes);
      for (const [indexName, readers] of readIndexes) {
        const indexKeys = keys?.get(indexName);
        if (indexKeys === undefined) {
          // A read of an index the table does not have (any more): conservatively invalid.
          for (const set of readers.byPrefix.values()) for (const reader of set) hit.add(reader);
          for (const reader of readers.ranges.keys()) hit.add(reader);
          continue;
        }
        for (const key of indexKeys) {
          for (const length of readers.prefixLengths.keys()) {
            if (length > key.length) continue;
            const set = readers.byPrefix.get(key.toString("latin1", 0, length));
            if (set !== undefined) for (const reader of set) hit.add(reader);
          }
          for (const [reader, ranges] of readers.ranges) {
            if (!hit.has(reader) && ranges.some((range) => rangeContains(range, key))) hit.add(reader);
          }
        }
      }
    }
    return hit;
  }
}
