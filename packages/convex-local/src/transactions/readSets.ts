/**
 * Read-set invalidation: a reader (a live subscription, a cached query result) registers the index
 * ranges it read; a committed write invalidates exactly the readers with a range containing the
 * index key of the written document (before or after the write) in some index of the written table,
 * and the readers of a full-text search the document (before or after) matches (searchReads.ts).
 */
import type { IndexInfo } from "../storage/index.js";
import { prefixSuccessor, rangeContains, type KeyRange } from "../storage/keys.js";
import { indexKeyOf, parseDocument } from "../storage/documents.js";
import { sameSearchRead, SearchedDocument, type SearchRead } from "./searchReads.js";
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

/**
 * A write that stands for every document of `table`, for a commit that swapped the whole table
 * (a snapshot import): it invalidates every reader of the table, whatever it read.
 */
export function wholeTableWrite(table: string): DocumentWrite {
  return { table, id: "", before: null, after: null };
}

function isWholeTableWrite(write: DocumentWrite): boolean {
  return write.before === null && write.after === null;
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

function sameReads(a: readonly ReadRange[], b: readonly ReadRange[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.table !== y.table || x.index !== y.index || !sameRange(x.range, y.range)) return false;
    if (x.search !== y.search && (x.search === undefined || y.search === undefined || !sameSearchRead(x.search, y.search))) return false;
  }
  return true;
}

function sameRange(a: KeyRange, b: KeyRange): boolean {
  return a.lowerInclusive === b.lowerInclusive && a.upperInclusive === b.upperInclusive && sameBound(a.lower, b.lower) && sameBound(a.upper, b.upper);
}

function sameBound(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

/**
 * One registered read: where it is filed (its index's readers, by prefix or as a range), so a
 * reader is removed without looking its tables and indexes up again. One shape for all, so the
 * code that walks them stays monomorphic.
 */
class Registration<S> {
  constructor(
    readonly readers: IndexReaders<S>,
    readonly table: string,
    readonly index: string,
    /** The `byPrefix` key of a whole-prefix read; undefined for a range read. */
    readonly prefixKey: string | undefined,
    readonly prefixLength: number,
  ) {}
}

/**
 * Readers (any object identity) and the ranges they read, indexed by table and index so a commit
 * examines only what could contain the keys it wrote.
 */
export class ReadSetIndex<S> {
  private readonly byTable = new Map<string, Map<string, IndexReaders<S>>>();
  /** Readers of full-text searches, by table: what each searched there. */
  private readonly searchesByTable = new Map<string, Map<S, SearchRead[]>>();
  /** Each reader's read set as given, and where its reads are filed. */
  private readonly readsOf = new Map<S, { reads: readonly ReadRange[]; registrations: Registration<S>[] }>();

  get size(): number {
    return this.readsOf.size;
  }

  /** Replaces the read set of `reader`. */
  set(reader: S, reads: readonly ReadRange[]): void {
    // A re-run usually reads what it read before (each subscriber of a shared run, at every commit): nothing to refile.
    const filed = this.readsOf.get(reader);
    if (filed !== undefined && sameReads(filed.reads, reads)) return;
    this.delete(reader);
    const registrations: Registration<S>[] = [];
    for (const { table, index, range, search } of reads) {
      if (search !== undefined) {
        let searches = this.searchesByTable.get(table);
        if (searches === undefined) this.searchesByTable.set(table, (searches = new Map()));
        const filed = searches.get(reader);
        if (filed === undefined) searches.set(reader, [search]);
        else filed.push(search);
        continue;
      }
      const readers = this.readersOf(table, index);
      const prefix = prefixOf(range);
      if (prefix === undefined) {
        const ranges = readers.ranges.get(reader);
        if (ranges === undefined) readers.ranges.set(reader, [range]);
        else ranges.push(range);
        registrations.push(new Registration(readers, table, index, undefined, 0));
        continue;
      }
      const key = prefix.toString("latin1");
      let set = readers.byPrefix.get(key);
      if (set === undefined) {
        readers.byPrefix.set(key, (set = new Set()));
        readers.prefixLengths.set(prefix.length, (readers.prefixLengths.get(prefix.length) ?? 0) + 1);
      }
      set.add(reader);
      registrations.push(new Registration(readers, table, index, key, prefix.length));
    }
    this.readsOf.set(reader, { reads, registrations });
  }

  clear(): void {
    this.byTable.clear();
    this.searchesByTable.clear();
    this.readsOf.clear();
  }

  delete(reader: S): void {
    const filed = this.readsOf.get(reader);
    if (filed === undefined) return;
    this.readsOf.delete(reader);
    for (const { table, search } of filed.reads) {
      if (search === undefined) continue;
      const searches = this.searchesByTable.get(table);
      if (searches?.delete(reader) && searches.size === 0) this.searchesByTable.delete(table);
    }
    for (const { readers, table, index, prefixKey, prefixLength } of filed.registrations) {
      if (prefixKey === undefined) {
        readers.ranges.delete(reader);
      } else {
        const set = readers.byPrefix.get(prefixKey);
        if (set !== undefined && set.delete(reader) && set.size === 0) {
          readers.byPrefix.delete(prefixKey);
          const remaining = readers.prefixLengths.get(prefixLength)! - 1;
          if (remaining === 0) readers.prefixLengths.delete(prefixLength);
          else readers.prefixLengths.set(prefixLength, remaining);
        }
      }
      if (readers.byPrefix.size > 0 || readers.ranges.size > 0) continue;
      // Empty: unfile it, unless it was unfiled already (another read of the same index).
      const indexes = this.byTable.get(table);
      if (indexes?.get(index) !== readers) continue;
      indexes.delete(index);
      if (indexes.size === 0) this.byTable.delete(table);
    }
  }

  private readersOf(table: string, index: string): IndexReaders<S> {
    let indexes = this.byTable.get(table);
    if (indexes === undefined) this.byTable.set(table, (indexes = new Map()));
    let readers = indexes.get(index);
    if (readers === undefined) indexes.set(index, (readers = { byPrefix: new Map(), prefixLengths: new Map(), ranges: new Map() }));
    return readers;
  }

  /** The readers whose read set intersects the keys written by `writes`. */
  affected(writes: readonly DocumentWrite[], indexesOf: IndexLookup): Set<S> {
    const hit = new Set<S>();
    const indexCache = new Map<string, readonly IndexInfo[] | undefined>();
    for (const write of writes) {
      const readIndexes = this.byTable.get(write.table);
      const searches = this.searchesByTable.get(write.table);
      if (readIndexes === undefined && searches === undefined) continue;
      if (!indexCache.has(write.table)) indexCache.set(write.table, indexesOf(write.table));
      const indexes = indexCache.get(write.table);
      // Unknown indexes (e.g. the table was just deleted) or the whole table written: every reader re-runs.
      const everyReader = indexes === undefined || isWholeTableWrite(write);
      if (searches !== undefined) this.searchesAffected(write, searches, everyReader, hit);
      if (readIndexes === undefined) continue;
      const keys = everyReader ? undefined : writtenKeys(write, indexes);
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

  /** Adds to `hit` the search readers of `write`'s table whose search the written document matches before or after (all when `everyReader`). */
  private searchesAffected(write: DocumentWrite, searches: Map<S, SearchRead[]>, everyReader: boolean, hit: Set<S>): void {
    const documents = everyReader ? [] : [write.before, write.after].filter((json): json is string => json !== null).map((json) => new SearchedDocument(parseDocument(json)));
    for (const [reader, reads] of searches) {
      if (hit.has(reader)) continue;
      if (everyReader || reads.some((read) => documents.some((document) => document.matches(read)))) hit.add(reader);
    }
  }
}
