/**
 * `_system/frontend/getSchemas`: the active schema as the JSON text Convex stores in `_schemas`
 * (`{ active?: string, inProgress?: string }`), which the MCP server's `tables` tool parses — as
 * npm-packages/system-udfs/convex/_system/frontend/getSchemas.ts. The text is Convex's
 * `DatabaseSchemaJson` re-serialized from the parsed schema (crates/common/src/schemas/json.rs):
 * tables by name, indexes by name, validators with their fields sorted. A push here takes effect
 * at once, so no schema is ever in progress.
 */
import { v, type JSONValue } from "convex/values";
import type { AnalyzedSchema, SchemaTable } from "../../runtime/functions.js";
import { argsValidator, requireApp, type SystemQuery } from "./systemQuery.js";
import { compareUtf8, validatorJson } from "./validatorJson.js";

export const getSchemas: SystemQuery = {
  args: argsValidator({ componentId: v.optional(v.union(v.string(), v.null())) }),
  run: ({ analysis }, { componentId }) => {
    requireApp(componentId);
    const schema = analysis()?.schema ?? null;
    const value: JSONValue = schema === null ? {} : { active: JSON.stringify(schemaJson(schema)) };
    return { value };
  },
};

/** `DatabaseSchemaJson`, field for field in Convex's order. */
function schemaJson(schema: AnalyzedSchema): JSONValue {
  const tables = [...schema.tables].sort((a, b) => compareUtf8(a.tableName, b.tableName));
  return { tables: tables.map(tableJson), schemaValidation: schema.schemaValidation };
}

/** `TableDefinitionJson`. Staged vector indexes are not kept by push analysis here: always empty. */
function tableJson(table: SchemaTable): JSONValue {
  const byName = <T extends { indexDescriptor: string }>(indexes: T[]) => [...indexes].sort((a, b) => compareUtf8(a.indexDescriptor, b.indexDescriptor));
  type SearchIndex = { indexDescriptor: string; searchField: string; filterFields: string[] };
  const searchJson = ({ indexDescriptor, searchField, filterFields }: SearchIndex) => ({ indexDescriptor, searchField, filterFields: sortedUnique(filterFields) });
  const searchIndexes = table.searchIndexes as SearchIndex[];
  const vectorIndexes = table.vectorIndexes as { indexDescriptor: string; vectorField: string; dimensions: number; filterFields: string[] }[];
  return {
    tableName: table.tableName,
    indexes: byName(table.indexes).map(({ indexDescriptor, fields }) => ({ indexDescriptor, fields })),
    stagedDbIndexes: byName(table.stagedIndexes ?? []).map(({ indexDescriptor, fields }) => ({ indexDescriptor, fields })),
    searchIndexes: byName(searchIndexes).map(searchJson),
    stagedSearchIndexes: byName((table.stagedSearchIndexes ?? []) as SearchIndex[]).map(searchJson),
    vectorIndexes: byName(vectorIndexes).map(({ indexDescriptor, vectorField, dimensions, filterFields }) => ({
      indexDescriptor,
      vectorField,
      dimensions,
      dimension: null,
      filterFields: sortedUnique(filterFields),
    })),
    stagedVectorIndexes: [],
    // Push analysis keeps `v.any()` as no document type; Convex stores it as `any`.
    documentType: validatorJson(table.documentType ?? { type: "any" }),
  };
}

/** A `BTreeSet<String>` as serde writes it. */
function sortedUnique(values: string[]): string[] {
  return [...new Set(values)].sort(compareUtf8);
}
