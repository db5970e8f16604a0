declare module "@auth/core/types" {
  interface Session {
    /** The Convex access token for this session's user, added by `convexSessionCallback`. */
    convexToken?: string;
  }
}

/** The Convex token carried by an Auth.js session, or null when there is none. */
export function convexTokenOf(session: unknown): string | null {
  const token = (session as { convexToken?: unknown } | null | undefined)?.convexToken;
  return typeof token === "string" && token !== "" ? token : null;
}
