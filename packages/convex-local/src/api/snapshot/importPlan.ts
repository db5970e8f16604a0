/**
 * What an import will do, as Convex's snapshot_import/mod.rs and confirmation.rs work it out:
 * each table's number from the first row (importParse.ts is read no further), the checks against
 * the deployment as it is, and — once the rows are written into hidden tables and counted —
 * Convex's summary of the changes for the confirmation.
 *
 * - Table numbers (`assign_table_numbers`, `table_number_for_import`): from `_tables`, else the
 *   first row's `_id`, else the existing table's, else a fresh one; every `_id` must belong to its
 *   table's number (checked as the rows are written), so ids and the references between tables
 *   stay valid.
 * - Modes: `requireEmpty` refuses a table with documents; `append` adds; `replace` empties the
 *   imported tables first; `replaceAll` empties every user table (deleting those the schema does
 *   not name).
 * - Components (runtime/components.ts): a component's tables arrive named as stored
 *   (`@echo/notes`, importParse.ts). Convex numbers each component's tables on their own,
 *   convex-local all tables together: two imported tables of different namespaces with the same
 *   number are refused, naming both (an export of convex-local never has them).
 */
import { decodeDocumentId, type Storage } from "../../storage/index.js";
import type { AnalyzedSchema, DeploymentAnalysis } from "../../runtime/functions.js";
import { componentPathOf, isSystemTableName, localName, namespaceOfName, qualifiedPath } from "../../runtime/components.js";
import { isStorageTable } from "../../runtime/fileStorage.js";
import { ImportError, type ImportSource } from "./importParse.js";

export type ImportMode = "requireEmpty" | "append" | "replace" | "replaceAll";

/** One table of the import. */
export interface ImportTable {
  /** The table as stored (`@echo/notes` for a component's). */
  name: string;
  file: string;
  /** The number `_tables` or its first row's `_id` gives it; undefined: any. */
  number: number | undefined;
  /** A namespace's `_storage`: its rows are the ZIP's files. */
  files: boolean;
}

/** The tables of an import with the number each takes from `_tables` or its first row's (or file's) `_id`. */
export async function peekImport(source: ImportSource): Promise<ImportTable[]> {
  const tables: ImportTable[] = [];
  for (const table of source.tables) {
    let number = source.tableNumbers.get(table.name);
    if (number === undefined) {
      for await (const [first] of table.rows()) {
        if (first?.id !== undefined) number = tableNumberOf(first.id, `${table.file}: Row ${first.row}: invalid _id '${first.id}'`);
        break;
      }
    }
    tables.push({ name: table.name, file: table.file, number, files: false });
  }
  for (const { table, files, file } of source.storage) {
    const first = files[0];
    tables.push({ name: table, file, number: first === undefined ? undefined : tableNumberOf(first.id, `${first.entry.fileName}: _storage id '${first.id}' invalid`), files: true });
  }
  return tables;
}

function tableNumberOf(id: string, invalid: string): number {
  const decoded = decodeDocumentId(id);
  if (decoded === null) throw new ImportError(invalid);
  return decoded.tableNumber;
}

/** The schema of the namespace a stored table belongs to: the app's, or an installed component's (null: none, or not installed). */
export function schemaOfTable(analysis: DeploymentAnalysis | undefined, table: string): AnalyzedSchema | null {
  const namespace = namespaceOfName(table);
  return (namespace === "" ? analysis?.schema : analysis?.componentSchemas?.[namespace]) ?? null;
}

/** The stored names of every table an installed schema (the app's, each component's) defines. */
export function definedTables(analysis: DeploymentAnalysis | undefined): Set<string> {
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

/** Checks the import against the deployment (with the schemas of `analysis`) as it is now. */
export function checkImport(storage: Storage, analysis: DeploymentAnalysis | undefined, tables: readonly ImportTable[], mode: ImportMode): void {
  const imported = new Set(tables.map(({ name }) => name));
  const assigned = new Map<number, string>();
  for (const { name, number } of tables) {
    if (number === undefined) continue;
    const other = assigned.get(number);
    if (other !== undefined && namespaceOfName(other) !== namespaceOfName(name)) {
      throw new ImportError(
        `${describedTable(other)} and ${describedTable(name)} both have table number ${number}: Convex numbers each component's tables on their own, convex-local all tables of a deployment together, so it cannot keep the ids of both. Import one of them separately without its ids.`,
      );
    }
    if (other !== undefined) throw new ImportError(`conflict between \`${localName(other)}\` and \`${localName(name)}\` with number ${number}`);
    assigned.set(number, name);
    const holder = storage.tableName(number);
    const survives = holder !== undefined && holder !== name && !imported.has(holder) && !(mode === "replaceAll" && !isSystemTableName(holder));
    if (survives) throw new ImportError(`Table ${describedTable(name)} wants table number ${number}, which the existing table ${describedTable(holder)} has: delete that table first, or import with --replace-all.`);
    const existing = storage.tableNumber(name);
    if (mode === "append" && existing !== undefined && existing !== number) {
      throw new ImportError(`table ${localName(name)} wants table number ${number} but was already assigned ${existing}`);
    }
  }
  for (const { name, file, files } of tables) {
    const schema = schemaOfTable(analysis, name);
    if (!files && schema !== null && schema.schemaValidation && !schema.tables.some((table) => table.tableName === localName(name))) {
      throw new ImportError(`${file}: Failed to insert or update a document in table "${localName(name)}" because it does not match the schema: table "${localName(name)}" is not in the schema`);
    }
    if (mode === "requireEmpty" && storage.countDocuments(name) > 0) throw new ImportError(`Table ${localName(name)} already exists. Please choose a new table name or use replace/append modes.`);
  }
}

/** Convex's confirmation text for writing `tables` (with the rows each has) and whether it needs a yes (something is deleted). */
export function confirmation(storage: Storage, tables: readonly { name: string; count: number }[], mode: ImportMode): { message: string; requireManualConfirmation: boolean } {
  const changes: { namespace: string; name: string; added: number; deleted: number; existing: number; unit: string }[] = [];
  const names = new Set([...tables.map(({ name }) => name), ...(mode === "replaceAll" ? storage.listTables().map(({ name }) => name).filter((name) => !isSystemTableName(name)) : [])]);
  for (const name of names) {
    const existing = storage.countDocuments(name);
    const added = tables.find((table) => table.name === name)?.count ?? 0;
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
  return { message, requireManualConfirmation: changes.some((c) => c.deleted > 0) };
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
