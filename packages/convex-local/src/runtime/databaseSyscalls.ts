/**
 * The database syscalls behind `ctx.db` of `convex/server` (get, insert, patch, replace, delete,
 * query streams, pagination, count, normalizeId), against one transaction, with Convex's document
 * rules and the schema's validators applied to every write.
 */
import { createHash } from "node:crypto";
import type { JSONValue, Value } from "convex/values";
import { decodeDocumentId } from "../storage/ids.js";
import { rangeContains, type KeyRange } from "../storage/keys.js";
import { jsonToValue, setField } from "../storage/values.js";
import { truncateText } from "../text/valueText.js";
import { DEFAULT_LIMITS } from "../transactions/limits.js";
import { isUndefinedMarker } from "../transactions/filter.js";
import type { SerializedQuery, Transaction } from "../transactions/transaction.js";
import { storedTableName, visibleTableName } from "./components.js";
import { checkDocument, checkTableName } from "./documentValues.js";
import type { SchemaTable } from "./functions.js";
import { validateValue } from "./validator.js";
import { transactionMetrics, unknownAsyncOperation, unknownOperation } from "./metadataSyscalls.js";
import { withoutBlobKey } from "./fileStorage.js";
import { stagedIndexError } from "./textIndexPush.js";

/**
 * The database syscalls of `convex/server`'s `ctx.db`, against one transaction, with Convex's
 * document rules and the schema's validators applied to every write. Code of a component (its
 * `namespace`, components.ts) sees its own tables only, by their own names.
 */
export class DatabaseSyscalls {
  constructor(
    private readonly transaction: Transaction,
    private readonly schema: Map<string, SchemaTable> | null,
    private readonly journal: QueryJournal,
    private readonly namespace = "",
  ) {}

  /** The table of an id as this namespace names it; null for no table or another namespace's. */
  private visibleTable(id: string): string | null {
    const stored = this.transaction.tableOfId(id);
    return stored === null ? null : visibleTableName(this.namespace, stored);
  }

  /** `query` with its table named as stored; a query of a staged index is refused, as Convex refuses it. */
  private storedQuery(query: SerializedQuery): SerializedQuery {
    if (query.source.type !== "FullTableScan") {
      const { indexName } = query.source;
      const dot = indexName.lastIndexOf(".");
      const table = indexName.slice(0, dot);
      const staged = stagedIndexError(this.schema?.get(table), table, indexName.slice(dot + 1));
      if (staged !== null) throw staged;
    }
    if (this.namespace === "") return query;
    const { source } = query;
    if (source.type === "FullTableScan") return { ...query, source: { ...source, tableName: storedTableName(this.namespace, source.tableName) } };
    return { ...query, source: { ...source, indexName: storedTableName(this.namespace, source.indexName) } };
  }

  syscall(op: string, args: Record<string, unknown>): unknown {
    switch (op) {
      case "1.0/queryStream":
        return { queryId: this.transaction.startQuery(this.storedQuery(args.query as SerializedQuery)) };
      case "1.0/queryCleanup":
        this.transaction.closeQuery(args.queryId as number);
        return true;
      case "1.0/db/normalizeId": {
        const id = args.idString as string;
        return { id: this.visibleTable(id) === args.table ? id : null };
      }
      case "1.0/getSnapshotTs":
        return { $integer: Buffer.from(new BigInt64Array([this.transaction.storage.lastCommitTs()]).buffer).toString("base64") };
      default:
        throw unknownOperation(op);
    }
  }

  asyncSyscall(op: string, args: Record<string, unknown>): unknown {
    switch (op) {
      case "1.0/getTransactionMetrics":
        return transactionMetrics(this.transaction);
      case "1.0/get": {
        const isSystem = args.isSystem === true;
        const id = this.documentId(isSystem ? "system.get" : "get", args.id, args.table as string | undefined, isSystem);
        const json = id === null ? null : this.transaction.get(id);
        return json === null ? null : this.exported(json);
      }
      case "1.0/insert": {
        const table = args.table as string;
        checkTableName(table);
        const value = args.value as Record<string, JSONValue>;
        this.checkWrite(table, value);
        return { _id: this.transaction.insert(storedTableName(this.namespace, table), value) };
      }
      case "1.0/shallowMerge": {
        const id = this.requireId("patch", args.id, args.table as string | undefined);
        const existing = this.existing(id, "patch");
        const patch = args.value as Record<string, JSONValue>;
        const merged: Record<string, JSONValue> = { ...withoutSystemFields(existing) };
        for (const [field, value] of Object.entries(patch)) {
          if (field === "_id" || field === "_creationTime") {
            if (JSON.stringify(value) !== JSON.stringify(existing[field])) {
              throw new Error(`Provided ${field} field does not match the document's ${field}`);
            }
            continue;
          }
          if (isUndefinedMarker(value)) delete merged[field];
          else setField(merged, field, value);
        }
        this.checkWrite(this.visibleTable(id)!, merged);
        this.transaction.replace(id, merged);
        return null;
      }
      case "1.0/replace": {
        const id = this.requireId("replace", args.id, args.table as string | undefined);
        const existing = this.existing(id, "replace");
        const value = args.value as Record<string, JSONValue>;
        for (const field of ["_id", "_creationTime"] as const) {
          if (field in value && JSON.stringify(value[field]) !== JSON.stringify(existing[field])) {
            throw new Error(`Provided ${field} field does not match the document's ${field}`);
          }
        }
        const replacement = withoutSystemFields(value);
        this.checkWrite(this.visibleTable(id)!, replacement);
        this.transaction.replace(id, replacement);
        return null;
      }
      case "1.0/remove": {
        const id = this.requireId("delete", args.id, args.table as string | undefined);
        this.existing(id, "delete");
        this.transaction.delete(id);
        return null;
      }
      case "1.0/queryStreamNext": {
        const json = this.transaction.queryNext(args.queryId as number);
        return json === null ? { value: null, done: true } : { value: this.exported(json), done: false };
      }
      case "1.0/queryPage":
        return this.queryPage(args);
      case "1.0/count":
        return this.transaction.count(storedTableName(this.namespace, args.table as string));
      default:
        throw unknownAsyncOperation(op);
    }
  }

  /**
   * `1.0/queryPage`: one page of a paginated query, as Convex's `query_page` syscall
   * (crates/isolate/src/environment/udf/async_syscall.rs). Without an end cursor (from the
   * arguments or, on a re-run, from the query journal) the page holds `pageSize` documents;
   * with one it holds everything up to that cursor, so a re-run page keeps its boundary and
   * consecutive pages stay gap-free while documents come and go. The page's end goes into the
   * journal for the next re-run.
   */
  private queryPage(args: Record<string, unknown>): unknown {
    const query = this.storedQuery(args.query as SerializedQuery);
    const pageSize = args.pageSize;
    if (typeof pageSize !== "number" || !Number.isInteger(pageSize) || pageSize < 1) {
      throw new Error("NoDocumentsForPagination: Must request at least 1 document while paginating");
    }
    if (pageSize > DEFAULT_LIMITS.maxDocumentsRead) throw new Error(`PageSizeTooLarge: Requested too many items: ${pageSize}`);
    const maximumRowsRead = optionalLimit(args.maximumRowsRead, "maximumRowsRead");
    const maximumBytesRead = optionalLimit(args.maximumBytesRead, "maximumBytesRead");
    if (this.journal.next !== null) {
      throw new Error(
        "MultiplePaginatedDatabaseQueries: This query or mutation function ran multiple paginated queries. Convex only supports a single paginated query in each function.",
      );
    }
    const source = this.transaction.resolveSource(query.source);
    const fingerprint = queryFingerprint(query, source.fields);
    const start = args.cursor === null || args.cursor === undefined ? undefined : decodeCursor(args.cursor, fingerprint, source.range);
    const endArgument = args.endCursor ?? this.journal.previous;
    const end = endArgument === null || endArgument === undefined ? undefined : decodeCursor(endArgument, fingerprint, source.range);

    const page: JSONValue[] = [];
    let position: CursorPosition;
    let splitKey: Buffer | undefined;
    let pageStatus: "SplitRequired" | "SplitRecommended" | null = null;
    if (start === "end") {
      position = "end";
    } else {
      const bounded = end !== undefined;
      const stream = this.transaction.openStream(query, {
        after: start,
        through: end === "end" ? undefined : end,
        // With an end cursor the whole interval must be read for correctness; limits apply only to new pages.
        maximumRowsScanned: bounded ? undefined : maximumRowsRead,
      });
      while (bounded || page.length < pageSize) {
        if (!bounded && stream.bytesScanned >= maximumBytesRead) break;
        const row = stream.next();
        if (row === null) break;
        page.push(this.exported(row.json));
      }
      this.transaction.recordStreamRead(stream);
      const stoppedByLimit = !bounded && !stream.isExhausted && (stream.scanLimitReached || stream.bytesScanned >= maximumBytesRead);
      if (stoppedByLimit) pageStatus = "SplitRequired";
      else if (
        stream.rowsScanned > softLimit(maximumRowsRead, DEFAULT_LIMITS.maxDocumentsRead) ||
        stream.bytesScanned > softLimit(maximumBytesRead, DEFAULT_LIMITS.maxBytesRead) ||
        page.length > SOFT_MAX_PAGE_LENGTH
      ) {
        pageStatus = "SplitRecommended";
      }
      if (end !== undefined) position = end;
      else if (stream.isExhausted && !stoppedByLimit) position = "end";
      else position = stream.position ?? start ?? "end";
      // A search has no split cursor: splitting it would not make it cheaper (Convex's SearchQuery).
      const keys = stream.isSearch ? [] : stream.scannedKeys;
      if (keys.length > 2) splitKey = keys[Math.floor(keys.length / 2)];
    }
    const continueCursor = encodeCursor(fingerprint, position);
    this.journal.next = continueCursor;
    return {
      page,
      isDone: position === "end",
      continueCursor,
      splitCursor: splitKey === undefined ? null : encodeCursor(fingerprint, splitKey),
      pageStatus,
    };
  }

  private checkWrite(table: string, value: Record<string, JSONValue>): void {
    let converted: Record<string, Value>;
    try {
      converted = jsonToValue(value) as Record<string, Value>;
    } catch (error) {
      throw new Error(`Invalid value for table "${table}": ${truncateText((error as Error).message)}`);
    }
    checkDocument(converted, JSON.stringify(value).length);
    const definition = this.schema?.get(table);
    if (this.schema !== null && definition === undefined) {
      throw new Error(`Failed to insert or update a document in table "${table}" because it does not match the schema: table "${table}" is not in the schema`);
    }
    if (definition?.documentType) {
      const failure = validateValue(converted, definition.documentType, (id) => this.visibleTable(id));
      if (failure) {
        throw new Error(`Failed to insert or update a document in table "${table}" because it does not match the schema: ${failure.message}`);
      }
    }
  }

  /**
   * The id `db.<operation>` names, checked as Convex's syscalls check it
   * (crates/isolate/src/environment/udf/async_syscall.rs): a system table's id only through
   * `db.system`, a user table's only without it, and the table the call names (`db.get(table, id)`)
   * must be the id's. null when the id is of no existing table (a `get` of it reads null).
   */
  private documentId(operation: string, id: unknown, table: string | undefined, isSystem = false): string | null {
    if (typeof id !== "string") throw new Error(`Invalid argument \`id\` for \`db.${operation}\`: expected a string`);
    const decoded = decodeDocumentId(id);
    if (decoded === null) throw new Error(`Invalid argument \`id\` for \`db.${operation}\`: "${truncateText(id)}" is not a valid ID`);
    const actualTable = this.visibleTable(id);
    if (actualTable === null) return null;
    checkSystemTableAccess(actualTable, isSystem);
    if (table !== undefined && actualTable !== table) {
      throw new Error(`Invalid argument \`id\` for \`db.${operation}\`: expected to be an Id<"${truncateText(table, 200)}">, got Id<"${actualTable}"> instead.`);
    }
    return id;
  }

  /** The id of a write: it must name an existing table, and writes never reach system tables. */
  private requireId(operation: string, id: unknown, table: string | undefined): string {
    const resolved = this.documentId(operation, id, table);
    if (resolved === null) throw new Error(`Invalid argument \`id\` for \`db.${operation}\`: Table for ID "${truncateText(String(id))}" not found`);
    return resolved;
  }

  /** A stored document as functions read it (`_storage` documents without their blob key). */
  private exported(json: string): Record<string, JSONValue> {
    return withoutBlobKey(JSON.parse(json) as Record<string, JSONValue>, (id) => this.transaction.tableOfId(id));
  }

  private existing(id: string, operation: string): Record<string, JSONValue> {
    const json = this.transaction.get(id);
    if (json === null) throw new Error(`${operation === "delete" ? "Delete" : "Update"} on nonexistent document ID ${id}`);
    return JSON.parse(json) as Record<string, JSONValue>;
  }
}

/**
 * Where a page ends: after an index key, or at the end of the query's range. A cursor is
 * base64url of the query's fingerprint, a kind byte and the key, so a cursor only works with the
 * query that made it (Convex binds cursors the same way, crates/database/src/query/mod.rs).
 */
type CursorPosition = Buffer | "end";

const FINGERPRINT_BYTES = 16;
const CURSOR_AFTER_KEY = 0;
const CURSOR_END = 1;

/** Convex's SOFT_MAX_PAGE_LEN: past 3/4 of the 8192-element array limit a split is recommended. */
const SOFT_MAX_PAGE_LENGTH = softLimit(Infinity, 8192);

/** Convex's `soft_data_limit`: 3/4 of the smaller of the page's limit and the transaction's. */
function softLimit(pageLimit: number, transactionLimit: number): number {
  return Math.floor((Math.min(pageLimit, transactionLimit) * 3) / 4);
}

/** Decisions of a query's last run that its re-runs repeat: the end cursor of its paginated query. */
export interface QueryJournal {
  /** The journal the client (or the previous run) handed in. */
  previous: string | null;
  /** The journal of this run; set by the run's paginated query. */
  next: string | null;
}

function queryFingerprint(query: SerializedQuery, indexFields: string[]): Buffer {
  return createHash("sha256").update(JSON.stringify({ query, indexFields })).digest().subarray(0, FINGERPRINT_BYTES);
}

function encodeCursor(fingerprint: Buffer, position: CursorPosition): string {
  const kind = Buffer.of(position === "end" ? CURSOR_END : CURSOR_AFTER_KEY);
  return Buffer.concat([fingerprint, kind, position === "end" ? Buffer.alloc(0) : position]).toString("base64url");
}

/**
 * The position in a cursor made for this query. A cursor of another query, a malformed one, or a
 * key outside the query's range (which this query could never have produced) is refused.
 */
function decodeCursor(cursor: unknown, fingerprint: Buffer, range: KeyRange): CursorPosition {
  if (typeof cursor !== "string" || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor();
  const bytes = Buffer.from(cursor, "base64url");
  if (bytes.length <= FINGERPRINT_BYTES || !bytes.subarray(0, FINGERPRINT_BYTES).equals(fingerprint)) throw invalidCursor();
  const kind = bytes[FINGERPRINT_BYTES];
  const key = bytes.subarray(FINGERPRINT_BYTES + 1);
  if (kind === CURSOR_END && key.length === 0) return "end";
  if (kind === CURSOR_AFTER_KEY && key.length > 0 && rangeContains(range, key)) return Buffer.from(key);
  throw invalidCursor();
}

/** Convex's InvalidCursor error: a ConvexError whose data `usePaginatedQuery` recognises to restart. */
function invalidCursor(): Error {
  const error = new Error(
    "InvalidCursor: Tried to run a query starting from a cursor, but it looks like this cursor is from a different query.",
  ) as Error & { data: JSONValue };
  error.data = { isConvexSystemError: true, paginationError: "InvalidCursor" };
  return error;
}

function optionalLimit(value: unknown, name: string): number {
  if (value === null || value === undefined) return Infinity;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new Error(`InvalidPaginationLimit: ${name} must be an integer greater than 0`);
  }
  return value;
}

/**
 * Convex's `system_table_guard`: system tables (`_storage`, `_scheduled_functions`) are read
 * through `ctx.db.system` only, and user tables never through it.
 */
function checkSystemTableAccess(table: string, isSystem: boolean): void {
  const systemTable = table.startsWith("_");
  if (isSystem && !systemTable) throw new Error("User tables cannot be accessed with db.system.");
  if (!isSystem && systemTable) throw new Error("System tables can only be accessed with db.system.");
}

function withoutSystemFields(value: Record<string, JSONValue>): Record<string, JSONValue> {
  const { _id, _creationTime, ...rest } = value;
  return rest;
}
