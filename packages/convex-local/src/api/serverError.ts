/**
 * A failed function call as a client receives it, over HTTP and the sync protocol alike: the
 * request id, `Server Error`, then the function's error text (crates/application/src/redaction.rs,
 * `Display for RedactedJsError`). The id is random per HTTP request and per query run; a sync
 * connection's mutation or action gets the one Convex derives from the session and the client's
 * request number (crates/common/src/execution_context.rs `RequestId::new_for_ws_session`), which
 * the client can quote.
 *
 * @example
 * serverErrorText(randomRequestId(), "Uncaught Error: boom\n    at handler (../convex/a.ts:3:9)\n")
 * // "[Request ID: 5f0c…] Server Error\nUncaught Error: boom\n    at handler (../convex/a.ts:3:9)\n"
 */
import { createHash } from "node:crypto";

export { randomRequestId } from "../runtime/requestMetadata.js";

/** The request id of a sync connection's request: the first 16 hex digits of sha256(`<session id>|<request number>`). */
export function sessionRequestId(sessionId: string, requestNumber: number): string {
  return createHash("sha256").update(`${sessionId}|${requestNumber}`).digest("hex").slice(0, 16);
}

/** `errorMessage` (a `FunctionResult`'s) as the client receives it. */
export function serverErrorText(requestId: string, errorMessage: string): string {
  return `[Request ID: ${requestId}] Server Error\n${errorMessage}`;
}
