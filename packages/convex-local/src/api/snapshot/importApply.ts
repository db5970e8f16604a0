/**
 * Plans and commits a parsed import as Convex's snapshot_import/mod.rs does, in one SQLite
 * transaction: a failed import changes nothing.
 *
 * - Table numbers (`assign_table_numbers`): from `_tables`, else the first row's `_id`, else the
 *   existing table's, else a fresh one; every `_id` must belong to its table's number, so ids and the
 *   references between tables stay valid.
 * - Modes: `requireEmpty` refuses a table with documents; `append` adds; `replace` empties the
 *   imported tables first; `replaceAll` empties every user table (deleting those the schema does not name).
 * - Every document is checked against the active schema with the final table mapping, so `v.id`
 *   fields resolve to the tables as they will be.
 * - `_storage`: each file's bytes are written to the blob store before the commit (checked against
 *   their SHA-256), and removed again when the import fails.
 * - Components (runtime/components.ts): a component's tables arrive named as stored (`@echo/notes`,
 *   importParse.ts) and are checked against that component's schema; `replaceAll` empties the user
 *   tables of every namespace, as Convex's does. A component the deployment does not have gets its
 *   tables anyway (Convex makes it an unmounted component). Convex numbers each component's tables
 *   on their own, convex-local all tables together: two imported tables of different namespaces
 *   with the same number are refused, naming both (an export of convex-local never has them).
 */
import type { Value } from "convex/values";
import { decodeDocumentId, type Storage } from "../../storage/index.js";
import type { FunctionRunner } from "../../runtime/runner.js";
import { validateValue } from "../../runtime/validator.js";
import type { AnalyzedSchema, DeploymentAnalysis } from "../../runtime/functions.js";
import { componentPathOf, isSystemTableName, localName, namespaceOfName, qualifiedPath, visibleTableName } from "../../runtime/components.js";
import { isStorageTable } from "../../runtime/fileStorage.js";
import type { DocumentWrite } from "../../transactions/transaction.js";
import { jsonToValue } from "../../storage/values.js";
import type { StoredBlob } from "../../storage/blobs.js";
import { ImportError, type ParsedImport, type ParsedTable } from "./importParse.js";

export type ImportMode = "requireEmpty" | "append" | "replace" | "replaceAll";


/** The schema of the namespace a stored table belongs to: the app's, or an installed component's (null: none, or not installed). */
function schemaOfTable(analysis: DeploymentAnalysis | undefined, table: string): AnalyzedSchema | null {
  const namespace = namespaceOfName(table);
  return (namespace === "" ? analysis?.schema : analysis?.componentSchemas?.[namespace]) ?? null;
}

/** The stored names of every table an installed schema (the app's, each component's) defines. */
function definedTables(analysis: DeploymentAnalysis | undefined): Set<string> {
  const names = new Set((analysis?.schema?.tables ?? []).map((table) => table.tableName));
  for (const [namespace, schema] of Object.entries(analysis?.componentSchemas ?? {})) {
    for (const table of schema?.tables ?? []) names.add(qualifiedPath(namespace, table.tableName));
  }
  return names;
}

/** A stored table as an import's messages name it: `notes`, or `notes` in 'echo'. */
function describedTable(table: string): string {
  const namespace = namespaceOfName(table);
  return namespace === "" ? `\`${table}\`` : `\`${localName(table)}\` in '${componentPathOf(namespace)}'`;
}

interface TablePlan {
  table: ParsedTable;
  /** The number the table must have; undefined: any (the existing one, or a fresh one). */
  number: number | undefined;
}

export interface ImportPlan {
  tables: TablePlan[];
  /** Convex's confirmation text and whether it needs a yes (something is deleted). */
  message: string;
  requireManualConfirmation: boolean;
}

/** Checks the import against the deployment (with the schemas of `analysis`) as it is now and says what it will change. */
export function planImport(storage: Storage, analysis: DeploymentAnalysis | undefined, parsed: ParsedImport, mode: ImportMode): ImportPlan {
  const tables = parsed.tables.map((table): TablePlan => {
    const firstId = table.documents.find((document) => document.id !== undefined)?.id;
    const fromId = firstId === undefined ? undefined : decodeDocumentId(firstId)?.tableNumber;
    return { table, number: parsed.tableNumbers.get(table.name) ?? fromId };
  });
  const imported = new Set(tables.map(({ table }) => table.name));
  const assigned = new Map<number, string>();
  for (const { table, number } of tables) {
    if (number === undefined) continue;
    const other = assigned.get(number);
    if (other !== undefined && namespaceOfName(other) !== namespaceOfName(table.name)) {
      throw new ImportError(
        `${describedTable(other)} and ${describedTable(table.name)} both have table number ${number}: Convex numbers each component's tables on their own, convex-local all tables of a deployment together, so it cannot keep the ids of both. Import one of them separately without its ids.`,
      );
    }
    if (other !== undefined) throw new ImportError(`conflict between \`${localName(other)}\` and \`${localName(table.name)}\` with number ${number}`);
    assigned.set(number, table.name);
    for (const [row, document] of table.documents.entries()) {
      if (document.id === undefined) continue;
      const decoded = decodeDocumentId(document.id);
      if (decoded === null) throw new ImportError(`${table.file}: Row ${row + 1}: invalid _id '${document.id}'`);
      if (decoded.tableNumber !== number) {
        throw new ImportError(`${table.file}: Row ${row + 1}: _id ${document.id} cannot be imported into '${localName(table.name)}' because it came from a different table (number ${decoded.tableNumber}, the table's is ${number})`);
      }
    }
    const holder = storage.tableName(number);
    const survives = holder !== undefined && holder !== table.name && !imported.has(holder) && !(mode === "replaceAll" && !isSystemTableName(holder));
    if (survives) throw new ImportError(`Table ${describedTable(table.name)} wants table number ${number}, which the existing table ${describedTable(holder)} has: delete that table first, or import with --replace-all.`);
    const existing = storage.tableNumber(table.name);
    if (mode === "append" && existing !== undefined && existing !== number) {
      throw new ImportError(`table ${localName(table.name)} wants table number ${number} but was already assigned ${existing}`);
    }
  }
  for (const { table } of tables) {
    const seen = new Set<string>();
    for (const document of table.documents) {
      if (document.id === undefined) continue;
      if (seen.has(document.id)) throw new ImportError(`Objects in table "${localName(table.name)}" have duplicate _id fields`);
      seen.add(document.id);
      if (mode === "append" && storage.getDocument(document.id) !== null) throw new ImportError(`${table.file}: a document with _id ${document.id} already exists in "${localName(table.name)}"`);
    }
  }
  validateAgainstSchema(storage, analysis, tables, mode);

  const changes: { namespace: string; name: string; added: number; deleted: number; existing: number; unit: string }[] = [];
  const names = new Set([...imported, ...(mode === "replaceAll" ? storage.listTables().map(({ name }) => name).filter((name) => !isSystemTableName(name)) : [])]);
  for (const name of names) {
    const existing = storage.countDocuments(name);
    const added = tables.find(({ table }) => table.name === name)?.table.documents.length ?? 0;
    if (mode === "requireEmpty" && existing > 0) throw new ImportError(`Table ${localName(name)} already exists. Please choose a new table name or use replace/append modes.`);
    const deleted = mode === "replace" || mode === "replaceAll" ? existing : 0;
    changes.push({ namespace: namespaceOfName(name), name: localName(name), added, deleted, existing, unit: isStorageTable(name) ? " files" : "" });
  }
  // As confirmation.rs: the app's tables, then each component's under "Component <path>", each a table of its own.
  const byPath = (a: { namespace: string }, b: { namespace: string }) => compareText(componentPathOf(a.namespace), componentPathOf(b.namespace));
  changes.sort((a, b) => byPath(a, b) || compareText(a.name, b.name));
  const lines: string[] = [];
  for (const namespace of [...new Set(changes.map((change) => change.namespace))]) {
    if (namespace !== "") lines.push(`Component ${componentPathOf(namespace)}`);
    lines.push(...changeTable(changes.filter((change) => change.namespace === namespace)));
  }
  const message = ["Import change summary:", ...lines, "Once the import has started, it will run in the background.\nInterrupting `npx convex import` will not cancel it."].join("\n");
  return { tables, message, requireManualConfirmation: changes.some((c) => c.deleted > 0) };
}

/** Convex's table of changes (table_change.rs `render_table_changes`). */
function changeTable(changes: { name: string; added: number; deleted: number; existing: number; unit: string }[]): string[] {
  const rows = [["table", "create", "delete"], ...changes.map((c) => [c.name, c.added.toLocaleString("en-US"), `${c.deleted.toLocaleString("en-US")} of ${c.existing.toLocaleString("en-US")}${c.unit}`])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => `${row[0]!.padEnd(widths[0]!)} | ${row[1]!.padEnd(widths[1]!)} | ${row[2]!.padEnd(widths[2]!)} |`);
  lines.splice(1, 0, "-".repeat(widths[0]! + 3 + widths[1]! + 3 + widths[2]! + 2));
  return lines;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Every imported document against the active schema of its namespace, with ids resolved through
 * the tables as they will be (a namespace's code sees only its own).
 */
function validateAgainstSchema(storage: Storage, analysis: DeploymentAnalysis | undefined, tables: TablePlan[], mode: ImportMode): void {
  const finalNames = new Map<number, string>();
  for (const { name, number } of storage.listTables()) {
    if (!(mode === "replaceAll" && !isSystemTableName(name))) finalNames.set(number, name);
  }
  for (const { table, number } of tables) {
    const existing = storage.tableNumber(table.name);
    if (existing !== undefined) finalNames.delete(existing);
    finalNames.set(number ?? existing ?? -1, table.name);
  }
  for (const { table } of tables) {
    const schema = schemaOfTable(analysis, table.name);
    if (isStorageTable(table.name) || schema === null || !schema.schemaValidation) continue;
    const namespace = namespaceOfName(table.name);
    const name = localName(table.name);
    const idTable = (id: string) => {
      const decoded = decodeDocumentId(id);
      const stored = decoded === null ? undefined : finalNames.get(decoded.tableNumber);
      return stored === undefined ? null : visibleTableName(namespace, stored);
    };
    const definition = schema.tables.find((candidate) => candidate.tableName === name);
    if (definition === undefined) {
      throw new ImportError(`${table.file}: Failed to insert or update a document in table "${name}" because it does not match the schema: table "${name}" is not in the schema`);
    }
    if (definition.documentType === null) continue;
    table.documents.forEach((document, row) => {
      const failure = validateValue(jsonToValue(document.fields) as Value, definition.documentType!, idTable);
      if (failure) {
        throw new ImportError(`${table.file}: Row ${row + 1}: Failed to insert or update a document in table "${name}" because it does not match the schema: ${failure.message}`);
      }
    });
  }
}

/**
 * Commits the plan in one transaction (between mutation batches), after writing the storage files'
 * bytes; returns the number of documents written. `schemaValidation` is re-checked by the plan
 * the caller made just before; `blobs` are the stored files by their `_storage` id.
 */
export async function applyImport(storage: Storage, runner: FunctionRunner, plan: ImportPlan, mode: ImportMode, analysis: DeploymentAnalysis | undefined, blobs: Map<string, StoredBlob>): Promise<number> {
  const keep = definedTables(analysis);
  return runner.systemWrite((transaction) => {
    const writes: DocumentWrite[] = [];
    const clear = (name: string) => {
      const number = storage.tableNumber(name);
      if (number === undefined) return;
      for (const row of [...storage.scanIndex(name, "by_id", { lowerInclusive: true, upperInclusive: false }, "asc")]) {
        storage.deleteDocument(row.id);
        writes.push({ table: name, id: row.id, before: row.json, after: null });
      }
    };
    const imported = new Set(plan.tables.map(({ table }) => table.name));
    if (mode === "replaceAll") {
      for (const { name } of storage.listTables()) {
        if (isSystemTableName(name) || imported.has(name)) continue;
        clear(name);
        if (!keep.has(name)) storage.deleteTable(name);
      }
    }
    let written = 0;
    for (const { table, number } of plan.tables) {
      if (mode === "requireEmpty" && storage.countDocuments(table.name) > 0) throw new ImportError(`Table ${localName(table.name)} already exists. Please choose a new table name or use replace/append modes.`);
      if (mode !== "append") clear(table.name);
      const existing = storage.tableNumber(table.name);
      if (number !== undefined && existing !== undefined && existing !== number) {
        // The table takes the number its ids carry: recreated empty with the same indexes.
        const indexes = storage.listIndexes(table.name).filter((index) => index.name !== "by_id" && index.name !== "by_creation_time");
        const vectorIndexes = storage.listVectorIndexes(table.name);
        const searchIndexes = storage.listTextIndexes(table.name).map(({ name, searchField, filterFields }) => ({ name, searchField, filterFields }));
        storage.deleteTable(table.name);
        storage.ensureTable(table.name, number);
        storage.setIndexes(table.name, indexes.map(({ name, fields }) => ({ name, fields })));
        storage.setVectorIndexes(table.name, vectorIndexes);
        storage.setTextIndexes(table.name, searchIndexes);
      } else if (existing === undefined) {
        storage.ensureTable(table.name, number);
      }
      for (const document of table.documents) {
        let fields = document.fields;
        if (isStorageTable(table.name)) {
          const blob = blobs.get(document.id!);
          if (blob === undefined) continue;
          fields = { blobKey: blob.key, sha256: blob.sha256, size: blob.size, ...(blob.contentType ? { contentType: blob.contentType } : {}) };
        }
        const { id, json } = storage.insertDocument(table.name, fields, document.creationTime, document.id);
        writes.push({ table: table.name, id, before: null, after: json });
        if (!isStorageTable(table.name)) written++;
      }
    }
    // Reported with the commit, so subscriptions and cached queries see the import (the function
    // limits on writes are for functions, not for this system write).
    transaction.writes.push(...writes);
    return written;
  });
}
