/**
 * `ctx.auth.getUserIdentity()` in every runtime: the caller's identity as the syscall's JSON, or,
 * for a request that runs although its credentials were refused (an HTTP action, as on Convex),
 * that refusal thrown to the function.
 *
 * @example
 * identityOf({ identity: null, admin: false, identityError: "Invalid admin key" }) // throws Error("Invalid admin key")
 */
import type { Caller } from "./runner.js";

export function identityOf(caller: Caller): string {
  if (caller.identityError !== undefined) throw new Error(caller.identityError);
  return JSON.stringify(caller.identity);
}
