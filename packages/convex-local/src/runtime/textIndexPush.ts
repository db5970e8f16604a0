/**
 * The search indexes a push defines (`defineTable(...).searchIndex(name, { searchField,
 * filterFields, staged? })`), applied when the push finishes: new ones are backfilled from the
 * table's documents in the push's transaction, removed ones dropped, changed ones rebuilt. Staged
 * ones (convex-js `stagedSearchIndexes`) are built too — as Convex backfills a staged index — and
 * refused by queries until the schema enables them (`stagedIndexError`).
 */
import type { Storage } from "../storage/index.js";
import type { TextIndexDefinition } from "../storage/textIndexes.js";
import { localName, storedTableName } from "./components.js";
import type { AnalyzedSchema, SchemaTable } from "./functions.js";

/** A search index as the analyzed schema lists it (convex-js `schema.ts` export). */
interface SchemaSearchIndex {
  indexDescriptor: string;
  searchField: string;
  filterFields?: string[];
}

/** The search index definitions (enabled and staged) of every table of every namespace's schema, by stored table name. */
export function textIndexesOf(schemas: Map<string, AnalyzedSchema | null>): Map<string, TextIndexDefinition[]> {
  const wanted = new Map<string, TextIndexDefinition[]>();
  for (const [namespace, schema] of schemas) {
    for (const table of schema?.tables ?? []) {
      const indexes = [...table.searchIndexes, ...(table.stagedSearchIndexes ?? [])] as SchemaSearchIndex[];
      wanted.set(
        storedTableName(namespace, table.tableName),
        indexes.map((index) => ({ name: index.indexDescriptor, searchField: index.searchField, filterFields: index.filterFields ?? [] })),
      );
    }
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
