/**
 * The messages between the backend's main thread (the host) and an action executor (a worker
 * thread for default-runtime actions and HTTP actions, a forked Node process for `"use node"`
 * actions). Both transports carry the same structured-clone messages (a worker's MessagePort, a
 * child's IPC channel opened with `serialization: "advanced"`), so one executor and one host side
 * serve both.
 *
 * A run: the host sends `run`; the executor answers the action's syscalls as `syscall` requests the
 * host answers with `syscallResult`, streams `log` lines, and ends with `outcome`. An HTTP action's
 * request body is pulled chunk by chunk (`requestBodyPull` → `requestBodyChunk`), and its response
 * body likewise (`responsePull` → `responseChunk`), so both keep the client's backpressure.
 *
 * Push analysis is a run too (`analyze`): the executor loads the modules and reads what they
 * export, saying which module it starts (`progress`: each gets its own time limit, as on Convex),
 * and the outcome's value is the analysis as plain data.
 */
import type { CompiledModule } from "../modules.js";
import type { Outcome, ThrownError } from "../isolate.js";

/** What the executor runs: an action's export, the deployment's HTTP router for a request, or push analysis. */
export type Invocation =
  | { kind: "action"; modulePath: string; exportName: string; argsJson: string; requestId: string }
  /** `router`: the module path of the `http.js` that answers (a component's when mounted), looking `routedPath` up (httpRouting.ts). */
  | { kind: "http"; method: string; url: string; headers: [string, string][]; hasBody: boolean; router?: string; routedPath?: string }
  | AnalyzeInvocation;

/**
 * Push analysis: the exports of `paths` (and, `withSchema`, of schema.js: moduleAnalysis.ts),
 * auth.config.js's providers (authConfig.ts), or a convex.config.js's definition (componentDefinition.ts).
 */
export type AnalyzeInvocation =
  | { kind: "analyze"; paths: string[]; withSchema: boolean }
  | { kind: "authConfig" }
  | { kind: "componentDefinition"; modulePath: string };

/** The deployment's modules, sent to an executor only when it does not hold this version yet. */
export interface ModuleSet {
  version: number;
  modules: [string, CompiledModule][];
}

export interface RunMessage {
  type: "run";
  modulesVersion: number;
  modules?: ModuleSet;
  /** `"use node"`: Node's built-ins and the app's packages, resolved from `nodeRequireFrom`. */
  nodeRequireFrom?: string;
  env: Record<string, string>;
  invocation: Invocation;
}

/** A failed syscall, rebuilt in the executor as the Error Convex's client code expects (message, data). */
export interface SyscallFailure {
  message: string;
  data?: unknown;
}

/** A chunk of a body, its end, or the error that stopped it. */
export type BodyChunk = { chunk: Uint8Array } | { done: true } | { error: string };

export type HostMessage =
  | RunMessage
  | { type: "syscallResult"; callId: number; ok: true; value: unknown }
  | { type: "syscallResult"; callId: number; ok: false; error: SyscallFailure }
  | { type: "requestBodyChunk"; part: BodyChunk }
  | { type: "responsePull" }
  | { type: "responseCancel" };

/** An HTTP action's response head; its body follows on `responsePull`. */
export interface ResponseHead {
  status: number;
  statusText: string;
  headers: [string, string][];
  hasBody: boolean;
}

export type ExecutorMessage =
  | { type: "ready" }
  | { type: "syscall"; callId: number; kind: "async" | "js"; op: string; args: unknown; namespace?: string }
  | { type: "log"; line: string }
  /** Push analysis starts loading this module. */
  | { type: "progress"; modulePath: string }
  | { type: "requestBodyPull" }
  | { type: "requestBodyCancel" }
  | {
      type: "outcome";
      outcome: Outcome;
      /** An HTTP action's Response, when it returned one. */
      response?: ResponseHead;
      /** The route that matched (an HTTP action's log entry names it). */
      routePath?: string;
      /** The run was cut short by a crash: the executor's state is unknown and it must be replaced. */
      exiting: boolean;
    }
  | { type: "responseChunk"; part: BodyChunk };

/** A crash the executor reports in Convex's Node executor's words (`Uncaught uncaughtException: …`). */
export function crashError(kind: string, failure: unknown): ThrownError {
  const error = failure as { message?: unknown; stack?: unknown } | null;
  const message = typeof error?.message === "string" ? error.message : String(failure);
  return { name: kind, message, stack: typeof error?.stack === "string" ? error.stack : "" };
}

/** A Blob crossing the boundary (`ctx.storage.store`'s argument, `ctx.storage.get`'s result). */
interface BlobMarker {
  convexBlob: Uint8Array<ArrayBuffer>;
  type: string;
}

function isBlobMarker(value: unknown): value is BlobMarker {
  return typeof value === "object" && value !== null && (value as BlobMarker).convexBlob instanceof Uint8Array;
}

/**
 * A `jsSyscall` argument or result made cloneable: Blobs become their bytes (rebuilt by
 * {@link decodeJsValue}), fields that cannot be cloned (a Request passed to `store`) become `{}`,
 * so the other side refuses them with its own error.
 */
export async function encodeJsValue(value: unknown): Promise<unknown> {
  if (value instanceof Blob) return { convexBlob: new Uint8Array(await value.arrayBuffer()), type: value.type } satisfies BlobMarker;
  if (typeof value !== "object" || value === null) return value;
  const encoded: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (field instanceof Blob) encoded[key] = await encodeJsValue(field);
    else encoded[key] = cloneable(field) ? field : {};
  }
  return encoded;
}

export function decodeJsValue(value: unknown): unknown {
  if (isBlobMarker(value)) return new Blob([value.convexBlob], { type: value.type });
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, isBlobMarker(field) ? decodeJsValue(field) : field]));
}

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}
