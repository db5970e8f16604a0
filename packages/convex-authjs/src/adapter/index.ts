/**
 * The Auth.js adapter for Convex. It calls the functions that
 * `defineAuthAdapter()` (from `convex-authjs/convex`) defines in the app's
 * `convex/authAdapter.ts`, passing the shared secret with every call.
 *
 * Concurrent lookups are coalesced: the queries made in the same turn of the
 * event loop (say, many requests checking their sessions at once) go out as
 * one `POST /api/query_batch`, one round trip and one `fetch` for all of them,
 * with each caller getting its own result or error as from `ConvexHttpClient`.
 *
 * @example
 * ```ts
 * // auth.ts
 * import NextAuth from "next-auth";
 * import GitHub from "next-auth/providers/github";
 * import { ConvexAdapter } from "convex-authjs/adapter";
 * import { convexSessionCallback } from "convex-authjs/jwt";
 *
 * export const { handlers, auth, signIn, signOut } = NextAuth({
 *   providers: [GitHub],
 *   // Reads NEXT_PUBLIC_CONVEX_URL and CONVEX_AUTH_ADAPTER_SECRET.
 *   adapter: ConvexAdapter(),
 *   callbacks: { session: convexSessionCallback() },
 * });
 * ```
 *
 * @module
 */
export {
  ConvexAdapter,
  type ConvexAdapterMethods,
  type ConvexAdapterOptions,
  type ConvexFunctionCaller,
  type SignInVerdict,
} from "./adapter.js";
export { limitSignIns, type LimitSignInsOptions, type SignInRefusal } from "./signInLimits.js";
export {
  AdapterSecretRejectedError,
  AuthenticatorNotFoundError,
  DuplicateRecordError,
  UserNotFoundError,
} from "./errors.js";
export { MissingEnvironmentVariableError } from "../shared/errors.js";
