/**
 * The SQLite schema of the storage layer and its migrations.
 *
 * The schema version lives in SQLite's `PRAGMA user_version`; `migrate` brings
 * a database of any older version up to `SCHEMA_VERSION` in one transaction
 * and refuses a database written by a newer version.
 */
import type Database from "better-sqlite3";

import { TextIndexes } from "./textIndexes.js";

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = 4;

/**
 * Migrations after which the search indexes are rebuilt from the documents, once all
 * migrations have run (so the rebuild writes the layout of this code, whatever came between).
 */
const REBUILDS_TEXT_INDEXES = new Set([4]);

/** Migrations by target version: `MIGRATIONS[v - 1]` upgrades version v-1 to v. */
const MIGRATIONS: string[] = [
  `
  -- Single row with the commit clock: the timestamp (ns since the Unix epoch)
  -- of the last commit and the last _creationTime handed out (ms, float).
  CREATE TABLE clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_commit_ts INTEGER NOT NULL,
    last_creation_time REAL NOT NULL
  );
  INSERT INTO clock (id, last_commit_ts, last_creation_time) VALUES (1, 0, 0);

  -- Small deployment state owned by upper layers; values are JSON text.
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  CREATE TABLE tables (
    number INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
  );

  -- fields_json: the indexed field paths as defined (without the implicit
  -- trailing _creationTime and _id).
  CREATE TABLE indexes (
    id INTEGER PRIMARY KEY,
    table_number INTEGER NOT NULL REFERENCES tables (number) ON DELETE CASCADE,
    name TEXT NOT NULL,
    fields_json TEXT NOT NULL,
    UNIQUE (table_number, name)
  );

  -- json: the whole document in Convex's JSON encoding, system fields
  -- included; ts: commit timestamp of its last write.
  CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    table_number INTEGER NOT NULL REFERENCES tables (number) ON DELETE CASCADE,
    json TEXT NOT NULL,
    ts INTEGER NOT NULL
  );
  CREATE INDEX documents_by_table ON documents (table_number, id);

  CREATE TABLE index_entries (
    index_id INTEGER NOT NULL REFERENCES indexes (id) ON DELETE CASCADE,
    key BLOB NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (index_id, key)
  ) WITHOUT ROWID;
  `,
  `
  -- Vector indexes (vectorIndexes.ts): definitions, and one entry per document of the table whose
  -- vector field holds exactly \`dimensions\` numbers. filter_keys: JSON array, per filter field, of
  -- the hex of the field value's index-key encoding. vector: float32 little-endian; NULL marks a
  -- document deleted or no longer indexed since \`ts\` (readers holding vectors in memory catch up on
  -- entries with ts above what they have read).
  CREATE TABLE vector_indexes (
    id INTEGER PRIMARY KEY,
    table_number INTEGER NOT NULL REFERENCES tables (number) ON DELETE CASCADE,
    name TEXT NOT NULL,
    vector_field TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    filter_fields_json TEXT NOT NULL,
    UNIQUE (table_number, name)
  );

  CREATE TABLE vector_entries (
    index_id INTEGER NOT NULL REFERENCES vector_indexes (id) ON DELETE CASCADE,
    document_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    filter_keys TEXT,
    vector BLOB,
    UNIQUE (index_id, document_id)
  );
  CREATE INDEX vector_entries_by_ts ON vector_entries (index_id, ts);
  `,
  `
  -- Full-text search indexes (textIndexes.ts): one row per search index, with the statistics
  -- BM25 needs (documents in the table, search-field tokens in all of them).
  CREATE TABLE text_indexes (
    id INTEGER PRIMARY KEY,
    table_number INTEGER NOT NULL REFERENCES tables (number) ON DELETE CASCADE,
    name TEXT NOT NULL,
    search_field TEXT NOT NULL,
    filter_fields_json TEXT NOT NULL,
    document_count INTEGER NOT NULL DEFAULT 0,
    token_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (table_number, name)
  );

  -- Every term (UTF-8 bytes) of a search index with the number of documents holding it.
  CREATE TABLE text_terms (
    index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE,
    term BLOB NOT NULL,
    document_count INTEGER NOT NULL,
    PRIMARY KEY (index_id, term)
  ) WITHOUT ROWID;

  -- Postings, in the order ranked retrieval reads them: per term and frequency, shortest
  -- documents first (for a fixed frequency BM25 falls as length grows). length: the document's
  -- length as BM25 scores it (quantized).
  CREATE TABLE text_postings (
    index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE,
    term BLOB NOT NULL,
    frequency INTEGER NOT NULL,
    length INTEGER NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (index_id, term, frequency, length, document_id)
  ) WITHOUT ROWID;

  -- Each indexed document once per index, to score a candidate in one read: its terms with their
  -- frequencies (JSON object), quantized length, _creationTime and filter keys (JSON array of hex).
  CREATE TABLE text_documents (
    index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE,
    document_id TEXT NOT NULL,
    length INTEGER NOT NULL,
    creation_time REAL NOT NULL,
    terms TEXT NOT NULL,
    filter_keys TEXT NOT NULL,
    PRIMARY KEY (index_id, document_id)
  ) WITHOUT ROWID;

  -- Filter fields: the index-key encoding of each document's value of filter field number
  -- \`field\` (its position in filter_fields_json).
  CREATE TABLE text_filter_entries (
    index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE,
    field INTEGER NOT NULL,
    value BLOB NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (index_id, field, value, document_id)
  ) WITHOUT ROWID;
  `,
  `
  -- Full-text search, packed (textIndexes.ts, textEncoding.ts): each document gets a number in
  -- each index (next_document) and each term too (next_term); postings are stored in blocks. The
  -- index definitions stay; their contents are rebuilt from the documents after the migration.
  DROP TABLE text_postings;
  DROP TABLE text_documents;
  DROP TABLE text_filter_entries;
  DROP TABLE text_terms;
  ALTER TABLE text_indexes ADD COLUMN next_document INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE text_indexes ADD COLUMN next_term INTEGER NOT NULL DEFAULT 0;

  -- Every term (UTF-8 bytes) of a search index: its number and the number of documents holding it.
  CREATE TABLE text_terms (
    index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE,
    term BLOB NOT NULL,
    number INTEGER NOT NULL,
    document_count INTEGER NOT NULL,
    PRIMARY KEY (index_id, term)
  ) WITHOUT ROWID;

  -- Postings in blocks, in the order ranked retrieval reads them: per term (number) and
  -- frequency, by (length, document number) — for a fixed frequency BM25 falls as length grows.
  -- A block starts at its key (start_length, start_document): its postings are at or above it,
  -- the next block's at or above that one's key. length: as BM25 scores it (quantized).
  CREATE TABLE text_postings (
    index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE,
    term INTEGER NOT NULL,
    frequency INTEGER NOT NULL,
    start_length INTEGER NOT NULL,
    start_document INTEGER NOT NULL,
    postings BLOB NOT NULL,
    PRIMARY KEY (index_id, term, frequency, start_length, start_document)
  ) WITHOUT ROWID;

  -- Each indexed document once per index, to score a candidate in one read: its id, term list
  -- ((term number, frequency) pairs), quantized length, _creationTime and filter keys (JSON array
  -- of hex).
  CREATE TABLE text_documents (
    index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    document_id TEXT NOT NULL,
    length INTEGER NOT NULL,
    creation_time REAL NOT NULL,
    terms BLOB NOT NULL,
    filter_keys TEXT NOT NULL,
    PRIMARY KEY (index_id, number)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX text_documents_by_id ON text_documents (index_id, document_id);

  -- Filter fields: the index-key encoding of each document's value of filter field number
  -- \`field\` (its position in filter_fields_json), by document number.
  CREATE TABLE text_filter_entries (
    index_id INTEGER NOT NULL REFERENCES text_indexes (id) ON DELETE CASCADE,
    field INTEGER NOT NULL,
    value BLOB NOT NULL,
    document INTEGER NOT NULL,
    PRIMARY KEY (index_id, field, value, document)
  ) WITHOUT ROWID;
  `,
];

/** Creates or upgrades the schema of `db`. */
export function migrate(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `Database schema version ${current} is newer than this convex-local supports (${SCHEMA_VERSION}); upgrade convex-local`,
    );
  }
  if (current === SCHEMA_VERSION) return;
  db.transaction(() => {
    let rebuildText = false;
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v - 1]);
      // A new database has no documents to index.
      rebuildText ||= REBUILDS_TEXT_INDEXES.has(v) && current > 0;
    }
    if (rebuildText) new TextIndexes(db).reindexAll();
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
