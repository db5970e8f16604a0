/**
 * The vector indexes a push defines (`defineTable(...).vectorIndex(name, { vectorField,
 * dimensions, filterFields })`), checked when the push is prepared and applied when it finishes:
 * new ones are backfilled from the table's documents in the push's transaction, removed ones
 * dropped, changed ones rebuilt. Staged vector indexes (`staged: true`, listed by convex-js under
 * `stagedVectorIndexes`) are built too, as Convex backfills a staged index, and refused by
 * `ctx.vectorSearch` until the schema enables them (`isStagedVectorIndex`).
 */
import type { Storage } from "../storage/index.js";
import { checkVectorIndexDefinition, type VectorIndexDefinition } from "../storage/vectorIndexes.js";
import { localName, namespaceOfName } from "./components.js";
import type { AnalyzedSchema, DeploymentAnalysis, SchemaTable } from "./functions.js";
import { applySchemaIndexes, schemaIndexDiff, schemaIndexesOf, type SchemaIndexKind } from "./schemaIndexKinds.js";

/** A vector index as the analyzed schema lists it (convex-js `schema.ts` export). */
interface SchemaVectorIndex {
  indexDescriptor: string;
  vectorField: string;
  dimensions: number;
  filterFields?: string[];
}

/** A schema table's vector index definitions, enabled and staged. */
function definitionsOf(table: SchemaTable): VectorIndexDefinition[] {
  return ([...table.vectorIndexes, ...(table.stagedVectorIndexes ?? [])] as SchemaVectorIndex[]).map((index) => ({
    name: index.indexDescriptor,
    vectorField: index.vectorField,
    dimensions: index.dimensions,
    filterFields: index.filterFields ?? [],
  }));
}

/** Vector indexes, as a push gathers, stores and reports them (schemaIndexKinds.ts). */
const vectorIndexes: SchemaIndexKind<VectorIndexDefinition, VectorIndexChange> = {
  definitionsOf,
  stagedNames: (table) => ((table.stagedVectorIndexes ?? []) as SchemaVectorIndex[]).map((index) => index.indexDescriptor),
  stored: (storage, table) => storage.listVectorIndexes(table),
  store: (storage, table, indexes) => storage.setVectorIndexes(table, indexes),
  shape: (index) => JSON.stringify([index.vectorField, index.dimensions, index.filterFields]),
  change: (table, index, staged) => ({
    namespace: namespaceOfName(table),
    table: localName(table),
    name: index.name,
    fields: [],
    config: { type: "vector", vectorField: index.vectorField, dimensions: index.dimensions, filterFields: index.filterFields, ...(staged ? { staged } : {}) },
  }),
};

/** The vector index definitions (enabled and staged) of every table of every namespace's schema, by stored table name. */
export function vectorIndexesOf(schemas: Map<string, AnalyzedSchema | null>): Map<string, VectorIndexDefinition[]> {
  return schemaIndexesOf(vectorIndexes, schemas);
}

/** Why a push's vector indexes are refused as Convex refuses them (dimensions outside 2–4096, bad field paths), or null. */
export function vectorIndexProblem(schemas: Map<string, AnalyzedSchema | null>): string | null {
  for (const [table, indexes] of vectorIndexesOf(schemas)) {
    for (const index of indexes) {
      try {
        checkVectorIndexDefinition(table, index);
      } catch (e) {
        return (e as Error).message;
      }
    }
  }
  return null;
}

/** Makes the stored vector indexes those of the schemas (inside the push's write); tables the schemas do not name lose theirs. */
export function applyVectorIndexes(storage: Storage, schemas: Map<string, AnalyzedSchema | null>): void {
  applySchemaIndexes(vectorIndexes, storage, schemas);
}

/** Whether `index` of `table` (as code in `namespace` names them) is a staged vector index of the deployed schema. */
export function isStagedVectorIndex(analysis: DeploymentAnalysis | undefined, namespace: string, table: string, index: string): boolean {
  const schema = namespace === "" ? analysis?.schema : analysis?.componentSchemas?.[namespace];
  const schemaTable = schema?.tables.find((candidate) => candidate.tableName === table);
  return ((schemaTable?.stagedVectorIndexes ?? []) as SchemaVectorIndex[]).some((candidate) => candidate.indexDescriptor === index);
}

/** A vector index a push adds or removes, as start_push reports it (the CLI's `developerIndexConfig`). */
export interface VectorIndexChange {
  namespace: string;
  table: string;
  name: string;
  fields: string[];
  config: { type: "vector"; vectorField: string; dimensions: number; filterFields: string[]; staged?: boolean };
}

/** The vector indexes the schemas add and remove, against the stored ones (schemaIndexDiff). */
export function vectorIndexDiff(storage: Storage, schemas: Map<string, AnalyzedSchema | null>): { added: VectorIndexChange[]; removed: VectorIndexChange[] } {
  return schemaIndexDiff(vectorIndexes, storage, schemas);
}
