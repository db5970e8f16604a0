/**
 * Where a request came from, read as Convex's HTTP layer reads it (crates/common/src/http/mod.rs
 * `ExtractRequestId`, `ExtractRequestMetadata`): the `convex-request-id` header or a fresh id; the
 * first address of `X-Forwarded-For`, else the connection's peer; the `User-Agent` header. Convex
 * cuts the address at 256 bytes and the user agent at 512 (`ClientIp`, `ClientUserAgent`). Like a self-hosted Convex backend, convex-local trusts `X-Forwarded-For`:
 * behind a reverse proxy that is the client's address; without one a client may name any address.
 *
 * @example
 * requestOriginOf(request) // { id: "5f0c2a…", ip: "127.0.0.1", userAgent: "node" }
 */
import type { IncomingMessage } from "node:http";
import type { RequestOrigin } from "../runtime/runner.js";
import { randomRequestId } from "./serverError.js";

const MAX_IP_BYTES = 256;
const MAX_USER_AGENT_BYTES = 512;

/** The request's origin; `id` (a sync connection's derived request id) replaces the header's or a fresh one. */
export function requestOriginOf(request: IncomingMessage, id?: string): RequestOrigin {
  return { ...clientOf(request), id: id ?? headerText(request, "convex-request-id") ?? randomRequestId() };
}

/** The client's address and user agent, without a request id (a sync connection's, kept for its requests). */
export function clientOf(request: IncomingMessage): Omit<RequestOrigin, "id"> {
  const forwarded = headerText(request, "x-forwarded-for")?.split(",")[0].trim();
  const ip = forwarded ?? request.socket.remoteAddress ?? null;
  const userAgent = headerText(request, "user-agent") ?? null;
  // Header values are ASCII here (headerText), so characters are bytes.
  return { ip: ip?.slice(0, MAX_IP_BYTES) ?? null, userAgent: userAgent?.slice(0, MAX_USER_AGENT_BYTES) ?? null };
}

/**
 * A header's value (the first, when it repeats), or undefined when it holds anything but visible
 * ASCII and tabs: Convex reads headers with `HeaderValue::to_str`, which refuses other bytes.
 */
function headerText(request: IncomingMessage, name: string): string | undefined {
  const header = request.headers[name];
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && /^[\t\x20-\x7e]*$/.test(value) ? value : undefined;
}
