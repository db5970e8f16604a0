import { ConvexError, v } from "convex/values";
import { mutation, query } from "./_generated/server";
import { currentUserId, requireUserId } from "./users";

/**
 * What the account page shows: the user, the sign-in methods linked to them
 * (OAuth/OIDC accounts; passkeys separately) and how many sessions are open.
 * Never tokens, keys or credential secrets. Null when signed out.
 */
export const overview = query({
  args: {},
  handler: async (ctx) => {
    const userId = await currentUserId(ctx);
    const user = userId === null ? null : await ctx.db.get(userId);
    if (user === null) return null;
    const accounts = await ctx.db
      .query("accounts")
      .withIndex("by_user_id", (q) => q.eq("userId", user._id))
      .collect();
    const passkeys = await ctx.db
      .query("authenticators")
      .withIndex("by_user_id", (q) => q.eq("userId", user._id))
      .collect();
    const now = Date.now();
    const sessions = await ctx.db
      .query("sessions")
      .withIndex("by_user_id", (q) => q.eq("userId", user._id))
      .collect();
    return {
      email: user.email,
      name: user.name ?? null,
      emailVerified: user.emailVerified !== undefined,
      linkedAccounts: accounts
        .filter((account) => account.type !== "webauthn")
        .map((account) => ({ provider: account.provider, type: account.type, linkedAt: account._creationTime })),
      passkeys: passkeys.map((passkey) => ({
        id: passkey._id,
        deviceType: passkey.credentialDeviceType,
        backedUp: passkey.credentialBackedUp,
        createdAt: passkey._creationTime,
      })),
      activeSessions: sessions.filter((session) => session.expires > now).length,
    };
  },
});

/** Removes one of the user's passkeys and the account Auth.js linked for it. */
export const removePasskey = mutation({
  args: { id: v.string() },
  handler: async (ctx, { id }) => {
    const userId = await requireUserId(ctx, "manage passkeys");
    const passkeyId = ctx.db.normalizeId("authenticators", id);
    const passkey = passkeyId === null ? null : await ctx.db.get(passkeyId);
    // Another user's passkey answers like a missing one.
    if (passkey === null || passkey.userId !== userId) {
      throw new ConvexError({ code: "NOT_FOUND", message: "Passkey not found." });
    }
    const accounts = await ctx.db
      .query("accounts")
      .withIndex("by_user_id", (q) => q.eq("userId", userId))
      .collect();
    for (const account of accounts) {
      if (account.type === "webauthn" && account.providerAccountId === passkey.providerAccountId) {
        await ctx.db.delete(account._id);
      }
    }
    await ctx.db.delete(passkey._id);
  },
});

/**
 * Deletes every Auth.js session of the user, this one included: each browser
 * is signed out at its next request, and at once in Convex, since every Convex
 * token names its session (`currentUserId`), so open live queries re-run
 * signed out. Returns how many were deleted.
 */
export const signOutEverywhere = mutation({
  args: {},
  returns: v.number(),
  handler: async (ctx) => {
    const userId = await requireUserId(ctx, "sign out everywhere");
    const sessions = await ctx.db
      .query("sessions")
      .withIndex("by_user_id", (q) => q.eq("userId", userId))
      .collect();
    for (const session of sessions) await ctx.db.delete(session._id);
    return sessions.length;
  },
});
