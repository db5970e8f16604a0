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
 * `<prefix>` is "" for the app and `_components/<name>/` per level of a component's path for the
 * component's tables (`get_export_path_prefix`): every component instance with stored tables
 * (runtime/components.ts; an unmounted one's too) has its `_tables`, its user tables by the names its
 * code uses, and with file storage its own `_storage`. The `_tables` files come first, then every
 * namespace's tables smallest first, then the `_storage` folders; progress names a component's
 * table as Convex does ("Backing up notes in 'echo'").
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
import { componentPathOf, isSystemTableName, localName, namespaceOfName } from "../../runtime/components.js";
import { storageTableOf, type StorageEntry } from "../../runtime/fileStorage.js";
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

/** The tables one namespace (the app, or a component instance) exports, and where in the ZIP. */
export interface ExportedNamespace {
  /** `""` for the app; `_components/<name>/` per level for a component. */
  pathPrefix: string;
  /** `""` for the app; ` in '<component path>'` for a component (Convex's `in_component_str`), for progress texts. */
  inComponent: string;
  /** Its user tables, by their stored names (their names in the ZIP are `localName`'s). */
  userTables: SnapshotTable[];
  /** Its `_storage` table, when it has one. */
  storageTable: SnapshotTable | undefined;
}

/** The namespaces of a snapshot with tables: the app first, then the components by path. */
export function exportedNamespaces(snapshot: SnapshotRead): ExportedNamespace[] {
  const tables = snapshot.tables();
  const namespaces = [...new Set(["", ...tables.map((table) => namespaceOfName(table.name))])];
  namespaces.sort((a, b) => (a === "" ? -1 : b === "" ? 1 : componentPathOf(a) < componentPathOf(b) ? -1 : 1));
  return namespaces.map((namespace) => {
    const path = componentPathOf(namespace);
    return {
      pathPrefix: path === "" ? "" : path.split("/").map((name) => `_components/${name}/`).join(""),
      inComponent: path === "" ? "" : ` in '${path}'`,
      userTables: tables.filter((table) => namespaceOfName(table.name) === namespace && !isSystemTableName(table.name)),
      storageTable: tables.find((table) => table.name === storageTableOf(namespace)),
    };
  });
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
    const lines = [...userTables].sort((a, b) => a.number - b.number).map((table) => `${JSON.stringify({ name: localName(table.name), id: table.number })}\n`);
    zip.addBuffer(Buffer.from(lines.join("")), `${pathPrefix}_tables/documents.jsonl`, entry);
  }
  // Every namespace's tables together, smallest first (as Convex sorts them).
  const tables = namespaces.flatMap(({ pathPrefix, inComponent, userTables }) => userTables.map((table) => ({ pathPrefix, inComponent, table })));
  for (const { pathPrefix, inComponent, table } of tables.sort((a, b) => a.table.documents - b.table.documents)) {
    const name = localName(table.name);
    zip.addReadStream(linesOf(snapshot, table, exportLine, () => options.onProgress?.(`Backing up ${name}${inComponent}`)), `${pathPrefix}${name}/documents.jsonl`, entry);
    zip.addBuffer(Buffer.from('"uniform"\n'), `${pathPrefix}${name}/generated_schema.jsonl`, entry);
  }
  if (options.includeStorage) {
    for (const { pathPrefix, inComponent, storageTable } of namespaces) {
      if (storageTable === undefined) {
        zip.addBuffer(Buffer.alloc(0), `${pathPrefix}_storage/documents.jsonl`, entry);
        continue;
      }
      zip.addReadStream(linesOf(snapshot, storageTable, storageMetadataLine, () => options.onProgress?.(`Backing up _storage${inComponent}`)), `${pathPrefix}_storage/documents.jsonl`, entry);
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
