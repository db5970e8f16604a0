/**
 * `Storage`: the durable store of a deployment on one SQLite file.
 *
 * Holds tables, their documents (Convex JSON text), index entries (keys from
 * `keys.ts`), a monotonic commit clock and a small JSON key/value area for
 * upper layers. Everything is synchronous (better-sqlite3). Every write runs
 * inside a transaction; a commit is acknowledged only once durable (WAL with
 * `synchronous = FULL`).
 */
import { statementCache } from "./statementCache.js";
import Database from "better-sqlite3";

import { documentJson, indexKeyOf, parseDocument, type JsonObject } from "./documents.js";
import { decodeDocumentId, encodeDocumentId, newInternalId } from "./ids.js";
import type { KeyRange } from "./keys.js";
import { migrate } from "./schema.js";
import { ownerOnlyDatabase } from "./ownerOnly.js";
import { VectorIndexWriter, insertedDocumentValue, type VectorIndexDefinition } from "./vectorIndexes.js";
import { TextIndexes, type StoredTextIndex, type TextIndexDefinition, type TextQuery, type TextSearchResults } from "./textIndexes.js";

/** Name of the index every table has on `_id`. */
export const BY_ID_INDEX = "by_id";
/** Name of the index every table has on `_creationTime`. */
export const BY_CREATION_TIME_INDEX = "by_creation_time";

/**
 * First table number given to user tables: Convex reserves numbers up to
 * 10000 for system tables and numbers user tables from 10001
 * (`NUM_RESERVED_SYSTEM_TABLE_NUMBERS` in convex-backend's
 * `crates/database/src/bootstrap_model/table.rs`).
 */
export const FIRST_USER_TABLE_NUMBER = 10001;
/** First table number for system tables without a default number (Convex: 512 legacy numbers reserved). */
export const FIRST_SYSTEM_TABLE_NUMBER = 513;
const LAST_SYSTEM_TABLE_NUMBER = 10000;

/**
 * Default numbers of the system tables user code can see, as Convex assigns
 * them (512 + `DefaultTableNumber` in convex-backend's `crates/model/src/lib.rs`).
 */
export const SYSTEM_TABLE_NUMBERS: Readonly<Record<string, number>> = {
  _scheduled_functions: 512 + 27,
  _storage: 512 + 28,
};

/** A user-defined index: its name and indexed field paths (dotted for nested fields). */
export interface IndexDefinition {
  name: string;
  fields: string[];
}

/** An index of a table as stored. */
export interface IndexInfo {
  name: string;
  /** Field paths as defined (`["_id"]` for by_id, `["_creationTime"]` for by_creation_time). */
  fields: string[];
  /** Every field path the key is made of, in order: the fields, then `_creationTime` (except by_id), then `_id`. */
  keyFields: string[];
}

/** A row returned by an index scan. */
export interface ScanRow {
  /** The index key of the entry (usable as a cursor). */
  key: Buffer;
  /** The document id. */
  id: string;
  /** The document as Convex JSON text. */
  json: string;
}

/** The result of an insert. */
export interface InsertResult {
  id: string;
  creationTime: number;
  /** The stored document as Convex JSON text (system fields included). */
  json: string;
}

/** An open savepoint of `Storage.savepoint()`. */
export interface Savepoint {
  release(): void;
  rollback(): void;
}

/** Options of `scanIndex`. */
export interface ScanOptions {
  /** Stop after this many rows. */
  limit?: number;
  /** Rows fetched per query (default 256). */
  batchSize?: number;
}

interface IndexRecord extends IndexInfo {
  id: number;
}

interface TableRecord {
  number: number;
  name: string;
  indexes: IndexRecord[];
}

const DEFAULT_BATCH_SIZE = 256;
/** Meta key of the catalog version: bumped by every change to the tables or their indexes. */
const CATALOG_VERSION_META = "storage/catalogVersion";

function keyFieldsOf(name: string, fields: readonly string[]): string[] {
  if (name === BY_ID_INDEX) return ["_id"];
  if (name === BY_CREATION_TIME_INDEX) return ["_creationTime", "_id"];
  return [...fields, "_creationTime", "_id"];
}

/** Converts a commit timestamp (ns) to milliseconds as Convex does for `_creationTime`. */
export function timestampToMs(ts: bigint): number {
  return Number(ts / 1_000_000n) + Number(ts % 1_000_000n) * 1e-6;
}

/** The next float64 above a non-negative finite `x`. */
function nextUp(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

const clockAnchorNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
/** Wall-clock time in nanoseconds since the Unix epoch, with sub-millisecond resolution. */
function nowNs(): bigint {
  return clockAnchorNs + process.hrtime.bigint();
}

function isSystemField(name: string): boolean {
  return name === "_id" || name === "_creationTime";
}

/**
 * The page cache of a connection that writes (SQLite's default is 2 MiB), in KiB: inserts land at
 * random places of the id and index B-trees, and with 2 MiB an import of 100k documents (62 MiB
 * file) read pages back from the OS on most of its 400k row inserts — 19–26 s against 9 s with
 * 64 MiB. It fills only as pages are read, so a small database costs nothing.
 */
const WRITER_PAGE_CACHE_KIB = 64 * 1024;
/**
 * The WAL is cut back to this size when it restarts. It grows past it only while a reader holds an
 * old snapshot (a long import batch, a held snapshot for `/api/query_ts`); without the limit the
 * file would keep its largest size for good.
 */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** The durable document store. Use one instance per process; writers in other processes wait on SQLite's lock (busy_timeout 5 s). */
export class Storage {
  private readonly db: Database.Database;
  /** Prepared statements of this connection (statementCache.ts). */
  private readonly stmt: (sql: string) => Database.Statement;
  private readonly tableCache = new Map<string, TableRecord | null>();
  /** Table names by number: every id lookup needs one, so they are not re-read from SQLite. */
  private readonly tableNameCache = new Map<number, string | undefined>();
  private depth = 0;
  /** A connection of `openHeldSnapshot`: its read transaction stays open until `close`. */
  private held = false;
  private committedTs = 0n;
  private committedCreationTime = 0;
  private pendingTs: bigint | undefined;
  private pendingCreationTime = 0;
  /** The catalog version the cached tables and indexes are from (see `syncCatalog`). */
  private catalogVersion = -1;
  /** Keeps vector index entries in step with document writes (vectorIndexes.ts). */
  private readonly vectorIndexes: VectorIndexWriter;
  /** Full-text search indexes, kept in step with document writes (textIndexes.ts). */
  private readonly textIndexes: TextIndexes;

  private constructor(db: Database.Database) {
    this.db = db;
    this.stmt = statementCache(db);
    this.vectorIndexes = new VectorIndexWriter(db, () => this.transactionTs());
    this.textIndexes = new TextIndexes(db);
    this.readClock();
    this.syncCatalog();
  }

  /**
   * Opens (creating if needed) the store at `path` (`":memory:"` for a
   * throwaway store), in WAL mode with `synchronous = FULL`, and creates or
   * migrates its schema. The files are owner-only: they hold secrets.
   */
  static open(path: string): Storage {
    if (path !== ":memory:") ownerOnlyDatabase(path);
    const db = new Database(path);
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      db.pragma("busy_timeout = 5000");
      db.pragma(`cache_size = -${WRITER_PAGE_CACHE_KIB}`);
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      migrate(db);
      return new Storage(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * Opens a read-only connection to the store at `path`, for a thread that only reads (queries
   * run in worker threads, each with its own connection: WAL readers never wait for the writer or
   * for each other). Read with `readSnapshot`.
   */
  static openReader(path: string): Storage {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      db.pragma("busy_timeout = 5000");
      return new Storage(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * Opens a read-only connection to the store at `path` that holds one snapshot, the latest
   * commit's, until it is closed: `readSnapshot` then always reads that snapshot, whatever commits
   * come after (a WAL reader keeps the pages it started with). For reads at an earlier commit
   * (`/api/query_at_ts`). While it is open the WAL cannot be restarted, so it grows with every
   * commit made meanwhile: hold a snapshot for minutes, not longer.
   */
  static openHeldSnapshot(path: string): Storage {
    const storage = Storage.openReader(path);
    try {
      storage.beginSnapshot();
      storage.held = true;
      return storage;
    } catch (e) {
      storage.db.close();
      throw e;
    }
  }

  /** The database file's path. */
  get path(): string {
    return this.db.name;
  }

  /**
   * Runs `read` on one snapshot of the store (a read transaction) and passes it the snapshot's
   * commit timestamp: everything `read` reads is as of that commit. For reader connections
   * (`openReader`).
   */
  readSnapshot<T>(read: (snapshotTs: bigint) => T): T {
    if (this.depth > 0) throw new Error("readSnapshot() cannot run inside a transaction");
    if (this.held) {
      // SQLite ends a read transaction itself only on an error (I/O, out of memory): reading on would read the latest commit.
      if (!this.db.inTransaction) throw new Error("The held snapshot was lost: its read transaction ended");
      this.depth = 1;
      try {
        return read(this.committedTs);
      } finally {
        this.depth = 0;
      }
    }
    this.depth = 1;
    try {
      this.beginSnapshot();
      return read(this.committedTs);
    } finally {
      this.depth = 0;
      if (this.db.inTransaction) this.stmt("COMMIT").run();
    }
  }

  /** Begins a read transaction and reads the clock and catalog of its snapshot (the first read pins the snapshot). */
  private beginSnapshot(): void {
    this.stmt("BEGIN").run();
    this.readClock();
    this.syncCatalog();
  }

  /** Closes the database. Throws if a transaction is still running. */
  close(): void {
    if (this.depth > 0) throw new Error("Cannot close storage inside a transaction");
    if (this.held && this.db.inTransaction) this.stmt("COMMIT").run();
    this.db.close();
  }

  // ---------------------------------------------------------------- transactions

  /**
   * Runs `fn` in a transaction and returns its result. The outermost call is
   * `BEGIN IMMEDIATE … COMMIT` and returns only once the commit is durable;
   * nested calls are savepoints. If `fn` throws, its changes (only those of
   * this nesting level) are rolled back and the error is rethrown. `fn` must
   * be synchronous. Several units of work run as nested calls inside one
   * outer call share one commit (group commit) and one commit timestamp.
   */
  transaction<T>(fn: () => T): T {
    if (this.depth === 0) return this.outerTransaction(fn);
    const savepoint = this.savepoint();
    try {
      const result = fn();
      assertSynchronous(result);
      savepoint.release();
      return result;
    } catch (e) {
      savepoint.rollback();
      throw e;
    }
  }

  /**
   * Opens a savepoint inside the running transaction, for a unit of work that cannot be one
   * synchronous `fn` (a mutation that completes inside a batch's vm run). Exactly one of
   * `release` (keep its changes) or `rollback` (undo them) must be called, innermost first.
   */
  savepoint(): Savepoint {
    if (this.depth === 0) throw new Error("Storage.savepoint() needs a running transaction");
    const name = `sp${this.depth}`;
    this.db.exec(`SAVEPOINT ${name}`);
    const depth = ++this.depth;
    let open = true;
    const assertInnermost = () => {
      if (!open) throw new Error(`Savepoint ${name} was already closed`);
      if (this.depth !== depth) throw new Error(`Savepoint ${name} closed out of order`);
    };
    return {
      release: () => {
        assertInnermost();
        this.db.exec(`RELEASE ${name}`);
        open = false;
        this.depth--;
      },
      rollback: () => {
        assertInnermost();
        open = false;
        this.depth--;
        this.tableCache.clear();
        this.tableNameCache.clear();
        this.vectorIndexes.forgetDefinitions();
        if (this.db.inTransaction) {
          this.db.exec(`ROLLBACK TO ${name}`);
          this.db.exec(`RELEASE ${name}`);
        }
      },
    };
  }

  private outerTransaction<T>(fn: () => T): T {
    this.stmt("BEGIN IMMEDIATE").run();
    this.depth = 1;
    try {
      // Another connection (another thread's) may have committed since this one last did.
      this.readClock();
      this.syncCatalog();
      const result = fn();
      assertSynchronous(result);
      if (this.pendingTs !== undefined) {
        this.stmt("UPDATE clock SET last_commit_ts = ?, last_creation_time = ? WHERE id = 1").run(
          this.pendingTs,
          this.pendingCreationTime,
        );
      }
      this.stmt("COMMIT").run();
      if (this.pendingTs !== undefined) {
        this.committedTs = this.pendingTs;
        this.committedCreationTime = this.pendingCreationTime;
      }
      return result;
    } catch (e) {
      this.tableCache.clear();
      this.tableNameCache.clear();
      this.vectorIndexes.forgetDefinitions();
      this.pendingCreationTime = this.committedCreationTime;
      if (this.db.inTransaction) this.stmt("ROLLBACK").run();
      throw e;
    } finally {
      this.depth = 0;
      this.pendingTs = undefined;
    }
  }

  /** Reads the commit clock: inside a transaction, as of its snapshot. */
  private readClock(): void {
    const clock = this.stmt("SELECT last_commit_ts, last_creation_time FROM clock WHERE id = 1").safeIntegers(true).get() as {
      last_commit_ts: bigint;
      last_creation_time: number | bigint;
    };
    this.committedTs = clock.last_commit_ts;
    this.committedCreationTime = Number(clock.last_creation_time);
    this.pendingCreationTime = this.committedCreationTime;
  }

  /**
   * Drops the cached tables and indexes when any connection has created, deleted or re-indexed a
   * table since they were read: every such change bumps the catalog version in the same commit.
   */
  private syncCatalog(): void {
    const row = this.stmt("SELECT value FROM meta WHERE key = ?").get(CATALOG_VERSION_META) as { value: string } | undefined;
    const version = row === undefined ? 0 : Number(row.value);
    if (version === this.catalogVersion) return;
    this.catalogVersion = version;
    this.tableCache.clear();
    this.tableNameCache.clear();
    this.vectorIndexes.forgetDefinitions();
  }

  private catalogChanged(): void {
    this.stmt("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1").run(CATALOG_VERSION_META);
    this.syncCatalog();
  }

  /**
   * Another connection committed at `commitTs` (a writer thread): `lastCommitTs` moves to it, and
   * the cached tables and indexes are re-checked (a table is created or re-indexed only in a commit).
   */
  noteCommit(commitTs: bigint): void {
    if (commitTs <= this.committedTs) return;
    this.committedTs = commitTs;
    if (this.depth === 0) this.syncCatalog();
  }

  /** True while inside `transaction`. */
  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /** The commit timestamp (ns since the Unix epoch) of the last committed write transaction; 0n if none. */
  lastCommitTs(): bigint {
    return this.committedTs;
  }

  /**
   * The commit timestamp the current transaction will commit with (assigned
   * on first use: `max(now, last + 1)` in ns). Throws outside a transaction.
   * Upper layers use it e.g. to resolve commit-timestamp placeholders.
   */
  transactionTs(): bigint {
    if (this.depth === 0) throw new Error("transactionTs() called outside a transaction");
    if (this.pendingTs === undefined) {
      const now = nowNs();
      this.pendingTs = now > this.committedTs ? now : this.committedTs + 1n;
    }
    return this.pendingTs;
  }

  /** A fresh `_creationTime` (ms): from this transaction's timestamp, strictly above every earlier one. */
  private nextCreationTime(): number {
    const fromTs = timestampToMs(this.transactionTs());
    const t = Math.max(fromTs, nextUp(this.pendingCreationTime));
    this.pendingCreationTime = t;
    return t;
  }

  // ---------------------------------------------------------------- meta

  /** The JSON value stored under `key`, or undefined. */
  getMeta<T = unknown>(key: string): T | undefined {
    const row = this.stmt("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as T);
  }

  /** Stores a JSON-serializable value under `key` (durably, in its own or the current transaction). */
  setMeta(key: string, value: unknown): void {
    const text = JSON.stringify(value);
    if (text === undefined) throw new Error(`Meta value for ${key} is not JSON-serializable`);
    this.transaction(() => {
      this.stmt("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(
        key,
        text,
      );
    });
  }

  /** Removes `key`; returns whether it existed. */
  deleteMeta(key: string): boolean {
    return this.transaction(() => this.stmt("DELETE FROM meta WHERE key = ?").run(key).changes > 0);
  }

  /** All meta entries whose key starts with `prefix`, in key order. */
  listMeta(prefix = ""): [string, unknown][] {
    const rows = this.stmt("SELECT key, value FROM meta WHERE substr(key, 1, length(?)) = ? ORDER BY key").all(
      prefix,
      prefix,
    ) as { key: string; value: string }[];
    return rows.map((r) => [r.key, JSON.parse(r.value)]);
  }

  // ---------------------------------------------------------------- tables

  private table(name: string): TableRecord | null {
    const cached = this.tableCache.get(name);
    if (cached !== undefined) return cached;
    const row = this.stmt("SELECT number FROM tables WHERE name = ?").get(name) as { number: number } | undefined;
    let record: TableRecord | null = null;
    if (row) {
      const indexes = (
        this.stmt("SELECT id, name, fields_json FROM indexes WHERE table_number = ? ORDER BY id").all(row.number) as {
          id: number;
          name: string;
          fields_json: string;
        }[]
      ).map((r) => {
        const fields = JSON.parse(r.fields_json) as string[];
        return { id: r.id, name: r.name, fields, keyFields: keyFieldsOf(r.name, fields) };
      });
      record = { number: row.number, name, indexes };
    }
    this.tableCache.set(name, record);
    return record;
  }

  private requireTable(name: string): TableRecord {
    const t = this.table(name);
    if (!t) throw new Error(`Table "${name}" does not exist`);
    return t;
  }

  /** The number of table `name`, or undefined if it does not exist. */
  tableNumber(name: string): number | undefined {
    return this.table(name)?.number;
  }

  /** The name of the table numbered `number`, or undefined. */
  tableName(number: number): string | undefined {
    if (this.tableNameCache.has(number)) return this.tableNameCache.get(number);
    const row = this.stmt("SELECT name FROM tables WHERE number = ?").get(number) as { name: string } | undefined;
    this.tableNameCache.set(number, row?.name);
    return row?.name;
  }

  /** All tables, by number. */
  listTables(): { name: string; number: number }[] {
    return this.stmt("SELECT name, number FROM tables ORDER BY number").all() as { name: string; number: number }[];
  }

  /**
   * Returns the number of table `name`, creating the table (with its by_id
   * and by_creation_time indexes) if needed. User tables get the lowest free
   * number from 10001; tables named `_…` (or `<namespace>/_…`) get their Convex default number
   * when known and free, else the lowest free number from 513. `number`, when given, is the
   * number a new table must have (a snapshot import keeps the exported ids); taken, it throws.
   */
  ensureTable(name: string, number?: number): number {
    const existing = this.table(name);
    if (existing) return existing.number;
    if (typeof name !== "string" || name.length === 0) throw new Error(`Invalid table name ${JSON.stringify(name)}`);
    return this.transaction(() => {
      if (number !== undefined && this.tableName(number) !== undefined) {
        throw new Error(`Table number ${number} is taken by table "${this.tableName(number)}"`);
      }
      number ??= this.freeTableNumber(name);
      this.stmt("INSERT INTO tables (number, name) VALUES (?, ?)").run(number, name);
      const insertIndex = this.stmt("INSERT INTO indexes (table_number, name, fields_json) VALUES (?, ?, ?)");
      insertIndex.run(number, BY_ID_INDEX, JSON.stringify(["_id"]));
      insertIndex.run(number, BY_CREATION_TIME_INDEX, JSON.stringify(["_creationTime"]));
      this.tableCache.delete(name);
      this.tableNameCache.delete(number);
      this.catalogChanged();
      return number;
    });
  }

  private freeTableNumber(name: string): number {
    const taken = (n: number) => this.stmt("SELECT 1 FROM tables WHERE number = ?").get(n) !== undefined;
    const preferred = SYSTEM_TABLE_NUMBERS[name];
    if (preferred !== undefined && !taken(preferred)) return preferred;
    // A component's table is stored as `<namespace>/<name>` (runtime/components.ts): its system
    // tables (`@c/_storage`) are numbered from the system range too.
    const system = name.slice(name.lastIndexOf("/") + 1).startsWith("_");
    const start = system ? FIRST_SYSTEM_TABLE_NUMBER : FIRST_USER_TABLE_NUMBER;
    const end = system ? LAST_SYSTEM_TABLE_NUMBER : 0xffff_ffff;
    // Lowest number >= start not taken: the first gap after `start` in the sorted numbers.
    const row = this.stmt(
      `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM tables WHERE number = @start) THEN @start
              ELSE (SELECT MIN(t.number) + 1 FROM tables t
                    WHERE t.number >= @start AND t.number < @end
                      AND NOT EXISTS (SELECT 1 FROM tables u WHERE u.number = t.number + 1)) END AS n`,
    ).get({ start, end }) as { n: number };
    if (row.n >= end) throw new Error(`No free table number for table "${name}"`);
    return row.n;
  }

  /** Deletes table `name` with all its documents and indexes; returns whether it existed. */
  deleteTable(name: string): boolean {
    return this.transaction(() => {
      const t = this.table(name);
      if (!t) return false;
      this.stmt("DELETE FROM tables WHERE number = ?").run(t.number);
      this.tableCache.delete(name);
      this.tableNameCache.delete(t.number);
      this.catalogChanged();
      return true;
    });
  }

  /**
   * Renames table `name` to `newName`, which no table has, keeping its number, documents and
   * indexes: a snapshot import swaps the tables it wrote in with it (hiddenTables.ts).
   */
  renameTable(name: string, newName: string): void {
    this.transaction(() => {
      const t = this.requireTable(name);
      if (this.table(newName)) throw new Error(`Table "${newName}" already exists`);
      this.stmt("UPDATE tables SET name = ? WHERE number = ?").run(newName, t.number);
      this.tableCache.delete(name);
      this.tableCache.delete(newName);
      this.tableNameCache.delete(t.number);
      this.catalogChanged();
    });
  }

  /**
   * One step of deleting table `name`, for a table nothing reads any more (hiddenTables.ts): up to
   * `limit` of its index entries, else of its documents, else the table itself (its search and
   * vector entries go with it). Returns whether the table is gone. Until it is, its indexes do
   * not match its documents.
   */
  deleteTableStep(name: string, limit: number): boolean {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`Invalid step size ${limit}`);
    return this.transaction(() => {
      const t = this.table(name);
      if (!t) return true;
      for (const index of t.indexes) {
        const deleted = this.stmt(
          `DELETE FROM index_entries WHERE index_id = ? AND key IN (SELECT key FROM index_entries WHERE index_id = ? ORDER BY key LIMIT ${limit})`,
        ).run(index.id, index.id).changes;
        if (deleted > 0) return false;
      }
      const documents = this.stmt(`DELETE FROM documents WHERE id IN (SELECT id FROM documents WHERE table_number = ? ORDER BY id LIMIT ${limit})`).run(t.number).changes;
      if (documents > 0) return false;
      this.deleteTable(name);
      return true;
    });
  }

  // ---------------------------------------------------------------- indexes

  /** The indexes of table `name` (by_id, by_creation_time, then user indexes). Throws if the table does not exist. */
  listIndexes(table: string): IndexInfo[] {
    return this.requireTable(table).indexes.map(({ name, fields, keyFields }) => ({
      name,
      fields: [...fields],
      keyFields: [...keyFields],
    }));
  }

  /**
   * Makes the user indexes of `table` (created if needed) exactly `defs`:
   * adds and backfills new ones, drops ones not listed, and rebuilds ones
   * whose fields changed (reported as both removed and added). by_id and
   * by_creation_time always stay. Returns the names added and removed.
   */
  setIndexes(table: string, defs: readonly IndexDefinition[]): { added: string[]; removed: string[] } {
    const wanted = new Map<string, string[]>();
    for (const def of defs) {
      if (def.name === BY_ID_INDEX || def.name === BY_CREATION_TIME_INDEX) {
        throw new Error(`Index name "${def.name}" is reserved (table "${table}")`);
      }
      if (wanted.has(def.name)) throw new Error(`Duplicate index "${def.name}" on table "${table}"`);
      if (def.fields.length === 0 || new Set(def.fields).size !== def.fields.length) {
        throw new Error(`Index "${table}.${def.name}" needs distinct fields, got ${JSON.stringify(def.fields)}`);
      }
      for (const f of def.fields) {
        if (typeof f !== "string" || f.length === 0 || f.split(".").some((s) => s.length === 0 || isSystemField(s))) {
          throw new Error(`Index "${table}.${def.name}" has invalid field ${JSON.stringify(f)}`);
        }
      }
      wanted.set(def.name, [...def.fields]);
    }
    return this.transaction(() => {
      this.ensureTable(table);
      const t = this.requireTable(table);
      const added: string[] = [];
      const removed: string[] = [];
      for (const index of t.indexes) {
        if (index.name === BY_ID_INDEX || index.name === BY_CREATION_TIME_INDEX) continue;
        const fields = wanted.get(index.name);
        if (fields === undefined || JSON.stringify(fields) !== JSON.stringify(index.fields)) {
          this.stmt("DELETE FROM indexes WHERE id = ?").run(index.id);
          removed.push(index.name);
        }
      }
      const remaining = new Set(t.indexes.map((i) => i.name).filter((n) => !removed.includes(n)));
      for (const [name, fields] of wanted) {
        if (remaining.has(name)) continue;
        const id = Number(
          this.stmt("INSERT INTO indexes (table_number, name, fields_json) VALUES (?, ?, ?)").run(
            t.number,
            name,
            JSON.stringify(fields),
          ).lastInsertRowid,
        );
        this.backfill(t.number, id, keyFieldsOf(name, fields));
        added.push(name);
      }
      this.tableCache.delete(table);
      if (added.length > 0 || removed.length > 0) this.catalogChanged();
      return { added, removed };
    });
  }

  /**
   * Makes the vector indexes of `table` (created if needed) exactly `defs`, as `setIndexes` does
   * for database indexes: new ones are backfilled in this transaction (vectorIndexes.ts).
   */
  setVectorIndexes(table: string, defs: readonly VectorIndexDefinition[]): { added: string[]; removed: string[] } {
    return this.transaction(() => {
      const number = this.ensureTable(table);
      const { added, removed } = this.vectorIndexes.setDefinitions(table, number, defs);
      if (added.length > 0 || removed.length > 0) this.catalogChanged();
      return { added, removed };
    });
  }

  /** The vector indexes of `table` as stored (none when it does not exist). */
  listVectorIndexes(table: string): VectorIndexDefinition[] {
    const number = this.table(table)?.number;
    if (number === undefined) return [];
    return this.vectorIndexes.definitions(number).map(({ name, vectorField, dimensions, filterFields }) => ({ name, vectorField, dimensions, filterFields: [...filterFields] }));
  }

  /** The SQLite connection, for vector search's reader (vectorSearch.ts) only: it reads inside `readSnapshot`. */
  vectorIndexConnection(): Database.Database {
    return this.db;
  }

  /**
   * Makes the search indexes of `table` (created if needed) exactly `defs`, as `setIndexes` does
   * for database indexes: new ones are backfilled in this transaction (textIndexes.ts).
   */
  setTextIndexes(table: string, defs: readonly TextIndexDefinition[]): { added: string[]; removed: string[] } {
    return this.transaction(() => {
      const number = this.ensureTable(table);
      const { added, removed } = this.textIndexes.setDefinitions(number, defs);
      if (added.length > 0 || removed.length > 0) this.catalogChanged();
      return { added, removed };
    });
  }

  /** The search indexes of `table` as stored (none when it does not exist). */
  listTextIndexes(table: string): StoredTextIndex[] {
    const number = this.table(table)?.number;
    return number === undefined ? [] : this.textIndexes.definitions(number);
  }

  /** The documents of search index `index` matching `query`, best first, as they are asked for (textIndexes.ts). */
  searchText(index: StoredTextIndex, query: TextQuery): TextSearchResults {
    return this.textIndexes.search(index, query);
  }

  /** Adds entries for every document of a table to a new index, in batches by id. */
  private backfill(tableNumber: number, indexId: number, keyFields: readonly string[]): void {
    const page = this.stmt("SELECT id, json FROM documents WHERE table_number = ? AND id > ? ORDER BY id LIMIT 500");
    const insert = this.stmt("INSERT INTO index_entries (index_id, key, document_id) VALUES (?, ?, ?)");
    let after = "";
    for (;;) {
      const rows = page.all(tableNumber, after) as { id: string; json: string }[];
      for (const row of rows) insert.run(indexId, indexKeyOf(parseDocument(row.json), keyFields), row.id);
      if (rows.length < 500) return;
      after = rows[rows.length - 1].id;
    }
  }

  // ---------------------------------------------------------------- documents

  /** The document's Convex JSON text, or null if there is no such document. */
  getDocument(id: string): string | null {
    const row = this.stmt("SELECT json FROM documents WHERE id = ?").get(id) as { json: string } | undefined;
    return row?.json ?? null;
  }

  /** The number of documents in `table` (0 if it does not exist). */
  countDocuments(table: string): number {
    const t = this.table(table);
    if (!t) return 0;
    return (this.stmt("SELECT COUNT(*) AS n FROM documents WHERE table_number = ?").get(t.number) as { n: number }).n;
  }

  /**
   * Inserts a document into `table` (created if needed). `fields` is the
   * document in Convex's JSON encoding without system fields (any `_id` /
   * `_creationTime` in it are replaced). `creationTime` (ms) defaults to a
   * fresh one derived from the commit timestamp, strictly increasing. `id`, when given (a
   * snapshot import), is the document's id: it must be an id of this table not in use.
   */
  insertDocument(table: string, fields: JsonObject, creationTime?: number, id?: string): InsertResult {
    return this.transaction(() => {
      this.ensureTable(table);
      const t = this.requireTable(table);
      let ct: number;
      if (creationTime === undefined) {
        ct = this.nextCreationTime();
      } else {
        if (!Number.isFinite(creationTime) || creationTime <= 0) throw new Error(`Invalid creation time ${creationTime}`);
        ct = creationTime;
        this.pendingCreationTime = Math.max(this.pendingCreationTime, ct);
      }
      if (id !== undefined && decodeDocumentId(id)?.tableNumber !== t.number) throw new Error(`${id} is not an id of table "${table}"`);
      id ??= encodeDocumentId(t.number, newInternalId());
      const json = documentJson(fields, id, ct);
      this.stmt("INSERT INTO documents (id, table_number, json, ts) VALUES (?, ?, ?, ?)").run(
        id,
        t.number,
        json,
        this.transactionTs(),
      );
      this.addIndexEntries(t, id, json);
      this.vectorIndexes.documentWritten(t.number, id, insertedDocumentValue(fields, id, ct));
      this.textIndexes.documentWritten(t.number, id, null, json);
      return { id, creationTime: ct, json };
    });
  }

  /**
   * Replaces the user fields of document `id`, keeping its `_id` and
   * `_creationTime`; returns the new JSON text. Throws if it does not exist.
   */
  replaceDocument(id: string, fields: JsonObject): string {
    return this.transaction(() => {
      const { table, json: oldJson } = this.requireDocument(id);
      const creationTime = (JSON.parse(oldJson) as { _creationTime: number })._creationTime;
      const json = documentJson(fields, id, creationTime);
      this.stmt("UPDATE documents SET json = ?, ts = ? WHERE id = ?").run(json, this.transactionTs(), id);
      // Rewrite only the index entries whose key changed.
      const oldDoc = parseDocument(oldJson);
      const newDoc = parseDocument(json);
      for (const index of table.indexes) {
        const oldKey = indexKeyOf(oldDoc, index.keyFields);
        const newKey = indexKeyOf(newDoc, index.keyFields);
        if (oldKey.equals(newKey)) continue;
        this.stmt("DELETE FROM index_entries WHERE index_id = ? AND key = ?").run(index.id, oldKey);
        this.stmt("INSERT INTO index_entries (index_id, key, document_id) VALUES (?, ?, ?)").run(index.id, newKey, id);
      }
      this.vectorIndexes.documentWritten(table.number, id, () => newDoc);
      this.textIndexes.documentWritten(table.number, id, oldJson, json);
      return json;
    });
  }

  /** Deletes document `id`; returns its last JSON text, or null if it did not exist. */
  deleteDocument(id: string): string | null {
    return this.transaction(() => {
      const found = this.findDocument(id);
      if (!found) return null;
      this.removeIndexEntries(found.table, found.json);
      this.stmt("DELETE FROM documents WHERE id = ?").run(id);
      // Deleting is a write: it advances the commit clock like any other.
      this.transactionTs();
      this.vectorIndexes.documentWritten(found.table.number, id, null);
      this.textIndexes.documentWritten(found.table.number, id, found.json, null);
      return found.json;
    });
  }

  private findDocument(id: string): { table: TableRecord; json: string } | null {
    const row = this.stmt("SELECT table_number, json FROM documents WHERE id = ?").get(id) as
      | { table_number: number; json: string }
      | undefined;
    if (!row) return null;
    const name = this.tableName(row.table_number);
    if (name === undefined) throw new Error(`Corrupt store: document ${id} has no table`);
    return { table: this.requireTable(name), json: row.json };
  }

  private requireDocument(id: string): { table: TableRecord; json: string } {
    const found = this.findDocument(id);
    if (!found) {
      const what = decodeDocumentId(id) === null ? "Invalid document id" : "Document not found";
      throw new Error(`${what}: ${id}`);
    }
    return found;
  }

  private addIndexEntries(table: TableRecord, id: string, json: string): void {
    const doc = parseDocument(json);
    const insert = this.stmt("INSERT INTO index_entries (index_id, key, document_id) VALUES (?, ?, ?)");
    for (const index of table.indexes) insert.run(index.id, indexKeyOf(doc, index.keyFields), id);
  }

  private removeIndexEntries(table: TableRecord, json: string): void {
    const doc = parseDocument(json);
    const remove = this.stmt("DELETE FROM index_entries WHERE index_id = ? AND key = ?");
    for (const index of table.indexes) remove.run(index.id, indexKeyOf(doc, index.keyFields));
  }

  /**
   * Checks the store's consistency: SQLite's integrity and foreign-key checks,
   * and that every index has exactly one entry per document of its table.
   * Returns a list of problems (empty when healthy).
   */
  verify(): string[] {
    const problems: string[] = [];
    for (const row of this.db.pragma("integrity_check") as { integrity_check: string }[]) {
      if (row.integrity_check !== "ok") problems.push(`integrity_check: ${row.integrity_check}`);
    }
    for (const row of this.db.pragma("foreign_key_check") as { table: string; rowid: number }[]) {
      problems.push(`foreign_key_check: ${row.table} row ${row.rowid}`);
    }
    const counts = this.stmt(
      `SELECT t.name AS table_name, i.name AS index_name,
              (SELECT COUNT(*) FROM documents d WHERE d.table_number = t.number) AS documents,
              (SELECT COUNT(*) FROM index_entries e JOIN documents d ON d.id = e.document_id
                 WHERE e.index_id = i.id AND d.table_number = t.number) AS matched,
              (SELECT COUNT(*) FROM index_entries e WHERE e.index_id = i.id) AS entries
       FROM indexes i JOIN tables t ON t.number = i.table_number ORDER BY t.number, i.id`,
    ).all() as { table_name: string; index_name: string; documents: number; matched: number; entries: number }[];
    for (const c of counts) {
      if (c.documents !== c.entries || c.matched !== c.entries) {
        problems.push(
          `index ${c.table_name}.${c.index_name}: ${c.entries} entries (${c.matched} matching) for ${c.documents} documents`,
        );
      }
    }
    for (const v of this.vectorIndexes.counts()) {
      if (v.entries !== v.documents) problems.push(`vector index ${v.table}.${v.index}: ${v.entries} entries, ${v.documents} of them for existing documents`);
    }
    problems.push(...this.textIndexes.verify());
    return problems;
  }

  // ---------------------------------------------------------------- scans

  /**
   * Scans index `indexName` of `tableName` over `range` in key order (or
   * reverse), yielding `{ key, id, json }`. Rows are fetched in batches,
   * each batch re-querying from the last key returned, so no SQLite cursor
   * stays open between yields and the caller may write in between; such
   * writes are seen by later batches if they land beyond the last key read.
   * A table that does not exist yet scans as empty through by_id and
   * by_creation_time; any other unknown table or index throws.
   */
  *scanIndex(
    tableName: string,
    indexName: string,
    range: KeyRange,
    order: "asc" | "desc",
    options: ScanOptions = {},
  ): Generator<ScanRow, void, undefined> {
    const table = this.table(tableName);
    if (!table) {
      if (indexName === BY_ID_INDEX || indexName === BY_CREATION_TIME_INDEX) return;
      throw new Error(`Index "${tableName}.${indexName}" not found: table "${tableName}" does not exist`);
    }
    const index = table.indexes.find((i) => i.name === indexName);
    if (!index) throw new Error(`Index "${tableName}.${indexName}" not found`);
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    let remaining = options.limit ?? Infinity;
    let { lower, lowerInclusive, upper, upperInclusive } = range;
    while (remaining > 0) {
      const conditions = ["e.index_id = ?"];
      const params: unknown[] = [index.id];
      if (lower !== undefined) {
        conditions.push(lowerInclusive ? "e.key >= ?" : "e.key > ?");
        params.push(lower);
      }
      if (upper !== undefined) {
        conditions.push(upperInclusive ? "e.key <= ?" : "e.key < ?");
        params.push(upper);
      }
      const take = Math.min(batchSize, remaining);
      // A bound `LIMIT ?` costs SQLite more than the point read itself, so the limit is written into
      // the statement, rounded up to a power of two to keep the number of cached statements small.
      const fetched = this.stmt(
        `SELECT e.key AS key, e.document_id AS id, d.json AS json
         FROM index_entries e JOIN documents d ON d.id = e.document_id
         WHERE ${conditions.join(" AND ")}
         ORDER BY e.key ${order === "asc" ? "ASC" : "DESC"} LIMIT ${2 ** Math.ceil(Math.log2(take))}`,
      ).all(...params) as ScanRow[];
      const rows = fetched.length > take ? fetched.slice(0, take) : fetched;
      for (const row of rows) yield row;
      remaining -= rows.length;
      if (rows.length < take) return;
      const last = rows[rows.length - 1].key;
      if (order === "asc") {
        lower = last;
        lowerInclusive = false;
      } else {
        upper = last;
        upperInclusive = false;
      }
    }
  }
}

function assertSynchronous(result: unknown): void {
  if (result instanceof Promise) {
    throw new Error("Storage.transaction() needs a synchronous function (got a Promise)");
  }
}
