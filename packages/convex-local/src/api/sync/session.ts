/**
 * One client connection of the sync protocol: its query set, identity and version, the results it
 * was last sent, and the ordered processing of its messages.
 *
 * Versions follow Convex's sync worker (`crates/sync/src/state.rs`, `worker.rs`): the client's
 * `ModifyQuerySet`/`Authenticate` name the version they build on (`baseVersion`, which must equal
 * what the server has received so far); every `Transition` goes from exactly the version last sent
 * (`startVersion`) to the received query-set/identity versions at a snapshot timestamp.
 */
import type { JSONValue } from "convex/values";
import type { WebSocket } from "ws";
import type { Caller, FunctionResult, QueryRequest, QueryResult } from "../../runtime/runner.js";
import {
  encodeTs,
  encodeVersion,
  parseClientMessage,
  ProtocolError,
  singleArgsObject,
  type ActionMessage,
  type AuthenticateMessage,
  type ClientMessage,
  type ModifyQuerySetMessage,
  type MutationMessage,
  type ServerMessage,
  type StateModification,
  type StateVersion,
} from "./protocol.js";
import type { ReadSetIndex } from "../../transactions/readSets.js";
import type { SyncDependencies } from "./index.js";

export const ANONYMOUS_CALLER: Caller = { identity: null, admin: false };

/** A query subscription as the read-set index knows it. */
export interface Subscription {
  session: SyncSession;
  queryId: number;
}

export interface SessionLimits {
  /** Live queries per connection. */
  maxQueries: number;
  /** Actions running at once per connection. */
  maxInflightActions: number;
  /** Client messages queued behind an unfinished one (e.g. a slow Authenticate). */
  maxQueuedMessages: number;
  /** Bytes buffered for a client that does not read before the connection is dropped. */
  maxBufferedBytes: number;
}

/** What a session needs from the server that owns it. */
export interface SessionHost {
  readonly deps: SyncDependencies;
  readonly readIndex: ReadSetIndex<Subscription>;
  readonly limits: SessionLimits;
  /** The newest commit timestamp whose invalidations have been applied to every session. */
  visibleTs(): bigint;
  /** Applies a commit's invalidations now unless the commit listener already did. */
  noteCommit(writes: MutationWrites, commitTs: bigint): void;
  /** Recently answered mutations of a client session (bounded), for retries after a reconnect. */
  mutationMemory(sessionId: string): Map<number, ServerMessage>;
  /** Runs every session's pending re-executions and sends their transitions. */
  flushAll(): void;
  /** Runs a query for a session; identical runs within one `flushAll` share one execution. */
  runQuery(request: QueryRequest): QueryResult;
  onClose(session: SyncSession): void;
  /** Reports an unexpected server-side error (not a client protocol error). */
  reportError(error: unknown): void;
}

export type MutationWrites = ReturnType<SyncDependencies["runner"]["mutation"]>["writes"];

interface QueryState {
  queryId: number;
  udfPath: string;
  args: JSONValue[];
  componentPath: string | undefined;
  /** The journal the next run starts from: the client's at first, then the last run's. */
  journal: string | null;
  /** Canonical text of the result (and journal) last sent; undefined before the first send. */
  lastSent: string | undefined;
  subscription: Subscription;
}

function resultKey(result: FunctionResult, journal: string | null): string {
  return result.status === "success"
    ? JSON.stringify(["ok", result.value, journal])
    : JSON.stringify(["err", result.errorMessage, result.errorData ?? null, journal]);
}

function errorResult(message: string): FunctionResult {
  return { status: "error", errorMessage: message, logLines: [] };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class SyncSession {
  sessionId: string | undefined;
  private clientClockSkew: number | null = null;
  private caller: Caller = ANONYMOUS_CALLER;

  /** The version the client holds: the end version of the last Transition sent. */
  private sent: StateVersion = { querySet: 0, identity: 0, ts: 0n };
  private receivedQuerySet = 0;
  private receivedIdentity = 0;

  private readonly queries = new Map<number, QueryState>();
  private readonly dirty = new Set<number>();
  private readonly removed = new Set<number>();
  private rerunAll = false;
  /** A mutation answered with this ts waits for a Transition reaching it. */
  private awaitTs: bigint | undefined;

  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private inflightActions = 0;
  private closed = false;

  lastSentAt = Date.now();
  lastReceivedAt = Date.now();
  lastPingAt = Date.now();

  constructor(
    readonly ws: WebSocket,
    private readonly host: SessionHost,
  ) {
    ws.on("message", (data, isBinary) => {
      this.lastReceivedAt = Date.now();
      if (isBinary) {
        this.fail(new ProtocolError("Received a binary frame; the sync protocol uses text frames"));
        return;
      }
      let message: ClientMessage;
      try {
        message = parseClientMessage(Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.concat(data as Buffer[]).toString("utf8"));
      } catch (error) {
        this.fail(error);
        return;
      }
      if (++this.queued > host.limits.maxQueuedMessages) {
        this.fail(new ProtocolError("Too many unprocessed messages on this connection"));
        return;
      }
      this.queue = this.queue
        .then(() => (this.closed ? undefined : this.handle(message)))
        .catch((error: unknown) => this.fail(error))
        .finally(() => {
          // Query-set and identity changes that arrive together (Connect, Authenticate,
          // ModifyQuerySet on open) are answered by one Transition once the queue drains.
          if (--this.queued === 0 && !this.closed) this.safeFlush();
        });
    });
    ws.on("pong", () => {
      this.lastReceivedAt = Date.now();
    });
    ws.on("close", () => this.dispose());
    ws.on("error", () => this.dispose());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get queryCount(): number {
    return this.queries.size;
  }

  // ---- messages ------------------------------------------------------------------------------

  private async handle(message: ClientMessage): Promise<void> {
    switch (message.type) {
      case "Connect":
        this.sessionId = message.sessionId;
        if (message.clientTs !== undefined) this.clientClockSkew = Math.round(message.clientTs - Date.now());
        return;
      case "ModifyQuerySet":
        this.modifyQuerySet(message);
        return;
      case "Authenticate":
        await this.authenticate(message);
        return;
      case "Mutation":
        await this.mutation(message);
        return;
      case "Action":
        this.action(message);
        return;
      case "Event":
        return;
    }
  }

  private modifyQuerySet(message: ModifyQuerySetMessage): void {
    if (message.baseVersion !== this.receivedQuerySet) {
      throw new ProtocolError(
        `Base version ${message.baseVersion} passed up doesn't match the current version ${this.receivedQuerySet}`,
      );
    }
    if (message.newVersion <= message.baseVersion) {
      throw new ProtocolError(`New query set version ${message.newVersion} must exceed base version ${message.baseVersion}`);
    }
    for (const mod of message.modifications) {
      if (mod.type === "Add") {
        const existing = this.queries.get(mod.queryId);
        if (existing !== undefined) this.host.readIndex.delete(existing.subscription);
        else if (this.queries.size >= this.host.limits.maxQueries) {
          throw new ProtocolError(`Too many queries on one connection (limit ${this.host.limits.maxQueries})`);
        }
        this.queries.set(mod.queryId, {
          queryId: mod.queryId,
          udfPath: mod.udfPath,
          args: mod.args,
          componentPath: mod.componentPath,
          journal: mod.journal ?? null,
          lastSent: undefined,
          subscription: { session: this, queryId: mod.queryId },
        });
        this.removed.delete(mod.queryId);
        this.dirty.add(mod.queryId);
      } else {
        const existing = this.queries.get(mod.queryId);
        if (existing !== undefined) {
          this.host.readIndex.delete(existing.subscription);
          this.queries.delete(mod.queryId);
        }
        this.dirty.delete(mod.queryId);
        this.removed.add(mod.queryId);
      }
    }
    this.receivedQuerySet = message.newVersion;
  }

  private async authenticate(message: AuthenticateMessage): Promise<void> {
    if (message.baseVersion !== this.receivedIdentity) {
      throw new ProtocolError(
        `Authenticate base version ${message.baseVersion} doesn't match the current identity version ${this.receivedIdentity}`,
      );
    }
    const { type: _type, baseVersion: _base, ...token } = message;
    let caller: Caller;
    try {
      caller = await this.host.deps.authenticate(token);
    } catch (error) {
      if (this.closed) return;
      // As Convex does (crates/local_backend/src/subs/mod.rs): AuthError carrying the identity
      // version the server holds, then the connection ends; the client refetches a token and
      // reconnects.
      this.send({
        type: "AuthError",
        error: messageOf(error),
        baseVersion: this.receivedIdentity,
        authUpdateAttempted: true,
      });
      this.close(undefined, "");
      return;
    }
    if (this.closed) return;
    this.caller = caller;
    this.receivedIdentity += 1;
    this.rerunAll = true;
  }

  /** Runs a mutation with group commit (it shares a commit with others queued in the same turn); the session's next message waits for it. */
  private async mutation(message: MutationMessage): Promise<void> {
    const memory = this.sessionId === undefined ? undefined : this.host.mutationMemory(this.sessionId);
    const remembered = memory?.get(message.requestId);
    if (remembered !== undefined) {
      // A retry after a reconnect of a mutation that already ran: answer it again, run nothing.
      this.send(remembered);
      if (remembered.type === "MutationResponse" && remembered.success) this.awaitVisible(this.host.visibleTs());
      this.host.flushAll();
      return;
    }
    const { deps } = this.host;
    const args = singleArgsObject(message.args);
    let result: FunctionResult;
    let ts: bigint | null = null;
    if (!args.ok) {
      result = errorResult(args.error);
    } else if (message.componentPath !== undefined && message.componentPath !== "") {
      result = errorResult(`Components are not supported (componentPath ${JSON.stringify(message.componentPath)})`);
    } else {
      const outcome = await deps.runner.queueMutation(message.udfPath, args.value, this.caller);
      result = outcome.result;
      // No commit can come between the group's commit and this continuation: lastCommitTs is its ts.
      if (result.status === "success") {
        if (outcome.writes.length > 0) {
          ts = deps.storage.lastCommitTs();
          this.host.noteCommit(outcome.writes, ts);
        } else {
          ts = this.host.visibleTs();
        }
      }
    }
    const response: ServerMessage =
      result.status === "success"
        ? { type: "MutationResponse", requestId: message.requestId, success: true, result: result.value, ts: encodeTs(ts!), logLines: result.logLines }
        : {
            type: "MutationResponse",
            requestId: message.requestId,
            success: false,
            result: result.errorMessage,
            ts: null,
            logLines: result.logLines,
            ...(result.errorData !== undefined ? { errorData: result.errorData } : {}),
          };
    memory?.set(message.requestId, response);
    if (memory !== undefined && memory.size > MUTATION_MEMORY_PER_SESSION) {
      memory.delete(memory.keys().next().value!);
    }
    // The response goes first: the client settles a successful mutation on the first Transition
    // that reaches its ts *after* the response (request_manager.js removeCompleted).
    this.send(response);
    if (ts !== null) this.awaitVisible(ts);
    this.host.flushAll();
  }

  private action(message: ActionMessage): void {
    const respond = (result: FunctionResult) => {
      if (this.closed) return;
      this.send(
        result.status === "success"
          ? { type: "ActionResponse", requestId: message.requestId, success: true, result: result.value, logLines: result.logLines }
          : {
              type: "ActionResponse",
              requestId: message.requestId,
              success: false,
              result: result.errorMessage,
              logLines: result.logLines,
              ...(result.errorData !== undefined ? { errorData: result.errorData } : {}),
            },
      );
    };
    const args = singleArgsObject(message.args);
    if (!args.ok) return respond(errorResult(args.error));
    if (message.componentPath !== undefined && message.componentPath !== "") {
      return respond(errorResult(`Components are not supported (componentPath ${JSON.stringify(message.componentPath)})`));
    }
    if (this.inflightActions >= this.host.limits.maxInflightActions) {
      return respond(errorResult(`Too many concurrent actions on one connection (limit ${this.host.limits.maxInflightActions})`));
    }
    this.inflightActions++;
    this.host.deps.runner
      .action(message.udfPath, args.value, this.caller)
      .catch((error: unknown): FunctionResult => {
        this.host.reportError(error);
        return errorResult(`InternalServerError: ${messageOf(error)}`);
      })
      .then(respond)
      .finally(() => {
        this.inflightActions--;
      });
  }

  private awaitVisible(ts: bigint): void {
    if (this.awaitTs === undefined || ts > this.awaitTs) this.awaitTs = ts;
  }

  // ---- reactivity ----------------------------------------------------------------------------

  /** Marks a query for re-execution at the next flush (its read set intersected a commit). */
  invalidate(queryId: number): void {
    if (this.queries.has(queryId)) this.dirty.add(queryId);
  }

  invalidateAll(): void {
    this.rerunAll = true;
  }

  get hasPendingWork(): boolean {
    return (
      this.dirty.size > 0 ||
      this.removed.size > 0 ||
      this.rerunAll ||
      this.awaitTs !== undefined ||
      this.receivedQuerySet !== this.sent.querySet ||
      this.receivedIdentity !== this.sent.identity
    );
  }

  private safeFlush(): void {
    try {
      this.flush();
    } catch (error) {
      this.fail(error);
    }
  }

  /**
   * Re-runs the queries that need it and sends one Transition with every changed result, when
   * anything changed for this client (or a mutation it was answered is waiting for its ts).
   */
  flush(): void {
    if (this.closed || !this.hasPendingWork) return;
    const visible = this.host.visibleTs();
    const ts = visible > this.sent.ts ? visible : this.sent.ts;
    const modifications: StateModification[] = [];
    for (const queryId of this.removed) modifications.push({ type: "QueryRemoved", queryId });
    this.removed.clear();
    const toRun = this.rerunAll ? [...this.queries.keys()] : [...this.dirty];
    this.rerunAll = false;
    this.dirty.clear();
    for (const queryId of toRun) {
      const query = this.queries.get(queryId);
      if (query === undefined) continue;
      const modification = this.runQuery(query);
      if (modification !== undefined) modifications.push(modification);
    }
    const end: StateVersion = { querySet: this.receivedQuerySet, identity: this.receivedIdentity, ts };
    const versionChanged = end.querySet !== this.sent.querySet || end.identity !== this.sent.identity;
    const tsReached = this.awaitTs !== undefined && ts >= this.awaitTs;
    if (modifications.length === 0 && !versionChanged && !tsReached) return;
    if (tsReached) this.awaitTs = undefined;
    const start = this.sent;
    this.sent = end;
    this.send({
      type: "Transition",
      startVersion: encodeVersion(start),
      endVersion: encodeVersion(end),
      modifications,
      clientClockSkew: this.clientClockSkew,
      // Server wall clock in ns (Convex injects `generate_timestamp()` when sending).
      serverTs: Date.now() * 1e6,
    });
  }

  private runQuery(query: QueryState): StateModification | undefined {
    const { result, reads, journal } = this.execute(query);
    this.host.readIndex.set(query.subscription, reads);
    // A failed run keeps the journal it started from, so a later success resumes the same page.
    if (result.status === "success") query.journal = journal;
    const key = resultKey(result, query.journal);
    if (key === query.lastSent) return undefined;
    query.lastSent = key;
    return result.status === "success"
      ? { type: "QueryUpdated", queryId: query.queryId, value: result.value, logLines: result.logLines, journal: query.journal }
      : {
          type: "QueryFailed",
          queryId: query.queryId,
          errorMessage: result.errorMessage,
          logLines: result.logLines,
          journal: query.journal,
          ...(result.errorData !== undefined ? { errorData: result.errorData } : {}),
        };
  }

  /** The queries the next flush will run (the hub runs every session's together, beforehand). */
  pendingRuns(): QueryRequest[] {
    if (this.closed || !this.hasPendingWork) return [];
    const requests: QueryRequest[] = [];
    for (const queryId of this.rerunAll ? this.queries.keys() : this.dirty) {
      const query = this.queries.get(queryId);
      const request = query === undefined ? undefined : this.requestOf(query);
      if (typeof request === "object") requests.push(request);
    }
    return requests;
  }

  /** The call a subscription makes, or why it cannot be made. */
  private requestOf(query: QueryState): QueryRequest | string {
    const args = singleArgsObject(query.args);
    if (!args.ok) return args.error;
    if (query.componentPath !== undefined && query.componentPath !== "") {
      return `Components are not supported (componentPath ${JSON.stringify(query.componentPath)})`;
    }
    return { path: query.udfPath, args: args.value, caller: this.caller, journal: query.journal };
  }

  private execute(query: QueryState): QueryResult {
    const request = this.requestOf(query);
    if (typeof request === "string") return { result: errorResult(request), reads: [], journal: null };
    try {
      return this.host.runQuery(request);
    } catch (error) {
      this.host.reportError(error);
      return { result: errorResult(`InternalServerError: ${messageOf(error)}`), reads: [], journal: null };
    }
  }

  // ---- transport -----------------------------------------------------------------------------

  send(message: ServerMessage): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > this.host.limits.maxBufferedBytes) {
      this.close(1013, "ClientTooSlow: too much unread data buffered for this client");
      return;
    }
    this.lastSentAt = Date.now();
    this.ws.send(JSON.stringify(message));
  }

  /** Ends the connection after a client error (FatalError) or a server error (1011, retried). */
  fail(error: unknown): void {
    if (this.closed) return;
    if (error instanceof ProtocolError) {
      this.send({ type: "FatalError", error: error.message });
      this.close(1008, error.message);
    } else {
      this.host.reportError(error);
      this.close(1011, `InternalServerError: ${messageOf(error)}`);
    }
  }

  /** Closes the socket; without a code the close frame is empty (the client sees 1005), as Convex does after AuthError. */
  close(code: number | undefined, reason: string): void {
    if (this.closed) return;
    let trimmed = reason;
    while (Buffer.byteLength(trimmed) > 123) trimmed = trimmed.slice(0, -1);
    try {
      if (code === undefined) this.ws.close();
      else this.ws.close(code, trimmed);
    } catch {
      this.ws.terminate();
    }
    this.dispose();
  }

  private dispose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const query of this.queries.values()) this.host.readIndex.delete(query.subscription);
    this.queries.clear();
    this.dirty.clear();
    this.removed.clear();
    this.host.onClose(this);
  }
}

export const MUTATION_MEMORY_PER_SESSION = 256;
