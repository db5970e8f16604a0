/**
 * The runtime's entry point for the layers above: `FunctionRunner` runs the deployment's functions
 * and is a facade over one module per concern, and this file declares the types its callers use.
 *
 * - functionCatalog.ts: the pushed deployment, function lookup, argument and return validation;
 *   functionResults.ts: results, errors and log entries in Convex's shape.
 * - syncExecution.ts: executing queries and mutations in a synchronous isolate, with their
 *   syscalls answered by syncHost.ts (the database, in the call's transaction, and
 *   `ctx.scheduler`'s checks in scheduleSyscall.ts).
 * - queryRunner.ts: the query path, with the query cache; queries run in the query workers
 *   (queryWorkerPool.ts, queryWorker.ts, queryExecution.ts), checked against later commits
 *   (commitLog.ts).
 * - mutationRunner.ts: the write path, with group commit in the mutation worker
 *   (mutationWorker.ts, mutationExecution.ts), and system writes; functionWorker.ts and
 *   functionProcess.ts are both workers' two ends.
 * - actionRunner.ts: actions and HTTP actions, each in its own isolate, with actionHost.ts.
 * - moduleEvaluation.ts: evaluating pushed modules for push analysis.
 *
 * Queries run in parallel in worker threads, each on a consistent snapshot; mutations run in the
 * mutation worker, serializably with group commit (each in a savepoint, so a thrown error commits
 * nothing); actions run concurrently in their own isolates and reach the database through queries
 * and mutations, as on Convex. User code never runs on the main thread.
 */
import type { JSONValue } from "convex/values";
import type { Storage } from "../storage/index.js";
import type { DocumentWrite, ReadRange, Transaction } from "../transactions/transaction.js";
import { ActionRunner } from "./actionRunner.js";
import type { FileStorage } from "./fileStorage.js";
import type { AnalyzeInvocation } from "./actionExecution/protocol.js";
import { FunctionCatalog } from "./functionCatalog.js";
import type { HttpActionFailure } from "./functionResults.js";
import type { DeploymentAnalysis, FunctionInfo, UdfType } from "./functions.js";
import { evaluateModules } from "./moduleEvaluation.js";
import type { CompiledModule } from "./modules.js";
import { MutationRunner } from "./mutationRunner.js";
import { HeardCommits } from "./heardCommits.js";
import { ConsistentReads } from "./consistentReads.js";
import { QueryRunner } from "./queryRunner.js";
import { QueryWorkerPool } from "./queryWorkerPool.js";
import { callEnvironment } from "./componentEnvironment.js";
import { withRequest } from "./requestMetadata.js";
import { ONEOFF_MODULE_PATH, OneoffQueryRefusal, prepareOneoffQuery, type OneoffModule } from "./oneoffQuery.js";
import { qualifiedPath } from "./components.js";

/** Who is calling: a verified user identity (from a JWT) and whether the admin key was presented. */
export interface Caller {
  identity: Record<string, JSONValue> | null;
  admin: boolean;
  /** Why the request's credentials were refused, when it runs anyway (an HTTP action): `ctx.auth.getUserIdentity()` throws it. */
  identityError?: string;
  /**
   * The scheduled job whose run this call belongs to (the job's own function and what it calls),
   * Convex's `parent_scheduled_job`: jobs it schedules once that job is canceled are born canceled.
   */
  scheduledJob?: string;
  /**
   * The request that started the call (Convex's `RequestContext`), passed unchanged to the calls it
   * makes: `ctx.meta.getRequestMetadata()` reports it, and a failure's `[Request ID: …]` quotes its id.
   */
  request?: RequestOrigin;
  /** The user's JWT the identity was verified from (never an admin key's or an acting user's): `getRequestMetadata().authToken`. */
  authToken?: string;
}

/**
 * Where a request came from, as Convex records it (crates/common/src/execution_context.rs
 * `RequestId`, `RequestMetadata`): null `ip` and `userAgent` for the scheduler's own calls.
 */
export interface RequestOrigin {
  id: string;
  ip: string | null;
  userAgent: string | null;
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
  /** The commit whose snapshot the query read: the result is current until a later commit writes into `reads`. */
  snapshotTs: bigint;
}

export interface MutationResult {
  result: FunctionResult;
  writes: DocumentWrite[];
  /** The commit's timestamp, when the mutation wrote something. */
  commitTs: bigint | null;
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
  /** How many threads run queries (default: one per core, at most 8). */
  queryWorkers?: number;
  /** Time limit of a default-runtime action or HTTP action (Convex: 30 minutes, V8_ACTION_USER_TIMEOUT). */
  actionTimeoutMs?: number;
  /** Time limit of a `"use node"` action (Convex: 10 minutes, NODE_ACTION_USER_TIMEOUT). */
  nodeActionTimeoutMs?: number;
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
  /**
   * The scheduled job the mutation runs: it must still be pending; it is `inProgress` while the
   * mutation runs (the mutation sees it so) and `success` (at `at`, ms) in the mutation's commit.
   */
  completesJob?: { id: string; at: number };
  /** A meta entry set in the mutation's commit (a cron's next run). */
  setsMeta?: { key: string; value: unknown };
}

export interface Deployment {
  modules: ReadonlyMap<string, CompiledModule>;
  analysis: DeploymentAnalysis;
  /** The `convex` package version the app was pushed with (Convex's udf_server_version), which some behaviours depend on. */
  udfServerVersion?: string;
}

/** A query call: the function, its arguments, who calls, and the journal of its previous run. */
export interface QueryRequest {
  path: string;
  args: JSONValue;
  caller: Caller;
  journal: string | null;
  /** A one-off query's modules (`/api/run_test_function`, oneoffQuery.ts): run in place of a pushed function, never cached. */
  oneoff?: OneoffModule;
}

export class FunctionRunner {
  private readonly catalog: FunctionCatalog;
  private readonly queryWorkers: QueryWorkerPool;
  private readonly queries: QueryRunner;
  private readonly consistentReads: ConsistentReads;
  private readonly mutations: MutationRunner;
  private readonly actions: ActionRunner;
  /** The environment functions see, for the configured variables it was made from. */
  private environmentOf: { configured: Record<string, string>; analysis: DeploymentAnalysis | undefined; merged: Record<string, string> } | undefined;

  constructor(private readonly options: RunnerOptions) {
    const { storage } = options;
    const onLog = (entry: FunctionLogEntry) => options.onLog?.(entry);
    const queryTimeoutMs = options.queryTimeoutMs ?? 1000;
    const environment = () => this.functionEnvironment();
    const catalog = new FunctionCatalog(storage);
    const threadData = { databasePath: storage.path, files: options.fileStorage?.threadOptions() ?? null, timeoutMs: queryTimeoutMs };
    this.catalog = catalog;
    this.queryWorkers = new QueryWorkerPool({
      data: threadData,
      size: options.queryWorkers,
    });
    const heard = new HeardCommits(storage);
    this.consistentReads = new ConsistentReads(threadData);
    this.queries = new QueryRunner({
      storage,
      heard,
      workers: this.queryWorkers,
      consistentReads: this.consistentReads,
      environment: () => options.environment(),
      functionEnvironment: environment,
      timeoutMs: queryTimeoutMs,
      onLog,
    });
    this.mutations = new MutationRunner({ storage, data: threadData, environment, onLog, heard, onCommitted: (writes, commitTs) => this.committed(writes, commitTs) });
    this.actions = new ActionRunner({
      storage,
      catalog,
      services: this,
      environment,
      nodeRequireFrom: () => this.nodeRequireFrom(),
      timeoutMs: options.actionTimeoutMs ?? 30 * 60_000,
      nodeTimeoutMs: options.nodeActionTimeoutMs ?? 10 * 60_000,
      onLog,
    });
  }

  get analysis(): DeploymentAnalysis | undefined {
    return this.catalog.analysis;
  }

  /**
   * Switches to a newly pushed set of modules; isolates of the previous push are dropped. Resolves
   * once the query and mutation workers have loaded them (calls made before then wait for it).
   */
  async install(deployment: Deployment): Promise<void> {
    this.catalog.install(deployment);
    const loaded = Promise.all([this.queryWorkers.install(deployment), this.mutations.install(deployment)]);
    this.consistentReads.install(deployment);
    this.queries.clearCache();
    this.options.onInstall?.();
    await loaded;
  }

  /** Looks a function up as `caller` may see it: internal functions only for the admin. */
  resolve(path: string, caller: Caller, expected?: UdfType): FunctionInfo {
    return this.catalog.resolve(path, caller, expected);
  }

  /** Runs a query in a query worker (or answers it from the cache); `journal` is the one its previous run returned (a subscription's re-run). */
  query(path: string, args: JSONValue, caller: Caller, journal: string | null = null): Promise<QueryResult> {
    return this.queries.query(path, args, caller, journal);
  }

  /** Holds a snapshot of the latest commit for reads at it (`/api/query_ts`, consistentReads.ts) and returns its timestamp. */
  holdSnapshot(): Promise<bigint> {
    return this.queries.holdSnapshot();
  }

  /** Runs a query as it reads at commit `ts`, or says why it cannot (queryRunner.ts). */
  queryAt(request: QueryRequest, ts: bigint): Promise<QueryResult | "unreadable" | "future"> {
    return this.queries.queryAt(request, ts);
  }

  /** Runs queries in parallel in the query workers, answering cached ones from the cache. */
  queryMany(requests: readonly QueryRequest[]): Promise<QueryResult[]> {
    return this.queries.queryMany(requests);
  }

  /**
   * Runs a one-off query (`/api/run_test_function`, oneoffQuery.ts): the module `source`, whose
   * default export must be a query, in a query worker as the admin, on the tables of the component
   * of `namespace` ("" for the app); never cached, and nothing of it stays installed. Throws
   * OneoffQueryRefusal when Convex refuses the module.
   */
  async oneoffQuery(source: string, args: JSONValue, namespace: string, request?: RequestOrigin): Promise<FunctionResult> {
    const oneoff = prepareOneoffQuery(source, namespace);
    const path = qualifiedPath(namespace, `${ONEOFF_MODULE_PATH.slice(0, -3)}:default`);
    const executed = await this.queries.uncached({ path, args, caller: withRequest({ identity: null, admin: true, request }), journal: null, oneoff });
    if (executed.refusal !== undefined) throw new OneoffQueryRefusal(executed.refusal.code as OneoffQueryRefusal["code"], executed.refusal.message);
    return executed.result;
  }

  /** The positions in `results` of those a commit since their snapshot wrote into (to be run again). */
  staleOf(results: readonly QueryResult[]): Set<number> {
    return this.queries.staleOf(results);
  }

  /**
   * Runs a mutation in the mutation worker with group commit; resolves once its commit is durable
   * and announced. `hooks`: what a system caller (the scheduler) commits along with it.
   */
  mutation(path: string, args: JSONValue, caller: Caller, hooks?: MutationHooks): Promise<MutationResult> {
    return this.mutations.mutation(path, args, withRequest(caller), hooks);
  }

  /** Commits system bookkeeping writes outside any function, announced like a mutation's. */
  systemWrite<T>(write: (transaction: Transaction) => T): Promise<T> {
    return this.mutations.systemWrite(write);
  }

  /** Lets another process of the backend's own write, in a turn of its own (mutationRunner.ts `writeElsewhere`). */
  writeElsewhere<T>(write: () => Promise<{ commitTs?: bigint; result: T }>): Promise<T> {
    return this.mutations.writeElsewhere(write);
  }

  action(path: string, args: JSONValue, caller: Caller): Promise<FunctionResult> {
    return this.actions.action(path, args, withRequest(caller));
  }

  /** Routes a request through `convex/http.ts`: the app's Response, or how the run failed. `caller` carries a valid bearer token's identity. */
  httpAction(request: Request, caller: Caller = ANONYMOUS): Promise<Response | HttpActionFailure> {
    return this.actions.httpAction(request, withRequest(caller));
  }

  /** Loads modules (not yet installed) in an action executor and runs the analysis `invocation` names there (push analysis). */
  evaluate<T>(modules: ReadonlyMap<string, CompiledModule>, invocation: AnalyzeInvocation, node: boolean): Promise<T> {
    return evaluateModules(modules, invocation, node, {
      actions: this.actions,
      catalog: this.catalog,
      environment: () => this.functionEnvironment(),
      nodeRequireFrom: () => this.nodeRequireFrom(),
    });
  }

  /**
   * Stores a file (an upload, or `ctx.storage.store` in an action): the bytes, then their document
   * in the `_storage` of `namespace` (the app's, or the component's whose code or upload URL it is); returns its id.
   */
  async storeFile(bytes: AsyncIterable<Uint8Array> | Uint8Array, contentType: string | null, expectedSha256?: string, namespace = ""): Promise<string> {
    const files = this.fileStorage();
    const blob = await files.blobs.write(bytes, { maxBytes: files.maxFileBytes, contentType, expectedSha256 });
    // Should the document not commit, the next start removes the bytes (FileStorage.open).
    return this.systemWrite((transaction) => files.insert(transaction, blob, namespace));
  }

  /** Stops the threads and processes that run functions; calls still running fail. */
  async close(): Promise<void> {
    await Promise.all([this.actions.close(), this.queryWorkers.close(), this.mutations.close(), this.consistentReads.close()]);
  }

  fileStorage(): FileStorage {
    if (this.options.fileStorage === undefined) throw new Error("File storage is not configured on this backend");
    return this.options.fileStorage;
  }

  /** After a commit: cached results that read what it wrote are dropped, then listeners hear of it. */
  private committed(writes: DocumentWrite[], commitTs: bigint): void {
    this.queries.committed(writes, commitTs);
    this.options.fileStorage?.removeBlobsOf(writes);
    this.options.onCommit?.(writes, commitTs);
  }

  /** The environment variables a function sees: the deployment's, then the system's. */
  private functionEnvironment(): Record<string, string> {
    const configured = this.options.environment();
    const analysis = this.catalog.analysis;
    // One object while the variables and the push stay the same: calls with the same one share a worker batch.
    if (this.environmentOf?.configured !== configured || this.environmentOf.analysis !== analysis) {
      // Components' own variables ride along under their namespaces (componentEnvironment.ts).
      this.environmentOf = { configured, analysis, merged: callEnvironment(configured, this.options.systemEnvironment, analysis?.componentEnv) };
    }
    return this.environmentOf.merged;
  }

  private nodeRequireFrom(): string {
    return `${this.options.appDirectory ?? process.cwd()}/package.json`;
  }
}
