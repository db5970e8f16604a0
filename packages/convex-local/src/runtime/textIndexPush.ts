/**
 * The search indexes a push defines (`defineTable(...).searchIndex(name, { searchField,
 * filterFields, staged? })`), applied when the push finishes: new ones are backfilled from the
 * table's documents in the push's transaction, removed ones dropped, changed ones rebuilt. Staged
 * ones (convex-js `stagedSearchIndexes`) are built too — as Convex backfills a staged index — and
 * refused by queries until the schema enables them (`stagedIndexError`).
 */
import type { Storage } from "../storage/index.js";
import type { TextIndexDefinition } from "../storage/textIndexes.js";
import { localName, namespaceOfName } from "./components.js";
import type { AnalyzedSchema, SchemaTable } from "./functions.js";
import { applySchemaIndexes, schemaIndexDiff, type SchemaIndexKind } from "./schemaIndexKinds.js";

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

/** Search indexes, as a push gathers, stores and reports them (schemaIndexKinds.ts). */
const searchIndexes: SchemaIndexKind<TextIndexDefinition, TextIndexChange> = {
  definitionsOf,
  stagedNames: (table) => ((table.stagedSearchIndexes ?? []) as SchemaSearchIndex[]).map((index) => index.indexDescriptor),
  stored: (storage, table) => storage.listTextIndexes(table),
  store: (storage, table, indexes) => storage.setTextIndexes(table, indexes),
  shape: (index) => JSON.stringify([index.searchField, index.filterFields]),
  change: (table, index, staged) => ({
    namespace: namespaceOfName(table),
    table: localName(table),
    name: index.name,
    fields: [],
    config: { type: "search", searchField: index.searchField, filterFields: index.filterFields, ...(staged ? { staged } : {}) },
  }),
};

/** Makes the stored search indexes those of the schemas (inside the push's write); tables the schemas do not name lose theirs. */
export function applyTextIndexes(storage: Storage, schemas: Map<string, AnalyzedSchema | null>): void {
  applySchemaIndexes(searchIndexes, storage, schemas);
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

/** The search indexes the schemas add and remove, against the stored ones (schemaIndexDiff). */
export function textIndexDiff(storage: Storage, schemas: Map<string, AnalyzedSchema | null>): { added: TextIndexChange[]; removed: TextIndexChange[] } {
  return schemaIndexDiff(searchIndexes, storage, schemas);
}
