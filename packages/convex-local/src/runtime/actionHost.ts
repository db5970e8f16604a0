/**
 * The syscall host of an action or HTTP action, on the main thread (the action runs in an executor,
 * whose syscalls arrive as messages: actionExecution/remoteRun.ts): no transaction of its own, so
 * it reaches the database only through whole queries and mutations (`ctx.runQuery`,
 * `ctx.runMutation`), as on Convex; also nested actions, `ctx.scheduler`, `ctx.storage` and
 * `ctx.auth`. `hostWithoutDatabase` is the part that needs no deployment state beyond function
 * lookup (module evaluation uses it).
 */
import type { JSONValue } from "convex/values";
import type { Storage } from "../storage/index.js";
import { isSha256Base64 } from "../storage/blobs.js";
import { Transaction } from "../transactions/transaction.js";
import { refuseSyncSyscall } from "./actionExecution/executor.js";
import type { FileStorage } from "./fileStorage.js";
import type { FunctionCatalog } from "./functionCatalog.js";
import { functionPathOf, type FunctionAddress } from "./functionHandles.js";
import { isComponentName } from "./components.js";
import { scheduleFunction } from "./scheduleSyscall.js";
import type { CallHost } from "./isolate.js";
import { identityOf } from "./callerIdentity.js";
import { appendLogLine } from "./logs.js";
import { metadataSyscall, unknownAsyncOperation, unknownJsSyscall } from "./metadataSyscalls.js";
import { requestMetadata } from "./requestMetadata.js";
import { auditLogInAction } from "./auditLog.js";
import { serviceSyscall } from "./serviceTokens.js";
import type { Caller, FunctionResult, MutationResult, QueryResult } from "./runner.js";
import { cancelJob } from "./scheduledFunctionsTable.js";
import { vectorSearchSyscall } from "./vectorSearchSyscall.js";
import { isStagedVectorIndex } from "./vectorIndexPush.js";

/** What an action reaches outside its isolate (the runner's own entry points). */
export interface ActionServices {
  query(path: string, args: JSONValue, caller: Caller): Promise<QueryResult>;
  mutation(path: string, args: JSONValue, caller: Caller): Promise<MutationResult>;
  action(path: string, args: JSONValue, caller: Caller): Promise<FunctionResult>;
  systemWrite<T>(write: (transaction: Transaction) => T): Promise<T>;
  storeFile(bytes: Uint8Array, contentType: string | null, expectedSha256?: string, namespace?: string): Promise<string>;
  fileStorage(): FileStorage;
}

export function actionHost(caller: Caller, logLines: string[], services: ActionServices, catalog: FunctionCatalog, storage: Storage, functionPath?: string): CallHost {
  const base = hostWithoutDatabase(caller, logLines, catalog, functionPath);
  return {
    ...base,
    jsSyscall: (op, args, namespace = "") => {
      if (op === "storage/storeBlob") return storeBlob(services, args as { blob: unknown }, namespace);
      if (op === "storage/getBlob") return services.fileStorage().readBlob(new Transaction(storage, false), (args as { storageId: unknown }).storageId, namespace);
      return base.jsSyscall(op, args, namespace);
    },
    asyncSyscall: async (op, args, namespace = "") => {
      const request = JSON.parse(args) as FunctionAddress & { args: JSONValue };
      const path = () => functionPathOf(request, namespace);
      // As on Convex, the caller's identity is not passed into components.
      const innerCaller = () => (isComponentName(path()) ? { ...caller, identity: null, identityError: undefined, authToken: undefined, admin: true } : { ...caller, admin: true });
      switch (op) {
        // Each call resolves the path itself and reports an unknown or mistyped one as its error.
        case "1.0/actions/query":
          return valueOrThrow((await services.query(path(), request.args, innerCaller())).result);
        case "1.0/actions/mutation":
          return valueOrThrow((await services.mutation(path(), request.args, innerCaller())).result);
        case "1.0/actions/action":
          return valueOrThrow(await services.action(path(), request.args, innerCaller()));
        case "1.0/actions/schedule":
          return JSON.stringify(await services.systemWrite((transaction) => scheduleFunction(catalog, transaction, JSON.parse(args), caller, Date.now(), namespace)));
        case "1.0/storageGenerateUploadUrl":
        case "1.0/storageGetUrl":
        case "1.0/storageGetMetadata":
          return JSON.stringify(services.fileStorage().syscall(op, JSON.parse(args), new Transaction(storage, false), namespace));
        case "1.0/storageDelete":
          return JSON.stringify(await services.systemWrite((transaction) => services.fileStorage().syscall(op, JSON.parse(args), transaction, namespace)));
        case "1.0/getRequestMetadata":
          return JSON.stringify(requestMetadata(caller, "Action"));
        case "1.0/auditLog":
          throw auditLogInAction();
        case "1.0/createServiceToken":
          return serviceSyscall("getServiceToken", JSON.parse(args));
        case "1.0/getServiceUrl":
          return serviceSyscall("getServiceUrl", JSON.parse(args));
        case "1.0/actions/vectorSearch":
          return vectorSearchSyscall(storage, args, namespace, (table, index) => isStagedVectorIndex(catalog.analysis, namespace, table, index));
        case "1.0/actions/cancel_job": {
          const { id } = JSON.parse(args) as { id: string };
          await services.systemWrite((transaction) => cancelJob(transaction, id, Date.now(), namespace));
          return JSON.stringify(null);
        }
        default:
          // Actions have no transaction to nest a call in: the base answers with JSON text only.
          return base.asyncSyscall(op, args, namespace) as string | Promise<string>;
      }
    },
  };
}

/** A host with identity and function handles only: every database syscall fails. */
export function hostWithoutDatabase(caller: Caller, logLines: string[], catalog: FunctionCatalog, functionPath?: string): CallHost {
  return {
    syscall: refuseSyncSyscall,
    asyncSyscall: (op, args, namespace = "") => {
      if (op === "1.0/getUserIdentity") return namespace === "" ? identityOf(caller) : JSON.stringify(null);
      if (op === "1.0/createFunctionHandle") return JSON.stringify(catalog.createFunctionHandle(JSON.parse(args), namespace));
      const metadata = functionPath === undefined ? undefined : metadataSyscall(op, functionPath);
      if (metadata !== undefined) return JSON.stringify(metadata);
      throw unknownAsyncOperation(op);
    },
    jsSyscall: (op) => {
      throw unknownJsSyscall(op);
    },
    log: (level, args) => appendLogLine(logLines, level, args),
  };
}

/** `ctx.storage.store(blob, { sha256 })` in an action. */
async function storeBlob(services: ActionServices, { blob, options }: { blob: unknown; options?: { sha256?: string } }, namespace: string): Promise<string> {
  if (!(blob instanceof Blob)) {
    throw new Error("store() expects a Blob. If you are trying to store a Request, `await request.blob()` will give you the correct input.");
  }
  const sha256 = options?.sha256;
  if (sha256 !== undefined && !isSha256Base64(sha256)) throw new Error(`InvalidDigestHeader: the sha256 option must be a base64 SHA-256 digest, got ${JSON.stringify(sha256)}`);
  return await services.storeFile(new Uint8Array(await blob.arrayBuffer()), blob.type || null, sha256, namespace);
}

/** The value of a nested call, or its error rethrown into the caller as Convex does. */
function valueOrThrow(result: FunctionResult): string {
  if (result.status === "success") return JSON.stringify(result.value);
  const error = new Error(result.errorMessage) as Error & { data?: JSONValue };
  if (result.errorData !== undefined) error.data = result.errorData;
  throw error;
}
