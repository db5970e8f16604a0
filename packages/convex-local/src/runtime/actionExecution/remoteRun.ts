/**
 * The main thread's side of one action run in an executor (worker thread or Node process): sends
 * the run, answers its syscalls with the action's `CallHost` (actionHost.ts: nested queries,
 * mutations and actions, the scheduler, storage), collects its log lines, feeds an HTTP action its
 * request body and streams its response body back, and enforces the time limit by ending the
 * executor — which preempts even `while (true) {}`. The executor then goes back to its pool, or is
 * replaced when the run was cut short. Push analysis's time limit is per module: each module it
 * starts (`progress`) starts the clock again.
 */
import { FunctionError } from "../errors.js";
import { FunctionTimeoutError, type CallHost, type Outcome } from "../isolate.js";
import { MAX_LOG_LINES } from "../logs.js";
import type { CompiledModule } from "../modules.js";
import type { ExecutorConnection, ExecutorExit } from "./executorConnection.js";
import type { ExecutorPool } from "./executorPool.js";
import { decodeJsValue, encodeJsValue, type BodyChunk, type ExecutorMessage, type Invocation, type SyscallFailure } from "./protocol.js";

export interface RemoteRunRequest {
  pool: ExecutorPool;
  modules: ReadonlyMap<string, CompiledModule>;
  /** Set for `"use node"` actions: where their packages resolve from. */
  nodeRequireFrom?: string;
  env: Record<string, string>;
  invocation: Invocation;
  /** The main-thread host that answers the run's syscalls. */
  host: CallHost;
  /** Receives the run's log lines as they come. */
  logLines: string[];
  /** The time limit of the run, or with `progress` messages of each step. */
  timeoutMs: number;
  /** Push analysis starts loading a module. */
  onProgress?: (modulePath: string) => void;
  /** An HTTP action's request body, read only as the action pulls it. */
  requestBody?: ReadableStream<Uint8Array> | null;
  /** How a crash of this kind of executor is named (a Node process vs the default runtime's worker). */
  describeExit: (exit: ExecutorExit) => string;
}

export interface RemoteOutcome {
  outcome: Outcome;
  /** An HTTP action's Response (its body streams from the executor). */
  response?: Response;
  routePath?: string;
}

/** A number per module set, so an executor is sent the modules only when it does not hold them yet. */
const moduleVersions = new WeakMap<ReadonlyMap<string, CompiledModule>, number>();
let nextModuleVersion = 1;

function versionOf(modules: ReadonlyMap<string, CompiledModule>): number {
  let version = moduleVersions.get(modules);
  if (version === undefined) moduleVersions.set(modules, (version = nextModuleVersion++));
  return version;
}

/**
 * Runs `request` in an executor of its pool. Rejects with FunctionTimeoutError past the time limit,
 * or a FunctionError naming the executor's crash (out of memory, a Node process's native crash).
 */
export async function runRemotely(request: RemoteRunRequest): Promise<RemoteOutcome> {
  const executor = await request.pool.acquire();
  return await new RemoteRun(request, executor).start();
}

class RemoteRun {
  private settled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly requestBody: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** Set while the response body streams: where its next chunk goes, and how it fails. */
  private responseStream: { chunkWaiter?: (part: BodyChunk) => void; fail(error: Error): void } | undefined;
  private resolveOutcome!: (outcome: RemoteOutcome) => void;
  private rejectOutcome!: (error: Error) => void;

  constructor(
    private readonly request: RemoteRunRequest,
    private readonly executor: ExecutorConnection,
  ) {
    this.requestBody = request.requestBody?.getReader();
  }

  start(): Promise<RemoteOutcome> {
    const { request, executor } = this;
    const outcome = new Promise<RemoteOutcome>((resolve, reject) => {
      this.resolveOutcome = resolve;
      this.rejectOutcome = reject;
    });
    const version = versionOf(request.modules);
    executor.onMessage = (message) => this.receive(message);
    executor.send({
      type: "run",
      modulesVersion: version,
      modules: executor.modulesVersion === version ? undefined : { version, modules: [...request.modules] },
      nodeRequireFrom: request.nodeRequireFrom,
      env: request.env,
      invocation: request.invocation,
    });
    executor.modulesVersion = version;
    this.startClock();
    executor.onExit = (exit) => this.cutShort(new FunctionError(request.describeExit(exit)));
    return outcome;
  }

  private startClock(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.cutShort(new FunctionTimeoutError(this.request.timeoutMs)), this.request.timeoutMs);
  }

  private receive(message: ExecutorMessage): void {
    switch (message.type) {
      case "progress":
        this.startClock();
        this.request.onProgress?.(message.modulePath);
        return;
      case "syscall":
        void this.answerSyscall(message.callId, message.kind, message.op, message.args, message.namespace);
        return;
      case "log":
        if (this.request.logLines.length < MAX_LOG_LINES) this.request.logLines.push(message.line);
        return;
      case "requestBodyPull":
        void this.sendRequestChunk();
        return;
      case "requestBodyCancel":
        void this.requestBody?.cancel().catch(() => undefined);
        return;
      case "outcome": {
        if (message.exiting) return this.cutShortWith({ outcome: message.outcome, routePath: message.routePath });
        if (message.response?.hasBody) {
          const { status, statusText, headers } = message.response;
          return this.resolveOutcome({ outcome: message.outcome, routePath: message.routePath, response: new Response(this.responseBody(), { status, statusText, headers }) });
        }
        const response = message.response && new Response(null, message.response);
        this.finish();
        return this.resolveOutcome({ outcome: message.outcome, routePath: message.routePath, response });
      }
      case "responseChunk": {
        const waiter = this.responseStream?.chunkWaiter;
        if (this.responseStream) this.responseStream.chunkWaiter = undefined;
        waiter?.(message.part);
        return;
      }
      case "ready":
        return;
    }
  }

  private async answerSyscall(callId: number, kind: "async" | "js", op: string, args: unknown, namespace: string | undefined): Promise<void> {
    const { host } = this.request;
    let reply: { ok: true; value: unknown } | { ok: false; error: SyscallFailure };
    try {
      const value = kind === "async" ? await host.asyncSyscall(op, args as string, namespace) : await encodeJsValue(await host.jsSyscall(op, decodeJsValue(args), namespace));
      reply = { ok: true, value };
    } catch (error) {
      const { message, data } = (error ?? {}) as { message?: unknown; data?: unknown };
      reply = { ok: false, error: { message: typeof message === "string" ? message : String(error), ...(data === undefined ? {} : { data }) } };
    }
    if (!this.settled) this.executor.send({ type: "syscallResult", callId, ...reply });
  }

  private async sendRequestChunk(): Promise<void> {
    let part: BodyChunk;
    try {
      const read = this.requestBody === undefined ? ({ done: true } as const) : await this.requestBody.read();
      part = read.done ? { done: true } : { chunk: read.value };
    } catch (error) {
      part = { error: String((error as Error | null)?.message ?? error) };
    }
    this.executor.send({ type: "requestBodyChunk", part });
  }

  /** The HTTP response body: each pull asks the executor for one chunk, so the client's pace is the app's. */
  private responseBody(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.responseStream = { fail: (error) => controller.error(error) };
      },
      pull: async (controller) => {
        const stream = this.responseStream;
        if (stream === undefined) return;
        const part = await new Promise<BodyChunk>((resolve) => {
          stream.chunkWaiter = resolve;
          this.executor.send({ type: "responsePull" });
        });
        if ("chunk" in part) return controller.enqueue(part.chunk);
        this.finish();
        if ("done" in part) controller.close();
        else controller.error(new Error(part.error));
      },
      cancel: () => {
        if (this.settled) return;
        this.executor.send({ type: "responseCancel" });
        this.finish();
      },
    });
  }

  /** The run (and its response body) ended cleanly: the executor goes back to the pool. */
  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.responseStream = undefined;
    clearTimeout(this.timer);
    this.request.pool.release(this.executor);
  }

  /** Time limit or crash: the executor is ended and replaced, and the run (or its streaming body) fails. */
  private cutShort(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.request.pool.discard(this.executor);
    void this.requestBody?.cancel().catch(() => undefined);
    this.responseStream?.chunkWaiter?.({ error: error.message });
    this.responseStream?.fail(error);
    this.responseStream = undefined;
    this.rejectOutcome(error);
  }

  /** The executor reported a crash (its state is unknown): this outcome stands and the executor is replaced. */
  private cutShortWith(outcome: RemoteOutcome): void {
    this.resolveOutcome(outcome);
    this.cutShort(new Error("The action executor was replaced"));
  }
}
