/**
 * The activation of an import: one commit that puts every staged table (importStaging.ts) in
 * place, as Convex's `finalize_import` activates its hidden tablets.
 *
 * - A table the import replaces, and in `replaceAll` every other user table with documents, is
 *   renamed hidden and deleted after the commit, a step at a time (`HiddenTableDrops`); one the
 *   schema defines is made again empty. An empty one is deleted at once.
 * - A `rename` table is renamed into place, with the indexes the table has by then (a push may
 *   have changed them); a `copy` table's rows are inserted into the table with ids of the number
 *   they belong to, after the table holding that number has been deleted (unless appended to).
 * - The checks that depend on the data as it is at the commit are made again: `requireEmpty`
 *   tables still empty, a table appended to without its number not written to meanwhile.
 *
 * Readers of every table it changed are told with one write standing for the whole table.
 */
import { convexToJson, type JSONValue } from "convex/values";
import { decodeDocumentId, encodeDocumentId, BY_ID_INDEX, type Storage } from "../../storage/index.js";
import { applyTableDefinitions, createEmptyTable, hiddenTableName, isHiddenTable, tableDefinitions, type TableDefinitions } from "../../storage/hiddenTables.js";
import { wholeTableWrite } from "../../transactions/readSets.js";
import type { DocumentWrite } from "../../transactions/transaction.js";
import { isSystemTableName, localName } from "../../runtime/components.js";
import { isStorageTable } from "../../runtime/fileStorage.js";
import { ImportError } from "./importParse.js";
import type { ImportMode } from "./importPlan.js";
import type { StagedTable } from "./importStaging.js";
import { isDuplicateId } from "./importWriter.js";

/** A hidden table the activation left to delete; `removeBlobs`: its documents' files go too (a replaced `_storage`). */
export interface HiddenTableDrop {
  table: string;
  removeBlobs: boolean;
}

export interface ActivationRequest {
  staged: StagedTable[];
  mode: ImportMode;
  /** The tables the schemas define: emptied rather than deleted by `replaceAll`. */
  keep: string[];
  /** The import's id: names the tables it hides, and its `_snapshot_imports` document is completed in the same commit. */
  importId: string;
}

export interface Activation {
  drops: HiddenTableDrop[];
  /** The files of `_storage` documents it deleted: removed once the commit is durable. */
  removedBlobs: string[];
  /** A whole-table write for each table it changed, and the import document's write, for reactivity. */
  writes: DocumentWrite[];
}

/** Puts the staged tables in place and completes the import, inside the caller's transaction. */
export function activateImport(storage: Storage, { staged, mode, keep: kept, importId }: ActivationRequest): Activation {
  const keep = new Set(kept);
  const drops: HiddenTableDrop[] = [];
  const removedBlobs: string[] = [];
  const changed = new Set<string>();
  const imported = new Set(staged.map(({ name }) => name));
  const hide = (name: string) => {
    const hidden = hiddenTableName(`${importId}-replaced`, name);
    storage.renameTable(name, hidden);
    drops.push({ table: hidden, removeBlobs: isStorageTable(name) });
  };
  /** Takes table `name` away: hidden for deleting later if it has documents, else at once. */
  const remove = (name: string) => {
    if (storage.countDocuments(name) > 0) hide(name);
    else storage.deleteTable(name);
    changed.add(name);
  };
  for (const { name } of staged) {
    if (mode === "requireEmpty" && storage.countDocuments(name) > 0) throw new ImportError(`Table ${localName(name)} already exists. Please choose a new table name or use replace/append modes.`);
  }

  const copied = staged.filter(({ way }) => way === "copy");
  /** The indexes each copied table gets: the table's own when it exists, else its hidden table's. */
  const copiedDefinitions = new Map<StagedTable, TableDefinitions>();
  for (const table of copied) {
    copiedDefinitions.set(table, tableDefinitions(storage, storage.tableNumber(table.name) === undefined ? table.hidden : table.name));
    const holder = storage.tableName(table.number);
    if (holder === undefined || (mode === "append" && holder === table.name)) continue;
    // Its documents must go now: the number is needed, and it would keep it while hidden.
    const recreate = !imported.has(holder) && !isHiddenTable(holder) && keep.has(holder) ? tableDefinitions(storage, holder) : undefined;
    if (isStorageTable(holder)) for (const row of storage.scanIndex(holder, BY_ID_INDEX, { lowerInclusive: true, upperInclusive: false }, "asc")) removedBlobs.push((JSON.parse(row.json) as { blobKey: string }).blobKey);
    storage.deleteTable(holder);
    changed.add(holder);
    if (recreate !== undefined) createEmptyTable(storage, holder, undefined, recreate);
  }
  for (const table of staged) {
    if (table.way !== "rename" || storage.tableNumber(table.name) === undefined) continue;
    if (mode === "append" && storage.countDocuments(table.name) > 0) throw new ImportError(`Table ${localName(table.name)} was written to while the import ran: import it again`);
    applyTableDefinitions(storage, table.hidden, tableDefinitions(storage, table.name));
    remove(table.name);
  }
  if (mode === "replaceAll") {
    for (const { name } of storage.listTables()) {
      if (isSystemTableName(name) || imported.has(name) || storage.countDocuments(name) === 0) continue;
      const definitions = tableDefinitions(storage, name);
      remove(name);
      if (keep.has(name)) createEmptyTable(storage, name, undefined, definitions);
    }
    for (const { name } of storage.listTables()) {
      if (isSystemTableName(name) || imported.has(name) || keep.has(name)) continue;
      storage.deleteTable(name);
      changed.add(name);
    }
  }
  let written = 0;
  for (const table of staged) {
    changed.add(table.name);
    if (!table.files) written += table.written;
    if (table.way === "rename") {
      storage.renameTable(table.hidden, table.name);
      continue;
    }
    if (mode !== "append" && storage.tableNumber(table.name) !== undefined) remove(table.name);
    if (storage.tableNumber(table.name) === undefined) createEmptyTable(storage, table.name, table.number, copiedDefinitions.get(table)!);
    copyRows(storage, table);
    drops.push({ table: table.hidden, removeBlobs: false });
  }
  return { drops, removedBlobs, writes: [...[...changed].map(wholeTableWrite), completeImport(storage, importId, written)] };
}

/** Sets the import's document to `completed` (the state `_system/cli/queryImport` reports, as Convex's `ImportState::Completed`). */
function completeImport(storage: Storage, importId: string, written: number): DocumentWrite {
  const before = storage.getDocument(importId);
  if (before === null) throw new Error(`Snapshot import ${importId} is gone`);
  const { _id, _creationTime, ...fields } = JSON.parse(before) as Record<string, JSONValue>;
  const state = convexToJson({ state: "completed", timestamp: storage.transactionTs(), num_rows_written: BigInt(written) });
  const after = storage.replaceDocument(importId, { ...fields, state });
  return { table: storage.tableName(decodeDocumentId(importId)!.tableNumber)!, id: importId, before, after };
}

/** Inserts every row of a `copy` table's hidden table into the table, with ids of the table's number. */
function copyRows(storage: Storage, table: StagedTable): void {
  for (const row of storage.scanIndex(table.hidden, BY_ID_INDEX, { lowerInclusive: true, upperInclusive: false }, "asc", { batchSize: 1000 })) {
    const { _id, _creationTime, ...fields } = JSON.parse(row.json) as { _id: string; _creationTime: number };
    const id = encodeDocumentId(table.number, decodeDocumentId(_id)!.internalId);
    try {
      storage.insertDocument(table.name, fields, _creationTime, id);
    } catch (error) {
      if (isDuplicateId(error)) throw new ImportError(`${table.file}: a document with _id ${id} already exists in "${localName(table.name)}"`);
      throw error;
    }
  }
}
