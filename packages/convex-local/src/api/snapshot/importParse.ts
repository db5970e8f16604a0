/**
 * Reads an uploaded import into its tables, as Convex's parse.rs does, checking every row before
 * anything is written: a snapshot ZIP (entries found by Convex's patterns; the `generated_schema.jsonl`
 * of a table decides how its numbers read), or one table's `.jsonl`, `.json` (an array) or `.csv`.
 * Errors name the file (the ZIP entry) and the row: "messages/documents.jsonl: Row 3 wasn't valid JSON: …".
 *
 * Parsed rows are held in memory until the import commits (the ZIP itself is read entry by entry).
 */
import { createReadStream, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import yauzl from "yauzl";
import { csvRows } from "./csv.js";
import { importedDocument, parseRowJson, RowError, type ImportedDocument, type RowEncoding } from "./importValues.js";

export type ImportFormat = "csv" | "jsonLines" | "jsonArray" | "zip";

/** One imported table: its rows, where they came from, and the table number `_tables` asks for. */
export interface ParsedTable {
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
  /** `_tables/documents.jsonl`: table name → number. */
  tableNumbers: Map<string, number>;
  /** With file storage: the metadata lines and the files. */
  storage: { metadata: Map<string, StorageMetadata>; files: ParsedStorageFile[]; file: string } | undefined;
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

/** Reads the uploaded file at `path` in `format` (`tableName` for a single-table format). */
export async function parseImport(path: string, format: ImportFormat, tableName: string | undefined): Promise<ParsedImport> {
  if (format === "zip") return parseZip(path);
  const name = tableName!;
  const file = `${name} (${format === "csv" ? "CSV" : format === "jsonLines" ? "JSONL" : "JSON"})`;
  const documents = format === "jsonLines" ? await jsonLines(createReadStream(path), file, "inferred") : format === "jsonArray" ? jsonArray(path, file) : csv(path, file);
  return { tables: [{ name, file, documents }], tableNumbers: new Map(), storage: undefined, close: () => undefined, openEntry: () => Promise.reject(new Error("no ZIP")) };
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

async function parseZip(path: string): Promise<ParsedImport> {
  const zip = await openZip(path);
  try {
    const entries = await readEntries(zip);
    const openEntry = (entry: yauzl.Entry) => openZipEntry(zip, entry);
    const encodings = new Map<string, RowEncoding>();
    for (const entry of entries) {
      const match = GENERATED_SCHEMA.exec(entry.fileName);
      if (match === null) continue;
      refuseComponents(match[1], entry.fileName);
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
      encodings.set(match[2]!, "uniform");
    }
    const tables: ParsedTable[] = [];
    const tableNumbers = new Map<string, number>();
    let storage: ParsedImport["storage"];
    const storageFiles: ParsedStorageFile[] = [];
    for (const entry of entries) {
      const documents = DOCUMENTS.exec(entry.fileName);
      if (documents !== null) {
        refuseComponents(documents[1], entry.fileName);
        const table = documents[2]!;
        if (table === "_tables") {
          for (const document of await rawLines(await openEntry(entry), entry.fileName)) {
            const { name, id } = document.value as { name?: unknown; id?: unknown };
            if (typeof name !== "string" || typeof id !== "number" || !Number.isInteger(id) || id <= 0) {
              throw new ImportError(`${entry.fileName}: Row ${document.row} wasn't a valid Convex value: table requires name and id (received ${JSON.stringify(document.value).slice(0, 100)})`);
            }
            if (tableNumbers.has(name)) throw new ImportError(`${entry.fileName}: \`_tables\` contains duplicate entries for \`${name}\``);
            tableNumbers.set(name, id);
          }
        } else if (table === "_storage") {
          const metadata = new Map<string, StorageMetadata>();
          for (const document of await rawLines(await openEntry(entry), entry.fileName)) {
            const line = document.value as StorageMetadata;
            if (typeof line !== "object" || line === null || typeof line._id !== "string") {
              throw new ImportError(`${entry.fileName}: Row ${document.row} wasn't a valid Convex value: missing field \`_id\``);
            }
            metadata.set(line._id, line);
          }
          storage = { metadata, files: storageFiles, file: entry.fileName };
        } else if (table.startsWith("_")) {
          // Convex skips the other system tables of an export.
          continue;
        } else {
          tables.push({ name: table, file: entry.fileName, documents: await jsonLines(await openEntry(entry), entry.fileName, encodings.get(table) ?? "inferred") });
        }
        continue;
      }
      const file = STORAGE_FILE.exec(entry.fileName);
      if (file !== null && file[2] !== "documents" && !entry.fileName.endsWith("/")) {
        refuseComponents(file[1], entry.fileName);
        storageFiles.push({ id: file[2]!, entry });
      }
    }
    if (storage === undefined && storageFiles.length > 0) storage = { metadata: new Map(), files: storageFiles, file: "_storage/documents.jsonl" };
    return { tables, tableNumbers, storage, close: () => zip.close(), openEntry };
  } catch (error) {
    zip.close();
    throw error;
  }
}

function refuseComponents(prefix: string | undefined, file: string): void {
  if (prefix !== undefined && prefix.includes("_components/")) {
    throw new ImportError(`${file}: this snapshot holds data of Convex components, which convex-local does not support yet.`);
  }
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
