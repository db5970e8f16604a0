/**
 * HTTP actions on the site port: a Node request becomes the fetch `Request` the router in
 * `convex/http.ts` sees, and its `Response` is streamed back. CORS here is the app's own (its routes
 * answer OPTIONS and set the headers), as on Convex.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { Caller, FunctionRunner } from "../runtime/runner.js";
import { truncateText } from "../text/valueText.js";
import { RequestError, sendRequestError, sendText } from "./http.js";

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

export async function serveHttpAction(runner: FunctionRunner, siteUrl: string, request: IncomingMessage, response: ServerResponse, caller: Caller): Promise<void> {
  try {
    const method = request.method ?? "GET";
    const hasBody = method !== "GET" && method !== "HEAD";
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    const fetchRequest = new Request(siteRequestUrl(request.url ?? "/", siteUrl), {
      method,
      headers,
      body: hasBody ? (Readable.toWeb(request) as ReadableStream) : undefined,
      duplex: hasBody ? "half" : undefined,
    } as RequestInit);
    const result = await runner.httpAction(fetchRequest, caller);
    const responseHeaders: Record<string, string | string[]> = {};
    result.headers.forEach((value, name) => {
      responseHeaders[name] = name === "set-cookie" ? result.headers.getSetCookie() : value;
    });
    response.writeHead(result.status, result.statusText, responseHeaders);
    if (result.body === null) return void response.end();
    for await (const chunk of result.body as unknown as AsyncIterable<Uint8Array>) response.write(chunk);
    response.end();
  } catch (error) {
    if (response.headersSent) return void response.destroy();
    if (error instanceof RequestError) return sendRequestError(response, error);
    sendText(response, 500, `HTTP action failed: ${truncateText((error as Error).message)}`);
  }
}
