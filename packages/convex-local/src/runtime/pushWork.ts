/**
 * Runs a request in a push worker (pushWorker.ts): a process started for it and gone after it, so
 * a push's document work — schema validation, index backfill — never holds the main thread. Its
 * heap is capped well above anything a backfill holds at once (it reads in pages); a worker that
 * dies answers with the reason.
 *
 * @example
 * const status = await validateInPushWorker(databasePath, tables);
 * const { status, commitTs } = await commitInPushWorker(databasePath, tables, write);
 */
import { RuntimeProcess } from "./runtimeProcess.js";
import { threadEntry } from "./threadEntry.js";
import type { PushWorkerReply, PushWorkerRequest } from "./pushWorker.js";
import type { PushWrite } from "./pushWrite.js";
import type { SchemaStatus, TableToValidate } from "./schemaValidation.js";

const ENTRY = new URL("./pushWorker.js", import.meta.url);
const PUSH_WORKER_HEAP_MB = 1024;
/** How long a reply may still arrive after the worker's exit is seen. */
const REPLY_AFTER_EXIT_MS = 100;

export class PushWorkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PushWorkerError";
  }
}

/** Checks the documents of `tables` (schemaValidation.ts) on a snapshot of the store. */
export async function validateInPushWorker(databasePath: string, tables: TableToValidate[]): Promise<SchemaStatus> {
  return (await inPushWorker({ type: "validate", databasePath, tables })).status;
}

/** Checks the documents of `tables` and, when they pass, commits `write` (pushWrite.ts) in the same transaction, at `commitTs`. */
export async function commitInPushWorker(databasePath: string, tables: TableToValidate[], write: PushWrite): Promise<{ status: SchemaStatus; commitTs?: bigint }> {
  const reply = await inPushWorker({ type: "commit", databasePath, tables, write });
  return reply.type === "committed" ? reply : { status: reply.status };
}

/** Sends `request` to a new push worker; resolves with its reply, or rejects with why it ended without one. */
async function inPushWorker(request: PushWorkerRequest): Promise<Exclude<PushWorkerReply, { type: "failed" }>> {
  const worker = new RuntimeProcess(threadEntry(ENTRY), { heapMb: PUSH_WORKER_HEAP_MB, lockedDown: false });
  worker.hold(true);
  const reply = new Promise<PushWorkerReply>((resolve) => (worker.onMessage = (message) => resolve(message as PushWorkerReply)));
  worker.send(request);
  // The worker exits once its reply is written, but its exit can be seen before the reply is read.
  const ended = worker.exited.then((exit) => new Promise<typeof exit>((resolve) => setTimeout(() => resolve(exit), REPLY_AFTER_EXIT_MS)));
  const outcome = await Promise.race([reply, ended]);
  if ("type" in outcome) {
    if (outcome.type === "failed") throw new PushWorkerError(`The push failed: ${outcome.message}`);
    return outcome;
  }
  throw new PushWorkerError(outcome.outOfMemory ? `The push ran out of memory (${PUSH_WORKER_HEAP_MB} MB) while it checked or indexed the stored documents` : `The push worker ended (${outcome.reason}) before it answered`);
}
