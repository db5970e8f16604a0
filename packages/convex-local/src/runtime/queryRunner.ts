/**
 * The query path: queries run in the query workers (queryWorkerPool.ts), in parallel, each batch
 * on one consistent snapshot; repeated ones are answered from the query cache (by function,
 * arguments, identity and journal, until a commit writes into what they read, a push, or an
 * environment change). A result reaches the cache, or a caller that needs it current, only if no
 * commit since its snapshot wrote into what it read (commitLog.ts); otherwise it runs again.
 * `queryAt` reads at an earlier commit: on the snapshot `holdSnapshot` held for it
 * (consistentReads.ts), or, when that is no longer held, on the latest one if what the query read
 * has not changed since.
 */
import type { JSONValue } from "convex/values";
import type { Storage } from "../storage/index.js";
import type { DocumentWrite } from "../transactions/transaction.js";
import { CommitLog } from "./commitLog.js";
import type { ConsistentReads } from "./consistentReads.js";
import type { HeardCommits } from "./heardCommits.js";
import { checkArgsNesting } from "./functionCatalog.js";
import { resultFromJson, runLogEntry, valueJsonOf } from "./functionResults.js";
import { failedExecution, type ExecutedQuery } from "./queryExecution.js";
import { QueryCache } from "./queryCache.js";
import type { QueryWorkerPool } from "./queryWorkerPool.js";
import type { Caller, FunctionLogEntry, QueryRequest, QueryResult } from "./runner.js";

export interface QueryRunnerOptions {
  storage: Storage;
  workers: QueryWorkerPool;
  consistentReads: ConsistentReads;
  /** The deployment's environment variables as configured (a new object means they changed). */
  environment: () => Record<string, string>;
  /** The environment variables a query sees (the deployment's and the system's). */
  functionEnvironment: () => Record<string, string>;
  timeoutMs: number;
  onLog?: (entry: FunctionLogEntry) => void;
  /** Commits the backend has heard of: a result is checked only against commits through its snapshot. */
  heard: HeardCommits;
}

/** A query whose result a later commit keeps invalidating is run at most this often per call; the caller is then told it is stale. */
const MAX_RUNS = 8;

export class QueryRunner {
  private readonly cache: QueryCache;
  private readonly commits: CommitLog;
  /** The environment the cached results were computed with: a change makes them all stale. */
  private cacheEnvironment: Record<string, string> | undefined;

  constructor(private readonly options: QueryRunnerOptions) {
    const indexesOf = (table: string) => {
      try {
        return options.storage.listIndexes(table);
      } catch {
        return undefined; // a table deleted since: every reader of it is invalidated
      }
    };
    // Convex's rule: the query time limit plus a second.
    this.cache = new QueryCache({ indexesOf, maxAgeIfTimed: options.timeoutMs + 1000 });
    this.commits = new CommitLog(indexesOf, options.storage.lastCommitTs());
  }

  /** After a push: no cached result stands. */
  clearCache(): void {
    this.cache.clear();
  }

  /** After a commit: cached results that read what it wrote are dropped, and results still on their way are checked against it. */
  committed(writes: DocumentWrite[], commitTs: bigint): void {
    this.cache.invalidate(writes);
    this.commits.record(writes, commitTs);
  }

  /** Runs a query; `journal` is the one its previous run returned (a subscription's re-run). */
  async query(path: string, args: JSONValue, caller: Caller, journal: string | null = null): Promise<QueryResult> {
    const [result] = await this.queryMany([{ path, args, caller, journal }]);
    return result!;
  }

  /**
   * Runs queries in parallel on the query workers, answering cached ones from the cache. Every
   * result is current when the promise resolves, unless `staleOf` says otherwise (a commit may
   * come before the caller uses them).
   */
  async queryMany(requests: readonly QueryRequest[]): Promise<QueryResult[]> {
    const results: QueryResult[] = new Array(requests.length);
    let pending = requests.map((_, index) => index);
    for (let run = 1; pending.length > 0; run++) {
      const misses: { index: number; cacheKey?: string; started: number }[] = [];
      for (const index of pending) {
        const request = requests[index]!;
        const { cacheKey, hit } = this.cachedQuery(request);
        if (hit !== undefined) {
          results[index] = hit;
          continue;
        }
        const started = performance.now();
        const refused = this.refusedArgs(request, started);
        if (refused !== undefined) {
          results[index] = refused;
          continue;
        }
        misses.push({ index, cacheKey, started });
      }
      const executed = misses.length === 0 ? [] : await this.options.workers.run(misses.map(({ index }) => requests[index]!), this.options.functionEnvironment());
      misses.forEach(({ index }, i) => (results[index] = resultOf(executed[i]!)));
      let newest = -1n;
      for (const { snapshotTs } of executed) if (snapshotTs > newest) newest = snapshotTs;
      await this.options.heard.through(newest);
      // One check of every result against the commits since its snapshot: a stale one is neither cached nor kept.
      const stale = this.staleOf(results);
      misses.forEach(({ index, cacheKey, started }, i) => this.finishQuery(requests[index]!.path, started, executed[i]!, stale.has(index) ? undefined : cacheKey));
      if (run === MAX_RUNS) break;
      pending = pending.filter((index) => stale.has(index));
    }
    return results;
  }

  /** Holds a snapshot of the latest commit for `queryAt` and returns its timestamp (the latest commit's when none can be held). */
  async holdSnapshot(): Promise<bigint> {
    const ts = await this.options.consistentReads.hold(this.options.functionEnvironment());
    if (ts === undefined) return this.options.storage.lastCommitTs();
    // The worker may read a commit the backend has not heard of yet: a read at `ts` once the snapshot is let go must not find it "future".
    await this.options.heard.through(ts);
    return ts;
  }

  /**
   * Runs a query as it reads at commit `ts` (`/api/query_at_ts`), never from or into the cache: on
   * the snapshot held for `ts`, or else on the latest snapshot, whose result is the one at `ts` when
   * no commit after `ts` wrote into what it read; otherwise, or when `ts` is older than the commits
   * still kept, "unreadable". A `ts` after the latest commit is "future".
   */
  async queryAt(request: QueryRequest, ts: bigint): Promise<QueryResult | "unreadable" | "future"> {
    const started = performance.now();
    const refused = this.refusedArgs(request, started);
    if (refused !== undefined) return refused;
    const held = await this.options.consistentReads.queryAt(request, ts, this.options.functionEnvironment());
    if (held !== undefined) return this.finishQuery(request.path, started, held, undefined);
    if (ts > this.options.storage.lastCommitTs()) return "future";
    const [result] = await this.queryMany([request]);
    return this.commits.writtenBetween(result!.reads, ts, result!.snapshotTs) ? "unreadable" : result!;
  }

  /** Runs a query in a query worker, never from or into the cache (a one-off query's); its run is reported unless it was refused. */
  async uncached(request: QueryRequest): Promise<ExecutedQuery> {
    const started = performance.now();
    let executed: ExecutedQuery;
    try {
      checkArgsNesting(request.args);
      [executed] = (await this.options.workers.run([request], this.options.functionEnvironment())) as [ExecutedQuery];
    } catch (error) {
      executed = failedExecution(error);
    }
    if (executed.refusal === undefined) this.options.onLog?.(runLogEntry(request.path, "Query", started, executed.result));
    return executed;
  }

  /** The positions in `results` of those a commit since their snapshot wrote into. */
  staleOf(results: readonly QueryResult[]): Set<number> {
    return this.commits.staleOf(results);
  }

  /** The query cache's key for a call, and the cached result when one is valid (reported as a cached run). */
  private cachedQuery({ path, args, caller, journal }: QueryRequest): { cacheKey?: string; hit?: QueryResult } {
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
    const result = resultFromJson(cached.valueJson, cached.logLines);
    this.options.onLog?.(runLogEntry(path, "Query", performance.now(), result, true));
    // Commits invalidate the cache as they happen: a hit is current now.
    return { cacheKey, hit: { result, reads: cached.reads, journal: cached.journal, snapshotTs: this.options.storage.lastCommitTs() } };
  }

  /** The reported failure of a query whose arguments are nested too deeply: they would overflow the stack while being copied to a worker. */
  private refusedArgs(request: QueryRequest, started: number): QueryResult | undefined {
    try {
      checkArgsNesting(request.args);
      return undefined;
    } catch (error) {
      return this.finishQuery(request.path, started, failedExecution(error), undefined);
    }
  }

  /** Reports a query run and caches a successful result (unless `cacheKey` is undefined). */
  private finishQuery(path: string, started: number, executed: ExecutedQuery, cacheKey: string | undefined): QueryResult {
    const { result, reads, journal, observedTime } = executed;
    this.options.onLog?.(runLogEntry(path, "Query", started, result));
    if (result.status === "success" && cacheKey !== undefined) {
      this.cache.set(cacheKey, { valueJson: valueJsonOf(result), logLines: result.logLines, reads, journal }, { observedTime });
    }
    return resultOf(executed);
  }
}

/** What the caller gets of a run. */
function resultOf({ result, reads, journal, snapshotTs }: ExecutedQuery): QueryResult {
  return { result, reads, journal, snapshotTs };
}
