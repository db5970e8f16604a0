import type { GenericDataModel, GenericQueryCtx } from "convex/server";
import type { GenericId } from "convex/values";
import { SESSION_CLAIM } from "../shared/protocol.js";

export interface GetAuthUserIdOptions {
  /**
   * Accept tokens that name no session. Only for apps on Auth.js's JWT session strategy, whose
   * tokens cannot name a database session; such a token stays valid until it expires (1 h).
   * Default false: a token without the session claim is treated as signed out.
   */
  allowTokensWithoutSession?: boolean;
}

/**
 * The Auth.js user the caller's Convex token was minted for, or null when signed out. With
 * database sessions (the adapter's default) the token names its session (`sid`): once that session
 * is deleted — sign-out, "sign out everywhere", the cleanup job — the token stops counting at once,
 * and a subscribed query that called this re-runs and sees the caller signed out, because it read
 * the session document. Session expiry is left to the token's own (short) lifetime and to the
 * cleanup job, so the function never reads the clock and its callers' results stay cacheable.
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
export async function getAuthUserId(
  ctx: Pick<GenericQueryCtx<GenericDataModel>, "auth" | "db">,
  options: GetAuthUserIdOptions = {},
): Promise<GenericId<"users"> | null> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) return null;
  const userId = ctx.db.normalizeId("users", identity.subject);
  if (userId === null) return null;
  const claim = identity[SESSION_CLAIM];
  if (claim === undefined) return options.allowTokensWithoutSession === true ? userId : null;
  const sessionId = typeof claim === "string" ? ctx.db.normalizeId("sessions", claim) : null;
  const session = sessionId === null ? null : await ctx.db.get(sessionId);
  return session !== null && session.userId === userId ? userId : null;
}
