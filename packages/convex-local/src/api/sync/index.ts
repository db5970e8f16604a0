/**
 * Convex's sync protocol over a WebSocket at `/api/<client version>/sync`: live query
 * subscriptions kept current from read sets, mutations, actions and authentication, as the
 * official `convex` clients (and the CLI's `env list`/`env get`) speak it.
 *
 *   const sync = attachSyncProtocol(httpServer, deps);
 *   ...
 *   sync.invalidateAll();   // after a push or an environment variable change
 *   await sync.close();
 */
import type { IncomingMessage, Server as HttpServer } from "node:http";
import type { Duplex } from "node:stream";
import type { JSONValue } from "convex/values";
import { WebSocketServer, type WebSocket } from "ws";
import type { Caller, FunctionResult, FunctionRunner, QueryRequest, QueryResult } from "../../runtime/runner.js";
import type { IndexInfo, Storage } from "../../storage/index.js";
import type { DocumentWrite } from "../../transactions/transaction.js";
import { ReadSetIndex } from "../../transactions/readSets.js";
import { QueryCache } from "../../runtime/queryCache.js";
import { SyncSession, type MutationWrites, type SessionHost, type SessionLimits, type Subscription } from "./session.js";
import { DEFAULT_MUTATION_MEMORY_LIMITS, MutationMemory, type MutationMemoryLimits } from "./mutationMemory.js";
import { printableError } from "../../text/terminalText.js";

export interface SyncDependencies {
  runner: FunctionRunner;
  storage: Storage; // for lastCommitTs() and indexes; do not write through it
  /**
   * Resolves an Authenticate message to a caller; throws an Error whose message is the AuthError text.
   * `origin`: the upgrade request's `Origin` header (browsers always send one, the CLI and Node clients none).
   */
  authenticate(token: { tokenType: "Admin" | "User" | "None"; value?: string; impersonating?: unknown }, origin: string | undefined): Promise<Caller>;
  /** Registers a listener for every committed mutation's writes; returns an unsubscribe function. */
  onCommit(listener: (writes: DocumentWrite[], commitTs: bigint) => void): () => void;
  /** Serves queries that live in the backend rather than the app, e.g. `_system/cli/queryEnvironmentVariables:default` and `:get` (args [{name}]) for `npx convex env list/get`. Return undefined when not a system query. */
  systemQuery?(path: string, args: JSONValue, caller: Caller): FunctionResult | undefined;
}

export interface SyncOptions {
  /** A `Ping` message goes to a client after this long without any other message (Convex: 15 s). */
  heartbeatIntervalMs?: number;
  /** A client silent this long (no message, no pong) is dropped (Convex: 120 s). */
  clientTimeoutMs?: number;
  /** Largest accepted client frame (Convex: 64 MiB, tungstenite's default); a larger one closes the connection with 1009. */
  maxPayloadBytes?: number;
  /** How much of successful mutations' answers is remembered for retries after a reconnect. */
  mutationMemory?: Partial<MutationMemoryLimits>;
  limits?: Partial<SessionLimits>;
  /** Unexpected server-side errors (default: console.error). */
  onError?: (error: unknown) => void;
}

/**
 * The attached protocol. Calling it detaches (same as `close()`, without waiting), so
 * `const detach = attachSyncProtocol(...); detach();` works.
 */
export interface SyncServer {
  (): void;
  /** Open sync connections. */
  readonly connectionCount: number;
  /** Re-runs every subscribed query (call after a push or an environment variable change). */
  invalidateAll(): void;
  /** Stops accepting upgrades, closes every connection (1001, clients reconnect) and detaches. */
  close(): Promise<void>;
}

/** `/api/<client version>/sync`, any version string. */
export const SYNC_PATH = /^\/api\/[^/]+\/sync\/?$/;

/** Subscriptions with equal keys get the same result from one run: the query cache's key, since a run's result depends on the same things. */
function sharedRunKey({ path, args, caller, journal }: QueryRequest): string {
  return QueryCache.key(path, args, caller.identity, caller.admin, journal);
}

const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

const DEFAULT_LIMITS: SessionLimits = {
  maxQueries: 10_000,
  maxQueriesInTotal: 100_000,
  // Convex's limits on one function's arguments and on its result (FUNCTION_MAX_ARGS_SIZE,
  // FUNCTION_MAX_RESULT_SIZE): one connection's queries together get as much as one call.
  maxQueryArgsBytes: 16 * 1024 * 1024,
  maxQueryArgsBytesInTotal: 256 * 1024 * 1024,
  maxResultBytes: 16 * 1024 * 1024,
  maxInflightActions: 64,
  maxInflightActionArgsBytes: MAX_PAYLOAD_BYTES,
  maxQueuedMessages: 10_000,
  maxQueuedBytes: MAX_PAYLOAD_BYTES,
  maxBufferedBytes: 64 * 1024 * 1024,
};

class SyncHub implements SessionHost {
  readonly readIndex = new ReadSetIndex<Subscription>();
  readonly limits: SessionLimits;
  readonly liveQueries = { count: 0, argsBytes: 0 };
  readonly mutationMemory: MutationMemory;
  private readonly sessions = new Set<SyncSession>();
  /** Write sets whose invalidations were applied (the runner hands the same array to onCommit and back to its caller). */
  private readonly applied = new WeakSet<object>();
  private visible: bigint;
  private flushScheduled = false;
  /** Query runs of the flush under way, by query, arguments, identity and journal. */
  private sharedRuns: Map<string, QueryResult> | undefined;
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout;
  private readonly wss: WebSocketServer;
  private closing = false;

  constructor(
    private readonly httpServer: HttpServer,
    readonly deps: SyncDependencies,
    private readonly options: SyncOptions,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.mutationMemory = new MutationMemory({ ...DEFAULT_MUTATION_MEMORY_LIMITS, ...options.mutationMemory });
    this.visible = deps.storage.lastCommitTs();
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES,
      perMessageDeflate: false,
    });
    this.unsubscribe = deps.onCommit((writes, commitTs) => this.commit(writes, commitTs));
    const heartbeat = options.heartbeatIntervalMs ?? 15_000;
    this.timer = setInterval(() => this.heartbeat(heartbeat), Math.max(10, Math.min(heartbeat, 5_000)));
    this.timer.unref();
    httpServer.on("upgrade", this.onUpgrade);
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    let pathname: string;
    try {
      pathname = new URL(request.url ?? "/", "http://localhost").pathname;
    } catch {
      return;
    }
    if (!SYNC_PATH.test(pathname)) return; // another upgrade handler's business
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      if (this.closing) {
        ws.terminate();
        return;
      }
      this.sessions.add(new SyncSession(ws, this, request.headers.origin));
    });
  };

  // ---- SessionHost ---------------------------------------------------------------------------

  visibleTs(): bigint {
    return this.visible;
  }

  noteCommit(writes: MutationWrites, commitTs: bigint): void {
    if (!this.applied.has(writes)) this.commit(writes, commitTs);
  }

  /** Never throws: what one session's state makes fail ends that session only. */
  flushAll(): void {
    // Nothing commits while the flush runs (queries are synchronous), so every session asking for
    // the same query, arguments, identity and journal gets the same answer: run it once.
    this.sharedRuns = new Map();
    try {
      this.runPendingQueries();
      for (const session of this.sessions) {
        try {
          session.flush();
        } catch (error) {
          session.fail(error);
        }
      }
    } catch (error) {
      this.reportError(error);
    } finally {
      this.sharedRuns = undefined;
    }
  }

  /**
   * Runs, before the sessions flush, every query they are about to re-run, together: in shared
   * timed vm runs instead of one each (a watchdog thread per run costs more than most queries).
   */
  private runPendingQueries(): void {
    const pending = new Map<string, QueryRequest>();
    for (const session of this.sessions) {
      try {
        for (const request of session.pendingRuns()) {
          const key = sharedRunKey(request);
          if (this.sharedRuns!.has(key) || pending.has(key)) continue;
          const system = this.deps.systemQuery?.(request.path, request.args, request.caller);
          if (system !== undefined) this.sharedRuns!.set(key, { result: system, reads: [], journal: null });
          else pending.set(key, request);
        }
      } catch (error) {
        session.fail(error);
      }
    }
    if (pending.size === 0) return;
    try {
      const results = this.deps.runner.queryMany([...pending.values()]);
      [...pending.keys()].forEach((key, i) => this.sharedRuns!.set(key, results[i]));
    } catch (error) {
      // Each session then runs its own queries, one at a time.
      this.reportError(error);
    }
  }

  runQuery(request: QueryRequest): QueryResult {
    const { path, args, caller, journal } = request;
    const key = this.sharedRuns === undefined ? undefined : sharedRunKey(request);
    const shared = key === undefined ? undefined : this.sharedRuns!.get(key);
    if (shared !== undefined) return shared;
    const system = this.deps.systemQuery?.(path, args, caller);
    const run = system !== undefined ? { result: system, reads: [], journal: null } : this.deps.runner.query(path, args, caller, journal);
    if (key !== undefined) this.sharedRuns!.set(key, run);
    return run;
  }

  onClose(session: SyncSession): void {
    this.sessions.delete(session);
  }

  reportError(error: unknown): void {
    (this.options.onError ?? ((e: unknown) => console.error(`convex-local sync: ${printableError(e)}`)))(error);
  }

  // ---- commits -------------------------------------------------------------------------------

  private commit(writes: DocumentWrite[], commitTs: bigint): void {
    if (this.applied.has(writes)) return;
    this.applied.add(writes);
    if (commitTs > this.visible) this.visible = commitTs;
    let affected: Set<Subscription>;
    try {
      affected = this.readIndex.affected(writes, (table) => this.indexesOf(table));
    } catch (error) {
      this.reportError(error);
      for (const session of this.sessions) session.invalidateAll();
      affected = new Set();
    }
    for (const { session, queryId } of affected) session.invalidate(queryId);
    this.scheduleFlush();
  }

  private indexesOf(table: string): readonly IndexInfo[] | undefined {
    try {
      return this.deps.storage.listIndexes(table);
    } catch {
      return undefined;
    }
  }

  /** Commit listeners may run inside the runner's mutation call: re-run queries right after it. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      if (!this.closing) this.flushAll();
    });
  }

  invalidateAll(): void {
    for (const session of this.sessions) session.invalidateAll();
    this.scheduleFlush();
  }

  // ---- liveness ------------------------------------------------------------------------------

  private heartbeat(interval: number): void {
    const now = Date.now();
    const timeout = this.options.clientTimeoutMs ?? 120_000;
    for (const session of this.sessions) {
      if (now - session.lastReceivedAt > timeout) {
        session.ws.terminate();
        continue;
      }
      // Protocol-level Ping keeps the client's 60 s server-inactivity timer quiet...
      if (now - session.lastSentAt >= interval) session.send({ type: "Ping" });
      // ...and a WebSocket ping every interval draws a pong, which proves the client alive even
      // when it has nothing to send (lastReceivedAt).
      if (now - session.lastPingAt >= interval) {
        session.lastPingAt = now;
        try {
          session.ws.ping();
        } catch {
          // closing
        }
      }
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.httpServer.off("upgrade", this.onUpgrade);
    this.unsubscribe();
    clearInterval(this.timer);
    const sockets = [...this.sessions].map((s) => s.ws);
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const timer = setTimeout(() => {
              ws.terminate();
              resolve();
            }, 1_000);
            ws.once("close", () => {
              clearTimeout(timer);
              resolve();
            });
            ws.close(1001, "ServerShutdown");
          }),
      ),
    );
    this.sessions.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/**
 * Serves the sync protocol on `httpServer`'s upgrade requests for `/api/<version>/sync`; other
 * upgrade paths are left untouched for other handlers.
 */
export function attachSyncProtocol(httpServer: HttpServer, deps: SyncDependencies, options: SyncOptions = {}): SyncServer {
  const hub = new SyncHub(httpServer, deps, options);
  const detach = (): void => {
    void hub.close();
  };
  return Object.defineProperties(detach, {
    connectionCount: { get: () => hub.connectionCount, enumerable: true },
    invalidateAll: { value: () => hub.invalidateAll(), enumerable: true },
    close: { value: () => hub.close(), enumerable: true },
  }) as SyncServer;
}

export { SyncSession } from "./session.js";
export * from "./protocol.js";
