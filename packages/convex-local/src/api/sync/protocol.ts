/**
 * The JSON wire format of Convex's sync protocol, as `convex` 1.48's `BaseConvexClient` speaks it
 * (client side: `convex/dist/esm/browser/sync/protocol.js`; server side: Convex's
 * `crates/convex/sync_types/src/types/json.rs`).
 *
 * Client messages are validated here field by field, so a malformed frame becomes a
 * `ProtocolError` (answered with `FatalError`) instead of an exception deeper down.
 */
import type { JSONValue } from "convex/values";
import { isJsonObject } from "../../storage/documents.js";
import { truncateText } from "../../text/valueText.js";
import { MAX_JSON_BODY_VALUES } from "../http.js";
import { scanJson } from "../jsonScan.js";

// ---- client → server ------------------------------------------------------------------------

export interface ConnectMessage {
  type: "Connect";
  sessionId: string;
  connectionCount: number;
  lastCloseReason: string | null;
  maxObservedTimestamp?: string;
  clientTs?: number;
}

export interface AddQuery {
  type: "Add";
  queryId: number;
  udfPath: string;
  args: JSONValue[];
  journal?: string | null;
  componentPath?: string;
}

export interface RemoveQuery {
  type: "Remove";
  queryId: number;
}

export interface ModifyQuerySetMessage {
  type: "ModifyQuerySet";
  baseVersion: number;
  newVersion: number;
  modifications: (AddQuery | RemoveQuery)[];
}

export interface MutationMessage {
  type: "Mutation";
  requestId: number;
  udfPath: string;
  args: JSONValue[];
  componentPath?: string;
}

export interface ActionMessage {
  type: "Action";
  requestId: number;
  udfPath: string;
  args: JSONValue[];
  componentPath?: string;
}

export type AuthenticationToken =
  | { tokenType: "Admin"; value: string; impersonating?: unknown }
  | { tokenType: "User"; value: string }
  | { tokenType: "None" };

export type AuthenticateMessage = { type: "Authenticate"; baseVersion: number } & AuthenticationToken;

export interface EventMessage {
  type: "Event";
  eventType: string;
  event: unknown;
}

export type ClientMessage =
  | ConnectMessage
  | ModifyQuerySetMessage
  | MutationMessage
  | ActionMessage
  | AuthenticateMessage
  | EventMessage;

// ---- server → client ------------------------------------------------------------------------

/** `ts` is a u64 encoded as base64 of its 8 little-endian bytes. */
export interface EncodedStateVersion {
  querySet: number;
  identity: number;
  ts: string;
}

export type StateModification =
  | { type: "QueryUpdated"; queryId: number; value: JSONValue; logLines: string[]; journal: string | null }
  | {
      type: "QueryFailed";
      queryId: number;
      errorMessage: string;
      logLines: string[];
      journal: string | null;
      errorData?: JSONValue;
    }
  | { type: "QueryRemoved"; queryId: number };

export type ServerMessage =
  | {
      type: "Transition";
      startVersion: EncodedStateVersion;
      endVersion: EncodedStateVersion;
      modifications: StateModification[];
      clientClockSkew: number | null;
      serverTs: number | null;
    }
  | {
      type: "MutationResponse";
      requestId: number;
      success: boolean;
      result: JSONValue;
      ts: string | null;
      logLines: string[];
      errorData?: JSONValue;
    }
  | {
      type: "ActionResponse";
      requestId: number;
      success: boolean;
      result: JSONValue;
      logLines: string[];
      errorData?: JSONValue;
    }
  | { type: "AuthError"; error: string; baseVersion: number | null; authUpdateAttempted?: boolean }
  | { type: "FatalError"; error: string }
  | { type: "Ping" };

/** The version of the client's view: query set, identity and the timestamp of the snapshot. */
export interface StateVersion {
  querySet: number;
  identity: number;
  ts: bigint;
}

const U64_MAX = (1n << 64n) - 1n;

export function encodeTs(ts: bigint): string {
  if (ts < 0n || ts > U64_MAX) throw new RangeError(`timestamp out of u64 range: ${ts}`);
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(ts);
  return bytes.toString("base64");
}

export function decodeTs(encoded: string): bigint {
  const bytes = Buffer.from(encoded, "base64");
  if (bytes.length !== 8) throw new ProtocolError(`u64 must be 8 bytes, got ${bytes.length}`);
  return bytes.readBigUInt64LE();
}

export function encodeVersion(version: StateVersion): EncodedStateVersion {
  return { querySet: version.querySet, identity: version.identity, ts: encodeTs(version.ts) };
}

// ---- parsing --------------------------------------------------------------------------------

/** A client broke the protocol; answered with `FatalError` and a close. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

type Fields = Record<string, unknown>;

/** The longest quote of a client's value in a ProtocolError: a frame may be MiBs, its FatalError not. */
export const MAX_QUOTED_CLIENT_VALUE = 200;

/** A client's value as JSON, cut to {@link MAX_QUOTED_CLIENT_VALUE} characters; a long string is not escaped whole. */
export function quoteClientValue(v: unknown): string {
  const shown = typeof v === "string" && v.length > MAX_QUOTED_CLIENT_VALUE ? v.slice(0, MAX_QUOTED_CLIENT_VALUE + 1) : v;
  return truncateText(JSON.stringify(shown) ?? String(shown), MAX_QUOTED_CLIENT_VALUE);
}

function u32(m: Fields, field: string): number {
  const v = m[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new ProtocolError(`${String(m.type)}.${field} must be a u32, got ${quoteClientValue(v)}`);
  }
  return v;
}

function str(m: Fields, field: string): string {
  const v = m[field];
  if (typeof v !== "string") throw new ProtocolError(`${String(m.type)}.${field} must be a string`);
  return v;
}

function optionalStr(m: Fields, field: string): string | undefined {
  const v = m[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new ProtocolError(`${String(m.type)}.${field} must be a string`);
  return v;
}

function argsArray(m: Fields): JSONValue[] {
  const v = m.args;
  if (!Array.isArray(v)) throw new ProtocolError(`${String(m.type)}.args must be an array`);
  return v as JSONValue[];
}

/**
 * The deepest nesting of arrays and objects a frame may have. Convex parses every client frame with
 * serde_json, whose recursion limit refuses the 128th level; the same limit here keeps every value
 * a session holds shallow enough to serialize (JSON.stringify recurses).
 */
export const MAX_FRAME_NESTING = 127;

/**
 * The most JSON values a frame may hold, as an HTTP API body: counted before parsing, so a frame of
 * millions of tiny values (`[{},{},…]`, a few MiB) is refused without building them.
 */
export const MAX_FRAME_VALUES = MAX_JSON_BODY_VALUES;

/**
 * Parses one text frame into a client message; throws `ProtocolError` on anything malformed. The
 * frame is scanned once before it is parsed: nested past {@link MAX_FRAME_NESTING} it gets
 * serde_json's error, as Convex words it; past `maxValues` values it is refused.
 */
export function parseClientMessage(frame: string | Buffer, maxValues = MAX_FRAME_VALUES): ClientMessage {
  const bytes = typeof frame === "string" ? Buffer.from(frame) : frame;
  const scan = scanJson(bytes, { maxValues, maxDepth: MAX_FRAME_NESTING });
  if (scan.tooDeep !== undefined) {
    throw new ProtocolError(`Received Invalid JSON on websocket: recursion limit exceeded at line ${scan.tooDeep.line} column ${scan.tooDeep.column}`);
  }
  if (scan.values > maxValues) {
    throw new ProtocolError(`Received Invalid JSON on websocket: the frame holds more than ${maxValues} values, the most convex-local accepts in one message`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(typeof frame === "string" ? frame : frame.toString("utf8"));
  } catch (error) {
    throw new ProtocolError(`Received Invalid JSON on websocket: ${(error as Error).message}`);
  }
  if (!isJsonObject(raw)) throw new ProtocolError("Received Invalid JSON on websocket: expected an object");
  const m = raw;
  switch (m.type) {
    case "Connect": {
      const clientTs = m.clientTs;
      return {
        type: "Connect",
        sessionId: str(m, "sessionId"),
        connectionCount: u32(m, "connectionCount"),
        lastCloseReason: optionalStr(m, "lastCloseReason") ?? null,
        maxObservedTimestamp: optionalStr(m, "maxObservedTimestamp"),
        clientTs: typeof clientTs === "number" && Number.isFinite(clientTs) ? clientTs : undefined,
      };
    }
    case "ModifyQuerySet": {
      if (!Array.isArray(m.modifications)) throw new ProtocolError("ModifyQuerySet.modifications must be an array");
      const modifications = m.modifications.map((mod): AddQuery | RemoveQuery => {
        if (!isJsonObject(mod)) throw new ProtocolError("ModifyQuerySet modification must be an object");
        if (mod.type === "Add") {
          const journal = mod.journal;
          if (journal !== undefined && journal !== null && typeof journal !== "string") {
            throw new ProtocolError("Add.journal must be a string or null");
          }
          return {
            type: "Add",
            queryId: u32(mod, "queryId"),
            udfPath: str(mod, "udfPath"),
            args: argsArray(mod),
            journal: journal as string | null | undefined,
            componentPath: optionalStr(mod, "componentPath"),
          };
        }
        if (mod.type === "Remove") return { type: "Remove", queryId: u32(mod, "queryId") };
        throw new ProtocolError(`Unknown query set modification type ${quoteClientValue(mod.type)}`);
      });
      return {
        type: "ModifyQuerySet",
        baseVersion: u32(m, "baseVersion"),
        newVersion: u32(m, "newVersion"),
        modifications,
      };
    }
    case "Mutation":
    case "Action":
      return {
        type: m.type,
        requestId: u32(m, "requestId"),
        udfPath: str(m, "udfPath"),
        args: argsArray(m),
        componentPath: optionalStr(m, "componentPath"),
      };
    case "Authenticate": {
      const baseVersion = u32(m, "baseVersion");
      switch (m.tokenType) {
        case "Admin":
          return { type: "Authenticate", baseVersion, tokenType: "Admin", value: str(m, "value"), impersonating: m.impersonating };
        case "User":
          return { type: "Authenticate", baseVersion, tokenType: "User", value: str(m, "value") };
        case "None":
          return { type: "Authenticate", baseVersion, tokenType: "None" };
        default:
          throw new ProtocolError(`Unknown Authenticate.tokenType ${quoteClientValue(m.tokenType)}`);
      }
    }
    case "Event":
      return { type: "Event", eventType: typeof m.eventType === "string" ? m.eventType : "", event: m.event };
    default:
      throw new ProtocolError(`Unknown client message type ${quoteClientValue(m.type)}`);
  }
}

/**
 * The single arguments object of a call: the protocol sends `args: [obj]`.
 * Returns an error message instead when the shape is wrong.
 */
export function singleArgsObject(args: JSONValue[]): { ok: true; value: JSONValue } | { ok: false; error: string } {
  if (args.length !== 1) return { ok: false, error: `Expected one arguments object, got ${args.length} arguments` };
  const value = args[0];
  if (!isJsonObject(value)) return { ok: false, error: "The arguments to a Convex function must be an object" };
  return { ok: true, value };
}
