import type { Session } from "@auth/core/types";
import { createConvexTokenMinter, type ConvexTokenMinter } from "./minter.js";
import "../shared/session.js";

/** The parts of Auth.js's session callback arguments used here. */
export interface SessionCallbackParams {
  session: Session;
  /** With database sessions (the adapter's default): the user. */
  user?: { id?: string };
  /** With JWT sessions: the decoded Auth.js token. */
  token?: { sub?: string };
}

let defaultMinter: ConvexTokenMinter | undefined;

/** The process-wide minter configured from the environment, created on first use. */
export function defaultConvexTokenMinter(): ConvexTokenMinter {
  defaultMinter ??= createConvexTokenMinter();
  return defaultMinter;
}

/**
 * An Auth.js `session` callback that adds `convexToken` to the session, for
 * both database and JWT session strategies. The session goes to the browser
 * through `/api/auth/session`, so the React provider and the server helpers
 * both find the token there. Sessions without a user are returned unchanged.
 *
 * @example
 * ```ts
 * NextAuth({ adapter: ConvexAdapter(), callbacks: { session: convexSessionCallback() } });
 *
 * // Composed with your own session changes:
 * const addConvexToken = convexSessionCallback();
 * callbacks: {
 *   async session(params) {
 *     const session = await addConvexToken(params);
 *     return { ...session, user: { ...session.user, id: params.user.id } };
 *   },
 * }
 * ```
 */
export function convexSessionCallback(minter?: ConvexTokenMinter) {
  return async <P extends SessionCallbackParams>({
    session,
    user,
    token,
  }: P): Promise<P["session"] & { convexToken?: string }> => {
    const userId = user?.id ?? token?.sub;
    if (!userId) return session;
    const convexToken = await (minter ?? defaultConvexTokenMinter()).tokenFor(userId);
    return { ...session, convexToken };
  };
}
