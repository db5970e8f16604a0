/**
 * Schema validation of stored documents at push, as Convex does it: a table is read only when the
 * pushed document type may refuse a document the running schema accepted (`must_revalidate_table`,
 * crates/common/src/schemas: the enforced validator is not a subset of the new one, or validation
 * was off), and the first document that fails is named in Convex's words. It reads through whatever
 * connection it is given: the push process's (pushProcess.ts), never the main thread's.
 *
 * @example
 * const tables = tablesToValidate(storage, schemasOf(push.analysis), running);
 * const status = validateTables(storage, tables); // { type: "complete" } or { type: "failed", error, … }
 */
import type { JSONValue, Value } from "convex/values";
import { decodeDocumentId } from "../storage/ids.js";
import type { Storage } from "../storage/index.js";
import { jsonToValue } from "../storage/values.js";
import { componentPathOf, storedTableName, visibleTableName } from "./components.js";
import type { AnalyzedSchema, DeploymentAnalysis } from "./functions.js";
import { validateValue, type ValidatorJson } from "./validator.js";
import { acceptsAllOf } from "./validatorSubset.js";

export type SchemaStatus =
  | { type: "complete" }
  | { type: "failed"; error: string; componentPath: string; tableName: string | null };

/** A stored table whose documents a push must check against its new document type. */
export interface TableToValidate {
  namespace: string;
  /** As the app or component names it. */
  tableName: string;
  documentType: ValidatorJson;
}

/** Every namespace's schema: the app's ("") first, then each component instance's. */
export function schemasOf(analysis: DeploymentAnalysis): Map<string, AnalyzedSchema | null> {
  return new Map([["", analysis.schema], ...Object.entries(analysis.componentSchemas ?? {})]);
}

/** The stored tables of `schemas` whose documents must be checked, given the `running` deployment's schemas. */
export function tablesToValidate(storage: Storage, schemas: Map<string, AnalyzedSchema | null>, running: DeploymentAnalysis | undefined): TableToValidate[] {
  const enforced = enforcedDocumentTypes(running);
  const tables: TableToValidate[] = [];
  for (const [namespace, schema] of schemas) {
    if (schema === null || !schema.schemaValidation) continue;
    for (const { tableName, documentType } of schema.tables) {
      const stored = storedTableName(namespace, tableName);
      if (documentType === null || storage.tableNumber(stored) === undefined) continue;
      const before = enforced.get(stored);
      if (before === undefined || !acceptsAllOf(documentType, before)) tables.push({ namespace, tableName, documentType });
    }
  }
  return tables;
}

/** Checks every document of `tables`; the first that fails its table's document type fails the push. */
export function validateTables(storage: Storage, tables: readonly TableToValidate[]): SchemaStatus {
  for (const { namespace, tableName, documentType } of tables) {
    const stored = storedTableName(namespace, tableName);
    if (storage.tableNumber(stored) === undefined) continue;
    const idTable = (id: string) => {
      const decoded = decodeDocumentId(id);
      const table = decoded === null ? undefined : storage.tableName(decoded.tableNumber);
      return table === undefined ? null : visibleTableName(namespace, table);
    };
    for (const row of storage.scanIndex(stored, "by_id", { lowerInclusive: true, upperInclusive: false }, "asc")) {
      const { _id, _creationTime, ...fields } = jsonToValue(JSON.parse(row.json) as JSONValue) as Record<string, Value>;
      const failure = validateValue(fields, documentType, idTable);
      if (failure) {
        return {
          type: "failed",
          tableName,
          componentPath: componentPathOf(namespace),
          error: `Schema validation failed.\nDocument with ID "${String(_id)}" in table "${tableName}" does not match the schema: ${failure.message}`,
        };
      }
    }
  }
  return { type: "complete" };
}

/** The document type each stored table's writes are validated against under `analysis`. */
function enforcedDocumentTypes(analysis: DeploymentAnalysis | undefined): Map<string, ValidatorJson> {
  const enforced = new Map<string, ValidatorJson>();
  if (analysis === undefined) return enforced;
  for (const [namespace, schema] of schemasOf(analysis)) {
    if (schema === null || !schema.schemaValidation) continue;
    for (const table of schema.tables) {
      if (table.documentType !== null) enforced.set(storedTableName(namespace, table.tableName), table.documentType);
    }
  }
  return enforced;
}
