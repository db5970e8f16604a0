/**
 * Full-text search indexes on disk: an inverted index per search index in the deployment's own
 * SQLite file, written in the same transaction as the documents it indexes (so it is exactly as
 * durable and as current as they are), and the search that ranks documents as Convex does.
 *
 * Every document of the table is in the index (one without a string at the search field has no
 * terms but counts in BM25's statistics, as on Convex). Per index the store keeps the number of
 * documents and of search tokens; per term, its number and how many documents hold it; postings
 * per (term, frequency) sorted by (quantized length, document number) — the order ranked retrieval
 * reads them in (textRanking.ts) — packed in blocks of up to 128 (textEncoding.ts), each row keyed
 * by where its block starts; per document, a number of its own in the index and a record of its
 * id, terms, length, `_creationTime` and filter keys; per filter field, the index-key encoding of
 * each document's value (a missing field has a key of its own, unlike `null`).
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
import { decodePostings, encodePostings, encodeTermList, type Postings } from "./textEncoding.js";
import { RankedTextSearch, type PostingBlock, type RankedHit, type RankingFilter, type RankingSource } from "./textRanking.js";
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
/** A block holds at most this many postings; a fuller one is split in two. */
const MAX_BLOCK_POSTINGS = 128;

/** A posting block as stored: the key it starts at and its encoded postings. */
interface StoredBlock {
  startLength: number;
  startDocument: number;
  postings: Buffer;
}

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

  /** Indexes a document under a new number of the index. (No statement here uses RETURNING: it costs SQLite ~9 µs a row.) */
  private add(index: StoredTextIndex, id: string, entry: IndexedDocument): void {
    const length = quantizedLength(entry.tokenCount);
    const [document, firstNewTerm] = this.stmt("SELECT next_document, next_term FROM text_indexes WHERE id = ?").raw().get(index.id) as [number, number];
    const termNumber = this.stmt("SELECT number FROM text_terms WHERE index_id = ? AND term = ?").pluck();
    const countTerm = this.stmt("UPDATE text_terms SET document_count = document_count + 1 WHERE index_id = ? AND term = ?");
    const newTerm = this.stmt("INSERT INTO text_terms (index_id, term, number, document_count) VALUES (?, ?, ?, 1)");
    // A term seen for the first time takes the next term number.
    let nextTerm = firstNewTerm;
    const terms: [number, number][] = [];
    for (const [text, frequency] of entry.terms) {
      const bytes = Buffer.from(text, "utf8");
      let term = termNumber.get(index.id, bytes) as number | undefined;
      if (term === undefined) newTerm.run(index.id, bytes, (term = nextTerm++));
      else countTerm.run(index.id, bytes);
      terms.push([term, frequency]);
      this.insertPosting(index.id, term, frequency, length, document);
    }
    this.stmt("UPDATE text_indexes SET document_count = document_count + 1, token_count = token_count + ?, next_document = ?, next_term = ? WHERE id = ?").run(
      entry.tokenCount,
      document + 1,
      nextTerm,
      index.id,
    );
    terms.sort((a, b) => a[0] - b[0]);
    this.stmt("INSERT INTO text_documents (index_id, number, document_id, length, creation_time, terms, filter_keys) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
      index.id,
      document,
      id,
      length,
      entry.creationTime,
      encodeTermList(terms),
      JSON.stringify(entry.filterKeys.map((key) => key.toString("hex"))),
    );
    const filter = this.stmt("INSERT INTO text_filter_entries (index_id, field, value, document) VALUES (?, ?, ?, ?)");
    entry.filterKeys.forEach((key, field) => filter.run(index.id, field, key, document));
  }

  private remove(index: StoredTextIndex, id: string, entry: IndexedDocument): void {
    const document = this.stmt("SELECT number FROM text_documents WHERE index_id = ? AND document_id = ?").pluck().get(index.id, id) as number | undefined;
    if (document === undefined) return;
    this.stmt("DELETE FROM text_documents WHERE index_id = ? AND number = ?").run(index.id, document);
    const length = quantizedLength(entry.tokenCount);
    const termRow = this.stmt("SELECT number, document_count FROM text_terms WHERE index_id = ? AND term = ?").raw();
    for (const [text, frequency] of entry.terms) {
      const bytes = Buffer.from(text, "utf8");
      const row = termRow.get(index.id, bytes) as [number, number] | undefined;
      if (row === undefined) continue;
      if (row[1] <= 1) this.stmt("DELETE FROM text_terms WHERE index_id = ? AND term = ?").run(index.id, bytes);
      else this.stmt("UPDATE text_terms SET document_count = document_count - 1 WHERE index_id = ? AND term = ?").run(index.id, bytes);
      this.removePosting(index.id, row[0], frequency, length, document);
    }
    const filter = this.stmt("DELETE FROM text_filter_entries WHERE index_id = ? AND field = ? AND value = ? AND document = ?");
    entry.filterKeys.forEach((key, field) => filter.run(index.id, field, key, document));
    this.stmt("UPDATE text_indexes SET document_count = document_count - 1, token_count = token_count - ? WHERE id = ?").run(entry.tokenCount, index.id);
  }

  /** The block of (term, frequency) that holds — or would hold — the posting (length, document). */
  private blockAt(indexId: number, term: number, frequency: number, length: number, document: number): StoredBlock | undefined {
    return this.stmt(
      "SELECT start_length AS startLength, start_document AS startDocument, postings FROM text_postings WHERE index_id = ? AND term = ? AND frequency = ? AND (start_length, start_document) <= (?, ?) ORDER BY start_length DESC, start_document DESC LIMIT 1",
    ).get(indexId, term, frequency, length, document) as StoredBlock | undefined;
  }

  private insertPosting(indexId: number, term: number, frequency: number, length: number, document: number): void {
    const block = this.blockAt(indexId, term, frequency, length, document);
    const insert = this.stmt("INSERT INTO text_postings (index_id, term, frequency, start_length, start_document, postings) VALUES (?, ?, ?, ?, ?, ?)");
    if (block === undefined) {
      insert.run(indexId, term, frequency, length, document, encodePostings({ lengths: [length], documents: [document] }));
      return;
    }
    const postings = decodePostings(block.postings);
    const at = postingPosition(postings, length, document);
    postings.lengths.splice(at, 0, length);
    postings.documents.splice(at, 0, document);
    const update = this.stmt("UPDATE text_postings SET postings = ? WHERE index_id = ? AND term = ? AND frequency = ? AND start_length = ? AND start_document = ?");
    if (postings.lengths.length <= MAX_BLOCK_POSTINGS) {
      update.run(encodePostings(postings), indexId, term, frequency, block.startLength, block.startDocument);
      return;
    }
    const half = postings.lengths.length >> 1;
    update.run(encodePostings(postings, 0, half), indexId, term, frequency, block.startLength, block.startDocument);
    insert.run(indexId, term, frequency, postings.lengths[half], postings.documents[half], encodePostings(postings, half));
  }

  private removePosting(indexId: number, term: number, frequency: number, length: number, document: number): void {
    const block = this.blockAt(indexId, term, frequency, length, document);
    if (block === undefined) return;
    const postings = decodePostings(block.postings);
    const at = postingPosition(postings, length, document) - 1;
    if (at < 0 || postings.lengths[at] !== length || postings.documents[at] !== document) return;
    const key = [indexId, term, frequency, block.startLength, block.startDocument];
    if (postings.lengths.length === 1) {
      this.stmt("DELETE FROM text_postings WHERE index_id = ? AND term = ? AND frequency = ? AND start_length = ? AND start_document = ?").run(...key);
      return;
    }
    postings.lengths.splice(at, 1);
    postings.documents.splice(at, 1);
    this.stmt("UPDATE text_postings SET postings = ? WHERE index_id = ? AND term = ? AND frequency = ? AND start_length = ? AND start_document = ?").run(
      encodePostings(postings),
      ...key,
    );
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
    const termRow = this.stmt("SELECT number, document_count FROM text_terms WHERE index_id = ? AND term = ?").raw();
    const matched = new Map<string, { number: number; documents: number; boost: number }>();
    for (const token of query.tokens) {
      if (matched.has(token)) continue;
      const row = termRow.get(index.id, Buffer.from(token, "utf8")) as [number, number] | undefined;
      if (row !== undefined && row[1] > 0) matched.set(token, { number: row[0], documents: row[1], boost: 1 });
    }
    const last = Buffer.from(query.tokens[query.tokens.length - 1], "utf8");
    const end = prefixSuccessor(last);
    let room = MAX_UNIQUE_QUERY_TERMS - filters.size - matched.size;
    if (end !== undefined && room > 0) {
      const expansions = this.stmt("SELECT term, number, document_count FROM text_terms WHERE index_id = ? AND term > ? AND term < ? ORDER BY term").raw();
      for (const [bytes, number, count] of expansions.iterate(index.id, last, end) as Iterable<[Buffer, number, number]>) {
        const text = bytes.toString("utf8");
        if (matched.has(text)) continue;
        matched.set(text, { number, documents: count, boost: PREFIX_MATCH_BOOST });
        if (--room === 0) break;
      }
    }
    if (matched.size === 0) return NO_RESULTS;

    const terms = [...matched.values()].map(({ number, documents: withTerm, boost }) => ({
      number,
      documents: withTerm,
      weight: boost * inverseDocumentFrequency(withTerm, documents) * (1 + BM25_K1),
    }));
    return new RankedTextSearch(this.rankingSource(index), terms, [...filters.values()], {
      constant: BM25_K1 * (1 - BM25_B),
      perLength: (BM25_K1 * BM25_B) / averageLength,
    });
  }

  /** Posting blocks and document records of one index, for ranked retrieval. */
  private rankingSource(index: StoredTextIndex): RankingSource {
    const all = this.stmt("SELECT frequency, postings FROM text_postings WHERE index_id = ? AND term = ?").raw();
    const nextFrequency = this.stmt(
      "SELECT frequency, start_length, start_document, postings FROM text_postings WHERE index_id = ? AND term = ? AND frequency > ? ORDER BY frequency, start_length, start_document LIMIT 1",
    ).raw();
    const after = this.stmt(
      "SELECT frequency, start_length, start_document, postings FROM text_postings WHERE index_id = ? AND term = ? AND frequency = ? AND (start_length, start_document) > (?, ?) ORDER BY start_length, start_document LIMIT ?",
    ).raw();
    const record = this.stmt("SELECT document_id, length, creation_time, terms, filter_keys FROM text_documents WHERE index_id = ? AND number = ?").raw();
    const filtered = this.stmt("SELECT document FROM text_filter_entries WHERE index_id = ? AND field = ? AND value = ? LIMIT ?").pluck();
    const block = ([frequency, length, document, postings]: [number, number, number, Buffer]): PostingBlock => ({ frequency, postings, key: { length, document } });
    return {
      allPostings: (term, visit) => {
        for (const [frequency, bytes] of all.all(index.id, term) as [number, Buffer][]) {
          const { lengths, documents } = decodePostings(bytes);
          for (let i = 0; i < lengths.length; i++) visit(frequency, lengths[i], documents[i]);
        }
      },
      nextFrequency: (term, frequency) => {
        const row = nextFrequency.get(index.id, term, frequency) as [number, number, number, Buffer] | undefined;
        return row === undefined ? undefined : block(row);
      },
      blocksAfter: (term, frequency, from, limit) => (after.all(index.id, term, frequency, from.length, from.document, limit) as [number, number, number, Buffer][]).map(block),
      record: (document) => {
        const row = record.get(index.id, document) as [string, number, number, Buffer, string] | undefined;
        if (row === undefined) return undefined;
        return { documentId: row[0], length: row[1], creationTime: row[2], terms: row[3], filterKeys: row[4] };
      },
      filterDocuments: (filter, limit) => filtered.all(index.id, filter.field, Buffer.from(filter.keyHex, "hex"), limit) as number[],
    };
  }

  /** Re-derives every search index from the documents (after a migration changed how they are stored). */
  reindexAll(): void {
    for (const index of (this.stmt("SELECT id, table_number, name, search_field, filter_fields_json FROM text_indexes").all() as IndexRow[]).map(storedIndex)) {
      for (const table of ["text_terms", "text_postings", "text_documents", "text_filter_entries"]) this.stmt(`DELETE FROM ${table} WHERE index_id = ?`).run(index.id);
      this.stmt("UPDATE text_indexes SET document_count = 0, token_count = 0, next_document = 0, next_term = 0 WHERE id = ?").run(index.id);
      this.backfill(index);
    }
  }

  /**
   * Checks every search index against the documents: counts, each document's record as re-derived
   * from it, and the posting blocks (ordered, each starting at or after its key, and holding
   * exactly the postings the records imply). Returns a list of problems (empty when healthy).
   */
  verify(): string[] {
    const problems: string[] = [];
    const indexes = (this.stmt("SELECT id, table_number, name, search_field, filter_fields_json FROM text_indexes").all() as IndexRow[]).map(storedIndex);
    for (const index of indexes) {
      const name = `search index ${index.name} of table ${index.tableNumber}`;
      const termRows = this.stmt("SELECT term, number, document_count FROM text_terms WHERE index_id = ?").raw().all(index.id) as [Buffer, number, number][];
      const termNumbers = new Map(termRows.map(([term, number]) => [term.toString("utf8"), number]));
      const record = this.stmt("SELECT number, length, creation_time, terms, filter_keys FROM text_documents WHERE index_id = ? AND document_id = ?").raw();
      const expected = { documents: 0, tokens: 0, filters: 0, terms: new Map<string, number>(), postings: new PostingChecksum() };
      let wrongRecords = 0;
      for (const row of this.stmt("SELECT id, json FROM documents WHERE table_number = ?").iterate(index.tableNumber) as Iterable<{ id: string; json: string }>) {
        const entry = indexedDocument(index, parseDocument(row.json));
        expected.documents++;
        expected.tokens += entry.tokenCount;
        expected.filters += entry.filterKeys.length;
        for (const term of entry.terms.keys()) expected.terms.set(term, (expected.terms.get(term) ?? 0) + 1);
        const stored = record.get(index.id, row.id) as [number, number, number, Buffer, string] | undefined;
        const length = quantizedLength(entry.tokenCount);
        const terms = [...entry.terms].map(([term, frequency]) => [termNumbers.get(term) ?? -1, frequency] as [number, number]).sort((a, b) => a[0] - b[0]);
        const filterKeys = JSON.stringify(entry.filterKeys.map((key) => key.toString("hex")));
        if (stored === undefined || stored[1] !== length || stored[2] !== entry.creationTime || !stored[3].equals(encodeTermList(terms)) || stored[4] !== filterKeys) {
          wrongRecords++;
          continue;
        }
        for (const [term, frequency] of terms) expected.postings.add(term, frequency, length, stored[0]);
      }
      const found = new PostingChecksum();
      let misplaced = 0;
      let previous: { term: number; frequency: number; length: number; document: number } | undefined;
      const blocks = this.stmt("SELECT term, frequency, start_length, start_document, postings FROM text_postings WHERE index_id = ? ORDER BY term, frequency, start_length, start_document").raw();
      for (const [term, frequency, startLength, startDocument, bytes] of blocks.iterate(index.id) as Iterable<[number, number, number, number, Buffer]>) {
        const { lengths, documents } = decodePostings(bytes);
        if (lengths.length === 0 || comparePostings(lengths[0], documents[0], startLength, startDocument) < 0) misplaced++;
        if (previous !== undefined && previous.term === term && previous.frequency === frequency && comparePostings(previous.length, previous.document, startLength, startDocument) >= 0) misplaced++;
        for (let i = 0; i < lengths.length; i++) {
          if (i > 0 && comparePostings(lengths[i - 1], documents[i - 1], lengths[i], documents[i]) >= 0) misplaced++;
          found.add(term, frequency, lengths[i], documents[i]);
        }
        previous = { term, frequency, length: lengths[lengths.length - 1], document: documents[documents.length - 1] };
      }
      const stats = this.stmt("SELECT document_count, token_count FROM text_indexes WHERE id = ?").get(index.id) as { document_count: number; token_count: number };
      const filters = this.stmt("SELECT count(*) FROM text_filter_entries WHERE index_id = ?").pluck().get(index.id) as number;
      const records = this.stmt("SELECT count(*) FROM text_documents WHERE index_id = ?").pluck().get(index.id) as number;
      if (stats.document_count !== expected.documents || stats.token_count !== expected.tokens) {
        problems.push(`${name}: ${stats.document_count} documents and ${stats.token_count} tokens counted, ${expected.documents} and ${expected.tokens} found`);
      }
      if (wrongRecords > 0 || records !== expected.documents) problems.push(`${name}: ${records} document records for ${expected.documents} documents, ${wrongRecords} wrong or missing`);
      if (misplaced > 0) problems.push(`${name}: ${misplaced} postings out of order in their blocks`);
      if (!found.equals(expected.postings)) problems.push(`${name}: ${found.count} postings for ${expected.postings.count} expected, or not the ones expected`);
      if (filters !== expected.filters) problems.push(`${name}: ${filters} filter entries for ${expected.filters} expected`);
      const wrongTerms = termRows.filter(([term, , count]) => expected.terms.get(term.toString("utf8")) !== count).length;
      if (wrongTerms > 0 || termRows.length !== expected.terms.size) problems.push(`${name}: term counts differ from the documents (${wrongTerms} wrong, ${termRows.length} of ${expected.terms.size} present)`);
    }
    return problems;
  }
}

/** Where (length, document) sorts against another posting of the same list: negative, 0 or positive. */
function comparePostings(length: number, document: number, otherLength: number, otherDocument: number): number {
  return length !== otherLength ? length - otherLength : document - otherDocument;
}

/** Position of the first posting above (length, document) in a sorted block. */
function postingPosition(postings: Postings, length: number, document: number): number {
  let low = 0;
  let high = postings.lengths.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (comparePostings(postings.lengths[middle], postings.documents[middle], length, document) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** A count and an order-independent hash of a set of postings, to compare two sets without holding them. */
class PostingChecksum {
  count = 0;
  private sum = 0;
  add(term: number, frequency: number, length: number, document: number): void {
    let hash = Math.imul(term, 0x9e3779b1) ^ Math.imul(frequency, 0x85ebca77) ^ Math.imul(length, 0xc2b2ae3d) ^ Math.imul(document, 0x27d4eb2f);
    hash = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d);
    hash ^= hash >>> 12;
    this.sum = (this.sum + (hash >>> 0)) % 2 ** 32;
    this.count++;
  }
  equals(other: PostingChecksum): boolean {
    return this.count === other.count && this.sum === other.sum;
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
