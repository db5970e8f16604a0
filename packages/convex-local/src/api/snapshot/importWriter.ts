/**
 * Writes the rows of an import's tables into their hidden tables (importStaging.ts), a batch per
 * transaction, inside the import worker (importWorker.ts): the worker reads and checks the next
 * batch while others write, and writes it when the backend gives it the turn.
 *
 * Each row is checked against the schema of its namespace with the tables as they will be, and
 * its id against duplicates (the store keeps ids unique) and, when appending, against the table's
 * documents. A `copy` table's rows go in under ids of its hidden table's number (the same internal
 * ids); the activation gives them the table's. A `_storage` table's rows are the ZIP's files: each
 * is written to the blob store first, checked against its metadata's size and SHA-256.
 *
 * @example
 * const writer = new ImportWriter(storage, blobs, source, request);
 * while (!(await writer.fill())) writer.write(); // one transaction per call, in the backend's turn
 */
import type { Value } from "convex/values";
import { decodeDocumentId, encodeDocumentId, type Storage } from "../../storage/index.js";
import type { BlobStore } from "../../storage/blobs.js";
import { jsonToValue } from "../../storage/values.js";
import { localName, namespaceOfName, visibleTableName } from "../../runtime/components.js";
import { validateValue, type ValidatorJson } from "../../runtime/validator.js";
import { ImportError, type ImportedRow, type ImportFormat, type ImportSource } from "./importParse.js";
import type { ImportMode } from "./importPlan.js";

/** What the writer needs of a staged table. */
export interface TableToWrite {
  /** The table as stored once the import is done. */
  name: string;
  file: string;
  /** The hidden table its rows are written into, and that table's number. */
  hidden: string;
  hiddenNumber: number;
  /** How the activation puts the rows in place (importStaging.ts). */
  way: "rename" | "copy";
  /** The number the table ends with: every row's `_id` must carry it. */
  number: number;
  /** A namespace's `_storage`, whose rows are the ZIP's files. */
  files: boolean;
  /** The type the schema gives its documents, when they are checked. */
  documentType: ValidatorJson | null;
}

export interface WriteRequest {
  databasePath: string;
  /** The blob store's directory, for `_storage` files. */
  blobDirectory: string;
  upload: UploadToRead;
  mode: ImportMode;
  tables: TableToWrite[];
  /** The stored name of every table number once the import is done, for `v.id` checks. */
  finalNames: Map<number, string>;
}

/** The uploaded file and how to read it (importParse.ts `openImport`). */
export interface UploadToRead {
  path: string;
  format: ImportFormat;
  tableName: string | undefined;
  componentPath: string;
}

/**
 * A batch's rows at most, and the time after which its transaction stops taking more: every other
 * writer waits for a batch, and each commit rewrites the pages its rows touched — the leaves of
 * indexes whose keys arrive out of order (`by_creation_time`, user indexes) are most of them, so
 * small batches write the same pages again and again (100k documents: ~100 MB in one
 * transaction, ~0.9 GB in batches of ~2000).
 */
const BATCH_ROWS = 10_000;
const BATCH_MS = 250;

export class ImportWriter {
  /** The table being written, by index into the request's tables. */
  private table = 0;
  private rows: AsyncIterator<ImportedRow[]> | undefined;
  private readonly pending: ImportedRow[] = [];
  private exhausted = false;
  /** Rows written per table. */
  readonly written: number[];

  constructor(
    private readonly storage: Storage,
    private readonly blobs: BlobStore,
    private readonly source: ImportSource,
    private readonly request: WriteRequest,
  ) {
    this.written = request.tables.map(() => 0);
  }

  /** Reads (and checks) rows until a batch is ready; resolves with whether every row is written. */
  async fill(): Promise<boolean> {
    while (this.table < this.request.tables.length) {
      const table = this.request.tables[this.table]!;
      this.rows ??= (table.files ? this.fileRows(table) : this.source.tables.find(({ name }) => name === table.name)!.rows())[Symbol.asyncIterator]();
      while (!this.exhausted && this.pending.length < BATCH_ROWS) {
        const next = await this.rows.next();
        if (next.done) this.exhausted = true;
        else this.pending.push(...next.value);
      }
      if (this.pending.length > 0) return false;
      this.table++;
      this.rows = undefined;
      this.exhausted = false;
    }
    return true;
  }

  /** Writes the batch `fill` made ready (up to `BATCH_ROWS` or `BATCH_MS`) in one transaction; returns its commit's timestamp. */
  write(): bigint {
    const table = this.request.tables[this.table]!;
    const insert = this.inserter(table);
    const { count, commitTs } = this.storage.transaction(() => {
      const deadline = performance.now() + BATCH_MS;
      let count = 0;
      while (count < this.pending.length && (count === 0 || performance.now() < deadline)) insert(this.pending[count++]!);
      return { count, commitTs: this.storage.transactionTs() };
    });
    this.pending.splice(0, count);
    this.written[this.table]! += count;
    return commitTs;
  }

  /** The blobs of files read but not written: removed when the import stops. */
  discardPending(): void {
    for (const row of this.pending) if (this.request.tables[this.table]?.files) this.blobs.remove(row.fields.blobKey as string);
    this.pending.length = 0;
  }

  /** Each file of a `_storage` table, stored in the blob store, as the row of its document. */
  private async *fileRows(table: TableToWrite): AsyncGenerator<ImportedRow[], void, undefined> {
    const parsed = this.source.storage.find((storage) => storage.table === table.name)!;
    for (const [index, { id, entry }] of parsed.files.entries()) {
      if (decodeDocumentId(id) === null) throw new ImportError(`${entry.fileName}: _storage id '${id}' invalid`);
      const metadata = parsed.metadata.get(id);
      const blob = await this.blobs.write(await this.source.openEntry(entry), { maxBytes: Number.MAX_SAFE_INTEGER, contentType: metadata?.contentType ?? null, expectedSha256: metadata?.sha256 ?? undefined }).catch((error: Error) => {
        throw new ImportError(`${entry.fileName}: ${error.message}`);
      });
      if (typeof metadata?.size === "number" && metadata.size !== blob.size) {
        this.blobs.remove(blob.key);
        throw new ImportError(`${entry.fileName}: the file has ${blob.size} bytes, its metadata says ${metadata.size}`);
      }
      const creationTime = metadata?._creationTime;
      const fields = { blobKey: blob.key, sha256: blob.sha256, size: blob.size, ...(blob.contentType ? { contentType: blob.contentType } : {}) };
      yield [{ id, creationTime: typeof creationTime === "number" ? creationTime : undefined, fields, row: index + 1 }];
    }
  }

  /** Checks a row and inserts it into the table's hidden table (inside the caller's transaction). */
  private inserter(table: TableToWrite): (row: ImportedRow) => void {
    const { storage } = this;
    const check = schemaCheck(table, this.request.finalNames);
    const name = localName(table.name);
    const appending = this.request.mode === "append";
    return (row) => {
      check?.(row);
      let id = row.id;
      if (id !== undefined) {
        const decoded = decodeDocumentId(id);
        if (decoded === null) throw new ImportError(`${table.file}: Row ${row.row}: invalid _id '${id}'`);
        if (decoded.tableNumber !== table.number) {
          throw new ImportError(`${table.file}: Row ${row.row}: _id ${id} cannot be imported into '${name}' because it came from a different table (number ${decoded.tableNumber}, the table's is ${table.number})`);
        }
        if (table.way === "copy") {
          if (appending && storage.getDocument(id) !== null) throw new ImportError(`${table.file}: a document with _id ${id} already exists in "${name}"`);
          id = encodeDocumentId(table.hiddenNumber, decoded.internalId);
        }
      }
      try {
        storage.insertDocument(table.hidden, row.fields, row.creationTime, id);
      } catch (error) {
        if (isDuplicateId(error)) throw new ImportError(`Objects in table "${name}" have duplicate _id fields`);
        throw error;
      }
    };
  }
}

/** The store refused a second document with the same id. */
export function isDuplicateId(error: unknown): boolean {
  return (error as { code?: string }).code?.startsWith("SQLITE_CONSTRAINT") === true && /documents\.id/.test((error as Error).message);
}

/**
 * The check of a row against its table's document type, with ids resolved through the tables as
 * they will be (a namespace's code sees only its own); undefined when nothing is checked.
 */
function schemaCheck(table: TableToWrite, finalNames: Map<number, string>): ((row: ImportedRow) => void) | undefined {
  const { documentType } = table;
  if (documentType === null) return undefined;
  const namespace = namespaceOfName(table.name);
  const name = localName(table.name);
  const idTable = (id: string) => {
    const decoded = decodeDocumentId(id);
    const stored = decoded === null ? undefined : finalNames.get(decoded.tableNumber);
    return stored === undefined ? null : visibleTableName(namespace, stored);
  };
  return (row) => {
    const failure = validateValue(jsonToValue(row.fields) as Value, documentType, idTable);
    if (failure) throw new ImportError(`${table.file}: Row ${row.row}: Failed to insert or update a document in table "${name}" because it does not match the schema: ${failure.message}`);
  };
}
