/**
 * What a push does alike for each kind of index a schema defines beside database indexes — search
 * indexes (textIndexPush.ts) and vector indexes (vectorIndexPush.ts): gather the definitions of
 * every table of every namespace's schema, store them when the push finishes (tables the schemas
 * no longer name lose theirs), and tell the CLI which ones the push adds and removes.
 *
 * @example
 * const kind: SchemaIndexKind<TextIndexDefinition, TextIndexChange> = { definitionsOf, stagedNames, stored, store, shape, change };
 * applySchemaIndexes(kind, storage, schemas);
 */
import type { Storage } from "../storage/index.js";
import { localName, storedTableName } from "./components.js";
import type { AnalyzedSchema, SchemaTable } from "./functions.js";

export interface SchemaIndexKind<Definition extends { name: string }, Change> {
  /** A schema table's definitions of this kind, enabled and staged. */
  definitionsOf(table: SchemaTable): Definition[];
  /** The names of a schema table's staged indexes of this kind. */
  stagedNames(table: SchemaTable): string[];
  /** The stored indexes of this kind of a table. */
  stored(storage: Storage, table: string): readonly Definition[];
  /** Replaces them (inside the push's write). */
  store(storage: Storage, table: string, indexes: Definition[]): void;
  /** What makes two definitions of the same name the same index. */
  shape(index: Definition): string;
  /** The change start_push reports for `index` of stored table `table`. */
  change(table: string, index: Definition, staged: boolean): Change;
}

/** The definitions of every table of every namespace's schema, by stored table name. */
export function schemaIndexesOf<D extends { name: string }>(kind: SchemaIndexKind<D, unknown>, schemas: Map<string, AnalyzedSchema | null>): Map<string, D[]> {
  const wanted = new Map<string, D[]>();
  for (const [namespace, schema] of schemas) {
    for (const table of schema?.tables ?? []) wanted.set(storedTableName(namespace, table.tableName), kind.definitionsOf(table));
  }
  return wanted;
}

/** Makes the stored indexes of this kind those of the schemas; tables the schemas do not name lose theirs. */
export function applySchemaIndexes<D extends { name: string }>(kind: SchemaIndexKind<D, unknown>, storage: Storage, schemas: Map<string, AnalyzedSchema | null>): void {
  const wanted = schemaIndexesOf(kind, schemas);
  for (const { name } of storage.listTables()) {
    if (!localName(name).startsWith("_") && !wanted.has(name)) wanted.set(name, []);
  }
  for (const [table, indexes] of wanted) {
    // A table without indexes of this kind is not created for them.
    if (indexes.length === 0 && storage.tableNumber(table) === undefined) continue;
    kind.store(storage, table, indexes);
  }
}

/**
 * The indexes of this kind the schemas add (new, or defined differently) and remove, against the
 * stored ones; an index that only changes between staged and enabled is neither (it is built either way).
 */
export function schemaIndexDiff<D extends { name: string }, C>(
  kind: SchemaIndexKind<D, C>,
  storage: Storage,
  schemas: Map<string, AnalyzedSchema | null>,
): { added: C[]; removed: C[] } {
  const next = new Map<string, { table: string; index: D; staged: boolean }>();
  for (const [namespace, schema] of schemas) {
    for (const table of schema?.tables ?? []) {
      const stored = storedTableName(namespace, table.tableName);
      const staged = new Set(kind.stagedNames(table));
      for (const index of kind.definitionsOf(table)) next.set(`${stored}.${index.name}`, { table: stored, index, staged: staged.has(index.name) });
    }
  }
  const current = new Map<string, { table: string; index: D; staged: boolean }>();
  for (const { name: table } of storage.listTables()) {
    if (localName(table).startsWith("_")) continue;
    for (const index of kind.stored(storage, table)) current.set(`${table}.${index.name}`, { table, index, staged: false });
  }
  const changed = (from: Map<string, { table: string; index: D; staged: boolean }>, against: typeof from) =>
    [...from]
      .filter(([key, { index }]) => {
        const other = against.get(key);
        return other === undefined || kind.shape(other.index) !== kind.shape(index);
      })
      .map(([, { table, index, staged }]) => kind.change(table, index, staged));
  return { added: changed(next, current), removed: changed(current, next) };
}
