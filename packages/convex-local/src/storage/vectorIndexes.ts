/**
 * Vector indexes on disk: their definitions and one entry per indexed document, kept in the
 * deployment's SQLite file and written in the same transaction as the document they come from.
 *
 * A document is indexed when the value at the index's vector field is an array of exactly
 * `dimensions` numbers (Convex's rule: anything else — missing field, other length, an int64 or
 * string inside — leaves the document out of the index, silently). Its entry holds the vector as
 * float32 and, per filter field, the value's index-key encoding (equal values, equal keys; a
 * missing field has a key of its own, distinct from `null`).
 *
 * Entries carry the commit timestamp of their last write; deleting a document (or making it
 * unindexable) leaves a tombstone (vector NULL) at that timestamp, so a reader that holds an
 * index in memory (vectorSearch.ts) catches up by reading only entries newer than what it has.
 * Tombstones are dropped when the index definitions are next set (a push), which also makes
 * every reader reload.
 *
 * ```ts
 * const vectors = new VectorIndexWriter(db, () => storage.transactionTs());
 * vectors.setDefinitions(tableNumber, [{ name: "by_embedding", vectorField: "embedding", dimensions: 768, filterFields: ["genre"] }]);
 * vectors.documentWritten(tableNumber, id, () => doc); // null: deleted
 * ```
 */
import { statementCache } from "./statementCache.js";
import type Database from "better-sqlite3";
import type { Value } from "convex/values";

import { valueAtPath, parseDocument, type JsonObject } from "./documents.js";
import { encodeIndexKey } from "./keys.js";
import { jsonToValue } from "./values.js";

/** Meta key of the vector generation: bumped when definitions change or tombstones are dropped, so memory copies reload. */
const VECTOR_GENERATION_META = "storage/vectorGeneration";

/** Convex's bounds on a vector index's dimensions (`MIN/MAX_VECTOR_DIMENSIONS`, convex-backend `crates/common/src/bootstrap_model/index/vector_index/dimensions.rs`). */
export const MIN_VECTOR_DIMENSIONS = 2;
export const MAX_VECTOR_DIMENSIONS = 4096;

/** A vector index as the schema defines it. */
export interface VectorIndexDefinition {
  name: string;
  /** Field path of the vector (dotted for nested fields). */
  vectorField: string;
  dimensions: number;
  /** Field paths usable in the search's `filter`. */
  filterFields: string[];
}

/** A stored vector index. */
export interface StoredVectorIndex extends VectorIndexDefinition {
  id: number;
  tableNumber: number;
}

/** One entry of a vector index as read back: a live document, or a tombstone (`vector` null). */
export interface VectorEntry {
  documentId: string;
  ts: bigint;
  /** Per filter field (in definition order), the hex of its value's index-key encoding. */
  filterKeys: string[] | null;
  /** float32 little-endian bytes, `dimensions` of them; null for a tombstone. */
  vector: Buffer | null;
}

/**
 * An inserted document's value, from the fields it was inserted with (its Convex JSON object)
 * rather than by parsing its stored text again: parsing 768 numbers of text cost an insert more
 * than the rest of the vector index's work.
 */
export function insertedDocumentValue(fields: JsonObject, id: string, creationTime: number): () => Value {
  return () => jsonToValue({ ...fields, _id: id, _creationTime: creationTime });
}

/** The index-key hex of a filter value (undefined: the field is missing). */
export function filterKeyOf(value: Value | undefined): string {
  return encodeIndexKey([value]).toString("hex");
}

/** The float32 bytes of the vector `doc` holds for `index`, or null when Convex would not index it. */
export function indexedVectorOf(doc: Value, index: VectorIndexDefinition): Buffer | null {
  const value = valueAtPath(doc, index.vectorField);
  if (!Array.isArray(value) || value.length !== index.dimensions) return null;
  const vector = new Float32Array(index.dimensions);
  for (let i = 0; i < value.length; i++) {
    const element = value[i];
    // Non-finite numbers would make every score NaN: such a document is left out.
    if (typeof element !== "number" || !Number.isFinite(element)) return null;
    vector[i] = element;
  }
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

/** Checks a definition as a push would: Convex's texts where Convex has one. */
export function checkVectorIndexDefinition(table: string, def: VectorIndexDefinition): void {
  const { name, vectorField, dimensions, filterFields } = def;
  if (!Number.isInteger(dimensions) || dimensions < MIN_VECTOR_DIMENSIONS || dimensions > MAX_VECTOR_DIMENSIONS) {
    throw new Error(`Dimensions ${dimensions} must be between ${MIN_VECTOR_DIMENSIONS} and ${MAX_VECTOR_DIMENSIONS}.`);
  }
  const fieldOk = (f: unknown) => typeof f === "string" && f.length > 0 && f.split(".").every((s) => s.length > 0);
  if (!fieldOk(vectorField)) throw new Error(`Vector index "${table}.${name}" has invalid vectorField ${JSON.stringify(vectorField)}`);
  if (!Array.isArray(filterFields) || !filterFields.every(fieldOk) || new Set(filterFields).size !== filterFields.length) {
    throw new Error(`Vector index "${table}.${name}" needs distinct valid filterFields, got ${JSON.stringify(filterFields)}`);
  }
}

/** Writes vector index definitions and entries through the storage layer's connection (inside its transactions). */
export class VectorIndexWriter {
  private readonly stmt: (sql: string) => Database.Statement;
  /** Definitions by table number; cleared whenever the catalog may have changed. */
  private readonly definitionCache = new Map<number, StoredVectorIndex[]>();

  /** `commitTs`: the running transaction's commit timestamp (Storage.transactionTs). */
  constructor(
    db: Database.Database,
    private readonly commitTs: () => bigint,
  ) {
    this.stmt = statementCache(db);
  }

  /** Forgets cached definitions (another connection or a rolled-back transaction may have changed them). */
  forgetDefinitions(): void {
    this.definitionCache.clear();
  }

  /** The vector indexes of a table. */
  definitions(tableNumber: number): StoredVectorIndex[] {
    const cached = this.definitionCache.get(tableNumber);
    if (cached !== undefined) return cached;
    const rows = this.stmt(
      "SELECT id, name, vector_field, dimensions, filter_fields_json FROM vector_indexes WHERE table_number = ? ORDER BY id",
    ).all(tableNumber) as { id: number; name: string; vector_field: string; dimensions: number; filter_fields_json: string }[];
    const definitions = rows.map((r) => ({
      id: r.id,
      tableNumber,
      name: r.name,
      vectorField: r.vector_field,
      dimensions: r.dimensions,
      filterFields: JSON.parse(r.filter_fields_json) as string[],
    }));
    this.definitionCache.set(tableNumber, definitions);
    return definitions;
  }

  /**
   * Makes the vector indexes of a table exactly `defs` (the caller runs this inside a transaction
   * and bumps the catalog version when something changed): adds and backfills new ones, drops
   * ones not listed, rebuilds ones whose definition changed. Drops every tombstone of the table's
   * kept indexes (readers reload on the catalog change). Returns the names added and removed.
   */
  setDefinitions(table: string, tableNumber: number, defs: readonly VectorIndexDefinition[]): { added: string[]; removed: string[]; prunedTombstones: number } {
    const wanted = new Map<string, VectorIndexDefinition>();
    for (const def of defs) {
      checkVectorIndexDefinition(table, def);
      if (wanted.has(def.name)) throw new Error(`Duplicate vector index "${def.name}" on table "${table}"`);
      wanted.set(def.name, { name: def.name, vectorField: def.vectorField, dimensions: def.dimensions, filterFields: [...def.filterFields] });
    }
    const sameDefinition = (a: VectorIndexDefinition, b: VectorIndexDefinition) =>
      a.vectorField === b.vectorField && a.dimensions === b.dimensions && JSON.stringify(a.filterFields) === JSON.stringify(b.filterFields);
    this.definitionCache.delete(tableNumber);
    const added: string[] = [];
    const removed: string[] = [];
    const kept = new Set<string>();
    let prunedTombstones = 0;
    for (const index of this.definitions(tableNumber)) {
      const def = wanted.get(index.name);
      if (def === undefined || !sameDefinition(def, index)) {
        this.stmt("DELETE FROM vector_indexes WHERE id = ?").run(index.id);
        removed.push(index.name);
      } else {
        kept.add(index.name);
        prunedTombstones += this.stmt("DELETE FROM vector_entries WHERE index_id = ? AND vector IS NULL").run(index.id).changes;
      }
    }
    for (const def of wanted.values()) {
      if (kept.has(def.name)) continue;
      const id = Number(
        this.stmt("INSERT INTO vector_indexes (table_number, name, vector_field, dimensions, filter_fields_json) VALUES (?, ?, ?, ?, ?)").run(
          tableNumber,
          def.name,
          def.vectorField,
          def.dimensions,
          JSON.stringify(def.filterFields),
        ).lastInsertRowid,
      );
      this.backfill({ ...def, id, tableNumber });
      added.push(def.name);
    }
    this.definitionCache.delete(tableNumber);
    if (added.length > 0 || removed.length > 0 || prunedTombstones > 0) {
      this.stmt("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1").run(
        VECTOR_GENERATION_META,
      );
    }
    return { added, removed, prunedTombstones };
  }

  /** Adds an entry for every indexable document of the table, in batches by id. */
  private backfill(index: StoredVectorIndex): void {
    const page = this.stmt("SELECT id, json, ts FROM documents WHERE table_number = ? AND id > ? ORDER BY id LIMIT 500");
    const insert = this.stmt("INSERT INTO vector_entries (index_id, document_id, ts, filter_keys, vector) VALUES (?, ?, ?, ?, ?)");
    let after = "";
    for (;;) {
      const rows = page.safeIntegers(true).all(index.tableNumber, after) as { id: string; json: string; ts: bigint }[];
      for (const row of rows) {
        const doc = parseDocument(row.json);
        const vector = indexedVectorOf(doc, index);
        if (vector !== null) insert.run(index.id, row.id, row.ts, filterKeysJson(doc, index), vector);
      }
      if (rows.length < 500) return;
      after = rows[rows.length - 1].id;
    }
  }

  /**
   * Brings a document's entries in every vector index of its table up to date with its new
   * value, at the running transaction's commit timestamp. `document` gives the value (called only
   * when the table has vector indexes, so other writes parse nothing); null: deleted.
   */
  documentWritten(tableNumber: number, documentId: string, document: (() => Value) | null): void {
    const indexes = this.definitions(tableNumber);
    if (indexes.length === 0) return;
    const doc = document === null ? null : document();
    for (const index of indexes) {
      const vector = doc === null ? null : indexedVectorOf(doc, index);
      if (vector === null) {
        // A tombstone only where there was an entry: readers never saw the others.
        this.stmt("UPDATE vector_entries SET ts = ?, filter_keys = NULL, vector = NULL WHERE index_id = ? AND document_id = ? AND vector IS NOT NULL").run(
          this.commitTs(),
          index.id,
          documentId,
        );
      } else {
        this.stmt(
          `INSERT INTO vector_entries (index_id, document_id, ts, filter_keys, vector) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (index_id, document_id) DO UPDATE SET ts = excluded.ts, filter_keys = excluded.filter_keys, vector = excluded.vector`,
        ).run(index.id, documentId, this.commitTs(), filterKeysJson(doc!, index), vector);
      }
    }
  }

  /** The number of live entries and tombstones of every vector index (for consistency checks). */
  counts(): { table: string; index: string; entries: number; tombstones: number; documents: number }[] {
    return this.stmt(
      `SELECT t.name AS "table", v.name AS "index",
              (SELECT COUNT(*) FROM vector_entries e WHERE e.index_id = v.id AND e.vector IS NOT NULL) AS entries,
              (SELECT COUNT(*) FROM vector_entries e WHERE e.index_id = v.id AND e.vector IS NULL) AS tombstones,
              (SELECT COUNT(*) FROM vector_entries e JOIN documents d ON d.id = e.document_id
                 WHERE e.index_id = v.id AND e.vector IS NOT NULL) AS documents
       FROM vector_indexes v JOIN tables t ON t.number = v.table_number ORDER BY v.id`,
    ).all() as { table: string; index: string; entries: number; tombstones: number; documents: number }[];
  }
}

function filterKeysJson(doc: Value, index: VectorIndexDefinition): string {
  return JSON.stringify(index.filterFields.map((field) => filterKeyOf(valueAtPath(doc, field))));
}

/** Reads vector index definitions and entries (any connection, inside a read snapshot). */
export class VectorIndexReader {
  private readonly stmt: (sql: string) => Database.Statement;

  constructor(db: Database.Database) {
    this.stmt = statementCache(db);
  }

  /** The vector generation (see VECTOR_GENERATION_META). */
  generation(): number {
    const row = this.stmt("SELECT value FROM meta WHERE key = ?").get(VECTOR_GENERATION_META) as { value: string } | undefined;
    return row === undefined ? 0 : Number(row.value);
  }

  /** The vector index `name` of table `tableNumber`, or undefined. */
  find(tableNumber: number, name: string): StoredVectorIndex | undefined {
    const row = this.stmt("SELECT id, vector_field, dimensions, filter_fields_json FROM vector_indexes WHERE table_number = ? AND name = ?").get(
      tableNumber,
      name,
    ) as { id: number; vector_field: string; dimensions: number; filter_fields_json: string } | undefined;
    if (row === undefined) return undefined;
    return {
      id: row.id,
      tableNumber,
      name,
      vectorField: row.vector_field,
      dimensions: row.dimensions,
      filterFields: JSON.parse(row.filter_fields_json) as string[],
    };
  }

  /** Every entry of index `indexId` written after `afterTs` (all of them for -1n), tombstones included, oldest first. */
  *entriesAfter(indexId: number, afterTs: bigint): Generator<VectorEntry> {
    const rows = this.stmt("SELECT document_id, ts, filter_keys, vector FROM vector_entries WHERE index_id = ? AND ts > ? ORDER BY ts")
      .safeIntegers(true)
      .iterate(indexId, afterTs) as IterableIterator<{ document_id: string; ts: bigint; filter_keys: string | null; vector: Buffer | null }>;
    for (const row of rows) {
      yield {
        documentId: row.document_id,
        ts: row.ts,
        filterKeys: row.filter_keys === null ? null : (JSON.parse(row.filter_keys) as string[]),
        vector: row.vector,
      };
    }
  }
}
