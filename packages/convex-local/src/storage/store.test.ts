import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { jsonToConvex, type JSONValue, type Value } from "convex/values";
import Database from "better-sqlite3";
import { buildSync } from "esbuild";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { valueAtPath, type JsonObject } from "./documents.js";
import { decodeDocumentId } from "./ids.js";
import { compareValueTuples, encodeIndexKey, rangeForIndexExpression, rangeForPrefix, type FieldBound, type KeyRange } from "./keys.js";
import { Storage } from "./store.js";

let dir: string;
let path: string;
let store: Storage;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "convex-local-storage-"));
  path = join(dir, "db.sqlite");
  store = Storage.open(path);
});

afterEach(() => {
  try {
    store.close();
  } catch {
    // already closed by the test
  }
  rmSync(dir, { recursive: true, force: true });
});

const everything: KeyRange = { lowerInclusive: true, upperInclusive: true };

function scanIds(table: string, index: string, range: KeyRange = everything, order: "asc" | "desc" = "asc"): string[] {
  return [...store.scanIndex(table, index, range, order)].map((r) => r.id);
}

function doc(id: string): Value {
  return jsonToConvex(JSON.parse(store.getDocument(id)!) as JSONValue);
}

/** Ids of all documents of `table`, sorted as index `index` must order them (brute force). */
function expectedOrder(table: string, index: string, filter: (d: Value) => boolean = () => true): string[] {
  const info = store.listIndexes(table).find((i) => i.name === index)!;
  const docs = scanIds(table, "by_id").map(doc).filter(filter);
  const tuple = (d: Value) => info.keyFields.map((f) => valueAtPath(d, f));
  return docs.sort((a, b) => compareValueTuples(tuple(a), tuple(b))).map((d) => valueAtPath(d, "_id") as string);
}

/** Asserts every index of `table` lists exactly its documents in the right order. */
function expectIndexesConsistent(table: string): void {
  expect(store.verify()).toEqual([]);
  for (const { name } of store.listIndexes(table)) {
    expect(scanIds(table, name), name).toEqual(expectedOrder(table, name));
  }
}

describe("documents", () => {
  it("inserts, reads, replaces and deletes", () => {
    const { id, creationTime, json } = store.insertDocument("users", { name: "ada", age: 36 });
    expect(decodeDocumentId(id)?.tableNumber).toBe(store.tableNumber("users"));
    expect(JSON.parse(json)).toEqual({ _id: id, _creationTime: creationTime, name: "ada", age: 36 });
    expect(store.getDocument(id)).toBe(json);
    const replaced = store.replaceDocument(id, { name: "grace", _id: "ignored", _creationTime: 1 });
    expect(JSON.parse(replaced)).toEqual({ _id: id, _creationTime: creationTime, name: "grace" });
    expect(store.getDocument(id)).toBe(replaced);
    expect(store.countDocuments("users")).toBe(1);
    expect(store.deleteDocument(id)).toBe(replaced);
    expect(store.getDocument(id)).toBeNull();
    expect(store.deleteDocument(id)).toBeNull();
    expect(store.countDocuments("users")).toBe(0);
    expect(store.countDocuments("nope")).toBe(0);
  });

  it("stores fields sorted by name at every level, like Convex objects", () => {
    const { json } = store.insertDocument("t", { b: 1, a: { z: 1, "10": 2, y: [{ d: 1, c: 2 }] } });
    expect(json).toBe(
      `{"_creationTime":${JSON.parse(json)._creationTime},"_id":"${JSON.parse(json)._id}","a":{"10":2,"y":[{"c":2,"d":1}],"z":1},"b":1}`,
    );
  });

  it("keeps Convex JSON encodings (int64, bytes) intact", () => {
    const fields = { big: { $integer: "AQAAAAAAAAA=" }, raw: { $bytes: "AAE=" } } as JsonObject;
    const { id } = store.insertDocument("t", fields);
    const d = doc(id) as Record<string, Value>;
    expect(d.big).toBe(1n);
    expect(new Uint8Array(d.raw as ArrayBuffer)).toEqual(Uint8Array.from([0, 1]));
  });

  it("hands out strictly increasing creation times and commit timestamps", () => {
    expect(store.lastCommitTs()).toBe(0n);
    let lastTime = 0;
    let lastTs = 0n;
    for (let i = 0; i < 20; i++) {
      const times = store.transaction(() => [1, 2, 3].map(() => store.insertDocument("t", {}).creationTime));
      for (const t of times) {
        expect(t).toBeGreaterThan(lastTime);
        lastTime = t;
      }
      expect(store.lastCommitTs()).toBeGreaterThan(lastTs);
      lastTs = store.lastCommitTs();
    }
    // Creation times are milliseconds close to the commit timestamp.
    expect(Math.abs(lastTime - Number(lastTs / 1_000_000n))).toBeLessThan(1000);
    expect(() => store.transactionTs()).toThrow(/outside a transaction/);
    const ts = store.transaction(() => store.transactionTs());
    expect(store.lastCommitTs()).toBe(ts);
  });

  it("accepts an explicit creation time and keeps later ones above it", () => {
    const future = Date.now() + 3_600_000;
    expect(store.insertDocument("t", {}, future).creationTime).toBe(future);
    expect(store.insertDocument("t", {}).creationTime).toBeGreaterThan(future);
    expect(() => store.insertDocument("t", {}, NaN)).toThrow(/creation time/);
  });

  it("reports missing and invalid ids clearly", () => {
    const { id } = store.insertDocument("t", {});
    store.deleteDocument(id);
    expect(() => store.replaceDocument(id, {})).toThrow(`Document not found: ${id}`);
    expect(() => store.replaceDocument("nonsense", {})).toThrow("Invalid document id: nonsense");
    expect(store.getDocument("nonsense")).toBeNull();
  });
});

describe("tables", () => {
  it("numbers user tables from 10001 and system tables like Convex", () => {
    expect(store.ensureTable("users")).toBe(10001);
    expect(store.ensureTable("posts")).toBe(10002);
    expect(store.ensureTable("users")).toBe(10001);
    expect(store.ensureTable("_storage")).toBe(540);
    expect(store.ensureTable("_scheduled_functions")).toBe(539);
    expect(store.ensureTable("_other")).toBe(513);
    expect(store.tableName(10002)).toBe("posts");
    expect(store.tableName(99)).toBeUndefined();
    expect(store.listTables().map((t) => t.name)).toEqual(["_other", "_scheduled_functions", "_storage", "users", "posts"]);
    const { id } = store.insertDocument("users", {});
    expect(id.length).toBe(32);
    expect(id[0]).toBe("j");
  });

  it("deletes a table with its documents and indexes, and reuses the lowest free number", () => {
    store.setIndexes("users", [{ name: "by_name", fields: ["name"] }]);
    const { id } = store.insertDocument("users", { name: "x" });
    store.ensureTable("posts");
    expect(store.deleteTable("users")).toBe(true);
    expect(store.deleteTable("users")).toBe(false);
    expect(store.getDocument(id)).toBeNull();
    expect(store.tableNumber("users")).toBeUndefined();
    expect(() => store.listIndexes("users")).toThrow('Table "users" does not exist');
    expect(store.verify()).toEqual([]);
    expect(store.ensureTable("comments")).toBe(10001);
    expect(store.ensureTable("more")).toBe(10003);
  });
});

describe("indexes", () => {
  it("has by_id and by_creation_time and lists key fields", () => {
    store.setIndexes("t", [{ name: "by_ab", fields: ["a", "b.c"] }]);
    expect(store.listIndexes("t")).toEqual([
      { name: "by_id", fields: ["_id"], keyFields: ["_id"] },
      { name: "by_creation_time", fields: ["_creationTime"], keyFields: ["_creationTime", "_id"] },
      { name: "by_ab", fields: ["a", "b.c"], keyFields: ["a", "b.c", "_creationTime", "_id"] },
    ]);
  });

  it("maintains every index through inserts, replaces and deletes", () => {
    store.setIndexes("t", [
      { name: "by_a", fields: ["a"] },
      { name: "by_nested", fields: ["n.x", "a"] },
    ]);
    const values: JSONValue[] = [null, 1, 2, "s", true, [1], { k: 1 }, -1.5];
    const ids = values.map((a, i) => store.insertDocument("t", i % 3 === 0 ? { n: { x: a } } : { a, n: { x: i } }).id);
    expectIndexesConsistent("t");
    for (let i = 0; i < ids.length; i += 2) store.replaceDocument(ids[i], { a: values[(i + 3) % values.length] });
    expectIndexesConsistent("t");
    for (let i = 0; i < ids.length; i += 3) store.deleteDocument(ids[i]);
    expectIndexesConsistent("t");
    expect(scanIds("t", "by_a")).toHaveLength(ids.length - 3);
  });

  it("orders a missing field before null, and null before numbers", () => {
    store.setIndexes("t", [{ name: "by_a", fields: ["a"] }]);
    const withNumber = store.insertDocument("t", { a: 1 }).id;
    const withNull = store.insertDocument("t", { a: null }).id;
    const missing = store.insertDocument("t", {}).id;
    expect(scanIds("t", "by_a")).toEqual([missing, withNull, withNumber]);
    expect(scanIds("t", "by_a", rangeForPrefix([null]))).toEqual([withNull]);
    expect(scanIds("t", "by_a", rangeForPrefix([undefined]))).toEqual([missing]);
  });

  it("breaks ties by _creationTime, then _id", () => {
    store.setIndexes("t", [{ name: "by_a", fields: ["a"] }]);
    const first = store.insertDocument("t", { a: 1 }, 2000).id;
    const second = store.insertDocument("t", { a: 1 }, 1000).id;
    expect(scanIds("t", "by_a")).toEqual([second, first]);
    expect(scanIds("t", "by_creation_time")).toEqual([second, first]);
  });

  it("backfills added indexes, drops removed ones and rebuilds changed ones", () => {
    const ids = [3, 1, 2].map((a) => store.insertDocument("t", { a, b: -a }).id);
    expect(store.setIndexes("t", [{ name: "by_x", fields: ["a"] }])).toEqual({ added: ["by_x"], removed: [] });
    expect(scanIds("t", "by_x")).toEqual([ids[1], ids[2], ids[0]]);
    expect(store.setIndexes("t", [{ name: "by_x", fields: ["a"] }])).toEqual({ added: [], removed: [] });
    expect(store.setIndexes("t", [{ name: "by_x", fields: ["b"] }])).toEqual({ added: ["by_x"], removed: ["by_x"] });
    expect(scanIds("t", "by_x")).toEqual([ids[0], ids[2], ids[1]]);
    expectIndexesConsistent("t");
    expect(store.setIndexes("t", [])).toEqual({ added: [], removed: ["by_x"] });
    expect(store.listIndexes("t").map((i) => i.name)).toEqual(["by_id", "by_creation_time"]);
    expect(() => scanIds("t", "by_x")).toThrow('Index "t.by_x" not found');
    expect(store.verify()).toEqual([]);
  });

  it("backfills more documents than one batch", () => {
    store.transaction(() => {
      for (let i = 0; i < 1234; i++) store.insertDocument("t", { a: i % 10 });
    });
    store.setIndexes("t", [{ name: "by_a", fields: ["a"] }]);
    expect(scanIds("t", "by_a")).toEqual(expectedOrder("t", "by_a"));
    expect(store.verify()).toEqual([]);
  });

  it("creates the table for setIndexes and validates definitions", () => {
    store.setIndexes("fresh", [{ name: "by_a", fields: ["a"] }]);
    expect(store.tableNumber("fresh")).toBeDefined();
    expect(() => store.setIndexes("t", [{ name: "by_id", fields: ["a"] }])).toThrow(/reserved/);
    expect(() => store.setIndexes("t", [{ name: "by_creation_time", fields: ["a"] }])).toThrow(/reserved/);
    expect(() => store.setIndexes("t", [{ name: "x", fields: [] }])).toThrow(/distinct fields/);
    expect(() => store.setIndexes("t", [{ name: "x", fields: ["a", "a"] }])).toThrow(/distinct fields/);
    expect(() => store.setIndexes("t", [{ name: "x", fields: ["_creationTime"] }])).toThrow(/invalid field/);
    expect(() => store.setIndexes("t", [{ name: "x", fields: ["a..b"] }])).toThrow(/invalid field/);
    expect(() =>
      store.setIndexes("t", [
        { name: "x", fields: ["a"] },
        { name: "x", fields: ["b"] },
      ]),
    ).toThrow(/Duplicate index/);
  });
});

describe("scans", () => {
  const values: JSONValue[] = [null, -1, 0, 0, 1, 2, 2, 3, 5, 8, "a", "b", false];

  function seed(): void {
    store.setIndexes("t", [
      { name: "by_v", fields: ["v"] },
      { name: "by_g_v", fields: ["g", "v"] },
    ]);
    values.forEach((v, i) => store.insertDocument("t", { v, g: i % 2 }));
    store.insertDocument("t", { g: 0 }); // v missing
  }

  const bounds: (Value | undefined)[] = [undefined, null, -5, 0, 2, 2.5, 8, 100, "a", false, true];

  function matches(value: Value | undefined, b: FieldBound): boolean {
    const c = compareValueTuples([value], [b.value]);
    return b.op === "gt" ? c > 0 : b.op === "gte" ? c >= 0 : b.op === "lt" ? c < 0 : c <= 0;
  }

  it("answers every bound combination in both orders like a brute-force filter", () => {
    seed();
    const lowers: (FieldBound | undefined)[] = [undefined];
    const uppers: (FieldBound | undefined)[] = [undefined];
    for (const value of bounds) {
      lowers.push({ op: "gt", value }, { op: "gte", value });
      uppers.push({ op: "lt", value }, { op: "lte", value });
    }
    let checked = 0;
    for (const g of [undefined, 0, 1]) {
      const eq = g === undefined ? [] : [g];
      const index = g === undefined ? "by_v" : "by_g_v";
      for (const lower of lowers) {
        for (const upper of uppers) {
          const range = rangeForIndexExpression(eq, lower, upper);
          const want = expectedOrder("t", index, (d) => {
            const v = valueAtPath(d, "v");
            return (
              (g === undefined || valueAtPath(d, "g") === BigInt(g) || valueAtPath(d, "g") === g) &&
              (!lower || matches(v, lower)) &&
              (!upper || matches(v, upper))
            );
          });
          expect(scanIds("t", index, range, "asc")).toEqual(want);
          expect(scanIds("t", index, range, "desc")).toEqual([...want].reverse());
          checked += want.length;
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it("honours inclusive and exclusive raw key bounds", () => {
    seed();
    const all = [...store.scanIndex("t", "by_v", everything, "asc")];
    const lo = all[3].key;
    const hi = all[8].key;
    const slice = (lowerInclusive: boolean, upperInclusive: boolean, order: "asc" | "desc") =>
      [...store.scanIndex("t", "by_v", { lower: lo, lowerInclusive, upper: hi, upperInclusive }, order)].map((r) => r.id);
    const ids = all.map((r) => r.id);
    expect(slice(true, true, "asc")).toEqual(ids.slice(3, 9));
    expect(slice(false, true, "asc")).toEqual(ids.slice(4, 9));
    expect(slice(true, false, "asc")).toEqual(ids.slice(3, 8));
    expect(slice(false, false, "desc")).toEqual(ids.slice(4, 8).reverse());
    // The document without `v` comes first: its key starts with the "missing" tag.
    expect(all[0].key.subarray(0, 1).equals(encodeIndexKey([undefined]))).toBe(true);
  });

  it("applies limits, and fetches in batches while the caller writes", () => {
    seed();
    expect([...store.scanIndex("t", "by_v", everything, "desc", { limit: 4 })]).toHaveLength(4);
    const before = scanIds("t", "by_creation_time");
    const seen: string[] = [];
    const added: string[] = [];
    const deletedAhead = before[before.length - 2];
    for (const row of store.scanIndex("t", "by_creation_time", everything, "asc", { batchSize: 3 })) {
      seen.push(row.id);
      if (seen.length === 2) store.deleteDocument(deletedAhead);
      if (seen.length === 4) store.deleteDocument(before[0]); // behind the scan: already seen
      if (seen.length <= 5) added.push(store.insertDocument("t", { v: seen.length }).id);
    }
    expect(seen).toEqual([...before.filter((id) => id !== deletedAhead), ...added]);
  });

  it("treats a missing table as empty for system indexes, and names unknown indexes", () => {
    expect(scanIds("ghost", "by_id")).toEqual([]);
    expect(scanIds("ghost", "by_creation_time")).toEqual([]);
    expect(() => scanIds("ghost", "by_x")).toThrow('Index "ghost.by_x" not found: table "ghost" does not exist');
    store.ensureTable("t");
    expect(() => scanIds("t", "by_x")).toThrow('Index "t.by_x" not found');
  });
});

describe("transactions", () => {
  it("rolls back everything when the function throws", () => {
    store.insertDocument("keep", {});
    const ts = store.lastCommitTs();
    expect(() =>
      store.transaction(() => {
        store.insertDocument("t", { a: 1 });
        store.setIndexes("keep", [{ name: "by_a", fields: ["a"] }]);
        store.setMeta("k", 1);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(store.tableNumber("t")).toBeUndefined();
    expect(store.listIndexes("keep").map((i) => i.name)).toEqual(["by_id", "by_creation_time"]);
    expect(store.getMeta("k")).toBeUndefined();
    expect(store.lastCommitTs()).toBe(ts);
    expect(store.inTransaction).toBe(false);
    expect(store.verify()).toEqual([]);
  });

  it("rolls back only the failing nested unit", () => {
    const result = store.transaction(() => {
      const a = store.insertDocument("t", { n: 1 }).id;
      let b = "";
      expect(() =>
        store.transaction(() => {
          b = store.insertDocument("t", { n: 2 }).id;
          store.setIndexes("t", [{ name: "by_n", fields: ["n"] }]);
          throw new Error("inner");
        }),
      ).toThrow("inner");
      const c = store.transaction(() => store.insertDocument("t", { n: 3 }).id);
      return { a, b, c };
    });
    expect(store.getDocument(result.a)).not.toBeNull();
    expect(store.getDocument(result.b)).toBeNull();
    expect(store.getDocument(result.c)).not.toBeNull();
    expect(store.listIndexes("t").map((i) => i.name)).toEqual(["by_id", "by_creation_time"]);
    expectIndexesConsistent("t");
  });

  it("keeps a released savepoint's writes and undoes a rolled-back one's", () => {
    const ids = store.transaction(() => {
      const kept = store.savepoint();
      const a = store.insertDocument("t", { n: 1 }).id;
      kept.release();
      const undone = store.savepoint();
      const b = store.insertDocument("t", { n: 2 }).id;
      undone.rollback();
      return { a, b };
    });
    expect(store.getDocument(ids.a)).not.toBeNull();
    expect(store.getDocument(ids.b)).toBeNull();
    expectIndexesConsistent("t");
  });

  it("refuses a savepoint outside a transaction, closed twice or out of order", () => {
    expect(() => store.savepoint()).toThrow(/needs a running transaction/);
    store.transaction(() => {
      const outer = store.savepoint();
      const inner = store.savepoint();
      expect(() => outer.release()).toThrow(/closed out of order/);
      inner.release();
      expect(() => inner.rollback()).toThrow(/already closed/);
      outer.release();
    });
    expect(store.inTransaction).toBe(false);
  });

  it("commits several units as one group with one timestamp", () => {
    const before = store.lastCommitTs();
    const stamps = store.transaction(() =>
      [1, 2, 3].map((n) =>
        store.transaction(() => {
          store.insertDocument("t", { n });
          return store.transactionTs();
        }),
      ),
    );
    expect(new Set(stamps).size).toBe(1);
    expect(stamps[0]).toBeGreaterThan(before);
    expect(store.lastCommitTs()).toBe(stamps[0]);
    expect(store.countDocuments("t")).toBe(3);
  });

  it("refuses asynchronous functions and stays usable", () => {
    expect(() => store.transaction(() => Promise.resolve(1))).toThrow(/synchronous/);
    expect(store.inTransaction).toBe(false);
    expect(store.insertDocument("t", {}).id).toBeTruthy();
  });
});

describe("held snapshots", () => {
  const walCheckpoint = () => {
    const db = new Database(path, { timeout: 0 });
    try {
      return (db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[])[0];
    } finally {
      db.close();
    }
  };

  it("read the commit they were opened at, whatever is written after, until closed", () => {
    const { id } = store.transaction(() => store.insertDocument("t", { n: 1 }));
    const openedAt = store.lastCommitTs();
    const held = Storage.openHeldSnapshot(path);
    try {
      store.transaction(() => {
        store.replaceDocument(id, { n: 2 });
        store.insertDocument("t", { n: 3 });
        store.insertDocument("later", {});
      });
      const seen = () => held.readSnapshot((ts) => ({ ts, doc: JSON.parse(held.getDocument(id)!).n, count: held.countDocuments("t"), later: held.tableNumber("later") }));
      expect(seen()).toEqual({ ts: openedAt, doc: 1, count: 1, later: undefined });
      expect(seen()).toEqual({ ts: openedAt, doc: 1, count: 1, later: undefined }); // a second read, the same snapshot
      const latest = Storage.openReader(path);
      expect(latest.readSnapshot((ts) => ({ ts, doc: JSON.parse(latest.getDocument(id)!).n }))).toEqual({ ts: store.lastCommitTs(), doc: 2 });
      latest.close();
      // While it is open, the WAL cannot be checkpointed past it and restarted.
      expect(walCheckpoint()).toMatchObject({ busy: 1 });
    } finally {
      held.close();
    }
    expect(walCheckpoint()).toMatchObject({ busy: 0 });
  });
});

describe("the WAL", () => {
  it("grows while an old snapshot is held and is cut back to 64 MiB once it restarts after", () => {
    const walBytes = () => statSync(`${path}-wal`).size;
    const held = Storage.openHeldSnapshot(path);
    const text = "x".repeat(100_000);
    for (let batch = 0; batch < 8; batch++) store.transaction(() => Array.from({ length: 100 }, () => store.insertDocument("big", { text })));
    expect(walBytes()).toBeGreaterThan(64 * 1024 * 1024);
    held.close();
    // The next commits checkpoint the whole WAL, then start it again from the beginning, cut back.
    for (let i = 0; i < 3; i++) store.transaction(() => store.insertDocument("small", {}));
    expect(walBytes()).toBeLessThanOrEqual(64 * 1024 * 1024);
  });
});

describe("meta", () => {
  it("stores, lists and deletes JSON values", () => {
    expect(store.getMeta("env:A")).toBeUndefined();
    store.setMeta("env:A", "1");
    store.setMeta("env:B", { nested: [1, 2] });
    store.setMeta("config", true);
    store.setMeta("env:A", "2");
    expect(store.getMeta("env:A")).toBe("2");
    expect(store.listMeta("env:")).toEqual([
      ["env:A", "2"],
      ["env:B", { nested: [1, 2] }],
    ]);
    expect(store.listMeta()).toHaveLength(3);
    expect(store.deleteMeta("env:A")).toBe(true);
    expect(store.deleteMeta("env:A")).toBe(false);
    expect(() => store.setMeta("bad", undefined)).toThrow(/JSON/);
  });
});

describe("durability", () => {
  it("keeps everything after close and reopen", () => {
    store.setIndexes("t", [{ name: "by_a", fields: ["a"] }]);
    const ids = [2, 1].map((a) => store.insertDocument("t", { a }).id);
    store.setMeta("m", { x: 1 });
    const ts = store.lastCommitTs();
    const lastCreation = (JSON.parse(store.getDocument(ids[1])!) as { _creationTime: number })._creationTime;
    store.close();
    store = Storage.open(path);
    expect(store.lastCommitTs()).toBe(ts);
    expect(scanIds("t", "by_a")).toEqual([ids[1], ids[0]]);
    expect(store.getMeta("m")).toEqual({ x: 1 });
    expect(store.insertDocument("t", {}, undefined).creationTime).toBeGreaterThan(lastCreation);
    expect(store.lastCommitTs()).toBeGreaterThan(ts);
    expect(store.verify()).toEqual([]);
  });

  it("refuses a database from a newer schema version", () => {
    store.close();
    const require = createRequire(import.meta.url);
    const Database = require("better-sqlite3") as typeof import("better-sqlite3");
    const raw = new Database(path);
    raw.pragma("user_version = 999");
    raw.close();
    expect(() => Storage.open(path)).toThrow(/newer/);
  });

  it("keeps every acknowledged commit when the process is killed with SIGKILL", async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const bundle = join(dir, "child.cjs");
    buildSync({
      entryPoints: [join(here, "test-utils", "durabilityChild.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      outfile: bundle,
      external: ["better-sqlite3"],
      logLevel: "error",
    });
    store.close();
    const betterSqlite = createRequire(import.meta.url).resolve("better-sqlite3");
    const nodeModules = betterSqlite.slice(0, betterSqlite.lastIndexOf("node_modules") + "node_modules".length);
    const child = spawn(process.execPath, [bundle, path], {
      env: { ...process.env, NODE_PATH: nodeModules },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const acknowledged: { n: number; id: string }[] = [];
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    let buffered = "";
    const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const [, n, id] = line.split(" ");
        acknowledged.push({ n: Number(n), id });
      }
      if (acknowledged.length >= 300) child.kill("SIGKILL");
    });
    const signal = await exit;
    expect(stderr).toBe("");
    expect(signal).toBe("SIGKILL");
    expect(acknowledged.length).toBeGreaterThanOrEqual(300);
    store = Storage.open(path);
    for (const { n, id } of acknowledged) {
      expect(store.getDocument(id), `commit ${n}`).not.toBeNull();
    }
    expect(store.getMeta<number>("last")).toBeGreaterThanOrEqual(acknowledged[acknowledged.length - 1].n);
    expect(store.countDocuments("items")).toBe((store.getMeta<number>("last") ?? -1) + 1);
    expect(store.verify()).toEqual([]);
  });
});
