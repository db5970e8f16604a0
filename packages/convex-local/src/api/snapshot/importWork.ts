/**
 * Runs an import's steps that read its rows in an import worker (importWorker.ts): a thread
 * started for the step and gone after it, so parsing and checking rows never holds the backend's
 * main thread, and the rows' writes take their turns between mutation batches (the runner's
 * `writeElsewhere`), holding back only other writers, one batch at a time.
 *
 * @example
 * const tables = await peekInWorker(upload);
 * const written = await writeInWorker(runner, request, checkRunning);
 * const { drops, writes } = await activateInWorker(runner, databasePath, () => activationRequest);
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { FunctionRunner } from "../../runtime/runner.js";
import { threadEntry } from "../../runtime/threadEntry.js";
import type { Activation, ActivationRequest } from "./importActivation.js";
import { ImportError } from "./importParse.js";
import type { ImportTable } from "./importPlan.js";
import type { ImportWorkerReply, ImportWorkerRequest } from "./importWorker.js";
import type { UploadToRead, WriteRequest } from "./importWriter.js";

const ENTRY = new URL("./importWorker.js", import.meta.url);
/** The worker holds a batch of rows and its parser's state, never a table (a `.json` array is read whole). */
const IMPORT_WORKER_HEAP_MB = 512;

/** An import worker and its replies, in order. */
class ImportWorker {
  private readonly worker: Worker;
  private readonly replies: ImportWorkerReply[] = [];
  private waiting: ((reply: ImportWorkerReply) => void) | undefined;
  private readonly ended: Promise<ImportWorkerReply>;

  constructor() {
    const entry = threadEntry(ENTRY);
    this.worker = new Worker(entry.url, { execArgv: entry.execArgv, resourceLimits: { maxOldGenerationSizeMb: IMPORT_WORKER_HEAP_MB } });
    this.worker.on("message", (message: ImportWorkerReply) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting !== undefined) waiting(message);
      else this.replies.push(message);
    });
    this.ended = new Promise((resolve) => {
      this.worker.once("error", (error) => resolve({ type: "failed", known: false, message: `the import worker failed: ${error.message}` }));
      this.worker.once("exit", (code) => resolve({ type: "failed", known: false, message: `the import worker ended (exit code ${code})` }));
    });
  }

  send(request: ImportWorkerRequest): void {
    this.worker.postMessage(request);
  }

  /** The next reply; a failure (or the worker's end) is thrown. */
  async reply(): Promise<ImportWorkerReply> {
    const next = this.replies.shift() ?? (await Promise.race([new Promise<ImportWorkerReply>((resolve) => (this.waiting = resolve)), this.ended]));
    if (next.type === "failed") throw next.known ? new ImportError(next.message) : new Error(next.message);
    return next;
  }

  kill(): void {
    void this.worker.terminate();
  }
}

/** Each table of the upload with the number `_tables` or its first row gives it (importPlan.ts `peekImport`). */
export async function peekInWorker(upload: UploadToRead): Promise<ImportTable[]> {
  const worker = new ImportWorker();
  try {
    worker.send({ type: "peek", upload });
    const reply = await worker.reply();
    if (reply.type !== "peeked") throw new Error(`the import worker answered ${reply.type}`);
    return reply.tables;
  } finally {
    worker.kill();
  }
}

/**
 * Writes the rows of `request.tables` into their hidden tables in a worker, a batch per turn.
 * `checkRunning` throws to stop between batches. Resolves with the rows written per table.
 */
export async function writeInWorker(runner: FunctionRunner, request: WriteRequest, checkRunning: () => void): Promise<number[]> {
  const worker = new ImportWorker();
  try {
    worker.send({ type: "write", ...request });
    for (;;) {
      // The worker reads the next batch outside the turn: other writers wait only while it writes.
      const ready = await worker.reply();
      if (ready.type !== "ready") throw new Error(`the import worker answered ${ready.type}`);
      checkRunning();
      if (ready.done) return ready.written;
      await runner.writeElsewhere(async () => {
        worker.send({ type: "turn" });
        const written = await worker.reply();
        if (written.type !== "written") throw new Error(`the import worker answered ${written.type}`);
        return { commitTs: written.commitTs, result: undefined };
      });
      // Requests that waited for the turn go first.
      await nextTurn();
    }
  } finally {
    worker.kill();
  }
}

/**
 * Activates a written import in one commit, in a worker, in a turn: `activation()` is asked for
 * the activation inside that turn, so nothing commits between its checks and the commit.
 */
export async function activateInWorker(runner: FunctionRunner, databasePath: string, activation: () => ActivationRequest): Promise<Activation> {
  const worker = new ImportWorker();
  try {
    return await runner.writeElsewhere(async () => {
      worker.send({ type: "activate", databasePath, ...activation() });
      const reply = await worker.reply();
      if (reply.type !== "activated") throw new Error(`the import worker answered ${reply.type}`);
      const { type, commitTs, ...activated } = reply;
      return { commitTs, result: activated };
    });
  } finally {
    worker.kill();
  }
}
