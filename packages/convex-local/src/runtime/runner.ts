/**
 * Runs the deployment's functions: resolves a path to a pushed export, validates arguments and
 * return values, executes it in an isolate with the syscalls Convex's server code expects, and
 * turns the outcome into Convex's result shape. Queries and mutations run one at a time inside a
 * storage transaction (so each sees a consistent snapshot and a thrown error commits nothing);
 * actions run concurrently in their own isolates and reach the database through queries and
 * mutations, as on Convex.
 */
import { randomFillSync, randomUUID } from "node:crypto";
import type { JSONValue, Value } from "convex/values";
import type { Savepoint, Storage } from "../storage/index.js";
import { decodeDocumentId } from "../storage/ids.js";
import { isSha256Base64 } from "../storage/blobs.js";
import { jsonToValue } from "../storage/values.js";
import { truncateText } from "../text/valueText.js";
import { Transaction, type DocumentWrite, type ReadRange } from "../transactions/transaction.js";
import { checkValueNesting, prototypeFieldPath } from "./documentValues.js";
import { ArgumentValidationError, FunctionError, FunctionNotFoundError, ReturnsValidationError } from "./errors.js";
import type { DeploymentAnalysis, FunctionInfo, SchemaTable, UdfType } from "./functions.js";
import { Isolate, type BatchCall, type BatchResult, type CallHost, type InvokeRequest, type NestedCall, type Outcome, type ThrownError } from "./isolate.js";
import { formatLogLine } from "./logs.js";
import { userFrames } from "./stackTraces.js";
import { DatabaseSyscalls, type QueryJournal } from "./databaseSyscalls.js";
import { QueryCache } from "./queryCache.js";
import type { FileStorage } from "./fileStorage.js";
import { functionHandle, functionPathOf, type FunctionAddress } from "./functionHandles.js";
import { cancelJob, insertJob, scheduledTimeOf } from "./scheduling.js";
import { canonicalFunctionPath, checkFunctionPath, parseFunctionPath, type CompiledModule } from "./modules.js";
import { validateValue } from "./validator.js";
import { webGlobals } from "./webGlobals.js";
import { terminalText } from "../text/terminalText.js";

/** Who is calling: a verified user identity (from a JWT) and whether the admin key was presented. */
export interface Caller {
  identity: Record<string, JSONValue> | null;
  admin: boolean;
}

export const ANONYMOUS: Caller = { identity: null, admin: false };

export type FunctionResult =
  | { status: "success"; value: JSONValue; logLines: string[] }
  | { status: "error"; errorMessage: string; errorData?: JSONValue; logLines: string[] };

export interface QueryResult {
  result: FunctionResult;
  reads: ReadRange[];
  /** What a re-run must repeat (the end of the query's paginated page); null when nothing. */
  journal: string | null;
}

export interface MutationResult {
  result: FunctionResult;
  writes: DocumentWrite[];
}

export interface FunctionLogEntry {
  path: string;
  udfType: UdfType | "HttpAction";
  timestamp: number;
  executionTimeMs: number;
  logLines: string[];
  error?: string;
  /** A query answered from the query cache: its code did not run (the log lines are the cached run's). */
  cached?: boolean;
}

export interface RunnerOptions {
  storage: Storage;
  /** Deployment environment variables, read at each call. */
  environment: () => Record<string, string>;
  /** Variables every function sees, e.g. CONVEX_CLOUD_URL and CONVEX_SITE_URL. */
  systemEnvironment: Record<string, string>;
  /** Directory from which `"use node"` actions resolve packages. */
  appDirectory?: string;
  queryTimeoutMs?: number;
  /** Time limit of an action or HTTP action (Convex: 10 minutes). */
  actionTimeoutMs?: number;
  /** `ctx.storage`; without it, file storage syscalls fail. */
  fileStorage?: FileStorage;
  onLog?: (entry: FunctionLogEntry) => void;
  /** Called after every committed mutation that wrote something: reactivity starts here. */
  onCommit?: (writes: DocumentWrite[], commitTs: bigint) => void;
  /** Called after a new set of modules is installed (the scheduler re-reads crons). */
  onInstall?: () => void;
}

/** Hooks of `FunctionRunner.mutation` for system callers (the scheduler). */
export interface MutationHooks {
  /** Runs inside the mutation's transaction after it succeeded; its writes commit with it (a throw rolls all back). */
  beforeCommit?: (transaction: Transaction) => void;
}

export interface Deployment {
  modules: ReadonlyMap<string, CompiledModule>;
  analysis: DeploymentAnalysis;
}

type Load = (modulePath: string) => Record<string, unknown>;

/** A query call: the function, its arguments, who calls, and the journal of its previous run. */
export interface QueryRequest {
  path: string;
  args: JSONValue;
  caller: Caller;
  journal: string | null;
}

interface QueuedQuery extends QueryRequest {
  cacheKey: string | undefined;
  resolve: (result: QueryResult) => void;
}
type ConvexFunction = Record<string, (...args: unknown[]) => unknown>;

/** The state of one query or mutation (and the queries/mutations it calls). */
interface SyncCall {
  transaction: Transaction;
  caller: Caller;
  logLines: string[];
  journal: QueryJournal;
  load?: Load;
  /** Whether the call read the clock (a cached result of it expires soon). */
  observedTime?: boolean;
}

export class FunctionRunner {
  private deployment: Deployment | undefined;
  /** The schema's tables by name when it validates writes (null otherwise); derived once per push. */
  private schemaByTable: Map<string, SchemaTable> | null = null;
  private syncIsolateInstance: Isolate | undefined;
  private readonly queryTimeoutMs: number;
  private readonly actionTimeoutMs: number;
  private readonly queryQueue: QueuedQuery[] = [];
  private readonly mutationQueue: { path: string; args: JSONValue; caller: Caller; resolve: (outcome: MutationResult) => void }[] = [];
  private readonly queryCache: QueryCache;
  /** The environment the cached results were computed with: a change makes them all stale. */
  private cacheEnvironment: Record<string, string> | undefined;

  constructor(private readonly options: RunnerOptions) {
    this.queryTimeoutMs = options.queryTimeoutMs ?? 1000;
    this.actionTimeoutMs = options.actionTimeoutMs ?? 600_000;
    this.queryCache = new QueryCache({
      indexesOf: (table) => {
        try {
          return options.storage.listIndexes(table);
        } catch {
          return undefined; // a table deleted since: every reader of it is invalidated
        }
      },
      // Convex's rule: the query time limit plus a second.
      maxAgeIfTimed: this.queryTimeoutMs + 1000,
    });
  }

  get analysis(): DeploymentAnalysis | undefined {
    return this.deployment?.analysis;
  }

  /** Switches to a newly pushed set of modules; isolates of the previous push are dropped. */
  install(deployment: Deployment): void {
    this.deployment = deployment;
    const schema = deployment.analysis.schema;
    this.schemaByTable = schema?.schemaValidation ? new Map(schema.tables.map((table) => [table.tableName, table])) : null;
    this.syncIsolateInstance = undefined;
    this.queryCache.clear();
    this.options.onInstall?.();
  }

  /** Looks a function up as `caller` may see it: internal functions only for the admin. */
  resolve(path: string, caller: Caller, expected?: UdfType): FunctionInfo {
    checkFunctionPath(path);
    const canonical = canonicalFunctionPath(path);
    const info = this.deployment?.analysis.functions.get(canonical);
    if (info === undefined || (info.visibility === "internal" && !caller.admin)) {
      throw new FunctionNotFoundError(canonical);
    }
    if (expected !== undefined && info.udfType !== expected) {
      throw new FunctionError(
        `Trying to execute ${canonical} as ${expected}, but it is defined as ${info.udfType}.`,
      );
    }
    return info;
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
      const info = this.resolve(path, caller, "Query");
      // A query runs to completion synchronously, so no write can interleave: it reads one snapshot.
      result = this.runSync(info, args, call);
    } catch (error) {
      result = failure(error, logLines);
    }
    return this.finishQuery(path, started, call, result, cacheKey);
  }

  mutation(path: string, args: JSONValue, caller: Caller, hooks: MutationHooks = {}): MutationResult {
    const outcome = this.executeMutation(path, args, caller, hooks);
    if (outcome.writes.length > 0) this.committed(outcome.writes, this.options.storage.lastCommitTs());
    return outcome;
  }

  /**
   * Runs a mutation with group commit: the mutations queued within one turn of the event loop run
   * one after another, each in its own savepoint (a failing one rolls back alone), and commit
   * together with one fsync. Each resolves only once that shared commit is durable.
   */
  queueMutation(path: string, args: JSONValue, caller: Caller): Promise<MutationResult> {
    return new Promise((resolve) => {
      if (this.mutationQueue.length === 0) setImmediate(() => this.commitQueuedMutations());
      this.mutationQueue.push({ path, args, caller, resolve });
    });
  }

  private commitQueuedMutations(): void {
    const batch = this.mutationQueue.splice(0);
    let outcomes: (MutationResult | undefined)[];
    try {
      outcomes = this.options.storage.transaction(() => this.runMutationBatch(batch));
    } catch (error) {
      // The shared commit failed: none of the batch is durable, so none of it succeeded.
      for (const { resolve } of batch) resolve({ result: failure(error, []), writes: [] });
      return;
    }
    // Mutations the run did not get to start go first in the next batch.
    const notStarted = batch.filter((_, i) => outcomes[i] === undefined);
    if (notStarted.length > 0) {
      if (this.mutationQueue.length === 0) setImmediate(() => this.commitQueuedMutations());
      this.mutationQueue.unshift(...notStarted);
    }
    const commitTs = this.options.storage.lastCommitTs();
    for (const outcome of outcomes) if (outcome !== undefined && outcome.writes.length > 0) this.committed(outcome.writes, commitTs);
    batch.forEach(({ resolve }, i) => {
      const outcome = outcomes[i];
      if (outcome !== undefined) resolve(outcome);
    });
  }

  /**
   * Runs queued mutations inside the running transaction, in one vm run so they share one
   * time-limit watchdog, each in its own savepoint so a failing one rolls back alone. A mutation
   * the run did not get to start comes back undefined.
   */
  private runMutationBatch(batch: { path: string; args: JSONValue; caller: Caller }[]): (MutationResult | undefined)[] {
    const outcomes: (MutationResult | undefined)[] = new Array(batch.length);
    const members: { index: number; path: string; started: number; call: SyncCall; savepoint?: Savepoint }[] = [];
    const calls: BatchCall[] = [];
    let savepointFailure: unknown;
    batch.forEach(({ path, args, caller }, index) => {
      const started = performance.now();
      const call: SyncCall = { transaction: new Transaction(this.options.storage, true), caller, logLines: [], journal: { previous: null, next: null } };
      try {
        const info = this.resolve(path, caller, "Mutation");
        const member: (typeof members)[number] = { index, path, started, call };
        calls.push({
          host: this.syncHost(call),
          request: this.syncRequest(info, args, call),
          onStart: () => {
            member.savepoint = this.options.storage.savepoint();
          },
          onSettle: (outcome) => {
            call.transaction.finish();
            let result: FunctionResult;
            try {
              result = this.completeOutcome(info, outcome, call.logLines);
            } catch (error) {
              result = failure(error, call.logLines);
            }
            try {
              if (result.status === "success") member.savepoint!.release();
              else member.savepoint!.rollback();
            } catch (error) {
              savepointFailure ??= error;
            }
            member.savepoint = undefined;
            outcomes[index] = this.finishMutation(path, started, call, result);
          },
        });
        members.push(member);
      } catch (error) {
        outcomes[index] = this.finishMutation(path, started, call, failure(error, call.logLines));
      }
    });
    if (calls.length > 0) {
      const isolate = this.syncIsolate();
      let results: BatchResult[];
      try {
        results = isolate.runSyncBatch(calls, this.queryTimeoutMs);
      } finally {
        if (isolate.poisoned) this.syncIsolateInstance = undefined;
      }
      members.forEach((member, i) => {
        const result = results[i];
        if (!(result instanceof Error)) return;
        // Cut short (time limit, a promise that never settles): its savepoint is still open.
        member.savepoint?.rollback();
        member.call.transaction.finish();
        outcomes[member.index] = this.finishMutation(member.path, member.started, member.call, failure(result, member.call.logLines));
      });
    }
    // The savepoints' state is unknown: fail the whole batch rather than commit part of a mutation.
    if (savepointFailure !== undefined) throw savepointFailure;
    return outcomes;
  }

  private finishMutation(path: string, started: number, call: SyncCall, result: FunctionResult): MutationResult {
    this.report(path, "Mutation", started, result);
    return { result, writes: result.status === "success" ? call.transaction.writes : [] };
  }

  /** Runs a mutation in a transaction (a savepoint when inside one); the caller reports its commit. */
  private executeMutation(path: string, args: JSONValue, caller: Caller, hooks: MutationHooks = {}): MutationResult {
    const logLines: string[] = [];
    const started = performance.now();
    const transaction = new Transaction(this.options.storage, true);
    let result: FunctionResult;
    try {
      const info = this.resolve(path, caller, "Mutation");
      result = this.options.storage.transaction(() => {
        const outcome = this.runSync(info, args, { transaction, caller, logLines, journal: { previous: null, next: null } });
        if (outcome.status === "error") throw new RolledBack(outcome);
        hooks.beforeCommit?.(transaction);
        return outcome;
      });
    } catch (error) {
      result = error instanceof RolledBack ? error.result : failure(error, logLines);
    }
    this.report(path, "Mutation", started, result);
    return { result, writes: result.status === "success" ? transaction.writes : [] };
  }

  async action(path: string, args: JSONValue, caller: Caller): Promise<FunctionResult> {
    const logLines: string[] = [];
    const started = performance.now();
    let result: FunctionResult;
    try {
      const info = this.resolve(path, caller, "Action");
      const validatedArgs = this.checkArgs(info, args);
      const { modulePath, exportName } = parseFunctionPath(info.path);
      const node = this.deployment?.modules.get(modulePath)?.environment === "node";
      const outcome = await this.runAsync(caller, logLines, node, (load) => {
        const fn = exportedFunction(load, modulePath, exportName);
        return fn.invokeAction(randomUUID(), JSON.stringify([validatedArgs]));
      });
      result = this.completeOutcome(info, outcome, logLines);
    } catch (error) {
      result = failure(error, logLines);
    }
    this.report(path, "Action", started, result);
    return result;
  }

  /**
   * Runs `write` in its own writable transaction outside any function (system bookkeeping such as
   * the scheduler's job states) and reports its writes like a mutation's, for reactivity.
   */
  systemWrite<T>(write: (transaction: Transaction) => T): T {
    const transaction = new Transaction(this.options.storage, true);
    const result = this.options.storage.transaction(() => write(transaction));
    if (transaction.writes.length > 0) this.committed(transaction.writes, this.options.storage.lastCommitTs());
    return result;
  }

  /** `1.0/schedule`: checks the target is a mutation or action and adds a pending job; returns its id. */
  private schedule(transaction: Transaction, request: FunctionAddress & { args: JSONValue; ts: unknown }): string {
    const path = functionPathOf(request);
    const info = this.resolve(path, { identity: null, admin: true });
    if (info.udfType === "Query") throw new Error(`Scheduled functions must be mutations or actions, but ${info.path} is a query.`);
    const { modulePath, exportName } = parseFunctionPath(info.path);
    this.checkArgs(info, request.args);
    return insertJob(transaction, `${modulePath}:${exportName}`, request.args, scheduledTimeOf(request.ts));
  }

  /**
   * Routes a request through `convex/http.ts`; 404 when no route matches, as on Convex. `caller`
   * carries the identity of a valid `Authorization: Bearer` token, if the request had one.
   */
  async httpAction(request: Request, caller: Caller = ANONYMOUS): Promise<Response> {
    const logLines: string[] = [];
    const started = performance.now();
    const url = new URL(request.url);
    const hasRouter = this.deployment?.modules.has("http.js") ?? false;
    if (!hasRouter) return new Response("No HTTP routes are defined (convex/http.ts)", { status: 404 });
    let routePath = url.pathname;
    const outcome = await this.runAsync(caller, logLines, false, async (load) => {
      const router = load("http.js").default as {
        lookup(path: string, method: string): [{ invokeHttpAction(request: Request): Promise<Response> }, string, string] | null;
      };
      const match = router.lookup(url.pathname, request.method);
      if (match === null) return new Response("No matching routes found", { status: 404 });
      routePath = match[2];
      return await match[0].invokeHttpAction(request);
    });
    const entry: FunctionLogEntry = {
      path: `${request.method} ${routePath}`,
      udfType: "HttpAction",
      timestamp: Date.now(),
      executionTimeMs: performance.now() - started,
      logLines,
    };
    if (outcome.ok && outcome.value instanceof Response) {
      this.options.onLog?.(entry);
      return outcome.value;
    }
    const message = outcome.ok ? "HTTP action did not return a Response" : uncaughtMessage(outcome.error, this.modules());
    this.options.onLog?.({ ...entry, error: message });
    return new Response(JSON.stringify({ code: "HttpActionError", message }), {
      status: 500,
      headers: { "Content-Type": "application/json" },
    });
  }

  /** Loads modules in a scratch isolate and evaluates `invoke` there (used by push analysis). */
  async evaluate<T>(modules: ReadonlyMap<string, CompiledModule>, invoke: (load: Load) => T, node: boolean): Promise<T> {
    const isolate = new Isolate(modules, {
      synchronous: false,
      webGlobals: webGlobals({ actions: true }),
      nodeRequireFrom: node ? this.nodeRequireFrom() : undefined,
      onStrayError: (error) => reportStrayError("a module failed after it was loaded for analysis", error, modules),
    });
    const logLines: string[] = [];
    const outcome = await isolate.run(this.hostWithoutDatabase(ANONYMOUS, logLines), {
      invoke: (load) => invoke(load),
      now: null,
      seed: null,
      env: this.environment(),
    });
    if (!outcome.ok) throw new FunctionError(uncaughtMessage(outcome.error, modules));
    return outcome.value as T;
  }

  // ---- queries and mutations -------------------------------------------------------------

  private runSync(info: FunctionInfo, args: JSONValue, call: SyncCall): FunctionResult {
    const request = this.syncRequest(info, args, call);
    const isolate = this.syncIsolate();
    let outcome: Outcome;
    try {
      outcome = isolate.runSync(this.syncHost(call), request, this.queryTimeoutMs);
    } finally {
      if (isolate.poisoned) this.syncIsolateInstance = undefined;
    }
    call.transaction.finish();
    call.observedTime = outcome.ok && outcome.observedTime === true;
    return this.completeOutcome(info, outcome, call.logLines);
  }

  /** Validates the arguments and describes the call for the isolate. */
  private syncRequest(info: FunctionInfo, args: JSONValue, call: SyncCall): InvokeRequest {
    const validatedArgs = this.checkArgs(info, args);
    const { modulePath, exportName } = parseFunctionPath(info.path);
    return {
      invoke: (load) => {
        call.load = load;
        const fn = exportedFunction(load, modulePath, exportName);
        const argsJson = JSON.stringify([validatedArgs]);
        return info.udfType === "Query" ? fn.invokeQuery(argsJson) : fn.invokeMutation(argsJson);
      },
      now: Date.now(),
      seed: randomSeed(),
      env: this.environment(),
    };
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
      if (this.queryQueue.length === 0) setImmediate(() => this.runQueuedQueries());
      this.queryQueue.push({ path, args, caller, journal, cacheKey, resolve });
    });
  }

  /** The query cache's key for a call, and the cached result when one is valid (reported as a cached run). */
  private cachedQuery(path: string, args: JSONValue, caller: Caller, journal: string | null): { cacheKey?: string; hit?: QueryResult } {
    const environment = this.options.environment();
    if (environment !== this.cacheEnvironment) {
      this.queryCache.clear();
      this.cacheEnvironment = environment;
    }
    let cacheKey: string;
    try {
      cacheKey = QueryCache.key(path, args, caller.identity, caller.admin, journal);
    } catch {
      return {}; // arguments too deeply nested to serialize: the run reports Convex's error
    }
    const cached = this.queryCache.get(cacheKey);
    if (cached === undefined) return { cacheKey };
    const result: FunctionResult = { status: "success", value: cached.value, logLines: cached.logLines };
    this.report(path, "Query", performance.now(), result, true);
    return { cacheKey, hit: { result, reads: cached.reads, journal: cached.journal } };
  }

  private runQueuedQueries(): void {
    const queued = this.queryQueue.splice(0);
    const results = this.runQueryBatch(queued);
    // Calls the batch did not get to start go first in the next one.
    const notStarted = queued.filter((_, i) => results[i] === undefined);
    if (notStarted.length > 0) {
      this.queryQueue.unshift(...notStarted);
      setImmediate(() => this.runQueuedQueries());
    }
    queued.forEach(({ resolve }, i) => {
      const result = results[i];
      if (result !== undefined) resolve(result);
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

  /** One timed vm run over `queries`; undefined for a query the run did not get to start. */
  private runQueryBatch(queries: (QueryRequest & { cacheKey?: string })[]): (QueryResult | undefined)[] {
    const results: (QueryResult | undefined)[] = new Array(queries.length);
    const batch: { index: number; path: string; cacheKey?: string; started: number; info: FunctionInfo; call: SyncCall; request: InvokeRequest }[] = [];
    queries.forEach(({ path, args, caller, journal, cacheKey }, index) => {
      const call: SyncCall = { transaction: new Transaction(this.options.storage, false), caller, logLines: [], journal: { previous: journal, next: null } };
      const started = performance.now();
      try {
        const info = this.resolve(path, caller, "Query");
        batch.push({ index, path, cacheKey, started, info, call, request: this.syncRequest(info, args, call) });
      } catch (error) {
        results[index] = this.finishQuery(path, started, call, failure(error, call.logLines), cacheKey);
      }
    });
    if (batch.length === 0) return results;
    let outcomes: BatchResult[];
    try {
      const isolate = this.syncIsolate();
      try {
        outcomes = isolate.runSyncBatch(batch.map(({ call, request }) => ({ host: this.syncHost(call), request })), this.queryTimeoutMs);
      } finally {
        if (isolate.poisoned) this.syncIsolateInstance = undefined;
      }
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
        result = outcome instanceof Error ? failure(outcome, call.logLines) : this.completeOutcome(info, outcome, call.logLines);
      } catch (error) {
        result = failure(error, call.logLines);
      }
      results[index] = this.finishQuery(path, started, call, result, cacheKey);
    });
    return results;
  }

  private finishQuery(path: string, started: number, call: SyncCall, result: FunctionResult, cacheKey: string | undefined): QueryResult {
    call.transaction.finish();
    this.report(path, "Query", started, result);
    const run: QueryResult = { result, reads: call.transaction.reads, journal: call.journal.next };
    if (result.status === "success" && cacheKey !== undefined) {
      this.queryCache.set(cacheKey, { value: result.value, logLines: result.logLines, reads: run.reads, journal: run.journal }, { observedTime: call.observedTime === true });
    }
    return run;
  }

  /** After a commit: cached results that read what it wrote are dropped, then listeners hear of it. */
  private committed(writes: DocumentWrite[], commitTs: bigint): void {
    this.queryCache.invalidate(writes);
    this.options.fileStorage?.removeBlobsOf(writes);
    this.options.onCommit?.(writes, commitTs);
  }

  private syncIsolate(): Isolate {
    if (this.deployment === undefined) throw new FunctionError("No functions have been pushed to this deployment yet.");
    const modules = this.deployment.modules;
    this.syncIsolateInstance ??= new Isolate(modules, {
      synchronous: true,
      webGlobals: webGlobals({ actions: false }),
      // Node reports an unhandled rejection only after the run, once the call's result is out:
      // Convex would fail the call, here it can only be reported.
      onStrayError: (error) => reportStrayError("a query or mutation left a promise rejection unhandled (its result stands)", error, modules),
    });
    return this.syncIsolateInstance;
  }

  private syncHost(call: SyncCall): CallHost {
    const database = new DatabaseSyscalls(call.transaction, this.schemaByTable, call.journal);
    return {
      syscall: (op, args) => JSON.stringify(database.syscall(op, JSON.parse(args))),
      asyncSyscall: (op, args) => {
        const parsed = JSON.parse(args);
        if (op === "1.0/getUserIdentity") return JSON.stringify(call.caller.identity);
        if (op === "1.0/createFunctionHandle") return JSON.stringify(this.createFunctionHandle(parsed));
        if (op === "1.0/runUdf") return this.nestedCall(call, parsed);
        if (op.startsWith("1.0/storage")) return JSON.stringify(this.fileStorage().syscall(op, parsed, call.transaction));
        if (op === "1.0/schedule" || op === "1.0/cancel_job") {
          if (!call.transaction.writable) throw new Error("The scheduler is not available in queries");
          if (op === "1.0/cancel_job") return JSON.stringify((cancelJob(call.transaction, parsed.id), null));
          return JSON.stringify(this.schedule(call.transaction, parsed));
        }
        return JSON.stringify(database.asyncSyscall(op, parsed));
      },
      jsSyscall: (op) => {
        throw new Error(`Unsupported syscall ${op}`);
      },
      log: (level, args) => call.logLines.push(formatLogLine(level, args)),
    };
  }

  /** Stores a file (an upload, or `ctx.storage.store` in an action): the bytes, then their `_storage` document; returns its id. */
  async storeFile(bytes: AsyncIterable<Uint8Array> | Uint8Array, contentType: string | null, expectedSha256?: string): Promise<string> {
    const files = this.fileStorage();
    const blob = await files.blobs.write(bytes, { maxBytes: files.maxFileBytes, contentType, expectedSha256 });
    // Should the document not commit, the next start removes the bytes (FileStorage.open).
    return this.systemWrite((transaction) => files.insert(transaction, blob));
  }

  /** `ctx.storage.store(blob, { sha256 })` in an action. */
  private async storeBlob({ blob, options }: { blob: unknown; options?: { sha256?: string } }): Promise<string> {
    if (!(blob instanceof Blob)) {
      throw new Error("store() expects a Blob. If you are trying to store a Request, `await request.blob()` will give you the correct input.");
    }
    const sha256 = options?.sha256;
    if (sha256 !== undefined && !isSha256Base64(sha256)) throw new Error(`InvalidDigestHeader: the sha256 option must be a base64 SHA-256 digest, got ${JSON.stringify(sha256)}`);
    return await this.storeFile(new Uint8Array(await blob.arrayBuffer()), blob.type || null, sha256);
  }

  fileStorage(): FileStorage {
    if (this.options.fileStorage === undefined) throw new Error("File storage is not configured on this backend");
    return this.options.fileStorage;
  }

  /** `1.0/createFunctionHandle`: a handle for any of the deployment's functions, internal ones included. */
  private createFunctionHandle(address: FunctionAddress): string {
    return functionHandle(this.resolve(functionPathOf(address), { identity: null, admin: true }).path);
  }

  /** `ctx.runQuery` / `ctx.runMutation` inside a query or mutation: same transaction, same identity. */
  private nestedCall(call: SyncCall, request: FunctionAddress & { udfType: string; args: JSONValue }): NestedCall {
    const path = functionPathOf(request);
    const expected: UdfType = request.udfType === "mutation" ? "Mutation" : "Query";
    if (expected === "Mutation" && !call.transaction.writable) throw new Error("Can't run a mutation from a query");
    const info = this.resolve(path, { ...call.caller, admin: true }, expected);
    const validatedArgs = this.checkArgs(info, request.args);
    const { modulePath, exportName } = parseFunctionPath(info.path);
    const fn = exportedFunction(call.load!, modulePath, exportName);
    const argsJson = JSON.stringify([validatedArgs]);
    return {
      callee: (expected === "Query" ? fn.invokeQuery(argsJson) : fn.invokeMutation(argsJson)) as Promise<string>,
      check: (value) => {
        this.checkReturns(info, value);
        return value;
      },
    };
  }

  // ---- actions --------------------------------------------------------------------------

  /**
   * Runs an action or HTTP action in an isolate of its own. Isolates are not reused: a promise the
   * function left running (not awaited) could otherwise make syscalls while the next caller's
   * function runs there, under that caller's identity. `node`: a `"use node"` action (its crashes
   * are named as Convex's Node executor names them).
   */
  private async runAsync(caller: Caller, logLines: string[], node: boolean, invoke: (load: Load) => unknown): Promise<Outcome> {
    if (this.deployment === undefined) throw new FunctionError("No functions have been pushed to this deployment yet.");
    const modules = this.deployment.modules;
    const isolate = new Isolate(modules, {
      synchronous: false,
      webGlobals: webGlobals({ actions: true }),
      nodeRequireFrom: this.nodeRequireFrom(),
      onStrayError: (error) => reportStrayError("an action failed after it had ended", error, modules),
      nodeCrashNames: node,
    });
    return await isolate.run(this.actionHost(caller, logLines), { invoke, now: null, seed: null, env: this.environment() }, this.actionTimeoutMs);
  }

  private actionHost(caller: Caller, logLines: string[]): CallHost {
    const base = this.hostWithoutDatabase(caller, logLines);
    return {
      ...base,
      jsSyscall: (op, args) => {
        if (op === "storage/storeBlob") return this.storeBlob(args as { blob: unknown });
        if (op === "storage/getBlob") return this.fileStorage().readBlob(new Transaction(this.options.storage, false), (args as { storageId: unknown }).storageId);
        return base.jsSyscall(op, args);
      },
      asyncSyscall: async (op, args) => {
        const request = JSON.parse(args) as FunctionAddress & { args: JSONValue };
        const innerCaller = { ...caller, admin: true };
        const path = () => functionPathOf(request);
        switch (op) {
          // Each call resolves the path itself and reports an unknown or mistyped one as its error.
          case "1.0/actions/query":
            return unwrap(this.query(path(), request.args, innerCaller).result);
          case "1.0/actions/mutation":
            return unwrap(this.mutation(path(), request.args, innerCaller).result);
          case "1.0/actions/action":
            return unwrap(await this.action(path(), request.args, innerCaller));
          case "1.0/actions/schedule":
            return JSON.stringify(this.systemWrite((transaction) => this.schedule(transaction, JSON.parse(args))));
          case "1.0/storageGenerateUploadUrl":
          case "1.0/storageGetUrl":
          case "1.0/storageGetMetadata":
            return JSON.stringify(this.fileStorage().syscall(op, JSON.parse(args), new Transaction(this.options.storage, false)));
          case "1.0/storageDelete":
            return JSON.stringify(this.systemWrite((transaction) => this.fileStorage().syscall(op, JSON.parse(args), transaction)));
          case "1.0/actions/cancel_job": {
            const { id } = JSON.parse(args) as { id: string };
            this.systemWrite((transaction) => cancelJob(transaction, id));
            return JSON.stringify(null);
          }
          default:
            // Actions have no transaction to nest a call in: the base answers with JSON text only.
            return base.asyncSyscall(op, args) as string | Promise<string>;
        }
      },
    };
  }

  private hostWithoutDatabase(caller: Caller, logLines: string[]): CallHost {
    return {
      syscall: (op) => {
        throw new Error(`The syscall ${op} is not available in actions`);
      },
      asyncSyscall: (op, args) => {
        if (op === "1.0/getUserIdentity") return JSON.stringify(caller.identity);
        if (op === "1.0/createFunctionHandle") return JSON.stringify(this.createFunctionHandle(JSON.parse(args)));
        throw new Error(`Unsupported syscall ${op}`);
      },
      jsSyscall: (op) => {
        throw new Error(`Unsupported syscall ${op}`);
      },
      log: (level, args) => logLines.push(formatLogLine(level, args)),
    };
  }

  // ---- shared ----------------------------------------------------------------------------

  private checkArgs(info: FunctionInfo, args: JSONValue): JSONValue {
    let value: Value;
    try {
      checkValueNesting(args);
      value = jsonToValue(args);
    } catch (error) {
      // The message may quote a field name of any length.
      throw new ArgumentValidationError(`Invalid argument encoding: ${truncateText((error as Error).message)}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof ArrayBuffer) {
      throw new ArgumentValidationError(`Function arguments for ${info.path} must be an object.`);
    }
    if (info.args !== null) {
      const failure = validateValue(value, info.args, this.idTable);
      if (failure) throw new ArgumentValidationError(failure.message);
    }
    const prototypePath = prototypeFieldPath(value);
    if (prototypePath !== null) {
      throw new ArgumentValidationError(
        `Field name __proto__ is not supported in function arguments: inside the function it would set the object's prototype instead of a field.\nPath: ${truncateText(prototypePath)}`,
      );
    }
    return args;
  }

  private checkReturns(info: FunctionInfo, valueJson: unknown): void {
    if (info.returns === null || typeof valueJson !== "string") return;
    const failure = validateValue(jsonToValue(JSON.parse(valueJson)), info.returns, this.idTable);
    if (failure) throw new ReturnsValidationError(failure.message);
  }

  private readonly idTable = (id: string): string | null => {
    const decoded = decodeDocumentId(id);
    return decoded === null ? null : this.options.storage.tableName(decoded.tableNumber) ?? null;
  };

  private completeOutcome(info: FunctionInfo, outcome: Outcome, logLines: string[]): FunctionResult {
    if (!outcome.ok) return errorResult(outcome.error, logLines, this.modules());
    this.checkReturns(info, outcome.value);
    return { status: "success", value: JSON.parse(outcome.value as string) as JSONValue, logLines };
  }

  private modules(): ReadonlyMap<string, CompiledModule> {
    return this.deployment?.modules ?? new Map();
  }

  private environment(): Record<string, string> {
    return { ...this.options.environment(), ...this.options.systemEnvironment };
  }

  private nodeRequireFrom(): string {
    return `${this.options.appDirectory ?? process.cwd()}/package.json`;
  }

  private report(path: string, udfType: UdfType, started: number, result: FunctionResult, cached = false): void {
    this.options.onLog?.({
      path: canonicalFunctionPath(path),
      udfType,
      timestamp: Date.now(),
      executionTimeMs: performance.now() - started,
      logLines: result.logLines,
      error: result.status === "error" ? result.errorMessage : undefined,
      ...(cached ? { cached } : {}),
    });
  }
}

class RolledBack extends Error {
  constructor(readonly result: FunctionResult) {
    super("rolled back");
  }
}

function exportedFunction(load: Load, modulePath: string, exportName: string): ConvexFunction {
  const fn = load(modulePath)[exportName] as ConvexFunction | undefined;
  if (fn === undefined) throw new FunctionNotFoundError(`${modulePath.slice(0, -3)}:${exportName}`);
  return fn;
}

/** Seeds are drawn from a pool refilled 256 at a time: one `randomBytes` call per seed cost more than a point read. */
const seedPool = Buffer.alloc(16 * 256);
let seedOffset = seedPool.length;

function randomSeed(): [bigint, bigint] {
  if (seedOffset === seedPool.length) {
    randomFillSync(seedPool);
    seedOffset = 0;
  }
  const seed: [bigint, bigint] = [seedPool.readBigUInt64LE(seedOffset) | 1n, seedPool.readBigUInt64LE(seedOffset + 8)];
  seedOffset += 16;
  return seed;
}

/** The value of a nested call, or its error rethrown into the caller as Convex does. */
function unwrap(result: FunctionResult): string {
  if (result.status === "success") return JSON.stringify(result.value);
  const error = new Error(result.errorMessage) as Error & { data?: JSONValue };
  if (result.errorData !== undefined) error.data = result.errorData;
  throw error;
}

/** `Uncaught Error: message` plus the user's own frames, source-mapped, as Convex reports it. */
export function uncaughtMessage(error: ThrownError, modules: ReadonlyMap<string, CompiledModule>): string {
  const name = error.data !== undefined ? "ConvexError" : error.name;
  return [`Uncaught ${name}: ${error.message}`, ...userFrames(error.stack, modules)].join("\n");
}

const MAX_STRAY_ERROR_CHARS = 2000;

/** A failure of a function's code that no call can take any more: a backend log line, bounded. */
function reportStrayError(what: string, error: ThrownError, modules: ReadonlyMap<string, CompiledModule>): void {
  const message = uncaughtMessage(error, modules);
  console.error(`convex-local: ${what}: ${terminalText(message.length > MAX_STRAY_ERROR_CHARS ? `${message.slice(0, MAX_STRAY_ERROR_CHARS)}…` : message)}`);
}

function errorResult(error: ThrownError, logLines: string[], modules: ReadonlyMap<string, CompiledModule>): FunctionResult {
  const result: FunctionResult = { status: "error", errorMessage: uncaughtMessage(error, modules), logLines };
  if (error.data !== undefined) result.errorData = JSON.parse(error.data) as JSONValue;
  return result;
}

function failure(error: unknown, logLines: string[]): FunctionResult {
  if (error instanceof FunctionError) {
    const result: FunctionResult = { status: "error", errorMessage: error.message, logLines };
    if (error.errorData !== undefined) result.errorData = error.errorData;
    return result;
  }
  const message = error instanceof Error ? `${error.name === "Error" ? "Uncaught Error" : error.name}: ${error.message}` : String(error);
  return { status: "error", errorMessage: message, logLines };
}

