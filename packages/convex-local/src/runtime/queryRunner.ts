/**
 * The query path: runs queries read-only against one consistent snapshot, answers repeated ones
 * from the query cache (by function, arguments, identity and journal, until a commit writes into
 * what they read, a push, or an environment change), and batches the queries that arrive in one
 * turn of the event loop into one timed vm run.
 */
import type { JSONValue } from "convex/values";
import type { Storage } from "../storage/index.js";
import { Transaction, type DocumentWrite } from "../transactions/transaction.js";
import type { FunctionCatalog } from "./functionCatalog.js";
import { failure, runLogEntry } from "./functionResults.js";
import type { FunctionInfo } from "./functions.js";
import type { BatchResult, InvokeRequest } from "./isolate.js";
import { QueryCache } from "./queryCache.js";
import type { Caller, FunctionLogEntry, FunctionResult, QueryRequest, QueryResult } from "./runner.js";
import type { SyncExecutor } from "./syncExecution.js";
import type { SyncCall } from "./syncHost.js";

export interface QueryRunnerOptions {
  storage: Storage;
  catalog: FunctionCatalog;
  executor: SyncExecutor;
  /** The deployment's environment variables as configured (a new object means they changed). */
  environment: () => Record<string, string>;
  timeoutMs: number;
  onLog?: (entry: FunctionLogEntry) => void;
}

interface QueuedQuery extends QueryRequest {
  cacheKey: string | undefined;
  resolve: (result: QueryResult) => void;
}

export class QueryRunner {
  private readonly queue: QueuedQuery[] = [];
  private readonly cache: QueryCache;
  /** The environment the cached results were computed with: a change makes them all stale. */
  private cacheEnvironment: Record<string, string> | undefined;

  constructor(private readonly options: QueryRunnerOptions) {
    this.cache = new QueryCache({
      indexesOf: (table) => {
        try {
          return options.storage.listIndexes(table);
        } catch {
          return undefined; // a table deleted since: every reader of it is invalidated
        }
      },
      // Convex's rule: the query time limit plus a second.
      maxAgeIfTimed: options.timeoutMs + 1000,
    });
  }

  /** After a push: no cached result stands. */
  clearCache(): void {
    this.cache.clear();
  }

  /** After a commit: cached results that read what it wrote are dropped. */
  invalidate(writes: DocumentWrite[]): void {
    this.cache.invalidate(writes);
  }

  /** Runs a query; `journal` is the one its previous run returned (a subscription's re-run). */
  query(path: string, args: JSONValue, caller: Caller, journal: string | null = null): QueryResult {
    const { cacheKey, hit } = this.cachedQuery(path, args, caller, journal);
    if (hit !== undefined) return hit;
    const logLines: string[] = [];
    const started = performance.now();
    const transaction = new Transaction(this.options.storage, false);
    const call: SyncCall = { transaction, caller, logLines, journal: { previous: journal, next: null } };
    let result: FunctionResult;
    try {
      const info = this.options.catalog.resolve(path, caller, "Query");
      // A query runs to completion synchronously, so no write can interleave: it reads one snapshot.
      result = this.options.executor.run(info, args, call);
    } catch (error) {
      result = failure(error, logLines);
    }
    return this.finishQuery(path, started, call, result, cacheKey);
  }

  /**
   * Runs a query together with the others queued within the same turn of the event loop: one vm
   * run for all of them (see `Isolate.runSyncBatch`), each still reading committed data only and
   * bounded by the time limit.
   */
  queueQuery(path: string, args: JSONValue, caller: Caller, journal: string | null = null): Promise<QueryResult> {
    const { cacheKey, hit } = this.cachedQuery(path, args, caller, journal);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve) => {
      if (this.queue.length === 0) setImmediate(() => this.runQueuedQueries());
      this.queue.push({ path, args, caller, journal, cacheKey, resolve });
    });
  }

  /**
   * Runs queries now, all in timed vm runs shared as in `queueQuery` (the sync protocol's flush
   * re-runs every invalidated subscription this way), answering cached ones from the cache.
   */
  queryMany(requests: QueryRequest[]): QueryResult[] {
    const results: QueryResult[] = new Array(requests.length);
    let pending: (QueryRequest & { index: number; cacheKey?: string })[] = [];
    requests.forEach((request, index) => {
      const { cacheKey, hit } = this.cachedQuery(request.path, request.args, request.caller, request.journal);
      if (hit !== undefined) results[index] = hit;
      else pending.push({ ...request, index, cacheKey });
    });
    while (pending.length > 0) {
      const batchResults = this.runQueryBatch(pending);
      pending.forEach(({ index }, i) => {
        if (batchResults[i] !== undefined) results[index] = batchResults[i]!;
      });
      pending = pending.filter((_, i) => batchResults[i] === undefined);
    }
    return results;
  }

  /** The query cache's key for a call, and the cached result when one is valid (reported as a cached run). */
  private cachedQuery(path: string, args: JSONValue, caller: Caller, journal: string | null): { cacheKey?: string; hit?: QueryResult } {
    const environment = this.options.environment();
    if (environment !== this.cacheEnvironment) {
      this.cache.clear();
      this.cacheEnvironment = environment;
    }
    let cacheKey: string;
    try {
      cacheKey = QueryCache.key(path, args, caller.identity, caller.admin, journal);
    } catch {
      return {}; // arguments too deeply nested to serialize: the run reports Convex's error
    }
    const cached = this.cache.get(cacheKey);
    if (cached === undefined) return { cacheKey };
    const result: FunctionResult = { status: "success", value: cached.value, logLines: cached.logLines };
    this.options.onLog?.(runLogEntry(path, "Query", performance.now(), result, true));
    return { cacheKey, hit: { result, reads: cached.reads, journal: cached.journal } };
  }

  private runQueuedQueries(): void {
    const queued = this.queue.splice(0);
    const results = this.runQueryBatch(queued);
    // Calls the batch did not get to start go first in the next one.
    const notStarted = queued.filter((_, i) => results[i] === undefined);
    if (notStarted.length > 0) {
      this.queue.unshift(...notStarted);
      setImmediate(() => this.runQueuedQueries());
    }
    queued.forEach(({ resolve }, i) => {
      const result = results[i];
      if (result !== undefined) resolve(result);
    });
  }

  /** One timed vm run over `queries`; undefined for a query the run did not get to start. */
  private runQueryBatch(queries: (QueryRequest & { cacheKey?: string })[]): (QueryResult | undefined)[] {
    const results: (QueryResult | undefined)[] = new Array(queries.length);
    const batch: { index: number; path: string; cacheKey?: string; started: number; info: FunctionInfo; call: SyncCall; request: InvokeRequest }[] = [];
    queries.forEach(({ path, args, caller, journal, cacheKey }, index) => {
      const call: SyncCall = { transaction: new Transaction(this.options.storage, false), caller, logLines: [], journal: { previous: journal, next: null } };
      const started = performance.now();
      try {
        const info = this.options.catalog.resolve(path, caller, "Query");
        batch.push({ index, path, cacheKey, started, info, call, request: this.options.executor.request(info, args, call) });
      } catch (error) {
        results[index] = this.finishQuery(path, started, call, failure(error, call.logLines), cacheKey);
      }
    });
    if (batch.length === 0) return results;
    let outcomes: BatchResult[];
    try {
      outcomes = this.options.executor.runBatch(batch.map(({ call, request }) => ({ call, request })));
    } catch (error) {
      for (const { index, path, started, call, cacheKey } of batch) results[index] = this.finishQuery(path, started, call, failure(error, call.logLines), cacheKey);
      return results;
    }
    batch.forEach(({ index, path, info, started, call, cacheKey }, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined) return;
      call.observedTime = !(outcome instanceof Error) && outcome.ok && outcome.observedTime === true;
      let result: FunctionResult;
      try {
        result = outcome instanceof Error ? failure(outcome, call.logLines) : this.options.catalog.resultOf(info, outcome, call.logLines);
      } catch (error) {
        result = failure(error, call.logLines);
      }
      results[index] = this.finishQuery(path, started, call, result, cacheKey);
    });
    return results;
  }

  /** Finishes a query's transaction, reports it, and caches a successful result. */
  private finishQuery(path: string, started: number, call: SyncCall, result: FunctionResult, cacheKey: string | undefined): QueryResult {
    call.transaction.finish();
    this.options.onLog?.(runLogEntry(path, "Query", started, result));
    const run: QueryResult = { result, reads: call.transaction.reads, journal: call.journal.next };
    if (result.status === "success" && cacheKey !== undefined) {
      this.cache.set(cacheKey, { value: result.value, logLines: result.logLines, reads: run.reads, journal: run.journal }, { observedTime: call.observedTime === true });
    }
    return run;
  }
}
