import { ErrorCode, type ErrorCodeValue } from "../shared/protocol.js";

/**
 * The Convex deployment refused the adapter's shared secret: either
 * `CONVEX_AUTH_ADAPTER_SECRET` is not set on the deployment, or it differs
 * from the Next.js server's. `reason` tells which.
 */
export class AdapterSecretRejectedError extends Error {
  override name = "AdapterSecretRejectedError";
  constructor(
    readonly reason: "not-configured-on-deployment" | "mismatch",
    message: string,
  ) {
    super(message);
  }
}

/** A session, account or authenticator was created for a user id that does not exist. */
export class UserNotFoundError extends Error {
  override name = "UserNotFoundError";
}

/** `updateAuthenticatorCounter` was called for a credential that is not registered. */
export class AuthenticatorNotFoundError extends Error {
  override name = "AuthenticatorNotFoundError";
}

/**
 * A create would duplicate a unique key: a user's email, a provider account,
 * a session token or a WebAuthn credential ID.
 */
export class DuplicateRecordError extends Error {
  override name = "DuplicateRecordError";
}

/** Turns a `ConvexError` raised by the adapter's Convex functions into its error class. */
export function adapterErrorFrom(error: unknown): unknown {
  const data = (error as { data?: { code?: ErrorCodeValue; message?: string } } | null)?.data;
  if (typeof data !== "object" || data === null || typeof data.message !== "string") return error;
  const { code, message } = data;
  switch (code) {
    case ErrorCode.secretNotConfigured:
      return new AdapterSecretRejectedError("not-configured-on-deployment", message);
    case ErrorCode.secretMismatch:
      return new AdapterSecretRejectedError("mismatch", message);
    case ErrorCode.userNotFound:
      return new UserNotFoundError(message);
    case ErrorCode.authenticatorNotFound:
      return new AuthenticatorNotFoundError(message);
    case ErrorCode.duplicate:
      return new DuplicateRecordError(message);
    default:
      return error;
  }
}
