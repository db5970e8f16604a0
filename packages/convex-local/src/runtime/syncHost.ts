/**
 * The syscall host of a query or mutation: `ctx.db` against the call's transaction, `ctx.auth`,
 * function handles, nested `ctx.runQuery` / `ctx.runMutation` (same transaction, same identity),
 * `ctx.storage` and, in mutations, `ctx.scheduler`. Everything it answers is synchronous.
 */
import type { JSONValue } from "convex/values";
import type { Transaction } from "../transactions/transaction.js";
import { DatabaseSyscalls, type QueryJournal } from "./databaseSyscalls.js";
import type { FileStorage } from "./fileStorage.js";
import { exportedFunction, type FunctionCatalog, type Load } from "./functionCatalog.js";
import { nestedCallError } from "./functionResults.js";
import { functionPathOf, type FunctionAddress } from "./functionHandles.js";
import { cancelJobFromMutation, scheduleFunction } from "./scheduleSyscall.js";
import type { UdfType } from "./functions.js";
import type { CallHost, NestedCall } from "./isolate.js";
import { identityOf } from "./callerIdentity.js";
import { appendLogLine } from "./logs.js";
import { metadataSyscall, unknownJsSyscall } from "./metadataSyscalls.js";
import { requestMetadata } from "./requestMetadata.js";
import { AuditLogLines } from "./auditLog.js";
import { parseFunctionPath } from "./modules.js";
import type { Caller } from "./runner.js";

/** The state of one query or mutation (and the queries/mutations it calls). */
export interface SyncCall {
  transaction: Transaction;
  caller: Caller;
  logLines: string[];
  journal: QueryJournal;
  /** The isolate's module loader, set once the call starts (nested calls load their function with it). */
  load?: Load;
  /** Whether the call read the clock (a cached result of it expires soon). */
  observedTime?: boolean;
  /** The function the call runs (set as it starts; a nested call's own only while it starts, then its caller's). */
  functionPath?: string;
  /** The `log.audit` lines written so far (the call's and its nested calls'), checked against Convex's limits. */
  auditLog?: AuditLogLines;
}

/** Signs a `ctx.auth.signJwt` token (jwtSigning.ts) for the code of `namespace` ("" for the app). */
export type SignJwt = (options: unknown, namespace: string) => string;

export function syncHost(call: SyncCall, catalog: FunctionCatalog, fileStorage: () => FileStorage, signJwt: SignJwt): CallHost {
  // One per namespace whose code runs in the call (the app's, and components' it calls: components.ts).
  const databases = new Map<string, DatabaseSyscalls>();
  const databaseOf = (namespace = "") => {
    let database = databases.get(namespace);
    if (database === undefined) databases.set(namespace, (database = new DatabaseSyscalls(call.transaction, catalog.schemaByTable(namespace), call.journal, namespace)));
    return database;
  };
  return {
    syscall: (op, args, namespace) => JSON.stringify(databaseOf(namespace).syscall(op, JSON.parse(args))),
    asyncSyscall: (op, args, namespace = "") => {
      const parsed = JSON.parse(args);
      // As on Convex, the caller's identity is not passed into components.
      if (op === "1.0/getUserIdentity") return namespace === "" ? identityOf(call.caller) : JSON.stringify(null);
      if (op === "1.0/createFunctionHandle") return JSON.stringify(catalog.createFunctionHandle(parsed, namespace));
      if (op === "1.0/runUdf") return nestedCall(call, catalog, parsed, namespace);
      if (op === "1.0/getRequestMetadata") return JSON.stringify(requestMetadata(call.caller, call.transaction.writable ? "Mutation" : "Query"));
      if (op === "1.0/auditLog") {
        (call.auditLog ??= new AuditLogLines()).add(parsed);
        return JSON.stringify(null);
      }
      const metadata = call.functionPath === undefined ? undefined : metadataSyscall(op, call.functionPath);
      if (metadata !== undefined) return JSON.stringify(metadata);
      if (op === "1.0/signJwt") {
        if (!call.transaction.writable) throw new Error("ctx.auth.signJwt is only available in mutations");
        return JSON.stringify(signJwt(parsed, namespace));
      }
      if (op.startsWith("1.0/storage")) return JSON.stringify(fileStorage().syscall(op, parsed, call.transaction, namespace));
      if (op === "1.0/schedule" || op === "1.0/cancel_job") {
        if (!call.transaction.writable) throw new Error("The scheduler is not available in queries");
        if (op === "1.0/cancel_job") {
          cancelJobFromMutation(call.transaction, parsed.id, call.caller, catalog.udfServerVersion, (warning) => appendLogLine(call.logLines, "WARN", [warning]), namespace);
          return JSON.stringify(null);
        }
        return JSON.stringify(scheduleFunction(catalog, call.transaction, parsed, call.caller, Date.now(), namespace));
      }
      return JSON.stringify(databaseOf(namespace).asyncSyscall(op, parsed));
    },
    jsSyscall: (op) => {
      throw unknownJsSyscall(op);
    },
    log: (level, args) => appendLogLine(call.logLines, level, args),
  };
}

/** `ctx.runQuery` / `ctx.runMutation` inside a query or mutation: same transaction, same identity. */
function nestedCall(call: SyncCall, catalog: FunctionCatalog, request: FunctionAddress & { udfType: string; args: JSONValue }, namespace: string): NestedCall {
  const path = functionPathOf(request, namespace);
  const expected: UdfType = request.udfType === "mutation" ? "Mutation" : "Query";
  if (expected === "Mutation" && !call.transaction.writable) throw new Error("Can't run a mutation from a query");
  const info = catalog.resolve(path, { ...call.caller, admin: true }, expected);
  const validatedArgs = catalog.checkArgs(info, request.args);
  const { modulePath, exportName } = parseFunctionPath(info.path);
  const fn = exportedFunction(call.load!, modulePath, exportName);
  const argsJson = JSON.stringify([validatedArgs]);
  // The callee's syscalls made as it starts (before its first await) report its own metadata, as
  // Convex's do (the workflow component's client reads its function's name so); later ones its caller's.
  const caller = call.functionPath;
  call.functionPath = info.path;
  let callee: Promise<string>;
  try {
    callee = (expected === "Query" ? fn.invokeQuery(argsJson) : fn.invokeMutation(argsJson)) as Promise<string>;
  } finally {
    call.functionPath = caller;
  }
  return {
    callee,
    check: (value) => {
      catalog.checkReturns(info, value);
      return value;
    },
    fail: (error) => nestedCallError(error, catalog.modules),
  };
}
