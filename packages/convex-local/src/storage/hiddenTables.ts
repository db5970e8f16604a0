/**
 * Hidden tables: tables of the store that no function, export or push sees, for work that must
 * not show until it is complete. A snapshot import writes each table it imports into a hidden
 * table in many short transactions and swaps them in with one short commit (`renameTable`), as
 * Convex's import writes hidden tablets and activates them; the tables it replaces become hidden
 * in that commit and are deleted afterwards a step at a time (`Storage.deleteTableStep`).
 *
 * A hidden table is an ordinary table named `_hidden/<owner>/<table>`: its number, documents and
 * every kind of index work as any table's, and a rename makes it an ordinary table again. The name
 * is a system table's (its local name starts with `_`), so pushes, exports, the dashboard and
 * file storage leave it alone, and `Transaction.tableOfId` resolves no id to it. After a restart
 * every hidden table is garbage: the work that owned it is gone.
 *
 * @example
 * const staged = hiddenTableName(importId, "messages");
 * createEmptyTable(storage, staged, 10001, tableDefinitions(storage, "messages"));
 * // ... insert documents into `staged` in batches ...
 * storage.transaction(() => { storage.deleteTable("messages"); storage.renameTable(staged, "messages"); });
 */
import { BY_CREATION_TIME_INDEX, BY_ID_INDEX, type IndexDefinition, type Storage } from "./store.js";
import type { VectorIndexDefinition } from "./vectorIndexes.js";
import type { TextIndexDefinition } from "./textIndexes.js";

const HIDDEN_PREFIX = "_hidden/";

/** The hidden table `owner` (an import's id) keeps in place of `table`. */
export function hiddenTableName(owner: string, table: string): string {
  return `${HIDDEN_PREFIX}${owner}/${table}`;
}

/** Whether a stored table is a hidden one. */
export function isHiddenTable(name: string): boolean {
  return name.startsWith(HIDDEN_PREFIX);
}

/** Every hidden table of the store. */
export function hiddenTables(storage: Storage): string[] {
  return storage.listTables().map(({ name }) => name).filter(isHiddenTable);
}

/** The indexes of every kind a table has, as definitions: what a table that takes its place must have. */
export interface TableDefinitions {
  indexes: IndexDefinition[];
  vectorIndexes: VectorIndexDefinition[];
  textIndexes: TextIndexDefinition[];
}

export const NO_DEFINITIONS: TableDefinitions = { indexes: [], vectorIndexes: [], textIndexes: [] };

/** The user-defined indexes of `table` (none when it does not exist). */
export function tableDefinitions(storage: Storage, table: string): TableDefinitions {
  if (storage.tableNumber(table) === undefined) return NO_DEFINITIONS;
  return {
    indexes: storage
      .listIndexes(table)
      .filter(({ name }) => name !== BY_ID_INDEX && name !== BY_CREATION_TIME_INDEX)
      .map(({ name, fields }) => ({ name, fields })),
    vectorIndexes: storage.listVectorIndexes(table),
    textIndexes: storage.listTextIndexes(table).map(({ name, searchField, filterFields }) => ({ name, searchField, filterFields })),
  };
}

/** Makes the indexes of `table` exactly `definitions` (backfilling those it lacks). */
export function applyTableDefinitions(storage: Storage, table: string, definitions: TableDefinitions): void {
  storage.transaction(() => {
    storage.setIndexes(table, definitions.indexes);
    storage.setVectorIndexes(table, definitions.vectorIndexes);
    storage.setTextIndexes(table, definitions.textIndexes);
  });
}

/** Creates the empty table `name` (a hidden one, or one made again empty) with `definitions`, numbered `number` (any free one when undefined); returns its number. */
export function createEmptyTable(storage: Storage, name: string, number: number | undefined, definitions: TableDefinitions): number {
  return storage.transaction(() => {
    const created = storage.ensureTable(name, number);
    applyTableDefinitions(storage, name, definitions);
    return created;
  });
}
