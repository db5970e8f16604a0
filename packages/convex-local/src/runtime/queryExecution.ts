/**
 * Executes queries inside a query worker (queryWorker.ts): each batch reads one snapshot of the
 * store through the worker's own read-only connection, its queries run in the worker's shared
 * synchronous isolate, all in one vm run (`SyncExecutor.runBatch`), and each query's
 * outcome comes back with what the main thread needs to cache and subscribe to it: its read set,
 * its journal, whether it read the clock, and the snapshot's commit timestamp.
 */
import { Transaction, type ReadRange } from "../transactions/transaction.js";
import { failure } from "./functionResults.js";
import { packed, type FunctionProcessContext } from "./functionProcess.js";
import type { FunctionInfo } from "./functions.js";
import type { BatchResult, InvokeRequest } from "./isolate.js";
import type { FunctionResult, QueryRequest } from "./runner.js";
import type { SyncCall } from "./syncHost.js";

/** How a query ran, as of the snapshot `snapshotTs`. */
export interface ExecutedQuery {
  result: FunctionResult;
  reads: ReadRange[];
  journal: string | null;
  observedTime: boolean;
  executionTimeMs: number;
  snapshotTs: bigint;
  /** The length of a successful result's value as JSON text (what the query cache counts); 0 for an error. */
  valueBytes: number;
}

/** Runs every query of `calls` on one snapshot of the store and returns how each ran, in order. */
export function executeQueries(calls: readonly QueryRequest[], context: FunctionProcessContext): ExecutedQuery[] {
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
function executeBatch(calls: readonly QueryRequest[], { storage, catalog, executor, progress }: FunctionProcessContext, snapshotTs: bigint): ExecutedQuery[] {
  const results: ExecutedQuery[] = new Array(calls.length);
  const finish = (call: SyncCall, started: number, result: FunctionResult, valueBytes = 0): ExecutedQuery => {
    call.transaction.finish();
    return {
      result,
      reads: call.transaction.reads,
      journal: call.journal.next,
      observedTime: call.observedTime === true,
      executionTimeMs: performance.now() - started,
      snapshotTs,
      valueBytes,
    };
  };
  const batch: Started[] = [];
  calls.forEach(({ path, args, caller, journal }, index) => {
    const call: SyncCall = { transaction: new Transaction(storage, false), caller, logLines: [], journal: { previous: journal, next: null } };
    const started = performance.now();
    try {
      const info = catalog.resolve(path, caller, "Query");
      batch.push({ index, started, info, call, request: executor.request(info, args, call) });
    } catch (error) {
      results[index] = finish(call, started, failure(error, call.logLines));
    }
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
    let result: FunctionResult;
    try {
      result = outcome instanceof Error ? failure(outcome, call.logLines) : catalog.resultOf(info, outcome, call.logLines);
    } catch (error) {
      result = failure(error, call.logLines);
    }
    // A query's outcome value is its result as JSON text.
    results[index] = finish(call, started, result, result.status === "success" ? (outcome as { value: string }).value.length : 0);
  });
  return packed(results);
}

/** A query that failed without running (refused, or its worker failed): it read nothing, so no commit makes its answer stale. */
export function failedExecution(error: unknown): ExecutedQuery {
  return { result: failure(error, []), reads: [], journal: null, observedTime: false, executionTimeMs: 0, snapshotTs: -1n, valueBytes: 0 };
}
