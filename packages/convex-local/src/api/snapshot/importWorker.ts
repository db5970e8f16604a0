/**
 * The import worker: a process of its own (started by importWork.ts for one import's step, ended
 * by it after) that reads the uploaded file and writes the store, so the backend's main thread
 * never parses a row nor writes one:
 *
 * - `peek`: each table's number from `_tables` or its first row (importPlan.ts `peekImport`).
 * - `write`: writes the rows into their hidden tables through its own connection (importWriter.ts):
 *   it reads and checks a batch, says it is `ready`, and writes it on the `turn` message — sent
 *   while the backend holds every other writer back — answering with its commit.
 * - `activate` (sent in a turn too): puts the tables in place and completes the import in one
 *   commit (importActivation.ts).
 *
 * Its heap is bounded (`--max-old-space-size`): an upload that fills it ends this process alone,
 * and a batch it had not committed is rolled back with it. It waits after its last reply for the
 * backend to end it, so that an exit always means a failure; it goes when the backend does (its
 * IPC channel closes).
 */
import { Storage } from "../../storage/index.js";
import { BlobStore } from "../../storage/blobs.js";
import { activateImport, type Activation, type ActivationRequest } from "./importActivation.js";
import { ImportError, openImport } from "./importParse.js";
import { peekImport, type ImportTable } from "./importPlan.js";
import { ImportWriter, type UploadToRead, type WriteRequest } from "./importWriter.js";

export type ImportWorkerRequest =
  | { type: "peek"; upload: UploadToRead }
  | ({ type: "write" } & WriteRequest)
  | { type: "turn" }
  | ({ type: "activate"; databasePath: string } & ActivationRequest);

export type ImportWorkerReply =
  | { type: "peeked"; tables: ImportTable[] }
  /** A batch is read and checked (`done`: every row is written); `written`: rows per table so far. */
  | { type: "ready"; done: boolean; written: number[] }
  /** The batch committed at `commitTs`. */
  | { type: "written"; commitTs: bigint }
  /** The import is in place, committed at `commitTs`. */
  | ({ type: "activated"; commitTs: bigint } & Activation)
  /** `known`: an upload Convex would refuse (ImportError), else a failure of the worker. */
  | { type: "failed"; message: string; known: boolean };

const requests: ImportWorkerRequest[] = [];
let wake: (() => void) | undefined;

function nextRequest(): Promise<ImportWorkerRequest> {
  const request = requests.shift();
  if (request !== undefined) return Promise.resolve(request);
  return new Promise((resolve) => (wake = () => resolve(requests.shift()!)));
}

function reply(message: ImportWorkerReply): void {
  process.send!(message);
}

async function peek(upload: UploadToRead): Promise<void> {
  const source = await openImport(upload.path, upload.format, upload.tableName, upload.componentPath);
  try {
    reply({ type: "peeked", tables: await peekImport(source) });
  } finally {
    source.close();
  }
}

async function write(request: WriteRequest): Promise<void> {
  const { upload } = request;
  const source = await openImport(upload.path, upload.format, upload.tableName, upload.componentPath);
  const storage = Storage.open(request.databasePath);
  const writer = new ImportWriter(storage, new BlobStore(request.blobDirectory), source, request);
  try {
    for (;;) {
      const done = await writer.fill();
      reply({ type: "ready", done, written: writer.written });
      if (done) return;
      if ((await nextRequest()).type !== "turn") throw new Error("the import worker expected its turn");
      reply({ type: "written", commitTs: writer.write() });
    }
  } catch (error) {
    writer.discardPending();
    throw error;
  } finally {
    storage.close();
    source.close();
  }
}

function activate({ databasePath, ...request }: { databasePath: string } & ActivationRequest): void {
  const storage = Storage.open(databasePath);
  try {
    const { commitTs, ...activated } = storage.transaction(() => ({ ...activateImport(storage, request), commitTs: storage.transactionTs() }));
    reply({ type: "activated", commitTs, ...activated });
  } finally {
    storage.close();
  }
}

process.on("message", (request: ImportWorkerRequest) => {
  requests.push(request);
  wake?.();
  wake = undefined;
});

void (async () => {
  const request = await nextRequest();
  try {
    if (request.type === "peek") await peek(request.upload);
    else if (request.type === "write") await write(request);
    else if (request.type === "activate") activate(request);
    else throw new Error(`the import worker got ${request.type} first`);
  } catch (error) {
    reply({ type: "failed", message: error instanceof Error ? error.message : String(error), known: error instanceof ImportError });
  }
})();
