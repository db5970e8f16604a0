/**
 * What a push commits, and the writes that commit it: each table's database, vector and search
 * indexes made exactly as the schemas say (new ones backfilled), every namespace's system tables,
 * and the deployment's modules, schema and component definitions. The same writes run on the main
 * thread's connection for a push that touches no documents, and in the push worker
 * (pushWorker.ts) for one that backfills indexes or checks documents, so the backend keeps serving.
 *
 * @example
 * storage.transaction(() => applyPush(storage, write));
 */
import type { Storage } from "../storage/index.js";
import type { ComponentsSource } from "./componentPush.js";
import { isSystemTableName, storedTableName } from "./components.js";
import type { AnalyzedSchema } from "./functions.js";
import type { ModuleSource } from "./modules.js";
import { ensureNamespaceSystemTables } from "./namespaceSystemTables.js";
import { applyTextIndexes } from "./textIndexPush.js";
import { applyVectorIndexes } from "./vectorIndexPush.js";

/** Where the committed push lives in the deployment's meta table. */
export const PUSH_META_KEYS = {
  modules: "deployment/modules",
  schema: "deployment/schema",
  udfServerVersion: "deployment/udfServerVersion",
  components: "deployment/components",
} as const;

/** A push's writes, as plain data (sent to the push worker as it is). */
export interface PushWrite {
  /** Every namespace's schema (schemaValidation.ts `schemasOf`). */
  schemas: Map<string, AnalyzedSchema | null>;
  /** The namespaces of the component instances the push installs, the app's ("") included. */
  namespaces: string[];
  modules: ModuleSource[];
  /** The app's schema as analyzed, as `getSchemas` reports it. */
  schema: unknown;
  componentsSource: ComponentsSource;
  udfServerVersion?: string;
}

/** Makes the store hold `write`. Run it inside a write transaction. */
export function applyPush(storage: Storage, write: PushWrite): void {
  const wanted = new Map<string, { name: string; fields: string[] }[]>();
  for (const [namespace, schema] of write.schemas) {
    for (const table of schema?.tables ?? []) {
      wanted.set(storedTableName(namespace, table.tableName), [...table.indexes, ...(table.stagedIndexes ?? [])].map((index) => ({ name: index.indexDescriptor, fields: index.fields })));
    }
  }
  for (const { name } of storage.listTables()) {
    if (!isSystemTableName(name) && !wanted.has(name)) wanted.set(name, []);
  }
  for (const [table, indexes] of wanted) storage.setIndexes(table, indexes);
  applyVectorIndexes(storage, write.schemas);
  applyTextIndexes(storage, write.schemas);
  ensureNamespaceSystemTables(storage, write.namespaces);
  storage.setMeta(PUSH_META_KEYS.modules, write.modules.map(({ path, source, sourceMap, environment }) => ({ path, source, sourceMap, environment })));
  storage.setMeta(PUSH_META_KEYS.schema, write.schema);
  storage.setMeta(PUSH_META_KEYS.components, write.componentsSource);
  if (write.udfServerVersion !== undefined) storage.setMeta(PUSH_META_KEYS.udfServerVersion, write.udfServerVersion);
}
