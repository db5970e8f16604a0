import type { Session } from "@auth/core/types";
import { createConvexTokenMinter, type ConvexTokenMinter } from "./minter.js";
import "../shared/session.js";

/** The parts of Auth.js's session callback arguments used here. */
export interface SessionCallbackParams {
  /** With database sessions Auth.js passes the adapter's session here, `id` included. */
  session: Session & { id?: string };
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

/** The session sent to the browser: the public user fields, expiry and the Convex token. */
export interface ConvexSession extends Session {
  user?: { id?: string; name?: string | null; email?: string | null; image?: string | null };
  expires: string;
  convexToken?: string;
}

/**
 * An Auth.js `session` callback that adds `convexToken` to the session, for
 * both database and JWT session strategies. The session goes to the browser
 * through `/api/auth/session`, so the React provider and the server helpers
 * both find the token there. The token never outlives the session: with
 * database sessions it names the session (`sid`, the `sessions` id, never the
 * `sessionToken`) for `getAuthUserId`, and with either strategy its `exp` is
 * no later than the session's `expires`.
 *
 * Like Auth.js's default callback it returns only public fields (`user.id`,
 * `name`, `email`, `image`, and `expires`): with database sessions the object
 * Auth.js passes in also holds the `sessionToken`, which the httpOnly cookie
 * exists to keep away from scripts. Sessions without a user id get no token.
 *
 * @example
 * ```ts
 * NextAuth({ adapter: ConvexAdapter(), callbacks: { session: convexSessionCallback() } });
 *
 * // Composed with your own session fields:
 * const addConvexToken = convexSessionCallback();
 * callbacks: {
 *   async session(params) {
 *     return { ...(await addConvexToken(params)), plan: "pro" };
 *   },
 * }
 * ```
 */
export function convexSessionCallback(minter?: ConvexTokenMinter) {
  return async ({ session, user, token }: SessionCallbackParams): Promise<ConvexSession> => {
    const userId = user?.id ?? token?.sub;
    const expires = session.expires as string | Date;
    const publicSession: ConvexSession = {
      user: {
        ...(userId ? { id: userId } : {}),
        name: session.user?.name,
        email: session.user?.email,
        image: session.user?.image,
      },
      expires: expires instanceof Date ? expires.toISOString() : expires,
    };
    if (!userId) return publicSession;
    // Database sessions: the token names its session, so deleting the session revokes the token.
    const id = user?.id !== undefined && typeof session.id === "string" && session.id !== "" ? session.id : undefined;
    // Either strategy: the token ends no later than the session it stands for.
    const tokenSession = { id, expires: new Date(expires) };
    return { ...publicSession, convexToken: await (minter ?? defaultConvexTokenMinter()).tokenFor(userId, tokenSession) };
  };
}
