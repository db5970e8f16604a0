/**
 * One function execution's view of the database: reads and writes go to storage inside the
 * caller's SQLite transaction (functions run one at a time, so that is a consistent snapshot),
 * while this object keeps what reactivity and limits need — the index ranges read, the documents
 * written — and enforces Convex's per-transaction limits.
 */
import type { JSONValue, Value } from "convex/values";
import { decodeDocumentId } from "../storage/ids.js";
import { isHiddenTable } from "../storage/hiddenTables.js";
import { encodeIndexKey, rangeContains, rangeForIndexExpression, type FieldBound, type KeyRange } from "../storage/keys.js";
import { BY_CREATION_TIME_INDEX, BY_ID_INDEX, type Storage } from "../storage/index.js";
import { jsonToValue } from "../storage/values.js";
import { truncateText } from "../text/valueText.js";
import { evaluateFilter, isUndefinedMarker, type FilterExpression } from "./filter.js";
import { MAX_TEXT_SEARCH_RESULTS, type StoredTextIndex, type TextQuery, type TextSearchResults } from "../storage/textIndexes.js";
import { DEFAULT_LIMITS, TransactionLimitError, type TransactionLimits } from "./limits.js";
import { searchRead, type SearchRead } from "./searchReads.js";
import { compileSearch, searchResultKey, tooManySearchResults } from "./textSearchQuery.js";

/** A range of one index that a transaction read; writes into it invalidate the reader. */
export interface ReadRange {
  table: string;
  index: string;
  range: KeyRange;
  /** A full-text search's read (`index` is the search index, `range` all of it): see searchReads.ts. */
  search?: SearchRead;
}

export interface DocumentWrite {
  table: string;
  id: string;
  /** JSON text before and after; null when inserted or deleted. */
  before: string | null;
  after: string | null;
}

export type QuerySource =
  | { type: "FullTableScan"; tableName: string; order: "asc" | "desc" | null }
  | { type: "IndexRange"; indexName: string; range: RangeExpression[]; order: "asc" | "desc" | null }
  | { type: "Search"; indexName: string; filters: unknown[] };

export interface RangeExpression {
  type: "Eq" | "Gt" | "Gte" | "Lt" | "Lte";
  fieldPath: string;
  value: JSONValue;
}

export interface SerializedQuery {
  source: QuerySource;
  operators: ({ filter: FilterExpression } | { limit: number })[];
}

export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueryError";
  }
}

const SCAN_BATCH = 128;
/** Search results are fetched in growing batches from this size: `.take(10)` reads few documents. */
const FIRST_SEARCH_BATCH = 16;
const WHOLE_RANGE: KeyRange = { lowerInclusive: true, upperInclusive: false };

/** A source's index, the fields it orders by, its key range and order; a search also its compiled query. */
export interface ResolvedSource {
  table: string;
  index: string;
  fields: string[];
  range: KeyRange;
  order: "asc" | "desc";
  search?: { index: StoredTextIndex; query: TextQuery };
}

/** Where a stream starts and stops inside its query's range: the cursors of a paginated query. */
export interface StreamBounds {
  /** Start strictly after this index key (a page's start cursor). */
  after?: Buffer;
  /** Stop after this index key, inclusive (a page's end cursor). */
  through?: Buffer;
  /** Stop once this many index rows (matching a filter or not) have been scanned. */
  maximumRowsScanned?: number;
}

/** A running `db.query(...)`: documents come from storage in batches, resuming after the last key. */
export class QueryStream {
  private buffer: { key: Buffer; json: string }[] = [];
  private lastKey: Buffer | undefined;
  private exhausted = false;
  private returned = 0;
  /** Index rows looked at so far, filtered out or not (Convex's "rows read" of a page). */
  rowsScanned = 0;
  bytesScanned = 0;
  /** The key of every row scanned, in order (the candidates for a page's split cursor). */
  readonly scannedKeys: Buffer[] = [];
  readonly table: string;
  readonly index: string;
  /** The query's whole range, before any bounds. */
  readonly queryRange: KeyRange;
  /** The part of the range this stream reads: the query's range narrowed by its bounds. */
  readonly range: KeyRange;
  readonly order: "asc" | "desc";
  private readonly filters: FilterExpression[];
  private readonly limit: number | undefined;
  private readonly maximumRowsScanned: number;
  /** A search source: its query, and once run its results inside `range`, best first. */
  private readonly search: ResolvedSource["search"];
  private searchResults: TextSearchResults | undefined;
  /** Results taken from the search so far, in range or not (Convex keeps the best 1024, then those in range). */
  private searchRank = 0;
  /** Results in range handed out so far. */
  private searchReturned = 0;
  /** No result is left in range. */
  private searchDone = false;

  constructor(
    private readonly transaction: Transaction,
    query: SerializedQuery,
    bounds: StreamBounds = {},
  ) {
    const resolved = transaction.resolveSource(query.source);
    this.table = resolved.table;
    this.index = resolved.index;
    this.queryRange = resolved.range;
    this.order = resolved.order;
    this.range = narrow(resolved.range, resolved.order, bounds);
    this.search = resolved.search;
    this.filters = [];
    let limit: number | undefined;
    for (const operator of query.operators) {
      if ("filter" in operator) this.filters.push(operator.filter);
      else if ("limit" in operator) limit = limit === undefined ? operator.limit : Math.min(limit, operator.limit);
    }
    this.limit = limit;
    this.maximumRowsScanned = bounds.maximumRowsScanned ?? Infinity;
  }

  /** The next matching document as JSON text, with its index key; null at the end (or at the scan limit). */
  next(): { key: Buffer; json: string } | null {
    while (true) {
      if (this.limit !== undefined && this.returned >= this.limit) return null;
      if (this.scanLimitReached) return null;
      if (this.buffer.length === 0 && !this.refill()) return null;
      const row = this.buffer.shift()!;
      this.lastKey = row.key;
      this.rowsScanned++;
      this.bytesScanned += row.json.length;
      this.scannedKeys.push(row.key);
      if (this.filters.length > 0) {
        const document = jsonToValue(JSON.parse(row.json)) as Record<string, Value>;
        if (!this.filters.every((filter) => evaluateFilter(filter, document))) continue;
      }
      this.returned++;
      return row;
    }
  }

  /** True when the stream stopped at `maximumRowsScanned` rather than at the end of its range. */
  get scanLimitReached(): boolean {
    return this.rowsScanned >= this.maximumRowsScanned && !this.isExhausted;
  }

  /** The part of the index this stream has looked at so far (all of it once exhausted). */
  coveredRange(): KeyRange {
    if (this.exhausted || this.lastKey === undefined) {
      return this.exhausted ? this.range : { ...this.range, upper: this.range.lower, upperInclusive: false };
    }
    return this.order === "asc"
      ? { ...this.range, upper: this.lastKey, upperInclusive: true }
      : { ...this.range, lower: this.lastKey, lowerInclusive: true };
  }

  get position(): Buffer | undefined {
    return this.lastKey;
  }

  get isExhausted(): boolean {
    return this.exhausted && this.buffer.length === 0;
  }

  /** True for a `withSearchIndex` query. */
  get isSearch(): boolean {
    return this.search !== undefined;
  }

  /** What a `withSearchIndex` query read, for reactivity; undefined for other queries. */
  get searchRead(): SearchRead | undefined {
    return this.search === undefined ? undefined : searchRead(this.search.index, this.search.query);
  }

  private refill(): boolean {
    if (this.exhausted) return false;
    if (this.search !== undefined) return this.refillFromSearch(this.search);
    const range: KeyRange = { ...this.range };
    if (this.lastKey !== undefined) {
      if (this.order === "asc") {
        range.lower = this.lastKey;
        range.lowerInclusive = false;
      } else {
        range.upper = this.lastKey;
        range.upperInclusive = false;
      }
    }
    const rows = this.transaction.scan(this.table, this.index, range, this.order, SCAN_BATCH);
    if (rows.length < SCAN_BATCH) this.exhausted = true;
    this.buffer = rows;
    return rows.length > 0;
  }

  /**
   * The next batch of a search's results, starting the search on first use. Results come best
   * first; those outside the stream's range (a page's cursors) are skipped. As Convex's
   * `SearchQuery` (which takes the best 1024 and then keeps those in range), no result past the
   * 1024th is returned, and asking for one after 1024 returned fails, even when there is none.
   */
  private refillFromSearch(search: NonNullable<ResolvedSource["search"]>): boolean {
    this.searchResults ??= this.transaction.storage.searchText(search.index, search.query);
    // Results are computed as they are asked for: a `.take(n)` without `.filter` needs n at most.
    const wanted = this.limit !== undefined && this.filters.length === 0 ? this.limit - this.returned : Infinity;
    const size = Math.min(SCAN_BATCH, Math.max(FIRST_SEARCH_BATCH, this.searchReturned), wanted);
    const batch: { key: Buffer; id: string }[] = [];
    while (batch.length < size && !this.searchDone) {
      if (this.searchRank === MAX_TEXT_SEARCH_RESULTS) {
        if (batch.length > 0) break;
        if (this.searchReturned === MAX_TEXT_SEARCH_RESULTS) throw tooManySearchResults(MAX_TEXT_SEARCH_RESULTS);
        this.searchDone = true;
        break;
      }
      const hit = this.searchResults.next();
      if (hit === null) {
        this.searchDone = true;
        break;
      }
      this.searchRank++;
      const key = searchResultKey(hit);
      // Results come in key order: past the range's end, none further is in it.
      if (this.range.upper !== undefined && Buffer.compare(key, this.range.upper) >= (this.range.upperInclusive ? 1 : 0)) {
        this.searchDone = true;
        break;
      }
      if (!rangeContains(this.range, key)) continue;
      batch.push({ key, id: hit.documentId });
      this.searchReturned++;
    }
    if (batch.length === 0) {
      this.exhausted = true;
      return false;
    }
    this.buffer = this.transaction.readSearchResults(batch);
    return this.buffer.length > 0 || this.refillFromSearch(search);
  }
}

/** `range` from just after `bounds.after` through `bounds.through`, in the direction of `order`. */
function narrow(range: KeyRange, order: "asc" | "desc", bounds: StreamBounds): KeyRange {
  const narrowed = { ...range };
  const start = order === "asc" ? "lower" : "upper";
  const end = order === "asc" ? "upper" : "lower";
  if (bounds.after !== undefined) {
    narrowed[start] = bounds.after;
    narrowed[`${start}Inclusive`] = false;
  }
  if (bounds.through !== undefined) {
    narrowed[end] = bounds.through;
    narrowed[`${end}Inclusive`] = true;
  }
  return narrowed;
}

export class Transaction {
  readonly reads: ReadRange[] = [];
  readonly writes: DocumentWrite[] = [];
  private documentsRead = 0;
  private bytesRead = 0;
  private bytesWritten = 0;
  private readonly streams = new Map<number, QueryStream>();
  private nextStreamId = 1;

  constructor(
    readonly storage: Storage,
    readonly writable: boolean,
    readonly limits: TransactionLimits = DEFAULT_LIMITS,
  ) {}

  /** The table an id belongs to, or null when it is no id of any existing table (a hidden table's are not). */
  tableOfId(id: string): string | null {
    const decoded = decodeDocumentId(id);
    if (decoded === null) return null;
    const table = this.storage.tableName(decoded.tableNumber);
    return table === undefined || isHiddenTable(table) ? null : table;
  }

  get(id: string): string | null {
    const table = this.tableOfId(id);
    if (table === null) return null;
    const json = this.storage.getDocument(id);
    const point = encodeIndexKey([id]);
    this.reads.push({ table, index: BY_ID_INDEX, range: { lower: point, lowerInclusive: true, upper: point, upperInclusive: true } });
    if (json !== null) this.countRead(json);
    return json;
  }

  insert(table: string, value: Record<string, JSONValue>): string {
    this.assertWritable("insert");
    const { id, json } = this.storage.insertDocument(table, value);
    this.recordWrite({ table, id, before: null, after: json });
    return id;
  }

  replace(id: string, value: Record<string, JSONValue>): void {
    this.assertWritable("replace");
    const table = this.requireTable(id);
    const before = this.storage.getDocument(id);
    if (before === null) throw new QueryError(`Update on nonexistent document ID ${id}`);
    const after = this.storage.replaceDocument(id, value);
    this.recordWrite({ table, id, before, after });
  }

  delete(id: string): void {
    this.assertWritable("delete");
    const table = this.requireTable(id);
    const before = this.storage.getDocument(id);
    if (before === null) throw new QueryError(`Delete on nonexistent document ID ${id}`);
    this.storage.deleteDocument(id);
    this.recordWrite({ table, id, before, after: null });
  }

  count(table: string): number {
    this.reads.push({ table, index: BY_ID_INDEX, range: { lowerInclusive: true, upperInclusive: false } });
    return this.storage.tableNumber(table) === undefined ? 0 : this.storage.countDocuments(table);
  }

  openStream(query: SerializedQuery, bounds?: StreamBounds): QueryStream {
    return new QueryStream(this, query, bounds);
  }

  startQuery(query: SerializedQuery): number {
    const id = this.nextStreamId++;
    this.streams.set(id, this.openStream(query));
    return id;
  }

  queryNext(queryId: number): string | null {
    const stream = this.streams.get(queryId);
    if (stream === undefined) throw new QueryError(`Query ${queryId} is not open`);
    const row = stream.next();
    if (row === null) this.closeQuery(queryId);
    return row === null ? null : row.json;
  }

  closeQuery(queryId: number): void {
    const stream = this.streams.get(queryId);
    if (stream === undefined) return;
    this.streams.delete(queryId);
    this.recordStreamRead(stream);
  }

  /**
   * Records the range a finished (or abandoned) stream covered; a search records its words and
   * filters, so only writes of documents that match them re-run it (searchReads.ts).
   */
  recordStreamRead(stream: QueryStream): void {
    const search = stream.searchRead;
    if (search !== undefined) this.reads.push({ table: stream.table, index: stream.index, range: WHOLE_RANGE, search });
    else this.reads.push({ table: stream.table, index: stream.index, range: stream.coveredRange() });
  }

  /** The documents of a batch of search results, counted against the read limits (a document deleted since is skipped). */
  readSearchResults(batch: readonly { key: Buffer; id: string }[]): { key: Buffer; json: string }[] {
    const rows: { key: Buffer; json: string }[] = [];
    for (const { key, id } of batch) {
      const json = this.storage.getDocument(id);
      if (json === null) continue;
      this.countRead(json);
      rows.push({ key, json });
    }
    return rows;
  }

  /** Closes every stream still open (a function may stop iterating early). */
  finish(): void {
    for (const id of [...this.streams.keys()]) this.closeQuery(id);
  }

  /** Storage rows for a stream, counting them against the read limits. */
  scan(table: string, index: string, range: KeyRange, order: "asc" | "desc", limit: number): { key: Buffer; json: string }[] {
    if (this.storage.tableNumber(table) === undefined) return [];
    const rows = [];
    for (const row of this.storage.scanIndex(table, index, range, order, { limit })) {
      this.countRead(row.json);
      rows.push({ key: row.key, json: row.json });
    }
    return rows;
  }

  /** The index a query reads, the fields that index orders by, the key range and the order. */
  resolveSource(source: QuerySource): ResolvedSource {
    if (source.type === "Search") return this.resolveSearch(source.indexName, source.filters);
    const order = source.order ?? "asc";
    if (source.type === "FullTableScan") {
      const table = source.tableName;
      const fields = this.indexFields(table, BY_CREATION_TIME_INDEX);
      return { table, index: BY_CREATION_TIME_INDEX, fields, range: { lowerInclusive: true, upperInclusive: false }, order };
    }
    const dot = source.indexName.indexOf(".");
    const table = source.indexName.slice(0, dot);
    const index = source.indexName.slice(dot + 1);
    const fields = this.indexFields(table, index);
    return { table, index, fields, range: indexRange(source.indexName, fields, source.range), order };
  }

  /** The fields an index range may name, in order: the indexed fields, then `_creationTime`, `_id`. */
  private indexFields(table: string, index: string): string[] {
    if (this.storage.tableNumber(table) === undefined) {
      if (index === BY_ID_INDEX) return ["_id"];
      if (index === BY_CREATION_TIME_INDEX) return ["_creationTime", "_id"];
      throw new QueryError(`Index ${table}.${index} not found.`);
    }
    const definition = this.storage.listIndexes(table).find((candidate) => candidate.name === index);
    if (definition === undefined) {
      if (this.storage.listTextIndexes(table).some((candidate) => candidate.name === index)) {
        throw new QueryError(`Index ${table}.${index} is not a database index`);
      }
      throw new QueryError(`Index ${table}.${index} not found.`);
    }
    return definition.keyFields;
  }

  /** A `withSearchIndex` source: its search index, compiled query and whole (result-key) range. */
  private resolveSearch(indexName: string, filters: unknown[]): ResolvedSource {
    const dot = indexName.lastIndexOf(".");
    const table = indexName.slice(0, dot);
    const name = indexName.slice(dot + 1);
    const index = this.storage.listTextIndexes(table).find((candidate) => candidate.name === name);
    if (index === undefined) {
      if (this.storage.tableNumber(table) !== undefined && this.storage.listIndexes(table).some((candidate) => candidate.name === name)) {
        throw new QueryError(`Index ${indexName} is not a search index`);
      }
      throw new QueryError(`Index ${indexName} not found.`);
    }
    const query = compileSearch(indexName, index, filters);
    return { table, index: name, fields: [index.searchField, ...index.filterFields], range: WHOLE_RANGE, order: "asc", search: { index, query } };
  }

  /** What the transaction has read so far, as its read limits count it. */
  get readUsage(): { documents: number; bytes: number } {
    return { documents: this.documentsRead, bytes: this.bytesRead };
  }

  private countRead(json: string): void {
    this.documentsRead++;
    this.bytesRead += json.length;
    if (this.documentsRead > this.limits.maxDocumentsRead) throw new TransactionLimitError("documents read", this.limits.maxDocumentsRead);
    if (this.bytesRead > this.limits.maxBytesRead) throw new TransactionLimitError("bytes read", this.limits.maxBytesRead);
  }

  private recordWrite(write: DocumentWrite): void {
    this.writes.push(write);
    this.bytesWritten += write.after?.length ?? 0;
    if (this.writes.length > this.limits.maxDocumentsWritten) throw new TransactionLimitError("documents written", this.limits.maxDocumentsWritten);
    if (this.bytesWritten > this.limits.maxBytesWritten) throw new TransactionLimitError("bytes written", this.limits.maxBytesWritten);
  }

  private requireTable(id: string): string {
    const table = this.tableOfId(id);
    if (table === null) throw new QueryError(`Invalid document ID: "${truncateText(id)}"`);
    return table;
  }

  private assertWritable(operation: string): void {
    if (!this.writable) throw new QueryError(`${operation} is not allowed in a query: queries are read-only. Use a mutation to change data.`);
  }
}

/**
 * Turns `withIndex(..., q => q.eq(a).eq(b).gt(c)...)` into a key range, checking that the
 * expressions follow the index's field order as Convex requires.
 */
function indexRange(indexName: string, fields: string[], expressions: RangeExpression[]): KeyRange {
  const eq: (Value | undefined)[] = [];
  let lower: FieldBound | undefined;
  let upper: FieldBound | undefined;
  let boundField: string | undefined;
  for (const expression of expressions) {
    const value = isUndefinedMarker(expression.value) ? undefined : jsonToValue(expression.value);
    if (expression.type === "Eq") {
      if (boundField !== undefined) throw new QueryError(`Uncaught Error: Tried to query index ${indexName} but the query didn't use the index fields in order. An equality on ${expression.fieldPath} follows a range on ${boundField}.`);
      if (fields[eq.length] !== expression.fieldPath) throw outOfOrder(indexName, fields, expression.fieldPath);
      eq.push(value);
      continue;
    }
    if (fields[eq.length] !== expression.fieldPath) throw outOfOrder(indexName, fields, expression.fieldPath);
    boundField = expression.fieldPath;
    const op = expression.type.toLowerCase() as FieldBound["op"];
    if (op === "gt" || op === "gte") {
      if (lower !== undefined) throw new QueryError(`Index ${indexName} range has two lower bounds on ${expression.fieldPath}`);
      lower = { op, value };
    } else {
      if (upper !== undefined) throw new QueryError(`Index ${indexName} range has two upper bounds on ${expression.fieldPath}`);
      upper = { op, value };
    }
  }
  return rangeForIndexExpression(eq, lower, upper);
}

function outOfOrder(indexName: string, fields: string[], fieldPath: string): QueryError {
  return new QueryError(
    `Tried to query index ${indexName} but the query didn't use the index fields in order. ` +
      `Index fields: [${fields.map((field) => `"${field}"`).join(", ")}], query field: "${fieldPath}".`,
  );
}
