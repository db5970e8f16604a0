/**
 * `ctx.meta.getRequestMetadata()` of `convex/server` (syscall `1.0/getRequestMetadata`): the request
 * that started the call, as Convex answers it (crates/isolate/src/environment/udf/async_syscall.rs
 * `request_metadata`, action/async_syscall.rs `async_syscall_getRequestMetadata`). Mutations,
 * actions and HTTP actions may ask (a query is refused, as on Convex); the calls a function makes
 * report their caller's request, and a scheduled function and what it calls report the job's id.
 *
 * @example
 * requestMetadata({ identity: null, admin: false, request: { id: "5f0c2a9e1b7d4c33", ip: "127.0.0.1", userAgent: "node" } }, "Mutation")
 * // { ip: "127.0.0.1", userAgent: "node", requestId: "5f0c2a9e1b7d4c33", scheduledFunctionId: null, authToken: null }
 */
import { randomBytes } from "node:crypto";
import type { Caller } from "./runner.js";
import type { UdfType } from "./functions.js";

/** Request ids' random bytes, drawn 512 ids at a time: one draw per request was 5% of the backend's time under load. */
const ID_BYTES = 8;
let idPool = Buffer.alloc(0);
let idOffset = 0;

/** A fresh request id: 8 random bytes in hex, as Convex's `RequestId::new`. */
export function randomRequestId(): string {
  if (idOffset + ID_BYTES > idPool.length) {
    idPool = randomBytes(512 * ID_BYTES);
    idOffset = 0;
  }
  idOffset += ID_BYTES;
  return idPool.toString("hex", idOffset - ID_BYTES, idOffset);
}

/**
 * `caller` with the request it belongs to. A call no client's request started (a scheduled
 * function's, a cron's) gets a fresh id and neither address nor user agent, Convex's
 * `RequestMetadata::system()`.
 */
export function withRequest(caller: Caller): Caller {
  return caller.request === undefined ? { ...caller, request: { id: randomRequestId(), ip: null, userAgent: null } } : caller;
}

/** The answer to `1.0/getRequestMetadata` in a function of type `udfType`; throws Convex's refusal in a query. */
export function requestMetadata(caller: Caller, udfType: UdfType): Record<string, string | null> {
  if (udfType === "Query") throw new Error("Cannot get request metadata in a Query");
  const request = caller.request ?? withRequest(caller).request!;
  return {
    ip: request.ip,
    userAgent: request.userAgent,
    requestId: request.id,
    scheduledFunctionId: caller.scheduledJob ?? null,
    // Only a user's JWT: an admin key, an admin acting as a user, or no credential give null.
    authToken: caller.authToken ?? null,
  };
}
