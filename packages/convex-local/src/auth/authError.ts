/**
 * The errors of authentication: a refused token or Authorization header, in Convex's words
 * (crates/authentication/src/lib.rs, crates/local_backend/src/authentication.rs), with the HTTP
 * status Convex answers it with.
 */

export type AuthErrorCode =
  | "InvalidAuthHeader"
  | "NoAuthProvider"
  | "Unauthenticated"
  | "AuthProviderDiscoveryFailed"
  | "InvalidHeaderFailure"
  | "HeaderParseFailure"
  | "InvalidAdminKey"
  | "BadAdminKey";

/** Codes Convex answers with 400 (`ErrorMetadata::bad_request`): a header of the wrong shape. Others are 401. */
const BAD_REQUEST_CODES: ReadonlySet<AuthErrorCode> = new Set(["InvalidHeaderFailure", "HeaderParseFailure", "InvalidAdminKey"]);

/** A refused credential. `message` is Convex's wording, followed by the specific reason when Convex's text is generic. */
export class AuthError extends Error {
  readonly code: AuthErrorCode;
  /** The specific reason, when `message` alone is Convex's generic text. */
  readonly reason: string | undefined;
  constructor(code: AuthErrorCode, message: string, reason?: string) {
    super(reason === undefined ? message : `${message} Reason: ${reason}`);
    this.name = "AuthError";
    this.code = code;
    this.reason = reason;
  }

  /** The HTTP status of this refusal: 400 for a malformed header, 401 for a credential that does not verify. */
  get status(): 400 | 401 {
    return BAD_REQUEST_CODES.has(this.code) ? 400 : 401;
  }
}

/** Convex's refusal of a token that is not an OIDC ID token (a claim missing or of the wrong type). */
export function oidcParseError(reason: string): AuthError {
  return new AuthError("InvalidAuthHeader", "Could not parse as OIDC ID token. Token might not be an OIDC-compliant JWT.", reason);
}

/** An error's message with its cause's (fetch failures carry the network error as the cause). */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
