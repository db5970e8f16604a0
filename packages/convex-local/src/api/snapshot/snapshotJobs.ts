/**
 * The state of snapshot exports and imports, kept where Convex keeps it: documents of the system
 * tables `_exports` and `_snapshot_imports` (crates/model/src/exports, snapshot_imports), in the
 * shapes Convex serializes them (`SerializedExport`, `SerializedImportState`). The CLI follows
 * them through subscriptions to the system queries below (npm-packages/system-udfs/convex/_system/
 * cli/exports.ts `getLatest`, queryImport.ts default and `list`): each state change is a commit,
 * so a subscription re-runs and the CLI sees progress as it happens.
 */
import { convexToJson, v, type JSONValue, type Value } from "convex/values";
import { BY_CREATION_TIME_INDEX, BY_ID_INDEX, decodeDocumentId, type Storage } from "../../storage/index.js";
import { jsonToValue } from "../../storage/values.js";
import type { FunctionRunner } from "../../runtime/runner.js";
import type { ReadRange } from "../../transactions/transaction.js";
import { argsValidator, type SystemQuery } from "../systemFunctions/systemQuery.js";

export const EXPORTS_TABLE = "_exports";
export const IMPORTS_TABLE = "_snapshot_imports";

/** Records and changes job documents, each change its own commit (announced for reactivity). */
export class SnapshotJobs {
  constructor(
    private readonly storage: Storage,
    private readonly runner: FunctionRunner,
  ) {}

  /** Inserts a job document; returns its id. */
  insert(table: string, fields: Record<string, Value>): Promise<string> {
    return this.runner.systemWrite((transaction) => transaction.insert(table, convexToJson(fields) as Record<string, JSONValue>));
  }

  /** Replaces a job document's fields with `update(fields)`. */
  update(id: string, update: (fields: Record<string, Value>) => Record<string, Value>): Promise<void> {
    return this.runner.systemWrite((transaction) => {
      const json = transaction.get(id);
      if (json === null) throw new Error(`Snapshot job ${id} is gone`);
      const { _id, _creationTime, ...fields } = jsonToValue(JSON.parse(json) as JSONValue) as Record<string, Value>;
      transaction.replace(id, convexToJson(update(fields)) as Record<string, JSONValue>);
    });
  }

  /** A job document as a Convex value, or null. */
  get(id: string): Record<string, Value> | null {
    const json = this.storage.getDocument(id);
    return json === null ? null : (jsonToValue(JSON.parse(json) as JSONValue) as Record<string, Value>);
  }

  /** The newest documents of `table`, newest first. */
  newest(table: string, limit: number): Record<string, Value>[] {
    return newestDocuments(this.storage, table, limit).map((json) => jsonToValue(JSON.parse(json) as JSONValue) as Record<string, Value>);
  }
}

function newestDocuments(storage: Storage, table: string, limit: number): string[] {
  if (storage.tableNumber(table) === undefined) return [];
  return [...storage.scanIndex(table, BY_CREATION_TIME_INDEX, { lowerInclusive: true, upperInclusive: false }, "desc", { limit })].map((row) => row.json);
}

/** A read of the whole table: any change to a job re-runs the subscription. */
function wholeTable(table: string): ReadRange[] {
  return [{ table, index: BY_ID_INDEX, range: { lowerInclusive: true, upperInclusive: false } }];
}

/** `_system/cli/exports:getLatest`: the newest snapshot export requested by the CLI or dashboard, or null. */
export const latestExport: SystemQuery = {
  args: argsValidator({}),
  run: ({ storage }) => {
    const latest = newestDocuments(storage, EXPORTS_TABLE, 1)[0];
    return { value: latest === undefined ? null : (JSON.parse(latest) as JSONValue), reads: wholeTable(EXPORTS_TABLE) };
  },
};

/** `_system/cli/queryImport`: the import document `importId` names, or null. */
export const importById: SystemQuery = {
  args: argsValidator({ importId: v.string() }),
  run: ({ storage }, { importId }) => {
    // Only an id of `_snapshot_imports` names an import (any other document stays unread).
    const number = storage.tableNumber(IMPORTS_TABLE);
    const json = number === undefined || decodeDocumentId(importId as string)?.tableNumber !== number ? null : storage.getDocument(importId as string);
    return { value: json === null ? null : (JSON.parse(json) as JSONValue), reads: wholeTable(IMPORTS_TABLE) };
  },
};

/** `_system/cli/queryImport:list`: the 20 newest imports, newest first. */
export const recentImports: SystemQuery = {
  args: argsValidator({}),
  run: ({ storage }) => ({
    value: newestDocuments(storage, IMPORTS_TABLE, 20).map((json) => JSON.parse(json) as JSONValue),
    reads: wholeTable(IMPORTS_TABLE),
  }),
};
