/**
 * The body of a runtime process that runs functions (queryWorker.ts, mutationWorker.ts; started by
 * functionWorker.ts through runtimeProcess.ts): the deployment's catalog and a synchronous isolate
 * over the process's own connection to the store, the realm locked down once all that is set up
 * (realmLockdown.ts), and the message loop of functionWorker.ts — `install` a pushed deployment
 * (answered `installed`), `run` a batch of calls and answer `ran` with its result or `failed` with
 * what went wrong, marking each call as it starts in the progress file it shares with the backend
 * (callProgress.ts: the time limit is per call). It exits when the IPC channel goes (the backend
 * ended).
 *
 * @example
 * serveFunctions((data) => Storage.openReader(data.databasePath), (calls, context) => ({ executed: executeQueries(calls, context) }));
 */
import type { Storage } from "../storage/index.js";
import { CallProgress } from "./callProgress.js";
import { FileStorage, type FileStorageThreadOptions } from "./fileStorage.js";
import { FunctionCatalog } from "./functionCatalog.js";
import { DeploymentJwtSigner } from "./jwtSigning.js";
import { lockDownRealm } from "./realmLockdown.js";
import type { Deployment } from "./runner.js";
import { SyncExecutor } from "./syncExecution.js";

/** The environment variable that carries a function process's FunctionProcessData, as JSON. */
export const FUNCTION_PROCESS_DATA = "CONVEX_LOCAL_FUNCTION_PROCESS";

/** What a function process is started with. */
export interface FunctionProcessData {
  databasePath: string;
  /** Where `ctx.storage` finds files, when the backend has file storage. */
  files: FileStorageThreadOptions | null;
  /** The time limit of one call (the backend's watchdog enforces it). */
  timeoutMs: number;
}

/** What a function process is started with: its data and the progress file it shares with the backend. */
export type FunctionProcessStart = FunctionProcessData & { progressFile: string };

/** What a batch runs against. */
export interface FunctionProcessContext {
  storage: Storage;
  catalog: FunctionCatalog;
  executor: SyncExecutor;
  progress: CallProgress;
}

/** What the backend sends a function process. */
export type FunctionProcessMessage<Call> =
  | { type: "install"; deployment: Deployment }
  /** `environment`: when it changed since the previous batch (it is often several KiB of keys). */
  | { type: "run"; id: number; calls: Call[]; environment?: Record<string, string> };

/** What a function process answers. */
export type FunctionProcessReply = { type: "installed" } | { type: "ran"; id: number } | { type: "failed"; id: number; message: string };

export function serveFunctions<Call, Reply extends object>(
  openStorage: (data: FunctionProcessData) => Storage,
  run: (calls: Call[], context: FunctionProcessContext) => Reply,
): void {
  if (process.send === undefined) throw new Error("serveFunctions runs in a forked process with an IPC channel");
  const send = process.send.bind(process) as (reply: FunctionProcessReply) => boolean;
  const data = JSON.parse(process.env[FUNCTION_PROCESS_DATA] ?? "null") as FunctionProcessStart | null;
  if (data === null) throw new Error(`a function process needs ${FUNCTION_PROCESS_DATA} in its environment`);
  const storage = openStorage(data);
  const fileStorage = data.files === null ? undefined : FileStorage.inThread(storage, data.files);
  const catalog = new FunctionCatalog(storage);
  let environment: Record<string, string> = {};
  let jwtSigner: DeploymentJwtSigner | undefined;
  const executor = new SyncExecutor({
    catalog,
    environment: () => environment,
    fileStorage: () => {
      if (fileStorage === undefined) throw new Error("File storage is not configured on this backend");
      return fileStorage;
    },
    jwtSigner: () => (jwtSigner ??= DeploymentJwtSigner.open(storage)),
  });
  const progress = CallProgress.open(data.progressFile);
  lockDownRealm();
  process.on("disconnect", () => process.exit(0));
  process.on("message", (message: FunctionProcessMessage<Call>) => {
    if (message.type === "install") {
      catalog.install(message.deployment);
      executor.reset();
      send({ type: "installed" });
      return;
    }
    if (message.environment !== undefined) environment = message.environment;
    let reply: object;
    try {
      reply = { type: "ran", id: message.id, ...run(message.calls, { storage, catalog, executor, progress }) };
    } catch (error) {
      reply = { type: "failed", id: message.id, message: error instanceof Error ? error.message : String(error) };
    }
    progress.idle();
    send(reply as FunctionProcessReply);
  });
}

/**
 * The same array without holes in V8's eyes: one made by `new Array(n)` stays "holey" once filled,
 * and the serializer that carries it to the backend (V8's, as structured clone) writes a holey
 * array as a sparse one, index by index as object keys, several times slower.
 */
export function packed<T>(array: T[]): T[] {
  return Array.from(array);
}
