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
import { WebSocketServer, type WebSocket } from "ws";
import type { Caller, FunctionRunner, QueryRequest, QueryResult } from "../../runtime/runner.js";
import type { IndexInfo, Storage } from "../../storage/index.js";
import type { DocumentWrite } from "../../transactions/transaction.js";
import { ReadSetIndex } from "../../transactions/readSets.js";
import { QueryCache } from "../../runtime/queryCache.js";
import { SyncSession, type FlushPlan, type MutationWrites, type SessionHost, type SessionLimits, type Subscription } from "./session.js";
import { DEFAULT_MUTATION_MEMORY_LIMITS, MutationMemory, type MutationMemoryLimits } from "./mutationMemory.js";
import { printableError } from "../../text/terminalText.js";
import { clientOf } from "../requestOrigin.js";

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
  /**
   * Serves queries that live in the backend rather than the app (`_system/cli/tables`, … for the
   * CLI, see api/systemFunctions); undefined when `request` names none. Runs synchronously, so a
   * result a commit makes stale is simply asked for again.
   */
  systemQuery?(request: QueryRequest): QueryResult | undefined;
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

/** A flush runs queries a commit keeps invalidating at most this often before sending them (and re-running them at once). */
const MAX_FLUSH_RUNS = 8;

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
  /** A flush is under way; `flushAgain`: something asked for one meanwhile. */
  private flushing = false;
  private flushAgain = false;
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
      this.sessions.add(new SyncSession(ws, this, request.headers.origin, clientOf(request)));
    });
  };

  // ---- SessionHost ---------------------------------------------------------------------------

  visibleTs(): bigint {
    return this.visible;
  }

  noteCommit(writes: MutationWrites, commitTs: bigint): void {
    if (!this.applied.has(writes)) this.commit(writes, commitTs);
  }

  /**
   * Re-runs what every session needs and sends their Transitions. Queries run in worker threads,
   * so a flush takes turns of the event loop: a call while one is under way makes another follow
   * it. Never throws: what one session's state makes fail ends that session only.
   */
  flushAll(): void {
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    void (async () => {
      try {
        do {
          this.flushAgain = false;
          await this.flushOnce();
        } while (this.flushAgain && !this.closing);
      } catch (error) {
        this.reportError(error);
      } finally {
        this.flushing = false;
      }
    })();
  }

  /**
   * One flush: every session's plan, their queries run together (a query asked for by several
   * sessions with the same arguments, identity and journal runs once), run again until no commit
   * since their snapshots wrote into what they read, then each session's Transition at the
   * newest commit.
   */
  private async flushOnce(): Promise<void> {
    const plans: [SyncSession, FlushPlan][] = [];
    const runs = new Map<string, QueryResult>();
    /** Each planned request's shared-run key, and the request of each key that runs in the workers. */
    const keyOf = new Map<QueryRequest, string>();
    const requestOf = new Map<string, QueryRequest>();
    /** The requests of keys the backend answers itself (system queries). */
    const systemRequestOf = new Map<string, QueryRequest>();
    for (const session of this.sessions) {
      try {
        const plan = session.planFlush();
        if (plan === undefined) continue;
        for (const { request } of plan.runs) {
          if (typeof request === "string") continue;
          const key = sharedRunKey(request);
          keyOf.set(request, key);
          if (runs.has(key) || requestOf.has(key)) continue;
          const system = this.deps.systemQuery?.(request);
          if (system !== undefined) {
            runs.set(key, system);
            systemRequestOf.set(key, request);
          } else {
            requestOf.set(key, request);
          }
        }
        plans.push([session, plan]);
      } catch (error) {
        session.fail(error);
      }
    }
    if (plans.length === 0) return;
    let pending = requestOf;
    let stale = new Set<string>();
    for (let attempt = 1; pending.size > 0; attempt++) {
      const keys = [...pending.keys()];
      let results: QueryResult[];
      try {
        results = await this.deps.runner.queryMany([...pending.values()]);
      } catch (error) {
        this.reportError(error);
        const failed: QueryResult = { result: { status: "error", errorMessage: `InternalServerError: ${printableError(error)}`, logLines: [] }, reads: [], journal: null, snapshotTs: this.visible };
        results = keys.map(() => failed);
      }
      keys.forEach((key, i) => runs.set(key, results[i]!));
      // Commits may have come while the queries ran: only what is current now goes out.
      const ran = [...runs];
      stale = new Set([...this.deps.runner.staleOf(ran.map(([, run]) => run))].map((i) => ran[i]![0]));
      if (stale.size === 0 || attempt === MAX_FLUSH_RUNS) break;
      pending = new Map();
      for (const key of [...stale]) {
        const system = systemRequestOf.get(key);
        if (system === undefined) {
          pending.set(key, requestOf.get(key)!);
        } else {
          // Answered at once, on the latest commit: current again.
          runs.set(key, this.deps.systemQuery!(system)!);
          stale.delete(key);
        }
      }
    }
    if (this.closing) return;
    const ts = this.visible;
    const resultOf = (request: QueryRequest) => runs.get(keyOf.get(request)!)!;
    for (const [session, plan] of plans) {
      try {
        session.sendFlush(plan, resultOf, ts);
        // Results a later commit kept invalidating are sent, then run again at once.
        for (const { query, request } of plan.runs) {
          if (typeof request !== "string" && stale.has(keyOf.get(request)!)) session.invalidate(query.queryId);
        }
      } catch (error) {
        session.fail(error);
      }
    }
    if (stale.size > 0) this.flushAgain = true;
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
