import { afterEach, describe, expect, test, vi } from "vitest";
import { rangeForPrefix, type IndexInfo } from "../storage/index.js";
import { QueryCache, type CachedQuery } from "./queryCache.js";

const byAuthor: IndexInfo = { name: "by_author", fields: ["author"], keyFields: ["author", "_creationTime", "_id"] };
const indexesOf = (table: string) => (table === "messages" ? [byAuthor] : undefined);

function readingAuthor(author: string, value: unknown = author): CachedQuery {
  return { valueJson: JSON.stringify(value), logLines: [], reads: [{ table: "messages", index: "by_author", range: rangeForPrefix([author]) }], journal: null };
}

/** Caches `query` as the query runner does. */
function put(cache: QueryCache, key: string, query: CachedQuery, observedTime: boolean): void {
  cache.set(key, query, { observedTime });
}

/** The value of a cached result. */
function valueOf(query: CachedQuery | undefined): unknown {
  return query === undefined ? undefined : JSON.parse(query.valueJson);
}

function writeBy(author: string) {
  return { table: "messages", id: "x", before: null, after: JSON.stringify({ _id: "x", _creationTime: 1, author }) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("QueryCache", () => {
  test("keys calls by function, arguments, identity, admin flag and journal", () => {
    const keys = new Set([
      QueryCache.key("m:q", { a: 1 }, null, false, null),
      QueryCache.key("m:q", { a: 2 }, null, false, null),
      QueryCache.key("m:q", { a: 1 }, { subject: "u" }, false, null),
      QueryCache.key("m:q", { a: 1 }, null, true, null),
      QueryCache.key("m:q", { a: 1 }, null, false, "journal"),
      QueryCache.key("m:other", { a: 1 }, null, false, null),
    ]);
    expect(keys.size).toBe(6);
  });

  test("a write into an entry's read range drops it; other writes do not", () => {
    const cache = new QueryCache({ indexesOf, maxAgeIfTimed: 1000 });
    put(cache, "ada", readingAuthor("ada"), false);
    put(cache, "bob", readingAuthor("bob"), false);
    cache.invalidate([writeBy("bob")]);
    expect(valueOf(cache.get("ada"))).toBe("ada");
    expect(cache.get("bob")).toBeUndefined();
    cache.invalidate([{ table: "other", id: "y", before: null, after: JSON.stringify({ _id: "y", _creationTime: 1 }) }]);
    expect(valueOf(cache.get("ada"))).toBe("ada");
  });

  test("a write to a table whose indexes are unknown drops every reader of it", () => {
    const cache = new QueryCache({ indexesOf: () => undefined, maxAgeIfTimed: 1000 });
    put(cache, "ada", readingAuthor("ada"), false);
    cache.invalidate([writeBy("zed")]);
    expect(cache.get("ada")).toBeUndefined();
  });

  test("counts an entry's key (its arguments) toward the byte limit", () => {
    const cache = new QueryCache({ indexesOf, maxAgeIfTimed: 1000, maxBytes: 16_000 });
    const bigArgs = (n: number) => QueryCache.key("m:q", { n, pad: "x".repeat(600) }, null, false, null);
    for (let n = 0; n < 100; n++) put(cache, bigArgs(n), readingAuthor("a", n), false);
    // 100 results of a few bytes each, but keys of ~650 bytes: at most 16000 / 650 stay.
    expect(cache.size).toBeLessThanOrEqual(24);
    expect(valueOf(cache.get(bigArgs(99)))).toBe(99);
  });

  test("evicts the least recently used entry beyond the entry limit", () => {
    const cache = new QueryCache({ indexesOf, maxAgeIfTimed: 1000, maxEntries: 2 });
    put(cache, "a", readingAuthor("a"), false);
    put(cache, "b", readingAuthor("b"), false);
    cache.get("a"); // a is now the most recently used
    put(cache, "c", readingAuthor("c"), false);
    expect(cache.get("b")).toBeUndefined();
    expect(valueOf(cache.get("a"))).toBe("a");
    expect(valueOf(cache.get("c"))).toBe("c");
    expect(cache.size).toBe(2);
  });

  test("stays within its byte budget and skips a result too large to share it", () => {
    const cache = new QueryCache({ indexesOf, maxAgeIfTimed: 1000, maxBytes: 1600 });
    const key = (i: number) => `e${String(i).padStart(2, "0")}`; // 3 bytes
    const ninetySevenBytes = "x".repeat(95); // 97 bytes as JSON text: 100 with its key
    for (let i = 0; i < 20; i++) put(cache, key(i), readingAuthor(`a${i}`, ninetySevenBytes), false);
    expect(cache.size).toBe(16);
    expect(cache.get(key(3))).toBeUndefined();
    expect(valueOf(cache.get(key(4)))).toBe(ninetySevenBytes);
    // Over a sixteenth of the budget: not cached, and nothing else is evicted for it.
    put(cache, "large", readingAuthor("large", "x".repeat(95)), false);
    expect(cache.get("large")).toBeUndefined();
    expect(cache.size).toBe(16);
  });

  test("serves a result that read the clock only until maxAgeIfTimed", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const cache = new QueryCache({ indexesOf, maxAgeIfTimed: 2000 });
    put(cache, "timed", readingAuthor("t"), true);
    put(cache, "untimed", readingAuthor("u"), false);
    vi.setSystemTime(1_001_999);
    expect(valueOf(cache.get("timed"))).toBe("t");
    vi.setSystemTime(1_002_000);
    expect(cache.get("timed")).toBeUndefined();
    vi.setSystemTime(9_999_999);
    expect(valueOf(cache.get("untimed"))).toBe("u");
  });

  test("clear drops everything, including the read sets", () => {
    const cache = new QueryCache({ indexesOf, maxAgeIfTimed: 1000 });
    put(cache, "ada", readingAuthor("ada"), false);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get("ada")).toBeUndefined();
    put(cache, "bob", readingAuthor("bob"), false);
    cache.invalidate([writeBy("ada")]); // the cleared entry's read set is gone too: nothing to trip over
    expect(valueOf(cache.get("bob"))).toBe("bob");
  });
});
