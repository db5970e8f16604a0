/**
 * Small HTTP plumbing shared by the API routes: bounded body reading (with the brotli/gzip bodies
 * the CLI sends), JSON answers, Convex's `{code, message}` request errors and CORS.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from "node:zlib";

/** Convex's public API body limit: 16 MiB plus room for the envelope. */
export const MAX_BODY_BYTES = (1 << 24) + 2000;

/** Push bodies are large JSON with source maps; the inflated size is capped too, so a zip bomb stops early. */
const MAX_INFLATED_BYTES = 8 * MAX_BODY_BYTES;

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

export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) throw bodyTooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) throw bodyTooLarge();
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  const encoding = request.headers["content-encoding"];
  if (encoding === undefined || encoding === "identity") return body;
  const decompress = decompressors[encoding];
  if (decompress === undefined) throw new RequestError(400, "BadJsonBody", `Unsupported Content-Encoding: ${encoding}`);
  try {
    return await decompress(body, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw bodyTooLarge();
    throw new RequestError(400, "BadJsonBody", `Failed to decompress the request body (${encoding}): ${(error as Error).message}`);
  }
}

function bodyTooLarge(): RequestError {
  return new RequestError(400, "BadJsonBody", "Failed to buffer the request body: length limit exceeded");
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses a JSON object body, as Convex's JSON extractor does (Content-Type checked first). */
export async function readJsonObject(request: IncomingMessage): Promise<Record<string, unknown>> {
  const contentType = request.headers["content-type"] ?? "";
  if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType)) {
    throw new RequestError(400, "BadJsonBody", "Expected request with `Content-Type: application/json`");
  }
  let parsed: unknown;
  try {
    // Strict decoding: invalid UTF-8 is refused (as serde_json does), never replaced with U+FFFD.
    parsed = JSON.parse(strictUtf8.decode(await readBody(request)));
  } catch (error) {
    if (error instanceof RequestError) throw error;
    const reason = error instanceof TypeError ? "the body is not valid UTF-8" : (error as Error).message;
    throw new RequestError(400, "BadJsonBody", `Failed to parse the request body as JSON: ${reason}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: expected a JSON object");
  }
  return parsed as Record<string, unknown>;
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
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

/** Mirrors the request's origin as Convex's CORS layer does, so browsers may call the API. */
export function applyCors(request: IncomingMessage, response: ServerResponse): boolean {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    response.setHeader("Access-Control-Allow-Origin", origin);
    response.setHeader("Access-Control-Allow-Credentials", "true");
    response.setHeader("Vary", "origin, access-control-request-method, access-control-request-headers");
  }
  if (request.method !== "OPTIONS") return false;
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
