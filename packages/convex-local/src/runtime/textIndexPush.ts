/**
 * The search indexes a push defines (`defineTable(...).searchIndex(name, { searchField,
 * filterFields, staged? })`), applied when the push finishes: new ones are backfilled from the
 * table's documents in the push's transaction, removed ones dropped, changed ones rebuilt. Staged
 * ones (convex-js `stagedSearchIndexes`) are built too — as Convex backfills a staged index — and
 * refused by queries until the schema enables them (`stagedIndexError`).
 */
import type { Storage } from "../storage/index.js";
import type { TextIndexDefinition } from "../storage/textIndexes.js";
import { localName, namespaceOfName, storedTableName } from "./components.js";
import type { AnalyzedSchema, SchemaTable } from "./functions.js";

/** A search index as the analyzed schema lists it (convex-js `schema.ts` export). */
interface SchemaSearchIndex {
  indexDescriptor: string;
  searchField: string;
  filterFields?: string[];
}

/** A schema table's search index definitions, enabled and staged. */
function definitionsOf(table: SchemaTable): TextIndexDefinition[] {
  const indexes = [...table.searchIndexes, ...(table.stagedSearchIndexes ?? [])] as SchemaSearchIndex[];
  return indexes.map((index) => ({ name: index.indexDescriptor, searchField: index.searchField, filterFields: index.filterFields ?? [] }));
}

/** The search index definitions (enabled and staged) of every table of every namespace's schema, by stored table name. */
export function textIndexesOf(schemas: Map<string, AnalyzedSchema | null>): Map<string, TextIndexDefinition[]> {
  const wanted = new Map<string, TextIndexDefinition[]>();
  for (const [namespace, schema] of schemas) {
    for (const table of schema?.tables ?? []) wanted.set(storedTableName(namespace, table.tableName), definitionsOf(table));
  }
  return wanted;
}

/** Makes the stored search indexes those of the schemas (inside the push's write); tables the schemas do not name lose theirs. */
export function applyTextIndexes(storage: Storage, schemas: Map<string, AnalyzedSchema | null>): void {
  const wanted = textIndexesOf(schemas);
  for (const { name } of storage.listTables()) {
    if (!localName(name).startsWith("_") && !wanted.has(name)) wanted.set(name, []);
  }
  for (const [table, indexes] of wanted) {
    // A table without search indexes is not created for them.
    if (indexes.length === 0 && storage.tableNumber(table) === undefined) continue;
    storage.setTextIndexes(table, indexes);
  }
}

/**
 * Convex's `IndexStagedError` when `index` of `table` (as the app names them) is staged in the
 * schema, else null (convex-backend `crates/indexing/src/index_registry.rs` `index_staged_error`).
 */
export function stagedIndexError(schemaTable: SchemaTable | undefined, table: string, index: string): Error | null {
  if (schemaTable === undefined) return null;
  const staged =
    (schemaTable.stagedIndexes ?? []).some((candidate) => candidate.indexDescriptor === index) ||
    ((schemaTable.stagedSearchIndexes ?? []) as SchemaSearchIndex[]).some((candidate) => candidate.indexDescriptor === index);
  return staged ? new Error(`Index ${table}.${index} is currently staged and not available to query until it is enabled.`) : null;
}

/** A search index a push adds or removes, as start_push reports it (the CLI's `developerIndexConfig`). */
export interface TextIndexChange {
  namespace: string;
  table: string;
  name: string;
  fields: string[];
  config: { type: "search"; searchField: string; filterFields: string[]; staged?: boolean };
}

/**
 * The search indexes the schemas add (new, or defined differently) and remove, against the stored
 * ones; an index that only changes between staged and enabled is neither (it is built either way).
 */
export function textIndexDiff(storage: Storage, schemas: Map<string, AnalyzedSchema | null>): { added: TextIndexChange[]; removed: TextIndexChange[] } {
  const shape = (index: TextIndexDefinition) => JSON.stringify([index.searchField, index.filterFields]);
  const change = (table: string, index: TextIndexDefinition, staged: boolean): TextIndexChange => ({
    namespace: namespaceOfName(table),
    table: localName(table),
    name: index.name,
    fields: [],
    config: { type: "search", searchField: index.searchField, filterFields: index.filterFields, ...(staged ? { staged } : {}) },
  });
  const next = new Map<string, TextIndexChange & { shape: string }>();
  for (const [namespace, schema] of schemas) {
    for (const table of schema?.tables ?? []) {
      const stored = storedTableName(namespace, table.tableName);
      const staged = new Set(((table.stagedSearchIndexes ?? []) as SchemaSearchIndex[]).map((index) => index.indexDescriptor));
      for (const index of definitionsOf(table)) {
        next.set(`${stored}.${index.name}`, { ...change(stored, index, staged.has(index.name)), shape: shape(index) });
      }
    }
  }
  const current = new Map<string, TextIndexChange & { shape: string }>();
  for (const { name: table } of storage.listTables()) {
    if (localName(table).startsWith("_")) continue;
    for (const index of storage.listTextIndexes(table)) current.set(`${table}.${index.name}`, { ...change(table, index, false), shape: shape(index) });
  }
  const strip = ({ shape: _, ...rest }: TextIndexChange & { shape: string }): TextIndexChange => rest;
  return {
    added: [...next].filter(([key, index]) => current.get(key)?.shape !== index.shape).map(([, index]) => strip(index)),
    removed: [...current].filter(([key, index]) => next.get(key)?.shape !== index.shape).map(([, index]) => strip(index)),
  };
}
