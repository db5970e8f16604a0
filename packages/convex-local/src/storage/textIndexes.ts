/**
 * Full-text search indexes on disk: an inverted index per search index in the deployment's own
 * SQLite file, written in the same transaction as the documents it indexes (so it is exactly as
 * durable and as current as they are), and the search that ranks documents as Convex does.
 *
 * Every document of the table is in the index (one without a string at the search field has no
 * terms but counts in BM25's statistics, as on Convex). Per index the store keeps the number of
 * documents and of search tokens; per term, how many documents hold it; postings by (term,
 * frequency, quantized length, document) — the order ranked retrieval reads them in
 * (textRanking.ts); per document, a record of its terms, length, `_creationTime` and filter keys;
 * per filter field, the index-key encoding of each document's value (a missing field has a key of
 * its own, unlike `null`).
 *
 * A search (convex-backend `crates/search/src/lib.rs` `search`, rules restated here):
 * - the query's tokens (at most 16) are matched exactly; the last one also matches terms it is a
 *   prefix of, in byte order, until 64 distinct terms (query terms, filter terms and expansions)
 *   are in play; a term matched only as a prefix counts half;
 * - a document matches when it holds every filter value and at least one matched term; its score
 *   is the sum over its matched terms of tantivy's BM25 (idf · (k1 + 1) · tf / (tf + k1 · (1 − b +
 *   b · length / average length)));
 * - results come best first — by score, then newest `_creationTime` — as they are asked for; the
 *   caller stops at Convex's 1024 (`MAX_TEXT_SEARCH_RESULTS`).
 *
 * ```ts
 * const text = new TextIndexes(db);
 * text.setDefinitions(tableNumber, [{ name: "search_body", searchField: "body", filterFields: ["channel"] }]);
 * text.documentWritten(tableNumber, id, beforeJson, afterJson); // null: absent before / after
 * const results = text.search(index, { tokens: ["hello", "wor"], filters: [{ field: "channel", value: "general" }] });
 * results.next(); // { documentId, score, creationTime } or null
 * ```
 */
import { statementCache } from "./statementCache.js";
import type Database from "better-sqlite3";
import type { Value } from "convex/values";

import { parseDocument, valueAtPath } from "./documents.js";
import { encodeIndexKey, prefixSuccessor } from "./keys.js";
import { RankedTextSearch, type DocumentRecord, type Posting, type RankedHit, type RankingFilter, type RankingSource } from "./textRanking.js";
import { BM25_B, BM25_K1, inverseDocumentFrequency, quantizedLength, tokenize } from "./textTokens.js";

/** At most this many results per search (Convex's `MAX_CANDIDATE_REVISIONS`). */
export const MAX_TEXT_SEARCH_RESULTS = 1024;
/** At most this many distinct terms (query, filter and prefix-expanded) per search (`MAX_UNIQUE_QUERY_TERMS`). */
export const MAX_UNIQUE_QUERY_TERMS = 64;
/** Weight of a term matched only as a prefix of the query's last token. */
const PREFIX_MATCH_BOOST = 0.5;

/** A search index as the schema defines it. */
export interface TextIndexDefinition {
  name: string;
  /** Field path of the text (dotted for nested fields). */
  searchField: string;
  /** Field paths usable in `.eq(...)` of the search. */
  filterFields: string[];
}

/** A stored search index. */
export interface StoredTextIndex extends TextIndexDefinition {
  id: number;
  tableNumber: number;
}

/** A compiled search: the query's tokens in order and the filter values every result must hold. */
export interface TextQuery {
  tokens: string[];
  /** `value` undefined: the field must be missing. */
  filters: { field: string; value: Value | undefined }[];
}

/** One result of a search. */
export type TextSearchHit = RankedHit;

/** The results of a search, best first, computed as they are asked for. */
export interface TextSearchResults {
  /** The next result, or null when there is none. */
  next(): TextSearchHit | null;
}

const NO_RESULTS: TextSearchResults = { next: () => null };

interface IndexRow {
  id: number;
  table_number: number;
  name: string;
  search_field: string;
  filter_fields_json: string;
}

/** What one document contributes to one index. */
interface IndexedDocument {
  /** Term → frequency. */
  terms: Map<string, number>;
  tokenCount: number;
  creationTime: number;
  /** Per filter field, in definition order, the index key of its value. */
  filterKeys: Buffer[];
}

const BACKFILL_PAGE = 500;

/** The search indexes of one SQLite database; every write runs inside the caller's transaction. */
export class TextIndexes {
  private readonly stmt: (sql: string) => Database.Statement;

  constructor(db: Database.Database) {
    this.stmt = statementCache(db);
  }

  /** The search indexes of a table, by name. */
  definitions(tableNumber: number): StoredTextIndex[] {
    const rows = this.stmt("SELECT id, table_number, name, search_field, filter_fields_json FROM text_indexes WHERE table_number = ? ORDER BY name").all(tableNumber) as IndexRow[];
    return rows.map(storedIndex);
  }

  /** One search index of a table, or undefined. */
  definition(tableNumber: number, name: string): StoredTextIndex | undefined {
    const row = this.stmt("SELECT id, table_number, name, search_field, filter_fields_json FROM text_indexes WHERE table_number = ? AND name = ?").get(tableNumber, name) as
      | IndexRow
      | undefined;
    return row === undefined ? undefined : storedIndex(row);
  }

  /**
   * Makes the search indexes of a table exactly `definitions`: new ones are created and
   * backfilled from the table's documents, ones not listed are dropped, and ones whose fields
   * changed are rebuilt (reported as removed and added). Runs inside the caller's transaction.
   */
  setDefinitions(tableNumber: number, definitions: readonly TextIndexDefinition[]): { added: string[]; removed: string[] } {
    const wanted = new Map<string, TextIndexDefinition>();
    for (const definition of definitions) {
      if (wanted.has(definition.name)) throw new Error(`Duplicate search index "${definition.name}"`);
      checkFieldPath(definition.name, definition.searchField);
      for (const field of definition.filterFields) checkFieldPath(definition.name, field);
      wanted.set(definition.name, { name: definition.name, searchField: definition.searchField, filterFields: [...definition.filterFields] });
    }
    const added: string[] = [];
    const removed: string[] = [];
    const kept = new Set<string>();
    for (const existing of this.definitions(tableNumber)) {
      const definition = wanted.get(existing.name);
      if (definition !== undefined && sameFields(definition, existing)) {
        kept.add(existing.name);
        continue;
      }
      this.stmt("DELETE FROM text_indexes WHERE id = ?").run(existing.id);
      removed.push(existing.name);
    }
    for (const definition of wanted.values()) {
      if (kept.has(definition.name)) continue;
      const id = Number(
        this.stmt("INSERT INTO text_indexes (table_number, name, search_field, filter_fields_json) VALUES (?, ?, ?, ?)").run(
          tableNumber,
          definition.name,
          definition.searchField,
          JSON.stringify(definition.filterFields),
        ).lastInsertRowid,
      );
      this.backfill({ ...definition, id, tableNumber });
      added.push(definition.name);
    }
    return { added, removed };
  }

  /** Adds every document of the index's table to a new index, in pages by id. */
  private backfill(index: StoredTextIndex): void {
    const page = this.stmt("SELECT id, json FROM documents WHERE table_number = ? AND id > ? ORDER BY id LIMIT " + BACKFILL_PAGE);
    let after = "";
    for (;;) {
      const rows = page.all(index.tableNumber, after) as { id: string; json: string }[];
      for (const row of rows) this.add(index, row.id, indexedDocument(index, parseDocument(row.json)));
      if (rows.length < BACKFILL_PAGE) return;
      after = rows[rows.length - 1].id;
    }
  }

  /**
   * Keeps every search index of the table current after a write of document `id`: `before` and
   * `after` are its JSON text before and after the write (null when absent). Runs inside the
   * caller's transaction.
   */
  documentWritten(tableNumber: number, id: string, before: string | null, after: string | null): void {
    const indexes = this.definitions(tableNumber);
    if (indexes.length === 0) return;
    const oldDoc = before === null ? null : parseDocument(before);
    const newDoc = after === null ? null : parseDocument(after);
    for (const index of indexes) {
      const oldEntry = oldDoc === null ? null : indexedDocument(index, oldDoc);
      const newEntry = newDoc === null ? null : indexedDocument(index, newDoc);
      if (oldEntry !== null && newEntry !== null && sameEntry(oldEntry, newEntry)) continue;
      if (oldEntry !== null) this.remove(index, id, oldEntry);
      if (newEntry !== null) this.add(index, id, newEntry);
    }
  }

  private add(index: StoredTextIndex, id: string, entry: IndexedDocument): void {
    const length = quantizedLength(entry.tokenCount);
    const posting = this.stmt("INSERT INTO text_postings (index_id, term, frequency, length, document_id) VALUES (?, ?, ?, ?, ?)");
    const term = this.stmt(
      "INSERT INTO text_terms (index_id, term, document_count) VALUES (?, ?, 1) ON CONFLICT (index_id, term) DO UPDATE SET document_count = document_count + 1",
    );
    for (const [text, frequency] of entry.terms) {
      const bytes = Buffer.from(text, "utf8");
      posting.run(index.id, bytes, frequency, length, id);
      term.run(index.id, bytes);
    }
    this.stmt("INSERT INTO text_documents (index_id, document_id, length, creation_time, terms, filter_keys) VALUES (?, ?, ?, ?, ?, ?)").run(
      index.id,
      id,
      length,
      entry.creationTime,
      JSON.stringify([...entry.terms]),
      JSON.stringify(entry.filterKeys.map((key) => key.toString("hex"))),
    );
    const filter = this.stmt("INSERT INTO text_filter_entries (index_id, field, value, document_id) VALUES (?, ?, ?, ?)");
    entry.filterKeys.forEach((key, field) => filter.run(index.id, field, key, id));
    this.stmt("UPDATE text_indexes SET document_count = document_count + 1, token_count = token_count + ? WHERE id = ?").run(entry.tokenCount, index.id);
  }

  private remove(index: StoredTextIndex, id: string, entry: IndexedDocument): void {
    const length = quantizedLength(entry.tokenCount);
    const posting = this.stmt("DELETE FROM text_postings WHERE index_id = ? AND term = ? AND frequency = ? AND length = ? AND document_id = ?");
    const decrement = this.stmt("UPDATE text_terms SET document_count = document_count - 1 WHERE index_id = ? AND term = ?");
    const dropUnused = this.stmt("DELETE FROM text_terms WHERE index_id = ? AND term = ? AND document_count <= 0");
    for (const [text, frequency] of entry.terms) {
      const bytes = Buffer.from(text, "utf8");
      posting.run(index.id, bytes, frequency, length, id);
      decrement.run(index.id, bytes);
      dropUnused.run(index.id, bytes);
    }
    this.stmt("DELETE FROM text_documents WHERE index_id = ? AND document_id = ?").run(index.id, id);
    const filter = this.stmt("DELETE FROM text_filter_entries WHERE index_id = ? AND field = ? AND value = ? AND document_id = ?");
    entry.filterKeys.forEach((key, field) => filter.run(index.id, field, key, id));
    this.stmt("UPDATE text_indexes SET document_count = document_count - 1, token_count = token_count - ? WHERE id = ?").run(entry.tokenCount, index.id);
  }

  /**
   * The documents matching `query` on a stored index, best first, computed as they are asked for
   * (textRanking.ts). The query's filter fields must be filter fields of the index (the caller
   * checks, with Convex's errors). Reads inside the caller's transaction or snapshot.
   */
  search(index: StoredTextIndex, query: TextQuery): TextSearchResults {
    const stats = this.stmt("SELECT document_count, token_count FROM text_indexes WHERE id = ?").get(index.id) as
      | { document_count: number; token_count: number }
      | undefined;
    if (stats === undefined || query.tokens.length === 0) return NO_RESULTS;
    // Convex counts an empty index as one document so the arithmetic stays defined.
    const documents = Math.max(stats.document_count, 1);
    const averageLength = stats.token_count / documents;
    if (averageLength === 0) return NO_RESULTS;

    // Filter terms: each must exist, or nothing matches.
    const filters = new Map<string, RankingFilter & { key: Buffer }>();
    for (const { field, value } of query.filters) {
      const position = index.filterFields.indexOf(field);
      if (position < 0) throw new Error(`"${field}" is not a filter field of search index ${index.name}`);
      const key = encodeIndexKey([value]);
      filters.set(`${position}:${key.toString("hex")}`, { field: position, key, keyHex: key.toString("hex") });
    }
    const anyFilterEntry = this.stmt("SELECT 1 FROM text_filter_entries WHERE index_id = ? AND field = ? AND value = ? LIMIT 1");
    for (const { field, key } of filters.values()) if (anyFilterEntry.get(index.id, field, key) === undefined) return NO_RESULTS;

    // Exact terms first (full weight), then the last token's prefix expansions in byte order.
    const termDocuments = this.stmt("SELECT document_count FROM text_terms WHERE index_id = ? AND term = ?").pluck();
    const matched = new Map<string, { bytes: Buffer; documents: number; boost: number }>();
    for (const token of query.tokens) {
      if (matched.has(token)) continue;
      const bytes = Buffer.from(token, "utf8");
      const count = termDocuments.get(index.id, bytes) as number | undefined;
      if (count !== undefined && count > 0) matched.set(token, { bytes, documents: count, boost: 1 });
    }
    const last = Buffer.from(query.tokens[query.tokens.length - 1], "utf8");
    const end = prefixSuccessor(last);
    let room = MAX_UNIQUE_QUERY_TERMS - filters.size - matched.size;
    if (end !== undefined && room > 0) {
      const expansions = this.stmt("SELECT term, document_count FROM text_terms WHERE index_id = ? AND term > ? AND term < ? ORDER BY term").raw();
      for (const [bytes, count] of expansions.iterate(index.id, last, end) as Iterable<[Buffer, number]>) {
        const text = bytes.toString("utf8");
        if (matched.has(text)) continue;
        matched.set(text, { bytes, documents: count, boost: PREFIX_MATCH_BOOST });
        if (--room === 0) break;
      }
    }
    if (matched.size === 0) return NO_RESULTS;

    const terms = [...matched.values()].map(({ bytes, documents: withTerm, boost }) => ({
      bytes,
      documents: withTerm,
      weight: boost * inverseDocumentFrequency(withTerm, documents) * (1 + BM25_K1),
    }));
    return new RankedTextSearch(this.rankingSource(index), terms, [...filters.values()], {
      constant: BM25_K1 * (1 - BM25_B),
      perLength: (BM25_K1 * BM25_B) / averageLength,
    });
  }

  /** Posting lists and document records of one index, for ranked retrieval. */
  private rankingSource(index: StoredTextIndex): RankingSource {
    const all = this.stmt("SELECT frequency, length, document_id AS documentId FROM text_postings WHERE index_id = ? AND term = ?");
    const nextFrequency = this.stmt("SELECT frequency FROM text_postings WHERE index_id = ? AND term = ? AND frequency > ? ORDER BY frequency LIMIT 1").pluck();
    const first = this.stmt(
      "SELECT frequency, length, document_id AS documentId FROM text_postings WHERE index_id = ? AND term = ? AND frequency = ? ORDER BY length, document_id LIMIT ?",
    );
    const after = this.stmt(
      "SELECT frequency, length, document_id AS documentId FROM text_postings WHERE index_id = ? AND term = ? AND frequency = ? AND (length, document_id) > (?, ?) ORDER BY length, document_id LIMIT ?",
    );
    const record = this.stmt("SELECT length, creation_time, terms, filter_keys FROM text_documents WHERE index_id = ? AND document_id = ?");
    const filtered = this.stmt("SELECT document_id FROM text_filter_entries WHERE index_id = ? AND field = ? AND value = ? LIMIT ?").pluck();
    return {
      allPostings: (term) => all.all(index.id, term) as Posting[],
      frequencies: (term) => {
        const frequencies: number[] = [];
        for (let frequency = nextFrequency.get(index.id, term, 0) as number | undefined; frequency !== undefined; frequency = nextFrequency.get(index.id, term, frequency) as number | undefined) {
          frequencies.push(frequency);
        }
        return frequencies;
      },
      postingsAfter: (term, frequency, from, limit) =>
        (from === undefined ? first.all(index.id, term, frequency, limit) : after.all(index.id, term, frequency, from.length, from.documentId, limit)) as Posting[],
      record: (documentId) => {
        const row = record.get(index.id, documentId) as { length: number; creation_time: number; terms: string; filter_keys: string } | undefined;
        if (row === undefined) return undefined;
        const result: DocumentRecord = {
          terms: new Map(JSON.parse(row.terms) as [string, number][]),
          length: row.length,
          creationTime: row.creation_time,
          filterKeys: JSON.parse(row.filter_keys) as string[],
        };
        return result;
      },
      filterDocuments: (filter, limit) => filtered.all(index.id, filter.field, Buffer.from(filter.keyHex, "hex"), limit) as string[],
    };
  }

  /**
   * Checks every search index against the documents: term and document counts, postings and
   * filter entries as re-derived from each document. Returns a list of problems (empty when healthy).
   */
  verify(): string[] {
    const problems: string[] = [];
    const indexes = (this.stmt("SELECT id, table_number, name, search_field, filter_fields_json FROM text_indexes").all() as IndexRow[]).map(storedIndex);
    for (const index of indexes) {
      const expected = { documents: 0, tokens: 0, postings: 0, filters: 0, terms: new Map<string, number>() };
      for (const row of this.stmt("SELECT id, json FROM documents WHERE table_number = ?").iterate(index.tableNumber) as Iterable<{ id: string; json: string }>) {
        const entry = indexedDocument(index, parseDocument(row.json));
        expected.documents++;
        expected.tokens += entry.tokenCount;
        expected.postings += entry.terms.size;
        expected.filters += entry.filterKeys.length;
        for (const term of entry.terms.keys()) expected.terms.set(term, (expected.terms.get(term) ?? 0) + 1);
      }
      const stats = this.stmt("SELECT document_count, token_count FROM text_indexes WHERE id = ?").get(index.id) as { document_count: number; token_count: number };
      const postings = this.stmt("SELECT count(*) FROM text_postings WHERE index_id = ?").pluck().get(index.id) as number;
      const filters = this.stmt("SELECT count(*) FROM text_filter_entries WHERE index_id = ?").pluck().get(index.id) as number;
      const records = this.stmt("SELECT count(*) FROM text_documents WHERE index_id = ?").pluck().get(index.id) as number;
      const terms = this.stmt("SELECT term, document_count FROM text_terms WHERE index_id = ?").raw().all(index.id) as [Buffer, number][];
      const name = `search index ${index.name} of table ${index.tableNumber}`;
      if (stats.document_count !== expected.documents || stats.token_count !== expected.tokens) {
        problems.push(`${name}: ${stats.document_count} documents and ${stats.token_count} tokens counted, ${expected.documents} and ${expected.tokens} found`);
      }
      if (postings !== expected.postings) problems.push(`${name}: ${postings} postings for ${expected.postings} expected`);
      if (filters !== expected.filters) problems.push(`${name}: ${filters} filter entries for ${expected.filters} expected`);
      if (records !== expected.documents) problems.push(`${name}: ${records} document records for ${expected.documents} documents`);
      const wrongTerms = terms.filter(([term, count]) => expected.terms.get(term.toString("utf8")) !== count).length;
      if (wrongTerms > 0 || terms.length !== expected.terms.size) problems.push(`${name}: term counts differ from the documents (${wrongTerms} wrong, ${terms.length} of ${expected.terms.size} present)`);
    }
    return problems;
  }
}

function storedIndex(row: IndexRow): StoredTextIndex {
  return {
    id: row.id,
    tableNumber: row.table_number,
    name: row.name,
    searchField: row.search_field,
    filterFields: JSON.parse(row.filter_fields_json) as string[],
  };
}

function sameFields(a: TextIndexDefinition, b: TextIndexDefinition): boolean {
  return a.searchField === b.searchField && JSON.stringify(a.filterFields) === JSON.stringify(b.filterFields);
}

function checkFieldPath(index: string, path: string): void {
  if (typeof path !== "string" || path.length === 0 || path.split(".").some((step) => step.length === 0)) {
    throw new Error(`Search index "${index}" has invalid field ${JSON.stringify(path)}`);
  }
}

/** What `doc` contributes to `index`. */
function indexedDocument(index: TextIndexDefinition, doc: Value): IndexedDocument {
  const text = valueAtPath(doc, index.searchField);
  const tokens = typeof text === "string" ? tokenize(text) : [];
  const terms = new Map<string, number>();
  for (const token of tokens) terms.set(token, (terms.get(token) ?? 0) + 1);
  const creationTime = valueAtPath(doc, "_creationTime");
  return {
    terms,
    tokenCount: tokens.length,
    creationTime: typeof creationTime === "number" ? creationTime : 0,
    filterKeys: index.filterFields.map((field) => encodeIndexKey([valueAtPath(doc, field)])),
  };
}

function sameEntry(a: IndexedDocument, b: IndexedDocument): boolean {
  if (a.tokenCount !== b.tokenCount || a.creationTime !== b.creationTime || a.terms.size !== b.terms.size) return false;
  for (const [term, frequency] of a.terms) if (b.terms.get(term) !== frequency) return false;
  return a.filterKeys.every((key, i) => key.equals(b.filterKeys[i]));
}
