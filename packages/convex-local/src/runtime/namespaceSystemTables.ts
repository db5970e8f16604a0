/**
 * The system tables every namespace (the app and each component instance, components.ts) has of
 * its own, as Convex creates them for each component (convex-backend crates/model/src/lib.rs
 * `component_system_tables`, `initialize_component_namespace` in crates/model/src/components/config.rs):
 * `_scheduled_functions` (read by the scheduler through its index by state and time) and `_storage`
 * (found by a file URL's blob key through its index). They are made, with their indexes, when a push
 * installs the instance and again at start (an instance pushed before components had tables of
 * their own gets them then), so a job or file is never written to a table without its index.
 *
 *   ensureNamespaceSystemTables(storage, ["", "@rateLimiter"]);
 *   // _scheduled_functions, _storage, @rateLimiter/_scheduled_functions, @rateLimiter/_storage
 */
import type { IndexDefinition, Storage } from "../storage/index.js";
import { STORAGE_TABLE_INDEXES, storageTableOf } from "./fileStorage.js";
import { SCHEDULED_BY_STATE_FIELDS, SCHEDULED_BY_STATE_INDEX, jobTableOf } from "./scheduledFunctionsTable.js";

/** The system tables of `namespace` as stored, with the indexes each has besides by_id and by_creation_time. */
export function namespaceSystemTables(namespace: string): { table: string; indexes: readonly IndexDefinition[] }[] {
  return [
    { table: jobTableOf(namespace), indexes: [{ name: SCHEDULED_BY_STATE_INDEX, fields: SCHEDULED_BY_STATE_FIELDS }] },
    { table: storageTableOf(namespace), indexes: STORAGE_TABLE_INDEXES },
  ];
}

/**
 * Makes the system tables of each of `namespaces` exist with their indexes; tables and indexes
 * already right are left alone. Run it where the backend's own writes run (at start, or between
 * mutation batches).
 */
export function ensureNamespaceSystemTables(storage: Storage, namespaces: Iterable<string>): void {
  for (const namespace of namespaces) {
    for (const { table, indexes } of namespaceSystemTables(namespace)) {
      storage.ensureTable(table);
      const current = storage.listIndexes(table).filter((index) => index.name !== "by_id" && index.name !== "by_creation_time");
      const same = current.length === indexes.length && indexes.every((index) => current.some((existing) => existing.name === index.name && JSON.stringify(existing.fields) === JSON.stringify(index.fields)));
      if (!same) storage.setIndexes(table, indexes);
    }
  }
}
