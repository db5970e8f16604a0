/**
 * The hidden tables (storage/hiddenTables.ts) a confirmed import writes its rows into, created in
 * one commit before any row is written, each with the indexes of every kind the table has now (a
 * new `_storage` its own). The rows are then written in many short transactions by the import
 * worker (importWriter.ts) and nothing shows until the activation (importActivation.ts) swaps the
 * tables in, as Convex's import writes hidden tablets. How a table gets to its place:
 *
 * - `rename`: the hidden table takes the number the table's ids carry — free, or held by an empty
 *   table, which is made again with another number (it has no id to keep) — or any number when the
 *   rows have no `_id`. Its rows keep their ids; the activation renames it into place.
 * - `copy`: the number is held by a table with documents that stays until the activation (the
 *   table itself when appending or replacing it, or another one the import replaces). Two
 *   documents cannot share an id in the store, so the rows are written under ids of the hidden
 *   table's own number (the same internal ids) and the activation copies them into the table with
 *   ids of the number they belong to. That copy is the one part of an import whose cost grows with
 *   its rows inside the activation's commit.
 */
import type { Storage } from "../../storage/index.js";
import { createEmptyTable, hiddenTableName, isHiddenTable, NO_DEFINITIONS, tableDefinitions } from "../../storage/hiddenTables.js";
import type { DeploymentAnalysis } from "../../runtime/functions.js";
import { isSystemTableName, localName } from "../../runtime/components.js";
import { isStorageTable, STORAGE_TABLE_INDEXES } from "../../runtime/fileStorage.js";
import { schemaOfTable, type ImportMode, type ImportTable } from "./importPlan.js";
import type { TableToWrite } from "./importWriter.js";

/** A table of the import, written into its hidden table (importWriter.ts describes its fields). */
export interface StagedTable extends Omit<TableToWrite, "documentType"> {
  /** Rows (or files) written. */
  written: number;
}

/**
 * Creates the hidden table of every table of `tables` (one commit, before any row is written);
 * `owner` names them (the import's id). An empty table holding a number the import needs is
 * given another one.
 */
export function stageTables(storage: Storage, tables: readonly ImportTable[], mode: ImportMode, owner: string): StagedTable[] {
  return storage.transaction(() => {
    const staged = new Map<ImportTable, StagedTable>();
    // The indexes of the tables as they are, before an empty one is made again.
    const definitions = new Map(
      tables.map((table) => [table, storage.tableNumber(table.name) !== undefined ? tableDefinitions(storage, table.name) : isStorageTable(table.name) ? { ...NO_DEFINITIONS, indexes: [...STORAGE_TABLE_INDEXES] } : NO_DEFINITIONS]),
    );
    const create = (table: ImportTable, way: StagedTable["way"], hiddenNumber: number | undefined, number?: number) => {
      const hidden = hiddenTableName(owner, table.name);
      const created = createEmptyTable(storage, hidden, hiddenNumber, definitions.get(table)!);
      staged.set(table, { name: table.name, file: table.file, hidden, hiddenNumber: created, way, number: number ?? created, files: table.files, written: 0 });
    };
    // The numbers ids carry first, so that no table given a fresh number takes one of them.
    for (const table of tables) {
      if (table.number === undefined) continue;
      const holder = storage.tableName(table.number);
      if (holder !== undefined && storage.countDocuments(holder) > 0) continue;
      // An empty holder has no id to keep: it is made again with another number.
      const definitions = holder === undefined ? undefined : tableDefinitions(storage, holder);
      if (holder !== undefined) storage.deleteTable(holder);
      create(table, "rename", table.number);
      if (holder !== undefined) createEmptyTable(storage, holder, undefined, definitions!);
    }
    for (const table of tables) {
      if (staged.has(table)) continue;
      const existing = storage.tableNumber(table.name);
      if (table.number !== undefined) create(table, "copy", undefined, table.number);
      // Rows without ids: any number will do, unless they are appended to documents.
      else if (mode === "append" && existing !== undefined && storage.countDocuments(table.name) > 0) create(table, "copy", undefined, existing);
      else create(table, "rename", undefined);
    }
    return tables.map((table) => staged.get(table)!);
  });
}

/** For the schema checks: the stored name of every table number once the import is done. */
export function finalTableNames(storage: Storage, staged: readonly StagedTable[], mode: ImportMode): Map<number, string> {
  const names = new Map<number, string>();
  const imported = new Set(staged.map(({ name }) => name));
  for (const { name, number } of storage.listTables()) {
    if (isHiddenTable(name) || imported.has(name) || (mode === "replaceAll" && !isSystemTableName(name))) continue;
    names.set(number, name);
  }
  for (const { name, number } of staged) names.set(number, name);
  return names;
}

/** What the import worker needs of each staged table, with the type the schema gives its documents when they are checked. */
export function tablesToWrite(staged: readonly StagedTable[], analysis: DeploymentAnalysis | undefined): TableToWrite[] {
  return staged.map(({ name, file, hidden, hiddenNumber, way, number, files }) => {
    const schema = schemaOfTable(analysis, name);
    const documentType = files || schema === null || !schema.schemaValidation ? null : (schema.tables.find((table) => table.tableName === localName(name))?.documentType ?? null);
    return { name, file, hidden, hiddenNumber, way, number, files, documentType };
  });
}
