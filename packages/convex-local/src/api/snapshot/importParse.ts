/**
 * Reads an uploaded import into its tables, as Convex's parse.rs does, checking every row before
 * anything is written: a snapshot ZIP (entries found by Convex's patterns; the `generated_schema.jsonl`
 * of a table decides how its numbers read), or one table's `.jsonl`, `.json` (an array) or `.csv`.
 * Errors name the file (the ZIP entry) and the row: "messages/documents.jsonl: Row 3 wasn't valid JSON: …".
 *
 * A ZIP entry under `_components/<name>/` (per level of a component's path, parse.rs
 * `parse_component_path`) belongs to that component: its tables are named as stored
 * (runtime/components.ts: `_components/echo/notes/documents.jsonl` is the table `@echo/notes`), its
 * `_tables` numbers its own tables, and its `_storage/` holds its files.
 *
 * Parsed rows are held in memory until the import commits (the ZIP itself is read entry by entry).
 */
import { createReadStream, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import yauzl from "yauzl";
import { namespaceOf, qualifiedPath } from "../../runtime/components.js";
import { storageTableOf } from "../../runtime/fileStorage.js";
import { csvRows } from "./csv.js";
import { importedDocument, parseRowJson, RowError, type ImportedDocument, type RowEncoding } from "./importValues.js";

export type ImportFormat = "csv" | "jsonLines" | "jsonArray" | "zip";

/** One imported table: its rows, where they came from, and the table number `_tables` asks for. */
export interface ParsedTable {
  /** The table as stored: qualified with its component's namespace for a component's (`@echo/notes`). */
  name: string;
  /** The file (or ZIP entry) the rows came from, for error messages. */
  file: string;
  documents: ImportedDocument[];
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

export interface ParsedImport {
  tables: ParsedTable[];
  /** Each namespace's `_tables/documents.jsonl`: stored table name → number. */
  tableNumbers: Map<string, number>;
  /** With file storage: each namespace's `_storage/` that has metadata or files. */
  storage: ParsedStorage[];
  /** The open ZIP, to stream storage files from (closed by `close`). */
  close(): void;
  openEntry(entry: yauzl.Entry): Promise<Readable>;
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

/**
 * Reads the uploaded file at `path` in `format` (`tableName` for a single-table format) into the
 * component at `componentPath` (`npx convex import --component`; "" for the app): a ZIP's
 * `_components/` folders are that component's children.
 */
export async function parseImport(path: string, format: ImportFormat, tableName: string | undefined, componentPath = ""): Promise<ParsedImport> {
  if (format === "zip") return parseZip(path, componentPath);
  const name = qualifiedPath(namespaceOf(componentPath), tableName!);
  const file = `${name} (${format === "csv" ? "CSV" : format === "jsonLines" ? "JSONL" : "JSON"})`;
  const documents = format === "jsonLines" ? await jsonLines(createReadStream(path), file, "inferred") : format === "jsonArray" ? jsonArray(path, file) : csv(path, file);
  return { tables: [{ name, file, documents }], tableNumbers: new Map(), storage: [], close: () => undefined, openEntry: () => Promise.reject(new Error("no ZIP")) };
}

function inFile<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof RowError) throw new ImportError(`${file}: ${error.message}`);
    throw error;
  }
}

/** JSON lines, one row each (a final empty line ends the file, as `read_line` reads it). */
async function jsonLines(stream: Readable, file: string, encoding: RowEncoding): Promise<ImportedDocument[]> {
  const documents: ImportedDocument[] = [];
  let row = 0;
  let first = true;
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    row++;
    if (first && line.startsWith("\uFEFF")) throw new ImportError(`${file}: UTF-8 BOM is not supported. Please save your file without BOM.`);
    first = false;
    documents.push(inFile(file, () => importedDocument(parseRowJson(line, row, encoding), row, encoding)));
  }
  return documents;
}

function jsonArray(path: string, file: string): ImportedDocument[] {
  const text = readFileSync(path, "utf8");
  if (text.startsWith("\uFEFF")) throw new ImportError(`${file}: UTF-8 BOM is not supported. Please save your file without BOM.`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ImportError(`${file}: Not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new ImportError(`${file}: Not a JSON array`);
  return parsed.map((item, i) => inFile(file, () => importedDocument(item, i + 1, "inferred")));
}

function csv(path: string, file: string): ImportedDocument[] {
  const text = readFileSync(path, "utf8");
  return inFile(file, () => [...csvRows(text)].map(({ row, line, value }) => {
    try {
      return importedDocument(value, row, "inferred");
    } catch (error) {
      if (error instanceof RowError) throw new RowError(`${error.message} (line ${line})`);
      throw error;
    }
  }));
}

async function parseZip(path: string, componentPath: string): Promise<ParsedImport> {
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
      const firstLine = (await readText(await openEntry(entry))).split("\n")[0]!;
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
    const tables: ParsedTable[] = [];
    const tableNumbers = new Map<string, number>();
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
        if (table === "_tables") {
          for (const document of await rawLines(await openEntry(entry), entry.fileName)) {
            const { name, id } = document.value as { name?: unknown; id?: unknown };
            if (typeof name !== "string" || typeof id !== "number" || !Number.isInteger(id) || id <= 0) {
              throw new ImportError(`${entry.fileName}: Row ${document.row} wasn't a valid Convex value: table requires name and id (received ${JSON.stringify(document.value).slice(0, 100)})`);
            }
            const stored = qualifiedPath(namespace, name);
            if (tableNumbers.has(stored)) throw new ImportError(`${entry.fileName}: \`_tables\` contains duplicate entries for \`${name}\``);
            tableNumbers.set(stored, id);
          }
        } else if (table === "_storage") {
          const parsed = storageOf(namespace, entry.fileName);
          parsed.file = entry.fileName;
          const metadata = parsed.metadata;
          for (const document of await rawLines(await openEntry(entry), entry.fileName)) {
            const line = document.value as StorageMetadata;
            if (typeof line !== "object" || line === null || typeof line._id !== "string") {
              throw new ImportError(`${entry.fileName}: Row ${document.row} wasn't a valid Convex value: missing field \`_id\``);
            }
            metadata.set(line._id, line);
          }
        } else if (table.startsWith("_")) {
          // Convex skips the other system tables of an export.
          continue;
        } else {
          const stored = qualifiedPath(namespace, table);
          tables.push({ name: stored, file: entry.fileName, documents: await jsonLines(await openEntry(entry), entry.fileName, encodings.get(stored) ?? "inferred") });
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

async function rawLines(stream: Readable, file: string): Promise<{ row: number; value: unknown }[]> {
  const out: { row: number; value: unknown }[] = [];
  let row = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    row++;
    try {
      out.push({ row, value: JSON.parse(line) });
    } catch (error) {
      throw new ImportError(`${file}: Row ${row} wasn't valid JSON: ${(error as Error).message}`);
    }
  }
  return out;
}

async function readText(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
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
