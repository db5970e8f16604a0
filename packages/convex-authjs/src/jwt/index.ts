/**
 * The Convex JWT bridge: the Next.js server signs short-lived tokens for
 * Auth.js users, which Convex verifies against the JWKS the deployment serves
 * (see `addAuthRoutes` and `authJsProvider` in `convex-authjs/convex`).
 * Tokens carry `sub` (the Auth.js user id, which is the Convex `users` id),
 * `sid` (with database sessions: the `sessions` id, which `getAuthUserId`
 * checks), `iss` (the deployment's site URL), `aud: ["convex", "convex:<alg>"]`, `iat`, `exp`
 * (never past the session's expiry), and the `kid`/`alg`/`typ` header.
 *
 * @example
 * ```ts
 * // auth.ts: CONVEX_AUTH_PRIVATE_KEY holds the key from `npx convex-authjs keys`
 * import NextAuth from "next-auth";
 * import { ConvexAdapter } from "convex-authjs/adapter";
 * import { convexSessionCallback } from "convex-authjs/jwt";
 *
 * export const { handlers, auth, signIn, signOut } = NextAuth({
 *   providers: [...],
 *   adapter: ConvexAdapter(),
 *   callbacks: { session: convexSessionCallback() },
 * });
 * ```
 *
 * @module
 */
export {
  createConvexTokenMinter,
  type ConvexTokenMinter,
  type ConvexTokenMinterOptions,
  type ConvexTokenMinterStats,
  type TokenSession,
} from "./minter.js";
export {
  convexSessionCallback,
  defaultConvexTokenMinter,
  type ConvexSession,
  type SessionCallbackParams,
} from "./session.js";
export { convexSiteUrl } from "./issuer.js";
export {
  generateSigningKeyPair,
  importSigningKey,
  keyIdOf,
  parseJwks,
  rotateJwks,
  SIGNING_ALGORITHMS,
  type Jwks,
  type ImportedSigningKey,
  type PublicSigningJwk,
  type SigningAlgorithm,
  type SigningKeyPair,
} from "./keys.js";
export { InvalidJwksError, InvalidSigningKeyError, IssuerDerivationError } from "./errors.js";
export { MissingEnvironmentVariableError } from "../shared/errors.js";
export { convexTokenOf } from "../shared/session.js";
