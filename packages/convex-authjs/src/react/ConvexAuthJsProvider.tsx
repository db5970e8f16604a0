"use client";

import { ConvexProviderWithAuth, type ConvexReactClient } from "convex/react";
import type { Session } from "next-auth";
import { getSession, SessionProvider, useSession, type SessionProviderProps } from "next-auth/react";
import { useCallback, useMemo, useRef, type ReactNode } from "react";
import { convexTokenOf } from "../shared/session.js";

export interface ConvexAuthJsProviderProps extends Omit<SessionProviderProps, "children" | "session"> {
  /** The Convex client to authenticate. */
  client: ConvexReactClient;
  /**
   * The session from `auth()` on the server. With it, Convex starts
   * authenticated on the first render; without it, after the session loads.
   */
  session?: Session | null;
  children: ReactNode;
}

/**
 * Whom and which Auth.js session a Convex token stands for (its `sub` and `sid`), read without
 * verification: only to tell sign-ins apart. A renewed token of the same session gives the same
 * answer; a new sign-in of the same user does not, since the old session's token stops counting.
 */
function tokenSignIn(token: string | null): string | null {
  if (token === null) return null;
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const { sub, sid } = JSON.parse(atob(payload)) as { sub?: string; sid?: string };
    return sub === undefined ? null : JSON.stringify([sub, sid ?? null]);
  } catch {
    return null;
  }
}

/**
 * The `useAuth` hook `ConvexProviderWithAuth` needs, fed by the Auth.js
 * session (`useSession`). Use it under a `SessionProvider` to build your own
 * provider; `ConvexAuthJsProvider` is both joined.
 *
 * - `isLoading` only until the session first loads: a later session refresh
 *   does not flip Convex back to loading.
 * - `isAuthenticated` when the session carries a Convex token; signing out
 *   (session null) makes Convex unauthenticated at once.
 * - `fetchAccessToken({ forceRefreshToken: true })` fetches a fresh session
 *   (the server mints a new token as the old one nears expiry). Concurrent
 *   forced refreshes share one request.
 */
export function useConvexAuthFromSession() {
  const { data: session, update } = useSession();
  // Read at call time: the callback below stays stable while tokens refresh.
  const latest = useRef({ session, update });
  latest.current = { session, update };
  const refreshing = useRef<Promise<string | null> | null>(null);

  const token = convexTokenOf(session);
  const signIn = tokenSignIn(token);

  const fetchAccessToken = useCallback(
    async ({ forceRefreshToken }: { forceRefreshToken: boolean }) => {
      if (!forceRefreshToken) return convexTokenOf(latest.current.session);
      refreshing.current ??= (async () => {
        try {
          const updated = await latest.current.update();
          // update() resolves undefined while the SessionProvider is busy loading; ask directly.
          return convexTokenOf(updated === undefined ? await getSession({ broadcast: false }) : updated);
        } finally {
          refreshing.current = null;
        }
      })();
      return refreshing.current;
    },
    // A new function makes Convex re-authenticate: do that only when the user or their session changes.
    [signIn],
  );

  const isLoading = session === undefined;
  const isAuthenticated = token !== null;
  return useMemo(
    () => ({ isLoading, isAuthenticated, fetchAccessToken }),
    [isLoading, isAuthenticated, fetchAccessToken],
  );
}

/**
 * Joins the Auth.js session (next-auth's `SessionProvider`) to a
 * `ConvexReactClient` (`ConvexProviderWithAuth`): Convex queries and
 * mutations run as the signed-in user, using the `convexToken` that
 * `convexSessionCallback` puts in the session.
 *
 * @example
 * ```tsx
 * "use client";
 * const convex = new ConvexReactClient(process.env.NEXT_PUBLIC_CONVEX_URL!);
 * export function Providers({ session, children }: { session: Session | null; children: ReactNode }) {
 *   return <ConvexAuthJsProvider client={convex} session={session}>{children}</ConvexAuthJsProvider>;
 * }
 * ```
 */
export function ConvexAuthJsProvider({ client, session, children, ...sessionProps }: ConvexAuthJsProviderProps) {
  // next-auth's SessionProvider reads `session` only when it mounts. After a sign-in or sign-out on
  // the server (a server action, then a navigation) the layout hands it another session, or none,
  // which it would ignore, leaving Convex authenticated with the previous session's token (another
  // user's, or one whose session is gone): keying it on the server's sign-in remounts it.
  const serverSignIn = session === undefined ? "loaded-by-client" : tokenSignIn(convexTokenOf(session)) ?? "signed-out";
  return (
    <SessionProvider key={serverSignIn} session={session} {...sessionProps}>
      <ConvexProviderWithAuth client={client} useAuth={useConvexAuthFromSession}>
        {children}
      </ConvexProviderWithAuth>
    </SessionProvider>
  );
}
