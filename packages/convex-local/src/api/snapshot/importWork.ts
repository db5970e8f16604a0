/**
 * Runs an import's steps that read its rows in an import worker (importWorker.ts): a process
 * started for the step and gone after it, so parsing and checking rows never holds the backend's
 * main thread, and the rows' writes take their turns between mutation batches (the runner's
 * `writeElsewhere`), holding back only other writers, one batch at a time.
 *
 * A process, not a thread, because its heap bound must hold whatever the upload is: a worker
 * thread that reaches its `resourceLimits` can make V8 abort the whole backend
 * (runtimeProcess.ts). A worker that runs out of heap, crashes or is killed fails its import alone.
 *
 * @example
 * const tables = await peekInWorker(upload);
 * const written = await writeInWorker(runner, request, checkRunning);
 * const { drops, writes } = await activateInWorker(runner, databasePath, () => activationRequest);
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { namespaceOf, qualifiedPath } from "../../runtime/components.js";
import type { FunctionRunner } from "../../runtime/runner.js";
import { RuntimeProcess } from "../../runtime/runtimeProcess.js";
import { threadEntry } from "../../runtime/threadEntry.js";
import type { Activation, ActivationRequest } from "./importActivation.js";
import { ImportError, singleTableFile } from "./importParse.js";
import type { ImportTable } from "./importPlan.js";
import type { ImportWorkerReply, ImportWorkerRequest } from "./importWorker.js";
import type { UploadToRead, WriteRequest } from "./importWriter.js";

const ENTRY = new URL("./importWorker.js", import.meta.url);
/**
 * The worker's heap, in MiB: it holds a batch of rows and its parser's state, never a table (a
 * `.json` array, read whole, is at most 16 MiB of text). `CONVEX_LOCAL_IMPORT_HEAP_MB` sets another
 * (the tests make it small).
 */
function importHeapMb(): number {
  const configured = Number(process.env.CONVEX_LOCAL_IMPORT_HEAP_MB);
  return Number.isInteger(configured) && configured > 0 ? configured : 512;
}

/** An import worker and its replies, in order. */
class ImportWorker {
  private readonly worker: RuntimeProcess;
  private readonly replies: ImportWorkerReply[] = [];
  private waiting: ((reply: ImportWorkerReply) => void) | undefined;
  private readonly ended: Promise<ImportWorkerReply>;

  /** `upload`: what the worker reads, named when it runs out of memory. */
  constructor(upload?: UploadToRead) {
    const heapMb = importHeapMb();
    // It runs no user code and the import waits on it: the backend's CPU policy, not SCHED_BATCH (~20% slower).
    this.worker = new RuntimeProcess(threadEntry(ENTRY), { heapMb, lockedDown: false, batch: false });
    this.worker.hold(true);
    this.worker.onMessage = (message) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting !== undefined) waiting(message as ImportWorkerReply);
      else this.replies.push(message as ImportWorkerReply);
    };
    // The worker does not end by itself: an exit is a failure.
    this.ended = this.worker.exited.then(({ outOfMemory, reason }) =>
      outOfMemory ? { type: "failed", known: true, message: outOfMemoryMessage(heapMb, upload) } : { type: "failed", known: false, message: `The import worker ended (${reason}) before it finished: nothing was imported` },
    );
  }

  send(request: ImportWorkerRequest): void {
    this.worker.send(request);
  }

  /** The next reply; a failure (or the worker's end) is thrown. */
  async reply(): Promise<ImportWorkerReply> {
    const next = this.replies.shift() ?? (await Promise.race([new Promise<ImportWorkerReply>((resolve) => (this.waiting = resolve)), this.ended]));
    if (next.type === "failed") throw next.known ? new ImportError(next.message) : new Error(next.message);
    return next;
  }

  kill(): void {
    this.worker.kill();
  }
}

/** Why an import failed when its worker ran out of heap: a `.json` array is the one upload read whole. */
function outOfMemoryMessage(heapMb: number, upload: UploadToRead | undefined): string {
  const outOfMemory = `The import ran out of memory (${heapMb} MiB) reading`;
  if (upload === undefined) return `${outOfMemory} the import's tables: nothing was imported`;
  if (upload.format === "zip") return `${outOfMemory} the ZIP: nothing was imported`;
  const file = singleTableFile(qualifiedPath(namespaceOf(upload.componentPath), upload.tableName!), upload.format);
  if (upload.format !== "jsonArray") return `${file}: ${outOfMemory} the file: nothing was imported`;
  return `${file}: ${outOfMemory} the JSON array, which is read whole: nothing was imported. Convert the data to JSONLines (a .jsonl file, one document per line), which is read a part at a time`;
}

/** Each table of the upload with the number `_tables` or its first row gives it (importPlan.ts `peekImport`). */
export async function peekInWorker(upload: UploadToRead): Promise<ImportTable[]> {
  const worker = new ImportWorker(upload);
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
  const worker = new ImportWorker(request.upload);
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
