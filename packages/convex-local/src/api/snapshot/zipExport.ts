/**
 * Writes a snapshot ZIP in the layout Convex's exporter writes (crates/exports/src/lib.rs,
 * zip_uploader.rs, export_storage.rs), streamed: documents are read a page at a time from one
 * consistent snapshot and deflated into the archive as it is written, so memory stays flat however
 * large the tables are. Entries, in Convex's order:
 *
 *   README.md
 *   <prefix>_tables/documents.jsonl           {"name": <table>, "id": <table number>} per user table, by number
 *   <prefix><table>/documents.jsonl           one document per line (exportJson.ts), smallest tables first
 *   <prefix><table>/generated_schema.jsonl    "uniform"
 *   <prefix>_storage/documents.jsonl          with file storage: one line of metadata per file
 *   <prefix>_storage/<id>[.ext]               with file storage: each file's bytes
 *
 * `<prefix>` is "" for the app and `_components/<name>/` per level for a component's tables
 * (`get_export_path_prefix`); `exportedNamespaces` is the seam where components will add theirs.
 *
 * The ZIP library is yazl: maintained, streaming (an entry is read only when its turn comes, with
 * backpressure), deflate and ZIP64 for archives past 4 GiB, and no native code.
 */
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import yazl from "yazl";
import type { SnapshotRead, SnapshotTable } from "../../storage/snapshotRead.js";
import type { BlobStore } from "../../storage/blobs.js";
import type { StorageEntry } from "../../runtime/fileStorage.js";
import { exportLine, floatText } from "./exportJson.js";

/** Convex's README.md of a snapshot export (zip_uploader.rs README_MD_CONTENTS). */
export const README_MD = `# Welcome to your Convex snapshot export!

This ZIP file contains a snapshot of the tables in your Convex deployment.

Documents for each table are listed as lines of JSON in
<table_name>/documents.jsonl files.

For details on the format and how to use this snapshot with npx convex import,
check out [the docs](https://docs.convex.dev/database/import-export/export) or
ask us in [Discord](http://convex.dev/community).
`;

/** rw-r--r-- regular files, as Convex's entries (ZIP_ENTRY_PERMISSIONS). */
const ENTRY_MODE = 0o100644;
const STORAGE_TABLE = "_storage";

/** The tables one namespace (the app, later each component) exports, and where in the ZIP. */
export interface ExportedNamespace {
  /** `""` for the app; `_components/<name>/` per level for a component. */
  pathPrefix: string;
  userTables: SnapshotTable[];
  /** Its `_storage` table, when it has one. */
  storageTable: SnapshotTable | undefined;
}

/** The namespaces of a snapshot: today the app alone (user tables are those not named `_…`). */
export function exportedNamespaces(snapshot: SnapshotRead): ExportedNamespace[] {
  const tables = snapshot.tables();
  return [
    {
      pathPrefix: "",
      userTables: tables.filter((table) => !table.name.startsWith("_")),
      storageTable: tables.find((table) => table.name === STORAGE_TABLE),
    },
  ];
}

export interface ZipExportOptions {
  includeStorage: boolean;
  /** The bytes of stored files (`_storage` documents name them by blob key). */
  blobs: BlobStore;
  /** Called as each table starts, with Convex's progress text ("Backing up messages"). */
  onProgress?: (message: string) => void;
}

/** Writes the snapshot to `path` as a ZIP; resolves once it is fully written. */
export async function writeSnapshotZip(snapshot: SnapshotRead, path: string, options: ZipExportOptions): Promise<void> {
  const zip = new yazl.ZipFile();
  const written = pipeline(zip.outputStream, createWriteStream(path, { mode: 0o600 }));
  const entry = { compress: true, mode: ENTRY_MODE, mtime: new Date() };
  zip.addBuffer(Buffer.from(README_MD), "README.md", entry);
  const namespaces = exportedNamespaces(snapshot);
  for (const { pathPrefix, userTables } of namespaces) {
    const lines = [...userTables].sort((a, b) => a.number - b.number).map((table) => `${JSON.stringify({ name: table.name, id: table.number })}\n`);
    zip.addBuffer(Buffer.from(lines.join("")), `${pathPrefix}_tables/documents.jsonl`, entry);
  }
  for (const { pathPrefix, userTables } of namespaces) {
    for (const table of [...userTables].sort((a, b) => a.documents - b.documents)) {
      zip.addReadStream(linesOf(snapshot, table, exportLine, () => options.onProgress?.(`Backing up ${table.name}`)), `${pathPrefix}${table.name}/documents.jsonl`, entry);
      zip.addBuffer(Buffer.from('"uniform"\n'), `${pathPrefix}${table.name}/generated_schema.jsonl`, entry);
    }
  }
  if (options.includeStorage) {
    for (const { pathPrefix, storageTable } of namespaces) {
      if (storageTable === undefined) {
        zip.addBuffer(Buffer.alloc(0), `${pathPrefix}_storage/documents.jsonl`, entry);
        continue;
      }
      zip.addReadStream(linesOf(snapshot, storageTable, storageMetadataLine, () => options.onProgress?.("Backing up _storage")), `${pathPrefix}_storage/documents.jsonl`, entry);
      for (const page of snapshot.documentPages(storageTable.number)) {
        for (const json of page) {
          const file = JSON.parse(json) as StorageEntry;
          // Files are already compressed more often than not: stored as they are, as `stream_full_file` deflates them anyway.
          // Opened when its turn comes, so a deployment of many files does not hold them all open.
          zip.addReadStreamLazy(`${pathPrefix}_storage/${file._id}${extensionOf(file.contentType)}`, { ...entry, compress: false }, (done) => done(null, options.blobs.stream(file.blobKey)));
        }
      }
    }
  }
  zip.end();
  await written;
}

/** A stream of a table's lines, read a page at a time as the archive asks for more. */
function linesOf(snapshot: SnapshotRead, table: SnapshotTable, line: (json: string) => string, onStart: () => void): Readable {
  return Readable.from(
    (function* () {
      onStart();
      for (const page of snapshot.documentPages(table.number)) yield Buffer.from(page.map((json) => `${line(json)}\n`).join(""));
    })(),
  );
}

/**
 * A `_storage/documents.jsonl` line (export_storage.rs `FileStorageZipMetadata`, serialized with
 * its fields in name order and a missing content type as null): `internalId` is the file's key,
 * which Convex keeps as the file's legacy storage id.
 */
export function storageMetadataLine(json: string): string {
  const file = JSON.parse(json) as StorageEntry;
  return (
    `{"_creationTime":${floatText(file._creationTime)},"_id":${JSON.stringify(file._id)},"contentType":${JSON.stringify(file.contentType ?? null)},` +
    `"internalId":${JSON.stringify(file.blobKey)},"sha256":${JSON.stringify(file.sha256)},"size":${file.size}}`
  );
}

/** Common content types' extensions (Convex guesses one with mime2ext, for people looking at the files; importers ignore it). */
const EXTENSIONS: Readonly<Record<string, string>> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/svg+xml": "svg",
  "application/pdf": "pdf",
  "application/json": "json",
  "application/zip": "zip",
  "text/plain": "txt",
  "text/html": "html",
  "text/csv": "csv",
  "audio/mpeg": "mp3",
  "video/mp4": "mp4",
};

function extensionOf(contentType: string | undefined): string {
  const essence = contentType?.split(";")[0]!.trim().toLowerCase();
  const extension = essence === undefined ? undefined : EXTENSIONS[essence];
  return extension === undefined ? "" : `.${extension}`;
}
