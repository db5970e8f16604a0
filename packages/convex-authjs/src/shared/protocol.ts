/**
 * The wire contract between the Auth.js adapter (Next.js side) and the
 * functions it calls on the Convex deployment. Both sides import these
 * names, so they cannot drift apart.
 */

/** Module the app's adapter functions live in: `convex/authAdapter.ts`. */
export const DEFAULT_FUNCTIONS_MODULE = "authAdapter";

/** Public adapter functions, each taking the shared secret. */
export const ADAPTER_QUERIES = [
  "getUser",
  "getUserByEmail",
  "getUserByAccount",
  "getAccount",
  "getSessionAndUser",
  "listAuthenticatorsByUserId",
] as const;

export const ADAPTER_MUTATIONS = [
  "createUser",
  "updateUser",
  "deleteUser",
  "linkAccount",
  "unlinkAccount",
  "createSession",
  "updateSession",
  "deleteSession",
  "createVerificationToken",
  "useVerificationToken",
  "createAuthenticator",
  "getAuthenticator",
  "updateAuthenticatorCounter",
  "limitMagicLink",
  "limitPasskey",
] as const;

export type AdapterQueryName = (typeof ADAPTER_QUERIES)[number];
export type AdapterMutationName = (typeof ADAPTER_MUTATIONS)[number];
export type AdapterFunctionName = AdapterQueryName | AdapterMutationName;

/** Internal mutation that deletes expired sessions, verification tokens and rate-limit windows. */
export const CLEANUP_MUTATION = "deleteExpiredAuthData";

/**
 * `ConvexError` data codes thrown by the Convex functions. The adapter maps
 * each to its own error class.
 */
export const ErrorCode = {
  secretNotConfigured: "CONVEX_AUTH_ADAPTER_SECRET_NOT_CONFIGURED",
  secretMismatch: "CONVEX_AUTH_ADAPTER_SECRET_MISMATCH",
  userNotFound: "USER_NOT_FOUND",
  authenticatorNotFound: "AUTHENTICATOR_NOT_FOUND",
  duplicate: "DUPLICATE",
  /** The arguments do not match the function's (e.g. adapter and functions of different versions). */
  invalidArguments: "INVALID_ARGUMENTS",
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export type AdapterErrorData = {
  code: ErrorCodeValue;
  message: string;
};

/** Environment variable names from the Convex + Auth.js setup guide. */
export const Env = {
  adapterSecret: "CONVEX_AUTH_ADAPTER_SECRET",
  privateKey: "CONVEX_AUTH_PRIVATE_KEY",
  jwks: "JWKS",
  convexUrl: "NEXT_PUBLIC_CONVEX_URL",
  siteUrl: "CONVEX_SITE_URL",
} as const;

/** Audience (`aud`) of every Convex token, and `applicationID` of the provider for tokens minted by earlier releases. */
export const CONVEX_AUDIENCE = "convex";

/**
 * The second audience of a token signed with `alg`, and `applicationID` of that algorithm's provider.
 * Convex routes a token to the first provider whose issuer and `applicationID` match it
 * (crates/common/src/auth.rs `AuthInfo::matches_token`) and verifies it with that provider's one
 * algorithm only, so the algorithm has to be visible in the audience for one `auth.config` to accept
 * tokens of both algorithms, as during a rotation from RS256 to ES256.
 */
export function algorithmAudience(alg: "RS256" | "ES256"): string {
  return `${CONVEX_AUDIENCE}:${alg}`;
}

/** The Convex token's claim naming the Auth.js database session it was minted for (a `sessions` id). */
export const SESSION_CLAIM = "sid";
