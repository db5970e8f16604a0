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
import { localName, namespaceOfName, storedTableName } from "./components.js";
import type { AnalyzedSchema, DeploymentAnalysis, SchemaTable } from "./functions.js";

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

/** The vector index definitions (enabled and staged) of every table of every namespace's schema, by stored table name. */
export function vectorIndexesOf(schemas: Map<string, AnalyzedSchema | null>): Map<string, VectorIndexDefinition[]> {
  const wanted = new Map<string, VectorIndexDefinition[]>();
  for (const [namespace, schema] of schemas) {
    for (const table of schema?.tables ?? []) wanted.set(storedTableName(namespace, table.tableName), definitionsOf(table));
  }
  return wanted;
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
  const wanted = vectorIndexesOf(schemas);
  for (const { name } of storage.listTables()) {
    if (!localName(name).startsWith("_") && !wanted.has(name)) wanted.set(name, []);
  }
  for (const [table, indexes] of wanted) {
    // A table without vector indexes is not created for them.
    if (indexes.length === 0 && storage.tableNumber(table) === undefined) continue;
    storage.setVectorIndexes(table, indexes);
  }
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

/**
 * The vector indexes the schemas add (new, or defined differently) and remove, against the stored
 * ones; an index that only changes between staged and enabled is neither.
 */
export function vectorIndexDiff(storage: Storage, schemas: Map<string, AnalyzedSchema | null>): { added: VectorIndexChange[]; removed: VectorIndexChange[] } {
  const key = (table: string, index: VectorIndexDefinition) => `${table}.${index.name}`;
  const shape = (index: VectorIndexDefinition) => JSON.stringify([index.vectorField, index.dimensions, index.filterFields]);
  const change = (table: string, index: VectorIndexDefinition, staged: boolean): VectorIndexChange => ({
    namespace: namespaceOfName(table),
    table: localName(table),
    name: index.name,
    fields: [],
    config: { type: "vector", vectorField: index.vectorField, dimensions: index.dimensions, filterFields: index.filterFields, ...(staged ? { staged } : {}) },
  });
  const next = new Map<string, { table: string; index: VectorIndexDefinition; staged: boolean }>();
  for (const [namespace, schema] of schemas) {
    for (const table of schema?.tables ?? []) {
      const stored = storedTableName(namespace, table.tableName);
      const staged = new Set(((table.stagedVectorIndexes ?? []) as SchemaVectorIndex[]).map((index) => index.indexDescriptor));
      for (const index of definitionsOf(table)) {
        next.set(key(stored, index), { table: stored, index, staged: staged.has(index.name) });
      }
    }
  }
  const current = new Map<string, { table: string; index: VectorIndexDefinition }>();
  for (const { name: table } of storage.listTables()) {
    if (localName(table).startsWith("_")) continue;
    for (const index of storage.listVectorIndexes(table)) current.set(key(table, index), { table, index });
  }
  const added = [...next.values()].filter(({ table, index }) => {
    const before = current.get(key(table, index));
    return before === undefined || shape(before.index) !== shape(index);
  });
  const removed = [...current.values()].filter(({ table, index }) => {
    const after = next.get(key(table, index));
    return after === undefined || shape(after.index) !== shape(index);
  });
  return { added: added.map(({ table, index, staged }) => change(table, index, staged)), removed: removed.map(({ table, index }) => change(table, index, false)) };
}
