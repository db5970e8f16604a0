/**
 * Reads an uploaded import as Convex's parse.rs does: a snapshot ZIP (entries found by Convex's
 * patterns; the `generated_schema.jsonl` of a table decides how its numbers read), or one table's
 * `.jsonl`, `.json` (an array) or `.csv`. Errors name the file (the ZIP entry) and the row:
 * "messages/documents.jsonl: Row 3 wasn't valid JSON: …".
 *
 * A ZIP entry under `_components/<name>/` (per level of a component's path, parse.rs
 * `parse_component_path`) belongs to that component: its tables are named as stored
 * (runtime/components.ts: `_components/echo/notes/documents.jsonl` is the table `@echo/notes`), its
 * `_tables` numbers its own tables, and its `_storage/` holds its files.
 *
 * Rows are streamed: each table's `rows()` reads its file (or ZIP entry) from the start, a part
 * at a time, so an import holds a part's rows, never a table's. (A `.json` array is read whole,
 * as Convex reads it, and refused above Convex's 16 MiB.) Only the small files are read into
 * memory: `_tables`, `_storage`'s metadata and the first line of each `generated_schema.jsonl`.
 */
import { createReadStream, readFileSync, statSync } from "node:fs";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import yauzl from "yauzl";
import { namespaceOf, qualifiedPath } from "../../runtime/components.js";
import { storageTableOf } from "../../runtime/fileStorage.js";
import { CsvReader } from "./csv.js";
import { importedDocument, parseRowJson, RowError, type ImportedDocument, type RowEncoding } from "./importValues.js";

export type ImportFormat = "csv" | "jsonLines" | "jsonArray" | "zip";

/** A row of an imported table, with its number in its file (from 1). */
export interface ImportedRow extends ImportedDocument {
  row: number;
}

/** One imported table: where its rows come from. */
export interface SourceTable {
  /** The table as stored: qualified with its component's namespace for a component's (`@echo/notes`). */
  name: string;
  /** The file (or ZIP entry) the rows come from, for error messages. */
  file: string;
  /** Its rows from the first, checked as Convex documents, a part of the file at a time. */
  rows(): AsyncIterable<ImportedRow[]>;
}

/** One file of a ZIP's `_storage/`: where its bytes are. */
export interface ParsedStorageFile {
  id: string;
  entry: yauzl.Entry;
}

/** One namespace's `_storage/` in a ZIP: the metadata lines and the files. */
export interface ParsedStorage {
  /** The namespace's `_storage` table as stored (`_storage`, `@echo/_storage`). */
  table: string;
  metadata: Map<string, StorageMetadata>;
  files: ParsedStorageFile[];
  file: string;
}

/** A `_storage/documents.jsonl` line (export_storage.rs `FileStorageZipMetadata`). */
export interface StorageMetadata {
  _id: string;
  _creationTime?: number | null;
  sha256?: string | null;
  size?: number | null;
  contentType?: string | null;
  internalId?: string | null;
}

export interface ImportSource {
  tables: SourceTable[];
  /** Each namespace's `_tables/documents.jsonl`: stored table name → number. */
  tableNumbers: Map<string, number>;
  /** With file storage: each namespace's `_storage/` that has metadata or files. */
  storage: ParsedStorage[];
  /** Streams a ZIP entry (a stored file's bytes). */
  openEntry(entry: yauzl.Entry): Promise<Readable>;
  /** Closes the ZIP. */
  close(): void;
}

/** An upload Convex would refuse, with the file and the problem. */
export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImportError";
  }
}

/** Convex's entry patterns (parse.rs). */
const DOCUMENTS = /^(.*\/)?([^/]+)\/documents\.jsonl$/;
const GENERATED_SCHEMA = /^(.*\/)?([^/]+)\/generated_schema\.jsonl$/;
const STORAGE_FILE = /^(.*\/)?_storage\/([^/.]+)(?:\.[^/]+)?$/;
const TABLES_FILE = /^(.*\/)?_tables\/documents\.jsonl$/;
/** Rows of a `.json` array per part. */
const ARRAY_PART = 1000;
/** Convex's limit on a `.json` array, which it reads whole (parse.rs; knobs.rs TRANSACTION_MAX_USER_WRITE_SIZE_BYTES). */
const JSON_ARRAY_MAX_BYTES = 1 << 24;

/**
 * Opens the uploaded file at `path` in `format` (`tableName` for a single-table format) for the
 * component at `componentPath` (`npx convex import --component`; "" for the app): a ZIP's
 * `_components/` folders are that component's children.
 */
export async function openImport(path: string, format: ImportFormat, tableName: string | undefined, componentPath = ""): Promise<ImportSource> {
  if (format === "zip") return openZipImport(path, componentPath);
  const name = qualifiedPath(namespaceOf(componentPath), tableName!);
  const file = singleTableFile(name, format);
  const rows = format === "jsonLines" ? () => jsonLines(createReadStream(path), file, "inferred") : format === "jsonArray" ? () => jsonArray(path, file) : () => csv(path, file);
  return { tables: [{ name, file, rows }], tableNumbers: new Map(), storage: [], close: () => undefined, openEntry: () => Promise.reject(new Error("no ZIP")) };
}

/** How errors name the file of a single-table import of the stored table `name`: `notes (JSONL)`. */
export function singleTableFile(name: string, format: Exclude<ImportFormat, "zip">): string {
  return `${name} (${format === "csv" ? "CSV" : format === "jsonLines" ? "JSONL" : "JSON"})`;
}

function inFile<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof RowError) throw new ImportError(`${file}: ${error.message}`);
    throw error;
  }
}

/**
 * The lines of a UTF-8 stream, as the parts that complete them arrive, split as Rust's `lines()`
 * splits them (at `\n`, without a trailing `\r`); a final empty line ends the file.
 */
async function* textLines(stream: Readable): AsyncGenerator<string[], void, undefined> {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  for await (const chunk of stream) {
    const text = pending + decoder.write(chunk as Buffer);
    const lines = text.split("\n");
    pending = lines.pop()!;
    if (lines.length > 0) yield lines.map(withoutCarriageReturn);
  }
  const rest = pending + decoder.end();
  if (rest.length > 0) yield [withoutCarriageReturn(rest)];
}

function withoutCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** JSON lines, one row each. */
async function* jsonLines(stream: Readable, file: string, encoding: RowEncoding): AsyncGenerator<ImportedRow[], void, undefined> {
  let row = 0;
  for await (const lines of textLines(stream)) {
    if (row === 0 && lines[0]!.startsWith("\uFEFF")) throw new ImportError(`${file}: UTF-8 BOM is not supported. Please save your file without BOM.`);
    yield inFile(file, () =>
      lines.map((line) => {
        row++;
        return { ...importedDocument(parseRowJson(line, row, encoding), row, encoding), row };
      }),
    );
  }
}

async function* jsonArray(path: string, file: string): AsyncGenerator<ImportedRow[], void, undefined> {
  // Refused before it is read: it is read whole.
  const bytes = statSync(path).size;
  if (bytes > JSON_ARRAY_MAX_BYTES) throw new ImportError(`${file}: Import is too large for JSON (${bytes} bytes > maximum 16 MiB). Consider converting data to JSONLines`);
  const text = readFileSync(path, "utf8");
  if (text.startsWith("\uFEFF")) throw new ImportError(`${file}: UTF-8 BOM is not supported. Please save your file without BOM.`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ImportError(`${file}: Not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new ImportError(`${file}: Not a JSON array`);
  for (let start = 0; start < parsed.length; start += ARRAY_PART) {
    yield inFile(file, () => parsed.slice(start, start + ARRAY_PART).map((item, i) => ({ ...importedDocument(item, start + i + 1, "inferred"), row: start + i + 1 })));
  }
}

async function* csv(path: string, file: string): AsyncGenerator<ImportedRow[], void, undefined> {
  const reader = new CsvReader();
  const decoder = new StringDecoder("utf8");
  const rowsOf = (text: string, last: boolean) =>
    inFile(file, () =>
      reader.push(text, last).map(({ row, line, value }) => {
        try {
          return { ...importedDocument(value, row, "inferred"), row };
        } catch (error) {
          if (error instanceof RowError) throw new RowError(`${error.message} (line ${line})`);
          throw error;
        }
      }),
    );
  for await (const chunk of createReadStream(path)) {
    const rows = rowsOf(decoder.write(chunk as Buffer), false);
    if (rows.length > 0) yield rows;
  }
  const rows = rowsOf(decoder.end(), true);
  if (rows.length > 0) yield rows;
}

async function openZipImport(path: string, componentPath: string): Promise<ImportSource> {
  const namespaceOfPrefix = (prefix: string | undefined, file: string) => namespaceOf(joinedPath(componentPath, componentPathOfPrefix(prefix, file)));
  const zip = await openZip(path);
  try {
    const entries = await readEntries(zip);
    const openEntry = (entry: yauzl.Entry) => openZipEntry(zip, entry);
    const encodings = new Map<string, RowEncoding>();
    for (const entry of entries) {
      const match = GENERATED_SCHEMA.exec(entry.fileName);
      if (match === null) continue;
      const namespace = namespaceOfPrefix(match[1], entry.fileName);
      const firstLine = await firstLineOf(await openEntry(entry));
      let parsed: unknown;
      try {
        parsed = JSON.parse(firstLine);
      } catch (error) {
        throw new ImportError(`${entry.fileName}: Row 1 wasn't valid JSON: ${(error as Error).message}`);
      }
      if (parsed !== "uniform") {
        throw new ImportError(
          `${entry.fileName}: line 1 is ${firstLine.slice(0, 100)}, not "uniform": this is the type hint format of Convex exports before 2024 (a table shape with per-document overrides), which convex-local does not read. Export the data again with a current Convex, or import the table's documents.jsonl alone with --table.`,
        );
      }
      encodings.set(qualifiedPath(namespace, match[2]!), "uniform");
    }
    // `_tables` first: every table's number is known before its rows are read.
    const tableNumbers = new Map<string, number>();
    for (const entry of entries) {
      const match = TABLES_FILE.exec(entry.fileName);
      if (match === null) continue;
      const namespace = namespaceOfPrefix(match[1], entry.fileName);
      for (const document of await rawLines(await openEntry(entry), entry.fileName)) {
        const { name, id } = document.value as { name?: unknown; id?: unknown };
        if (typeof name !== "string" || typeof id !== "number" || !Number.isInteger(id) || id <= 0) {
          throw new ImportError(`${entry.fileName}: Row ${document.row} wasn't a valid Convex value: table requires name and id (received ${JSON.stringify(document.value).slice(0, 100)})`);
        }
        const stored = qualifiedPath(namespace, name);
        if (tableNumbers.has(stored)) throw new ImportError(`${entry.fileName}: \`_tables\` contains duplicate entries for \`${name}\``);
        tableNumbers.set(stored, id);
      }
    }
    const tables: SourceTable[] = [];
    const storage = new Map<string, ParsedStorage>();
    const storageOf = (namespace: string, file: string) => {
      let parsed = storage.get(namespace);
      if (parsed === undefined) storage.set(namespace, (parsed = { table: storageTableOf(namespace), metadata: new Map(), files: [], file }));
      return parsed;
    };
    for (const entry of entries) {
      const documents = DOCUMENTS.exec(entry.fileName);
      if (documents !== null) {
        const namespace = namespaceOfPrefix(documents[1], entry.fileName);
        const table = documents[2]!;
        if (table === "_storage") {
          const parsed = storageOf(namespace, entry.fileName);
          parsed.file = entry.fileName;
          for (const document of await rawLines(await openEntry(entry), entry.fileName)) {
            const line = document.value as StorageMetadata;
            if (typeof line !== "object" || line === null || typeof line._id !== "string") {
              throw new ImportError(`${entry.fileName}: Row ${document.row} wasn't a valid Convex value: missing field \`_id\``);
            }
            parsed.metadata.set(line._id, line);
          }
        } else if (!table.startsWith("_")) {
          // Convex skips the system tables of an export other than `_tables` and `_storage`.
          const stored = qualifiedPath(namespace, table);
          const encoding = encodings.get(stored) ?? "inferred";
          tables.push({ name: stored, file: entry.fileName, rows: () => zipEntryRows(openEntry, entry, encoding) });
        }
        continue;
      }
      const file = STORAGE_FILE.exec(entry.fileName);
      if (file !== null && file[2] !== "documents" && !entry.fileName.endsWith("/")) {
        const prefix = file[1] ?? "";
        storageOf(namespaceOfPrefix(file[1], entry.fileName), `${prefix}_storage/documents.jsonl`).files.push({ id: file[2]!, entry });
      }
    }
    return { tables, tableNumbers, storage: [...storage.values()], close: () => zip.close(), openEntry };
  } catch (error) {
    zip.close();
    throw error;
  }
}

async function* zipEntryRows(openEntry: (entry: yauzl.Entry) => Promise<Readable>, entry: yauzl.Entry, encoding: RowEncoding): AsyncGenerator<ImportedRow[], void, undefined> {
  yield* jsonLines(await openEntry(entry), entry.fileName, encoding);
}

/** One level of a component's path at the end of an entry's folder (parse.rs `COMPONENT_NAME_PATTERN`). */
const COMPONENT_LEVEL = /^(.*\/)?_components\/([^/]+)\/$/;

/**
 * The path of the component an entry's folder names by its trailing `_components/<name>/` levels
 * (relative to the import's component; anything before them is ignored, as Convex does); a name
 * that is not a component name is refused.
 */
function componentPathOfPrefix(prefix: string | undefined, file: string): string {
  const names: string[] = [];
  let rest = prefix ?? "";
  for (let level = COMPONENT_LEVEL.exec(rest); level !== null; level = COMPONENT_LEVEL.exec(rest)) {
    const name = level[2]!;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) throw new ImportError(`${file}: component name '${name.slice(0, 100)}' invalid: a component name is an identifier`);
    names.unshift(name);
    rest = level[1] ?? "";
  }
  return names.join("/");
}

function joinedPath(parent: string, child: string): string {
  return parent === "" ? child : child === "" ? parent : `${parent}/${child}`;
}

/** The lines of a small file, each parsed as JSON. */
async function rawLines(stream: Readable, file: string): Promise<{ row: number; value: unknown }[]> {
  const out: { row: number; value: unknown }[] = [];
  for await (const lines of textLines(stream)) {
    for (const line of lines) {
      const row = out.length + 1;
      try {
        out.push({ row, value: JSON.parse(line) });
      } catch (error) {
        throw new ImportError(`${file}: Row ${row} wasn't valid JSON: ${(error as Error).message}`);
      }
    }
  }
  return out;
}

/** The first line of a stream (read no further: leaving the loop ends the stream). */
async function firstLineOf(stream: Readable): Promise<string> {
  for await (const lines of textLines(stream)) return lines[0]!;
  return "";
}

/** Convex's answer to a ZIP that does not read (parse.rs `map_zip_io_error`). */
function invalidZip(error: Error): ImportError {
  return new ImportError(`invalid zip file: ${error.message}`);
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: false, strictFileNames: false, validateEntrySizes: true }, (error, zip) => (error ? reject(invalidZip(error)) : resolve(zip)));
  });
}

function readEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on("entry", (entry: yauzl.Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.on("end", () => resolve(entries));
    zip.on("error", (error: Error) => reject(invalidZip(error)));
    zip.readEntry();
  });
}

function openZipEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => {
      if (error) return reject(invalidZip(error));
      // A corrupt entry fails while it is read: reported as an invalid ZIP too.
      const checked = stream as Readable;
      const original = checked.emit.bind(checked);
      checked.emit = ((event: string, ...args: unknown[]) => (event === "error" ? original("error", invalidZip(args[0] as Error)) : original(event, ...args))) as typeof checked.emit;
      resolve(checked);
    });
  });
}
