/**
 * Executes queries inside a query worker (queryWorker.ts): each batch reads one snapshot of the
 * store through the worker's own read-only connection, its queries run in the worker's shared
 * synchronous isolate, all in one vm run (`SyncExecutor.runBatch`), and each query's
 * outcome comes back with what the main thread needs to cache and subscribe to it: its read set,
 * its journal, whether it read the clock, and the snapshot's commit timestamp.
 */
import type { KeyRange } from "../storage/keys.js";
import { Transaction, type ReadRange } from "../transactions/transaction.js";
import type { JSONValue } from "convex/values";
import { errorResult, failure, resultFromJson, uncaughtMessage } from "./functionResults.js";
import { packed, type FunctionProcessContext } from "./functionProcess.js";
import type { FunctionInfo } from "./functions.js";
import type { BatchResult, InvokeRequest } from "./isolate.js";
import { OneoffQueryRefusal, oneoffQueryFunction, unanalyzableModule, type OneoffModule, type OneoffQueryFunction } from "./oneoffQuery.js";
import type { FunctionResult, QueryRequest } from "./runner.js";
import type { SyncCall } from "./syncHost.js";
import type { ValidatorJson } from "./validator.js";

/** How a query ran, as of the snapshot `snapshotTs`. */
export interface ExecutedQuery {
  result: FunctionResult;
  reads: ReadRange[];
  journal: string | null;
  observedTime: boolean;
  executionTimeMs: number;
  snapshotTs: bigint;
  /** A one-off query refused before it ran (its module's load or exports): the request's error, not the function's. */
  refusal?: { code: string; message: string };
}

/**
 * How a query ran, as its worker sends it: a success's value stays the JSON text its function
 * produced (the backend makes it a result with `resultFromJson`), so neither process parses it,
 * copies its object graph or serializes it again to answer.
 */
export type RanQuery = Omit<ExecutedQuery, "result"> & { result: RanResult };
export type RanResult = FunctionResult | { status: "success"; valueJson: string; logLines: string[] };

/**
 * The backend's ExecutedQuery of a query as its worker sent it: a success's value as the text the
 * function produced, and index keys as Buffers (they arrive as plain Uint8Arrays, and the read-set
 * code compares Buffers).
 */
export function receivedQuery({ result, ...ran }: RanQuery): ExecutedQuery {
  const buffer = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const range = (r: KeyRange): KeyRange => ({ ...r, lower: buffer(r.lower), upper: buffer(r.upper) });
  return {
    ...ran,
    result: "valueJson" in result ? resultFromJson(result.valueJson, result.logLines) : result,
    reads: ran.reads.map((read) => ({ ...read, range: range(read.range) })),
  };
}

/** Runs every query of `calls` on one snapshot of the store and returns how each ran, in order. */
export function executeQueries(calls: readonly QueryRequest[], context: FunctionProcessContext): RanQuery[] {
  return context.storage.readSnapshot((snapshotTs) => executeBatch(calls, context, snapshotTs));
}

interface Started {
  index: number;
  started: number;
  info: FunctionInfo;
  call: SyncCall;
  request: InvokeRequest;
}

/** One vm run over `calls` on the current snapshot. */
function executeBatch(calls: readonly QueryRequest[], context: FunctionProcessContext, snapshotTs: bigint): RanQuery[] {
  const { storage, catalog, executor, progress } = context;
  const results: RanQuery[] = new Array(calls.length);
  const finish = (call: SyncCall, started: number, result: RanResult): RanQuery => {
    call.transaction.finish();
    return {
      result,
      reads: call.transaction.reads,
      journal: call.journal.next,
      observedTime: call.observedTime === true,
      executionTimeMs: performance.now() - started,
      snapshotTs,
    };
  };
  const batch: Started[] = [];
  calls.forEach(({ path, args, caller, journal, oneoff }, index) => {
    if (oneoff !== undefined) return; // run on its own, in an isolate of its own (executeOneoff)
    const call: SyncCall = { transaction: new Transaction(storage, false), caller, logLines: [], journal: { previous: journal, next: null } };
    const started = performance.now();
    try {
      const info = catalog.resolve(path, caller, "Query");
      batch.push({ index, started, info, call, request: executor.request(info, args, call) });
    } catch (error) {
      results[index] = finish(call, started, failure(error, call.logLines));
    }
  });
  calls.forEach((request, index) => {
    if (request.oneoff !== undefined) results[index] = executeOneoff(request, request.oneoff, context, snapshotTs, () => progress.started(index));
  });
  if (batch.length === 0) return packed(results);
  let outcomes: BatchResult[];
  try {
    outcomes = executor.runBatch(batch.map(({ index, call, request }) => ({ call, request, onStart: () => progress.started(index) })));
  } catch (error) {
    for (const { index, started, call } of batch) results[index] = finish(call, started, failure(error, call.logLines));
    return packed(results);
  }
  batch.forEach(({ index, info, started, call }, i) => {
    const outcome = outcomes[i]!;
    call.observedTime = !(outcome instanceof Error) && outcome.ok && outcome.observedTime === true;
    let result: RanResult;
    try {
      if (outcome instanceof Error) result = failure(outcome, call.logLines);
      else if (!outcome.ok) result = errorResult(outcome.error, call.logLines, catalog.modules);
      else {
        catalog.checkReturns(info, outcome.value);
        // A query's outcome value is its result as JSON text.
        result = { status: "success", valueJson: outcome.value as string, logLines: call.logLines };
      }
    } catch (error) {
      result = failure(error, call.logLines);
    }
    results[index] = finish(call, started, result);
  });
  return packed(results);
}

/** A query that failed without running (refused, or its worker failed): it read nothing, so no commit makes its answer stale. */
export function failedExecution(error: unknown): ExecutedQuery {
  return { result: failure(error, []), reads: [], journal: null, observedTime: false, executionTimeMs: 0, snapshotTs: -1n };
}

/**
 * Runs a one-off query (oneoffQuery.ts) on the batch's snapshot, as the admin, read-only, in an
 * isolate that has its modules for this call only. Loading the module and checking its exports run
 * inside the call, under the query's time limit; a failure there is Convex's refusal of the request
 * (`refusal`), a failure after is the query's own error.
 */
function executeOneoff(request: QueryRequest, oneoff: OneoffModule, { storage, catalog, executor }: FunctionProcessContext, snapshotTs: bigint, onStart: () => void): RanQuery {
  const call: SyncCall = { transaction: new Transaction(storage, false), caller: request.caller, logLines: [], journal: { previous: null, next: null } };
  const started = performance.now();
  const modules = new Map(catalog.modules);
  for (const module of oneoff.modules) modules.set(module.path, module);
  let info: FunctionInfo | undefined;
  /** Why the host refused the call from inside it (Convex's refusal, or the arguments' validation). */
  let hostFailure: unknown;
  const invoke: InvokeRequest["invoke"] = (load) => {
    call.load = load;
    call.functionPath = request.path;
    const exports = load(oneoff.modulePath);
    let found: OneoffQueryFunction;
    let args: JSONValue;
    try {
      found = oneoffQueryFunction(exports);
      info = { path: request.path, udfType: "Query", visibility: "public", args: parsedValidator(found.args), returns: parsedValidator(found.returns), environment: "isolate" };
      args = catalog.checkArgs(info, request.args);
    } catch (error) {
      if (error instanceof OneoffQueryRefusal || info !== undefined) hostFailure = error;
      throw error;
    }
    return found.fn.invokeQuery!(JSON.stringify([args]));
  };
  let outcome: BatchResult | Error;
  try {
    // As on Convex, a component's one-off query sees no environment variables.
    outcome = executor.runWithModules(oneoff.modules, { call, request: executor.describe(invoke, { environment: oneoff.namespace === "" }), onStart });
  } catch (error) {
    outcome = error as Error;
  }
  call.transaction.finish();
  const executed = (result: RanResult, refusal?: OneoffQueryRefusal): RanQuery => ({
    result,
    reads: call.transaction.reads,
    journal: null,
    observedTime: false,
    executionTimeMs: performance.now() - started,
    snapshotTs,
    ...(refusal === undefined ? {} : { refusal: { code: refusal.code, message: refusal.message } }),
  });
  if (hostFailure instanceof OneoffQueryRefusal) return executed(failure(hostFailure, call.logLines), hostFailure);
  if (hostFailure !== undefined) return executed(failure(hostFailure, call.logLines));
  if (outcome instanceof Error) return executed(failure(outcome, call.logLines));
  if (!outcome.ok && info === undefined) {
    // It failed before its exports were checked: the module did not load, which Convex's analysis reports.
    const refusal = unanalyzableModule(uncaughtMessage(outcome.error, modules).trimEnd());
    return executed(failure(refusal, call.logLines), refusal);
  }
  if (!outcome.ok) return executed(errorResult(outcome.error, call.logLines, modules));
  try {
    catalog.checkReturns(info!, outcome.value);
  } catch (error) {
    return executed(failure(error, call.logLines));
  }
  return executed({ status: "success", valueJson: outcome.value as string, logLines: call.logLines });
}

/** A validator's JSON text as the catalog keeps it: `v.any()` and none are both null. */
function parsedValidator(json: string | null): ValidatorJson | null {
  if (json === null) return null;
  const parsed = JSON.parse(json) as ValidatorJson | null;
  return parsed === null || parsed.type === "any" ? null : parsed;
}
