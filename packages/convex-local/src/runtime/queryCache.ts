/**
 * Convex's query cache: a query's successful result is kept, keyed by function, arguments, caller
 * and journal, for as long as no commit writes into the index ranges it read. Queries are
 * deterministic (frozen `Date.now`, seeded `Math.random`), so a hit is what a re-run would return.
 * As on Convex, errors are not cached and a result that looked at the clock is served only while
 * it is younger than the query time limit plus a second. A push or an environment change makes
 * every entry stale (the owner clears the cache).
 *
 * @example
 * ```ts
 * const cache = new QueryCache({ indexesOf: (table) => storage.listIndexes(table), maxAgeIfTimed: 2000 });
 * const key = QueryCache.key(path, args, caller, journal);
 * const hit = cache.get(key) ?? run();
 * cache.set(key, result, { observedTime });
 * cache.invalidate(writes); // after every commit
 * ```
 */
import type { JSONValue } from "convex/values";
import { ReadSetIndex, type IndexLookup } from "../transactions/readSets.js";
import type { DocumentWrite, ReadRange } from "../transactions/transaction.js";

/** What is cached of a query run: its value as JSON text (as the function produced it, or serialized once). */
export interface CachedQuery {
  valueJson: string;
  logLines: string[];
  reads: ReadRange[];
  journal: string | null;
}

export interface QueryCacheOptions {
  indexesOf: IndexLookup;
  /** How long a result that read the clock may be served (ms). */
  maxAgeIfTimed: number;
  /** Most entries kept; the least recently used goes first. Default 1000. */
  maxEntries?: number;
  /** Most bytes of results (as JSON text) kept. Default 32 MiB. */
  maxBytes?: number;
}

interface Entry {
  query: CachedQuery;
  bytes: number;
  /** When a clock-reading result stops being served (ms since the epoch); Infinity otherwise. */
  expiresAt: number;
}

const DEFAULT_MAX_ENTRIES = 1000;
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

export class QueryCache {
  /** In least-recently-used order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Entry>();
  private readonly readers = new ReadSetIndex<string>();
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(private readonly options: QueryCacheOptions) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /** The cache key of a call: everything a query's result may depend on besides the data it reads. */
  static key(path: string, args: JSONValue, identity: JSONValue, admin: boolean, journal: string | null): string {
    return JSON.stringify([path, args, identity, admin, journal]);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedQuery | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (Date.now() >= entry.expiresAt) {
      this.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.query;
  }

  /** Caches a result. */
  set(key: string, query: CachedQuery, { observedTime }: { observedTime: boolean }): void {
    this.delete(key);
    // The key holds the arguments (up to 16 MiB), so it counts as much as the result does.
    const bytes = key.length + query.valueJson.length + query.logLines.reduce((sum, line) => sum + line.length, 0);
    if (bytes > this.maxBytes / 16) return; // one huge result must not flush everything else
    this.entries.set(key, { query, bytes, expiresAt: observedTime ? Date.now() + this.options.maxAgeIfTimed : Infinity });
    this.readers.set(key, query.reads);
    this.bytes += bytes;
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  /** Drops every entry whose read set a commit's writes touched. */
  invalidate(writes: readonly DocumentWrite[]): void {
    if (this.entries.size === 0) return;
    for (const key of this.readers.affected(writes, this.options.indexesOf)) this.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.readers.clear();
    this.bytes = 0;
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.readers.delete(key);
    this.bytes -= entry.bytes;
  }
}
