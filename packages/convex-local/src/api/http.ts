/**
 * Small HTTP plumbing shared by the API routes: bounded body reading (with the brotli/gzip/deflate
 * bodies the CLI sends), JSON answers, Convex's `{code, message}` request errors and CORS.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from "node:zlib";
import { truncateText } from "../text/valueText.js";
import { scanJson } from "./jsonScan.js";

/**
 * Convex's public API body limit (knobs.rs MAX_BACKEND_PUBLIC_API_REQUEST_SIZE): 16 MiB of
 * arguments plus room for the envelope. It applies to the decoded body, so a small compressed
 * body cannot inflate past it.
 */
export const MAX_BODY_BYTES = (1 << 24) + 2000;

/** Push bodies carry every module with its source map: Convex's MAX_PUSH_BYTES, also on the decoded size. */
export const MAX_PUSH_BODY_BYTES = 200_000_000;

/**
 * The most JSON values (strings, numbers, objects, arrays, ...) a public request body may hold.
 * Not a Convex limit: convex-local parses bodies on its only thread, and a 16 MiB body of `{},{},…`
 * held it for 2.5 s; at this bound the worst parse (empty objects) takes under 0.2 s, and real
 * arguments stay far below it (Convex's arrays hold at most 8192 values).
 */
export const MAX_JSON_BODY_VALUES = 1 << 18;

const decompressors: Record<string, (buffer: Buffer, options: ZlibOptions) => Promise<Buffer>> = {
  br: promisify(brotliDecompress),
  gzip: promisify(gunzip),
  deflate: promisify(inflate),
};

/** A request error with Convex's HTTP status and `{code, message}` body. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

/**
 * Reads a request body of at most `maxBytes`, on the wire and decoded: zlib stops inflating at
 * `maxBytes` (maxOutputLength), so a compression bomb costs no more than an honest body.
 */
export async function readBody(request: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > maxBytes) throw bodyTooLarge();
  const encoding = request.headers["content-encoding"]?.trim().toLowerCase() ?? "identity";
  const decompress = decompressors[encoding];
  if (decompress === undefined && encoding !== "identity") {
    throw new RequestError(400, "BadJsonBody", `Unsupported Content-Encoding: ${truncateText(encoding, 100)} (expected gzip, deflate or br)`);
  }
  const body = await collectBody(request, maxBytes);
  if (decompress === undefined) return body;
  try {
    return await decompress(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw bodyTooLarge();
    throw new RequestError(400, "BadJsonBody", `Failed to decompress the request body (${encoding}): ${(error as Error).message}`);
  }
}

/**
 * The body's bytes as they arrive; past `maxBytes` the request is destroyed (as leaving a
 * `for await` over it would) and the promise rejects. Listeners, not an async iterator: the
 * iterator costs more than the rest of reading a small body.
 */
function collectBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (request.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) {
        finish();
        request.destroy();
        reject(bodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      finish();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (error: Error) => {
      finish();
      reject(error);
    };
    const onClose = () => {
      finish();
      reject(new RequestError(400, "BadJsonBody", "The client closed the connection before the request body ended"));
    };
    const finish = () => {
      request.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
    };
    request.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

function bodyTooLarge(): RequestError {
  return new RequestError(400, "BadJsonBody", "Failed to buffer the request body: length limit exceeded");
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export interface JsonBodyLimits {
  /** Largest body, on the wire and decoded (default {@link MAX_BODY_BYTES}). */
  maxBytes?: number;
  /** Most JSON values in the body (default {@link MAX_JSON_BODY_VALUES}). */
  maxValues?: number;
}

/** Parses a JSON object body, as Convex's JSON extractor does (Content-Type checked first). */
export async function readJsonObject(
  request: IncomingMessage,
  { maxBytes = MAX_BODY_BYTES, maxValues = MAX_JSON_BODY_VALUES }: JsonBodyLimits = {},
): Promise<Record<string, unknown>> {
  const contentType = request.headers["content-type"] ?? "";
  if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType)) {
    throw new RequestError(400, "BadJsonBody", "Expected request with `Content-Type: application/json`");
  }
  const body = await readBody(request, maxBytes);
  // Counted before parsing, so a body of millions of tiny values is refused without building them.
  if (scanJson(body, { maxValues }).values > maxValues) {
    throw new RequestError(400, "BadJsonBody", `Failed to parse the request body as JSON: it holds more than ${maxValues} values, the most convex-local accepts in one request`);
  }
  let parsed: unknown;
  try {
    // Strict decoding: invalid UTF-8 is refused (as serde_json does), never replaced with U+FFFD.
    parsed = JSON.parse(strictUtf8.decode(body));
  } catch (error) {
    const reason = error instanceof TypeError ? "the body is not valid UTF-8" : (error as Error).message;
    throw new RequestError(400, "BadJsonBody", `Failed to parse the request body as JSON: ${reason}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: expected a JSON object");
  }
  return parsed as Record<string, unknown>;
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  sendJsonText(response, status, JSON.stringify(body));
}

/** Answers with JSON already serialized. */
export function sendJsonText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  response.end(text);
}

export function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  response.end(text);
}

export function sendRequestError(response: ServerResponse, error: RequestError): void {
  sendJson(response, error.status, { code: error.code, message: error.message });
}

/**
 * CORS for the deployment API (README "Security"). Public routes answer as Convex's CorsLayer
 * (crates/local_backend/src/router.rs `cors()`): any origin, with credentials, the headers asked
 * for, cached for a day — they authenticate only by an `Authorization` header the page sets itself,
 * never by cookies. Admin routes send no CORS headers: only the CLI and other programs call them,
 * so no web page in the developer's browser may, not even one that learned the admin key.
 * Returns true when it answered a preflight.
 */
export function applyCors(request: IncomingMessage, response: ServerResponse, { adminRoute }: { adminRoute: boolean }): boolean {
  const preflight = request.method === "OPTIONS";
  if (adminRoute) {
    if (preflight) response.writeHead(204).end();
    return preflight;
  }
  const origin = request.headers.origin;
  if (origin !== undefined) {
    response.setHeader("Access-Control-Allow-Origin", origin);
    response.setHeader("Access-Control-Allow-Credentials", "true");
    response.setHeader("Vary", "origin, access-control-request-method, access-control-request-headers");
  }
  if (!preflight) return false;
  response.setHeader("Access-Control-Allow-Methods", "GET,POST,OPTIONS,PATCH,DELETE,PUT");
  const requested = request.headers["access-control-request-headers"];
  if (requested !== undefined) response.setHeader("Access-Control-Allow-Headers", requested);
  response.setHeader("Access-Control-Max-Age", "86400");
  response.writeHead(200);
  response.end();
  return true;
}

/** The required string field of a parsed body, with serde's wording when it is missing. */
export function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (value === undefined) throw new RequestError(400, "BadJsonBody", `Failed to deserialize the JSON body into the target type: missing field \`${field}\``);
  if (typeof value !== "string") throw new RequestError(400, "BadJsonBody", `Failed to deserialize the JSON body into the target type: ${field}: invalid type, expected a string`);
  return value;
}
