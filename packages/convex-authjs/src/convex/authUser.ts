import type { Auth, GenericDatabaseReader, GenericDataModel } from "convex/server";
import type { GenericId } from "convex/values";
import { SESSION_CLAIM } from "../shared/protocol.js";

export interface GetAuthUserIdOptions {
  /**
   * Accept tokens that name no session. Only for apps on Auth.js's JWT session strategy, which
   * have no session document to name: such a token cannot be revoked and stays valid until it
   * expires (at most 1 h, and never after the Auth.js session). Default false, failing closed: a
   * token without the session claim is treated as signed out, so a token minted without its
   * session can never bypass the check in a database-session app.
   */
  allowTokensWithoutSession?: boolean;
}

/**
 * The Auth.js user the caller's Convex token was minted for, or null when signed out. With
 * database sessions (the adapter's default) the token names its session (`sid`): once that session
 * is deleted — sign-out, "sign out everywhere", the cleanup job — the token stops counting at once,
 * and a subscribed query that called this re-runs and sees the caller signed out, because it read
 * the session document. An expired session needs no clock here: the token's `exp` is never later
 * than its session's `expires` (`convexSessionCallback` caps it), so Convex itself refuses the token
 * once the session has expired, and the cleanup job deletes the session. Not reading the clock
 * keeps its callers' results cacheable (Convex does not re-run a query as time passes anyway).
 *
 * @example
 * ```ts
 * // convex/notes.ts
 * import { getAuthUserId } from "convex-authjs/convex";
 *
 * export const list = query({
 *   args: {},
 *   handler: async (ctx) => {
 *     const userId = await getAuthUserId(ctx);
 *     if (userId === null) return [];
 *     return await ctx.db.query("notes").withIndex("by_user", (q) => q.eq("userId", userId)).collect();
 *   },
 * });
 * ```
 */
export async function getAuthUserId<DataModel extends GenericDataModel>(
  ctx: { auth: Auth; db: GenericDatabaseReader<DataModel> },
  options: GetAuthUserIdOptions = {},
): Promise<GenericId<"users"> | null> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) return null;
  // Any app's data model: its schema holds `authTables`, whose names are fixed.
  const db = ctx.db as unknown as GenericDatabaseReader<GenericDataModel>;
  const userId = db.normalizeId("users", identity.subject);
  if (userId === null) return null;
  const claim = identity[SESSION_CLAIM];
  if (claim === undefined) return options.allowTokensWithoutSession === true ? userId : null;
  const sessionId = typeof claim === "string" ? db.normalizeId("sessions", claim) : null;
  const session = sessionId === null ? null : await db.get(sessionId);
  return session !== null && session.userId === userId ? userId : null;
}
