/**
 * Runs the deployment's functions: resolves a path to a pushed export, validates arguments and
 * return values, executes it in an isolate with the syscalls Convex's server code expects, and
 * turns the outcome into Convex's result shape. Queries and mutations run one at a time inside a
 * storage transaction (so each sees a consistent snapshot and a thrown error commits nothing);
 * actions run concurrently in their own isolates and reach the database through queries and
 * mutations, as on Convex.
 */
import { randomFillSync, randomUUID } from "node:crypto";
import type { JSONValue } from "convex/values";
import type { Savepoint, Storage } from "../storage/index.js";
import { Transaction, type DocumentWrite, type ReadRange } from "../transactions/transaction.js";
import { actionHost, hostWithoutDatabase } from "./actionHost.js";
import { FunctionError } from "./errors.js";
import type { FileStorage } from "./fileStorage.js";
import { exportedFunction, FunctionCatalog, type Load } from "./functionCatalog.js";
import { failure, reportStrayError, runLogEntry, uncaughtMessage } from "./functionResults.js";
import type { DeploymentAnalysis, FunctionInfo, UdfType } from "./functions.js";
import { Isolate, type BatchCall, type BatchResult, type InvokeRequest, type Outcome } from "./isolate.js";
import { QueryCache } from "./queryCache.js";
import { parseFunctionPath, type CompiledModule } from "./modules.js";
import { syncHost, type SyncCall } from "./syncHost.js";
import { webGlobals } from "./webGlobals.js";

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

export class FunctionRunner {
  private readonly catalog: FunctionCatalog;
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
    this.catalog = new FunctionCatalog(options.storage);
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
    return this.catalog.analysis;
  }

  /** Switches to a newly pushed set of modules; isolates of the previous push are dropped. */
  install(deployment: Deployment): void {
    this.catalog.install(deployment);
    this.syncIsolateInstance = undefined;
    this.queryCache.clear();
    this.options.onInstall?.();
  }

  /** Looks a function up as `caller` may see it: internal functions only for the admin. */
  resolve(path: string, caller: Caller, expected?: UdfType): FunctionInfo {
    return this.catalog.resolve(path, caller, expected);
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
      const info = this.catalog.resolve(path, caller, "Query");
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
        const info = this.catalog.resolve(path, caller, "Mutation");
        const member: (typeof members)[number] = { index, path, started, call };
        calls.push({
          host: syncHost(call, this.catalog, () => this.fileStorage()),
          request: this.syncRequest(info, args, call),
          onStart: () => {
            member.savepoint = this.options.storage.savepoint();
          },
          onSettle: (outcome) => {
            call.transaction.finish();
            let result: FunctionResult;
            try {
              result = this.catalog.resultOf(info, outcome, call.logLines);
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
      const info = this.catalog.resolve(path, caller, "Mutation");
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
      const info = this.catalog.resolve(path, caller, "Action");
      const validatedArgs = this.catalog.checkArgs(info, args);
      const { modulePath, exportName } = parseFunctionPath(info.path);
      const node = this.catalog.modules.get(modulePath)?.environment === "node";
      const outcome = await this.runAsync(caller, logLines, node, (load) => {
        const fn = exportedFunction(load, modulePath, exportName);
        return fn.invokeAction(randomUUID(), JSON.stringify([validatedArgs]));
      });
      result = this.catalog.resultOf(info, outcome, logLines);
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

  /**
   * Routes a request through `convex/http.ts`; 404 when no route matches, as on Convex. `caller`
   * carries the identity of a valid `Authorization: Bearer` token, if the request had one.
   */
  async httpAction(request: Request, caller: Caller = ANONYMOUS): Promise<Response> {
    const logLines: string[] = [];
    const started = performance.now();
    const url = new URL(request.url);
    const hasRouter = this.catalog.modules.has("http.js");
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
    const message = outcome.ok ? "HTTP action did not return a Response" : uncaughtMessage(outcome.error, this.catalog.modules);
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
    const outcome = await isolate.run(hostWithoutDatabase(ANONYMOUS, logLines, this.catalog), {
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
      outcome = isolate.runSync(syncHost(call, this.catalog, () => this.fileStorage()), request, this.queryTimeoutMs);
    } finally {
      if (isolate.poisoned) this.syncIsolateInstance = undefined;
    }
    call.transaction.finish();
    call.observedTime = outcome.ok && outcome.observedTime === true;
    return this.catalog.resultOf(info, outcome, call.logLines);
  }

  /** Validates the arguments and describes the call for the isolate. */
  private syncRequest(info: FunctionInfo, args: JSONValue, call: SyncCall): InvokeRequest {
    const validatedArgs = this.catalog.checkArgs(info, args);
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
        const info = this.catalog.resolve(path, caller, "Query");
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
        outcomes = isolate.runSyncBatch(batch.map(({ call, request }) => ({ host: syncHost(call, this.catalog, () => this.fileStorage()), request })), this.queryTimeoutMs);
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
        result = outcome instanceof Error ? failure(outcome, call.logLines) : this.catalog.resultOf(info, outcome, call.logLines);
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
    const modules = this.catalog.modulesToRun();
    this.syncIsolateInstance ??= new Isolate(modules, {
      synchronous: true,
      webGlobals: webGlobals({ actions: false }),
      // Node reports an unhandled rejection only after the run, once the call's result is out:
      // Convex would fail the call, here it can only be reported.
      onStrayError: (error) => reportStrayError("a query or mutation left a promise rejection unhandled (its result stands)", error, modules),
    });
    return this.syncIsolateInstance;
  }

  /** Stores a file (an upload, or `ctx.storage.store` in an action): the bytes, then their `_storage` document; returns its id. */
  async storeFile(bytes: AsyncIterable<Uint8Array> | Uint8Array, contentType: string | null, expectedSha256?: string): Promise<string> {
    const files = this.fileStorage();
    const blob = await files.blobs.write(bytes, { maxBytes: files.maxFileBytes, contentType, expectedSha256 });
    // Should the document not commit, the next start removes the bytes (FileStorage.open).
    return this.systemWrite((transaction) => files.insert(transaction, blob));
  }

  fileStorage(): FileStorage {
    if (this.options.fileStorage === undefined) throw new Error("File storage is not configured on this backend");
    return this.options.fileStorage;
  }

  // ---- actions --------------------------------------------------------------------------

  /**
   * Runs an action or HTTP action in an isolate of its own. Isolates are not reused: a promise the
   * function left running (not awaited) could otherwise make syscalls while the next caller's
   * function runs there, under that caller's identity. `node`: a `"use node"` action (its crashes
   * are named as Convex's Node executor names them).
   */
  private async runAsync(caller: Caller, logLines: string[], node: boolean, invoke: (load: Load) => unknown): Promise<Outcome> {
    const modules = this.catalog.modulesToRun();
    const isolate = new Isolate(modules, {
      synchronous: false,
      webGlobals: webGlobals({ actions: true }),
      nodeRequireFrom: this.nodeRequireFrom(),
      onStrayError: (error) => reportStrayError("an action failed after it had ended", error, modules),
      nodeCrashNames: node,
    });
    return await isolate.run(actionHost(caller, logLines, this, this.catalog, this.options.storage), { invoke, now: null, seed: null, env: this.environment() }, this.actionTimeoutMs);
  }

  // ---- shared ----------------------------------------------------------------------------

  private environment(): Record<string, string> {
    return { ...this.options.environment(), ...this.options.systemEnvironment };
  }

  private nodeRequireFrom(): string {
    return `${this.options.appDirectory ?? process.cwd()}/package.json`;
  }

  private report(path: string, udfType: UdfType, started: number, result: FunctionResult, cached = false): void {
    this.options.onLog?.(runLogEntry(path, udfType, started, result, cached));
  }
}

class RolledBack extends Error {
  constructor(readonly result: FunctionResult) {
    super("rolled back");
  }
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
