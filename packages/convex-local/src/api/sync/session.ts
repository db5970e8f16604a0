/**
 * One client connection of the sync protocol: its query set, identity and version, the results it
 * was last sent, and the ordered processing of its messages.
 *
 * Versions follow Convex's sync worker (`crates/sync/src/state.rs`, `worker.rs`): the client's
 * `ModifyQuerySet`/`Authenticate` name the version they build on (`baseVersion`, which must equal
 * what the server has received so far); every `Transition` goes from exactly the version last sent
 * (`startVersion`) to the received query-set/identity versions at a snapshot timestamp.
 */
import { componentFunctionPath } from "../../runtime/components.js";
import type { JSONValue } from "convex/values";
import type { WebSocket } from "ws";
import { MalformedIdentityError } from "../../auth/actingUser.js";
import { jsErrorText } from "../../runtime/functionResults.js";
import { ANONYMOUS, type Caller, type FunctionResult, type QueryRequest, type QueryResult, type RequestOrigin } from "../../runtime/runner.js";
import { truncateUtf8 } from "../../text/utf8Text.js";
import { truncateText } from "../../text/valueText.js";
import {
  encodeTs,
  encodeVersion,
  parseClientMessage,
  ProtocolError,
  quoteClientValue,
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
import type { MutationMemory } from "./mutationMemory.js";
import { fingerprintOf } from "./resultFingerprint.js";
import { randomRequestId, serverErrorText, sessionRequestId } from "../serverError.js";

/** The longest WebSocket close reason, in UTF-8 bytes (RFC 6455: a control frame's 125 bytes, less the code's 2). */
const MAX_CLOSE_REASON_BYTES = 123;

/** The longest FatalError text: what the client is told of its protocol error, however large its frame. */
export const MAX_FATAL_ERROR_LENGTH = 1024;

/** A query subscription as the read-set index knows it. */
export interface Subscription {
  session: SyncSession;
  queryId: number;
}

export interface SessionLimits {
  /** Live queries per connection... */
  maxQueries: number;
  /** ...and on all connections together. */
  maxQueriesInTotal: number;
  /** Bytes of arguments (as JSON) of a connection's live queries... */
  maxQueryArgsBytes: number;
  /** ...and of all connections' together. */
  maxQueryArgsBytesInTotal: number;
  /**
   * Bytes (as JSON) of the current results of a connection's live queries: what each of its
   * Transitions may carry. A query whose result would exceed it fails instead, with a message
   * saying so, until results shrink or queries are removed.
   */
  maxResultBytes: number;
  /** Actions running at once per connection... */
  maxInflightActions: number;
  /** ...and the bytes of their arguments (as JSON), held until they finish. */
  maxInflightActionArgsBytes: number;
  /** Client messages queued behind an unfinished one (e.g. a slow Authenticate)... */
  maxQueuedMessages: number;
  /** ...and their bytes. */
  maxQueuedBytes: number;
  /** Bytes buffered for a client that does not read before the connection is dropped. */
  maxBufferedBytes: number;
}

/**
 * Transitions written to a connection but not yet taken by its socket. At this many, no new one is
 * computed until one is: a client that reads slowly gets fewer, coalesced updates, and costs the
 * server nothing meanwhile (Convex's SYNC_MAX_SEND_TRANSITION_COUNT).
 */
const MAX_UNSENT_TRANSITIONS = 2;

/** What a session needs from the server that owns it. */
export interface SessionHost {
  readonly deps: SyncDependencies;
  readonly readIndex: ReadSetIndex<Subscription>;
  readonly limits: SessionLimits;
  /** The live queries of all sessions, which each session keeps current with its own. */
  readonly liveQueries: { count: number; argsBytes: number };
  /** The newest commit timestamp whose invalidations have been applied to every session. */
  visibleTs(): bigint;
  /** Applies a commit's invalidations now unless the commit listener already did. */
  noteCommit(writes: MutationWrites, commitTs: bigint): void;
  /** Answers to successful mutations, for retries after a reconnect. */
  readonly mutationMemory: MutationMemory;
  /** Runs every session's pending re-executions and sends their transitions (now, or after the flush under way); never throws (a session that fails is closed). */
  flushAll(): void;
  onClose(session: SyncSession): void;
  /** Reports an unexpected server-side error (not a client protocol error). */
  reportError(error: unknown): void;
}

export type MutationWrites = Awaited<ReturnType<SyncDependencies["runner"]["mutation"]>>["writes"];

/** A query a flush re-runs: its request, or why it cannot be made. */
interface PlannedRun {
  query: QueryState;
  request: QueryRequest | string;
}

/** What one Transition of a session covers (see `SyncSession.planFlush`). */
export interface FlushPlan {
  removed: number[];
  runs: PlannedRun[];
  querySet: number;
  identity: number;
}

interface QueryState {
  queryId: number;
  udfPath: string;
  args: JSONValue[];
  componentPath: string | undefined;
  /** The journal the next run starts from: the client's at first, then the last run's. */
  journal: string | null;
  /** Digest of the result and journal last sent; undefined before the first send. */
  lastSent: string | undefined;
  /** Bytes of the arguments, counted against maxQueryArgsBytes. */
  argsBytes: number;
  /** Bytes of the result (or error) last sent, counted against maxResultBytes. */
  resultBytes: number;
  subscription: Subscription;
}

function errorResult(message: string): FunctionResult {
  return { status: "error", errorMessage: jsErrorText(message), logLines: [] };
}

/**
 * The function a message names: `udfPath` in the component at `componentPath` (runtime/components.ts;
 * the catalog lets only the admin call into a component), or why the component path is invalid,
 * quoting the client's (possibly huge) path cut short.
 */
function functionPathOf(udfPath: string, componentPath: string | undefined): { ok: true; path: string } | { ok: false; error: string } {
  try {
    return { ok: true, path: componentFunctionPath(componentPath, udfPath) };
  } catch {
    return { ok: false, error: `Invalid component path ${quoteClientValue(componentPath ?? "")}` };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class SyncSession {
  sessionId: string | undefined;
  private clientClockSkew: number | null = null;
  private caller: Caller = ANONYMOUS;

  /** The version the client holds: the end version of the last Transition sent. */
  private sent: StateVersion = { querySet: 0, identity: 0, ts: 0n };
  private receivedQuerySet = 0;
  private receivedIdentity = 0;

  private readonly queries = new Map<number, QueryState>();
  private queryArgsBytes = 0;
  private queryResultBytes = 0;
  private overBudgetResult: FunctionResult | undefined;
  private readonly dirty = new Set<number>();
  private readonly removed = new Set<number>();
  private rerunAll = false;
  /** A mutation answered with this ts waits for a Transition reaching it. */
  private awaitTs: bigint | undefined;

  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private queuedBytes = 0;
  private unsentTransitions = 0;
  private inflightActions = 0;
  private inflightActionArgsBytes = 0;
  private closed = false;

  lastSentAt = Date.now();
  lastReceivedAt = Date.now();
  lastPingAt = Date.now();

  /**
   * @param origin The upgrade request's `Origin` header: browsers always send one, the CLI and
   *   Node clients none, passed to `authenticate`: a page on any origin may use the public
   *   protocol, but not the admin key.
   * @param client The upgrade request's address and user agent: the request metadata of every
   *   mutation and action the connection runs, as Convex keeps them per connection.
   */
  constructor(
    readonly ws: WebSocket,
    private readonly host: SessionHost,
    private readonly origin: string | undefined,
    private readonly client: Omit<RequestOrigin, "id"> = { ip: null, userAgent: null },
  ) {
    ws.on("message", (data, isBinary) => {
      this.lastReceivedAt = Date.now();
      if (isBinary) {
        this.fail(new ProtocolError("Received a binary frame; the sync protocol uses text frames"));
        return;
      }
      const frame = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      const bytes = frame.length;
      // Checked before parsing: a frame the queue cannot take costs nothing to refuse.
      if (this.queued + 1 > host.limits.maxQueuedMessages || this.queuedBytes + bytes > host.limits.maxQueuedBytes) {
        this.fail(new ProtocolError("Too many unprocessed messages on this connection"));
        return;
      }
      let message: ClientMessage;
      try {
        message = parseClientMessage(frame);
      } catch (error) {
        this.fail(error);
        return;
      }
      this.queuedBytes += bytes;
      this.queued++;
      this.queue = this.queue
        .then(() => (this.closed ? undefined : this.handle(message)))
        .catch((error: unknown) => this.fail(error))
        .finally(() => {
          this.queuedBytes -= bytes;
          // Query-set and identity changes that arrive together (Connect, Authenticate,
          // ModifyQuerySet on open) are answered by one Transition once the queue drains.
          if (--this.queued === 0 && !this.closed) this.host.flushAll();
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
    const { maxQueries, maxQueriesInTotal, maxQueryArgsBytes, maxQueryArgsBytesInTotal } = this.host.limits;
    const total = this.host.liveQueries;
    for (const mod of message.modifications) {
      this.removeQuery(mod.queryId);
      if (mod.type === "Add") {
        if (this.queries.size >= maxQueries) throw new ProtocolError(`Too many queries on one connection (limit ${maxQueries})`);
        if (total.count >= maxQueriesInTotal) throw new ProtocolError(`Too many queries on all connections (limit ${maxQueriesInTotal})`);
        const argsBytes = Buffer.byteLength(JSON.stringify(mod.args));
        if (this.queryArgsBytes + argsBytes > maxQueryArgsBytes) {
          throw new ProtocolError(`The arguments of this connection's queries exceed ${maxQueryArgsBytes} bytes`);
        }
        if (total.argsBytes + argsBytes > maxQueryArgsBytesInTotal) {
          throw new ProtocolError(`The arguments of all connections' queries exceed ${maxQueryArgsBytesInTotal} bytes`);
        }
        this.queries.set(mod.queryId, {
          queryId: mod.queryId,
          udfPath: mod.udfPath,
          args: mod.args,
          componentPath: mod.componentPath,
          journal: mod.journal ?? null,
          lastSent: undefined,
          argsBytes,
          resultBytes: 0,
          subscription: { session: this, queryId: mod.queryId },
        });
        this.queryArgsBytes += argsBytes;
        total.count++;
        total.argsBytes += argsBytes;
        this.removed.delete(mod.queryId);
        this.dirty.add(mod.queryId);
      } else {
        this.removed.add(mod.queryId);
      }
    }
    this.receivedQuerySet = message.newVersion;
  }

  private removeQuery(queryId: number): void {
    const existing = this.queries.get(queryId);
    if (existing === undefined) return;
    this.host.readIndex.delete(existing.subscription);
    this.queries.delete(queryId);
    this.queryArgsBytes -= existing.argsBytes;
    this.host.liveQueries.count--;
    this.host.liveQueries.argsBytes -= existing.argsBytes;
    this.queryResultBytes -= existing.resultBytes;
    this.dirty.delete(queryId);
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
      caller = await this.host.deps.authenticate(token, this.origin);
    } catch (error) {
      if (this.closed) return;
      // Convex parses the user an admin acts as with the message: one that does not parse ends the connection.
      if (error instanceof MalformedIdentityError) throw new ProtocolError(`Received Invalid JSON on websocket: ${error.message}`);
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
    const { sessionId } = this;
    const remembered = sessionId === undefined ? undefined : this.host.mutationMemory.recall(sessionId, message.requestId);
    if (remembered !== undefined) {
      // A retry after a reconnect of a mutation that already ran: answer it again, run nothing.
      this.sendText(remembered);
      this.awaitVisible(this.host.visibleTs());
      this.host.flushAll();
      return;
    }
    const { deps } = this.host;
    const requestId = this.requestIdOf(message.requestId);
    const args = singleArgsObject(message.args);
    let result: FunctionResult;
    let ts: bigint | null = null;
    if (!args.ok) {
      result = errorResult(args.error);
    } else if (!functionPathOf(message.udfPath, message.componentPath).ok) {
      result = errorResult((functionPathOf(message.udfPath, message.componentPath) as { error: string }).error);
    } else {
      const outcome = await deps.runner.mutation(componentFunctionPath(message.componentPath, message.udfPath), args.value, { ...this.caller, request: { ...this.client, id: requestId } });
      result = outcome.result;
      if (result.status === "success") {
        if (outcome.commitTs !== null) {
          ts = outcome.commitTs;
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
            result: serverErrorText(requestId, result.errorMessage),
            ts: null,
            logLines: result.logLines,
            ...(result.errorData !== undefined ? { errorData: result.errorData } : {}),
          };
    const text = JSON.stringify(response);
    if (sessionId !== undefined && result.status === "success") this.host.mutationMemory.remember(sessionId, message.requestId, text);
    // The response goes first: the client settles a successful mutation on the first Transition
    // that reaches its ts *after* the response (request_manager.js removeCompleted).
    this.sendText(text);
    if (ts !== null) this.awaitVisible(ts);
    this.host.flushAll();
  }

  private action(message: ActionMessage): void {
    const requestId = this.requestIdOf(message.requestId);
    const respond = (result: FunctionResult) => {
      if (this.closed) return;
      this.send(
        result.status === "success"
          ? { type: "ActionResponse", requestId: message.requestId, success: true, result: result.value, logLines: result.logLines }
          : {
              type: "ActionResponse",
              requestId: message.requestId,
              success: false,
              result: serverErrorText(requestId, result.errorMessage),
              logLines: result.logLines,
              ...(result.errorData !== undefined ? { errorData: result.errorData } : {}),
            },
      );
    };
    const args = singleArgsObject(message.args);
    if (!args.ok) return respond(errorResult(args.error));
    const target = functionPathOf(message.udfPath, message.componentPath);
    if (!target.ok) return respond(errorResult(target.error));
    const { maxInflightActions, maxInflightActionArgsBytes } = this.host.limits;
    if (this.inflightActions >= maxInflightActions) {
      return respond(errorResult(`Too many concurrent actions on one connection (limit ${maxInflightActions})`));
    }
    const argsBytes = Buffer.byteLength(JSON.stringify(args.value));
    if (this.inflightActionArgsBytes + argsBytes > maxInflightActionArgsBytes) {
      return respond(errorResult(`The arguments of this connection's running actions would exceed ${maxInflightActionArgsBytes} bytes`));
    }
    this.inflightActions++;
    this.inflightActionArgsBytes += argsBytes;
    this.host.deps.runner
      .action(target.path, args.value, { ...this.caller, request: { ...this.client, id: requestId } })
      .catch((error: unknown): FunctionResult => {
        this.host.reportError(error);
        return errorResult(`InternalServerError: ${messageOf(error)}`);
      })
      .then(respond)
      .finally(() => {
        this.inflightActions--;
        this.inflightActionArgsBytes -= argsBytes;
      });
  }

  /** The request id Convex gives this connection's mutation or action number `requestNumber`. */
  private requestIdOf(requestNumber: number): string {
    return this.sessionId === undefined ? randomRequestId() : sessionRequestId(this.sessionId, requestNumber);
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

  /** Whether the next flush would compute a Transition now (it waits while the client reads slowly). */
  private get readyToFlush(): boolean {
    return !this.closed && this.hasPendingWork && this.unsentTransitions < MAX_UNSENT_TRANSITIONS;
  }

  /**
   * What the next Transition covers, when anything changed for this client (or a mutation it was
   * answered is waiting for its ts): the queries to re-run and the versions reached. The hub runs
   * every session's queries together, then calls `sendFlush`; what changes meanwhile waits for
   * the next flush.
   */
  planFlush(): FlushPlan | undefined {
    if (!this.readyToFlush) return undefined;
    const removed = [...this.removed];
    this.removed.clear();
    const toRun = this.rerunAll ? [...this.queries.keys()] : [...this.dirty];
    this.rerunAll = false;
    this.dirty.clear();
    const runs: PlannedRun[] = [];
    for (const queryId of toRun) {
      const query = this.queries.get(queryId);
      if (query !== undefined) runs.push({ query, request: this.requestOf(query) });
    }
    return { removed, runs, querySet: this.receivedQuerySet, identity: this.receivedIdentity };
  }

  /**
   * Sends the Transition of `plan` with the results of its runs, all current at `ts` (`resultOf`
   * gives each request's result). A query removed since the plan was made is left out.
   */
  sendFlush(plan: FlushPlan, resultOf: (request: QueryRequest) => QueryResult, ts: bigint): void {
    if (this.closed) return;
    const endTs = ts > this.sent.ts ? ts : this.sent.ts;
    // Each modification as JSON text: a result's value is serialized once for all its subscribers (resultFingerprint.ts).
    const modifications: string[] = plan.removed.map((queryId) => JSON.stringify({ type: "QueryRemoved", queryId } satisfies StateModification));
    for (const { query, request } of plan.runs) {
      if (this.queries.get(query.queryId) !== query) continue;
      const run = typeof request === "string" ? { result: errorResult(request), reads: [], journal: null, snapshotTs: endTs } : resultOf(request);
      const modification = this.modificationOf(query, run);
      if (modification !== undefined) modifications.push(modification);
    }
    const end: StateVersion = { querySet: plan.querySet, identity: plan.identity, ts: endTs };
    const versionChanged = end.querySet !== this.sent.querySet || end.identity !== this.sent.identity;
    const tsReached = this.awaitTs !== undefined && endTs >= this.awaitTs;
    if (modifications.length === 0 && !versionChanged && !tsReached) return;
    if (tsReached) this.awaitTs = undefined;
    const start = this.sent;
    this.sent = end;
    // A ServerMessage "Transition"; serverTs is the server's wall clock in ns (Convex injects `generate_timestamp()` when sending).
    const transition =
      `{"type":"Transition","startVersion":${JSON.stringify(encodeVersion(start))},"endVersion":${JSON.stringify(encodeVersion(end))},` +
      `"modifications":[${modifications.join(",")}],"clientClockSkew":${JSON.stringify(this.clientClockSkew)},"serverTs":${JSON.stringify(Date.now() * 1e6)}}`;
    this.unsentTransitions++;
    this.sendText(transition, () => {
      this.unsentTransitions--;
      // What changed meanwhile goes out now, in one Transition.
      if (this.unsentTransitions === MAX_UNSENT_TRANSITIONS - 1 && !this.closed) this.host.flushAll();
    });
  }

  /** The StateModification that sends `run` to `query`'s subscriber, as JSON text; undefined when the subscriber has it already. */
  private modificationOf(query: QueryState, run: QueryResult): string | undefined {
    const { reads, journal } = run;
    const result = this.withinResultBudget(query, run.result);
    this.host.readIndex.set(query.subscription, reads);
    // A failed run keeps the journal it started from, so a later success resumes the same page.
    if (result.status === "success") query.journal = journal;
    const fingerprint = fingerprintOf(result);
    const key = `${fingerprint.digest} ${query.journal}`;
    if (key === query.lastSent) return undefined;
    query.lastSent = key;
    if (result.status === "success") {
      return `{"type":"QueryUpdated","queryId":${query.queryId},"value":${fingerprint.valueJson},"logLines":${fingerprint.logLinesJson},"journal":${JSON.stringify(query.journal)}}`;
    }
    return JSON.stringify({
      type: "QueryFailed",
      queryId: query.queryId,
      // Each run has its own request id; an error that did not change is not sent again (above).
      errorMessage: serverErrorText(randomRequestId(), result.errorMessage),
      logLines: result.logLines,
      journal: query.journal,
      ...(result.errorData !== undefined ? { errorData: result.errorData } : {}),
    } satisfies StateModification);
  }

  /**
   * The result to send for `query`, counted against the connection's maxResultBytes: one that
   * would exceed it becomes a short error saying so (the client's other queries stay live).
   */
  private withinResultBudget(query: QueryState, result: FunctionResult): FunctionResult {
    const { bytes } = fingerprintOf(result);
    const others = this.queryResultBytes - query.resultBytes;
    const kept = others + bytes <= this.host.limits.maxResultBytes;
    query.resultBytes = kept ? bytes : 0;
    this.queryResultBytes = others + query.resultBytes;
    return kept ? result : this.overBudget;
  }

  /** One object for every query over the budget, so its fingerprint is computed once. */
  private get overBudget(): FunctionResult {
    this.overBudgetResult ??= errorResult(
      `The query results on this connection exceed ${this.host.limits.maxResultBytes} bytes, so this query's result was not sent. ` +
        "Subscribe to fewer or smaller queries on one connection.",
    );
    return this.overBudgetResult;
  }

  /** The call a subscription makes, or why it cannot be made. */
  private requestOf(query: QueryState): QueryRequest | string {
    const args = singleArgsObject(query.args);
    if (!args.ok) return args.error;
    const target = functionPathOf(query.udfPath, query.componentPath);
    if (!target.ok) return target.error;
    return { path: target.path, args: args.value, caller: this.caller, journal: query.journal };
  }

  // ---- transport -----------------------------------------------------------------------------

  send(message: ServerMessage): void {
    this.sendText(JSON.stringify(message));
  }

  /** Sends a serialized message; `written` runs once the socket took it (or the send failed). */
  private sendText(text: string, written?: () => void): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > this.host.limits.maxBufferedBytes) {
      this.close(1013, "ClientTooSlow: too much unread data buffered for this client");
      return;
    }
    this.lastSentAt = Date.now();
    this.ws.send(text, written);
  }

  /** Ends the connection after a client error (FatalError) or a server error (1011, retried). */
  fail(error: unknown): void {
    if (this.closed) return;
    if (error instanceof ProtocolError) {
      const text = truncateText(error.message, MAX_FATAL_ERROR_LENGTH);
      this.send({ type: "FatalError", error: text });
      this.close(1008, text);
    } else {
      this.host.reportError(error);
      this.close(1011, `InternalServerError: ${messageOf(error)}`);
    }
  }

  /** Closes the socket; without a code the close frame is empty (the client sees 1005), as Convex does after AuthError. */
  close(code: number | undefined, reason: string): void {
    if (this.closed) return;
    try {
      if (code === undefined) this.ws.close();
      else this.ws.close(code, truncateUtf8(reason, MAX_CLOSE_REASON_BYTES));
    } catch {
      this.ws.terminate();
    }
    this.dispose();
  }

  private dispose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const queryId of [...this.queries.keys()]) this.removeQuery(queryId);
    this.dirty.clear();
    this.removed.clear();
    this.host.onClose(this);
  }
}

