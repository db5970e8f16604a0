/**
 * The push worker: a process of its own (started by pushWork.ts for one request, then gone) that
 * does a push's work on stored documents — checking them against a new schema, backfilling new
 * indexes — through its own connection, so the backend's main thread keeps serving HTTP and
 * WebSockets however large the tables. A commit checks the documents and writes the push in one
 * transaction: a document that fails leaves the store as it was.
 */
import { Storage } from "../storage/index.js";
import { applyPush, type PushWrite } from "./pushWrite.js";
import { validateTables, type SchemaStatus, type TableToValidate } from "./schemaValidation.js";

export type PushWorkerRequest =
  | { type: "validate"; databasePath: string; tables: TableToValidate[] }
  | { type: "commit"; databasePath: string; tables: TableToValidate[]; write: PushWrite };

export type PushWorkerReply =
  | { type: "validated"; status: SchemaStatus }
  /** `commitTs`: the push's commit, when the documents passed (else nothing was written). */
  | { type: "committed"; status: SchemaStatus; commitTs?: bigint }
  | { type: "failed"; message: string };

/** The documents fail the schema: the commit's transaction rolls back. */
class Refused extends Error {
  constructor(readonly status: SchemaStatus) {
    super("schema validation failed");
  }
}

function handle(request: PushWorkerRequest): PushWorkerReply {
  const storage = request.type === "validate" ? Storage.openReader(request.databasePath) : Storage.open(request.databasePath);
  try {
    if (request.type === "validate") return { type: "validated", status: storage.readSnapshot(() => validateTables(storage, request.tables)) };
    const commitTs = storage.transaction(() => {
      const status = validateTables(storage, request.tables);
      if (status.type === "failed") throw new Refused(status);
      applyPush(storage, request.write);
      return storage.transactionTs(); // a push is a commit of its own, which every connection then hears of
    });
    return { type: "committed", status: { type: "complete" }, commitTs };
  } catch (error) {
    if (error instanceof Refused) return { type: "committed", status: error.status };
    throw error;
  } finally {
    storage.close();
  }
}

process.once("message", (request: PushWorkerRequest) => {
  let reply: PushWorkerReply;
  try {
    reply = handle(request);
  } catch (error) {
    reply = { type: "failed", message: error instanceof Error ? error.message : String(error) };
  }
  process.send!(reply, () => process.exit(0));
});
