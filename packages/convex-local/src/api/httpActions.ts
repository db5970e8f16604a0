/**
 * HTTP actions on the site port: a Node request becomes the fetch `Request` the router in
 * `convex/http.ts` sees, and its `Response` is streamed back. CORS here is the app's own (its routes
 * answer OPTIONS and set the headers), as on Convex. Request and response bodies are bounded by
 * Convex's HTTP_ACTION_BODY_LIMIT (20 MiB), counted as they stream. A run that fails is answered
 * 500 with Convex's JSON: `code` (the request id and the error's message), `trace` (its text with
 * the stack) and a ConvexError's `data` (crates/application/src/redaction.rs `to_http_response_parts`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { HttpActionFailure } from "../runtime/functionResults.js";
import type { Caller, FunctionRunner } from "../runtime/runner.js";
import { truncateText } from "../text/valueText.js";
import { RequestError, sendJson, sendRequestError, sendText } from "./http.js";
import { randomRequestId } from "./serverError.js";

/** Convex's HTTP_ACTION_BODY_LIMIT (crates/udf/src/http_action.rs): the largest request and response body of an HTTP action. */
export const HTTP_ACTION_BODY_LIMIT = 20 << 20;

/** The refusal of a request body past {@link HTTP_ACTION_BODY_LIMIT}: 413, as Convex's `DefaultBodyLimit` answers. */
export function httpRequestTooLarge(): RequestError {
  return new RequestError(413, "HttpRequestTooLarge", "HTTP actions support requests up to 20 MiB");
}

/**
 * The URL an HTTP action sees: the request's path and query on the deployment's site URL. The
 * request target is the client's to choose — `GET http://evil.example/x` (absolute form) or
 * `GET //evil.example/x` — and resolving it against the site URL would hand the action that origin.
 */
export function siteRequestUrl(target: string, siteUrl: string): URL {
  const { origin } = new URL(siteUrl);
  if (target.startsWith("/")) return new URL(`${origin}${target}`);
  let absolute: URL;
  try {
    absolute = new URL(target);
  } catch {
    throw new RequestError(400, "BadRequestTarget", `Invalid request target: ${truncateText(target, 200)} (expected a path such as /hook)`);
  }
  return new URL(`${origin}${absolute.pathname}${absolute.search}`);
}

/**
 * The request body as the app reads it, read from the socket only as the app pulls it. Past `limit`
 * bytes it stops reading (the request is paused, never drained) and errors the app's stream.
 */
function limitedBody(request: IncomingMessage, limit: number, onTooLarge: () => void): ReadableStream<Uint8Array> {
  const chunks = (request as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let received = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await chunks.next();
      if (done) return controller.close();
      received += value.length;
      if (received > limit) {
        request.pause();
        onTooLarge();
        const refusal = httpRequestTooLarge();
        return controller.error(new Error(`${refusal.code}: ${refusal.message}`));
      }
      controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.length));
    },
    cancel() {
      request.pause();
    },
  });
}

/** Passes a response body through, failing once it exceeds `limit` bytes (the response is then cut off). */
function responseLimit(limit: number): Transform {
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      if (sent > limit) return callback(new Error("HttpResponseTooLarge: HTTP actions support responses up to 20 MiB"));
      callback(null, chunk);
    },
  });
}

/** A failed run in Convex's shape: 500 `{code, trace, data?}`. */
function sendFailure(response: ServerResponse, failed: HttpActionFailure, requestId = randomRequestId()): void {
  const body: Record<string, unknown> = { code: `[Request ID: ${requestId}] Server Error: ${failed.message}`, trace: failed.trace };
  if (failed.data !== undefined) body.data = failed.data;
  sendJson(response, 500, body);
}

export async function serveHttpAction(runner: FunctionRunner, siteUrl: string, request: IncomingMessage, response: ServerResponse, caller: Caller): Promise<void> {
  let tooLarge = false;
  const refuseTooLarge = () => {
    // The rest of the body is never read: the connection closes once the answer is written.
    response.shouldKeepAlive = false;
    sendRequestError(response, httpRequestTooLarge());
  };
  try {
    const method = request.method ?? "GET";
    const hasBody = method !== "GET" && method !== "HEAD";
    if (hasBody && Number(request.headers["content-length"] ?? 0) > HTTP_ACTION_BODY_LIMIT) return refuseTooLarge();
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    const fetchRequest = new Request(siteRequestUrl(request.url ?? "/", siteUrl), {
      method,
      headers,
      body: hasBody ? limitedBody(request, HTTP_ACTION_BODY_LIMIT, () => (tooLarge = true)) : undefined,
      duplex: hasBody ? "half" : undefined,
    } as RequestInit);
    const result = await runner.httpAction(fetchRequest, caller);
    if (!(result instanceof Response)) return tooLarge ? refuseTooLarge() : sendFailure(response, result, caller.request?.id);
    if (tooLarge) {
      await result.body?.cancel().catch(() => undefined);
      return refuseTooLarge();
    }
    const responseHeaders: Record<string, string | string[]> = {};
    result.headers.forEach((value, name) => {
      responseHeaders[name] = name === "set-cookie" ? result.headers.getSetCookie() : value;
    });
    response.writeHead(result.status, result.statusText, responseHeaders);
    if (result.body === null) return void response.end();
    // Written as the client reads it; a client that goes away ends the pipeline and cancels the app's stream.
    await pipeline(Readable.from(result.body as unknown as AsyncIterable<Uint8Array>, { objectMode: false }), responseLimit(HTTP_ACTION_BODY_LIMIT), response);
  } catch (error) {
    if (response.headersSent) return void response.destroy();
    if (tooLarge) return refuseTooLarge();
    if (error instanceof RequestError) return sendRequestError(response, error);
    sendText(response, 500, `HTTP action failed: ${truncateText((error as Error).message)}`);
  }
}
