/** What to tell the user for each error code Auth.js (or our sign-in forms) put in `?error=`. */
const MESSAGES: Record<string, string> = {
  Verification: "This sign-in link is no longer valid: it was already used or it has expired. Ask for a new one below.",
  InvalidEmail: "Enter a valid email address.",
  EmailSignInError: "The sign-in email could not be sent. Try again in a moment.",
  AccessDenied: "Sign-in was refused.",
  OAuthAccountNotLinked:
    "This email already belongs to an account that signs in another way. Sign in with that method, then link this one.",
  OAuthSignInError: "Could not start signing in with that provider.",
  OAuthCallbackError: "The provider did not complete the sign-in. Try again.",
  WebAuthnVerificationError: "The passkey could not be verified. Try again or use another method.",
  MissingCSRF: "The sign-in form expired. Reload the page and try again.",
  Configuration: "Sign-in is misconfigured on this server. The server log says what is missing.",
};

/** The message for `code`; `minutes`: when a refused sign-in may be tried again (the rate limits' codes). */
export function signInErrorMessage(code: string | undefined, minutes?: string): string | undefined {
  if (!code) return undefined;
  const wait = /^[1-9]\d{0,3}$/.test(minutes ?? "") ? `in ${minutes} minute${minutes === "1" ? "" : "s"}` : "later";
  if (code === "TooManySignInLinks") return `Too many sign-in links were sent to this address. Try again ${wait}, or sign in another way.`;
  if (code === "TooManyPasskeyFailures") return `Too many passkey sign-ins to this account failed. Its passkeys work again ${wait}; until then, sign in another way.`;
  return MESSAGES[code] ?? "Sign-in failed. Try again.";
}

/** Where to go after signing in: a path on this site only (no open redirects), else /notes. */
export function safeCallbackPath(value: string | string[] | undefined): string {
  const path = Array.isArray(value) ? value[0] : value;
  if (!path || !path.startsWith("/") || path.startsWith("//") || path.startsWith("/\\")) return "/notes";
  return path;
}

/** A dev-only mailbox is available (app/dev/mailbox): never in production builds. */
export function devMailboxEnabled(): boolean {
  return process.env.NODE_ENV !== "production" && Boolean(process.env.DEV_MAILBOX_DIR);
}
