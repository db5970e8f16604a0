import { ConvexError } from "convex/values";
import type { MutationCtx, QueryCtx } from "./_generated/server";
import type { Id } from "./_generated/dataModel";

/** The signed-in user's id, from the `sub` of the Convex token the Next.js server minted. */
export async function currentUserId(ctx: QueryCtx | MutationCtx): Promise<Id<"users"> | null> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) return null;
  return ctx.db.normalizeId("users", identity.subject);
}

export async function requireUserId(ctx: QueryCtx | MutationCtx, purpose: string): Promise<Id<"users">> {
  const userId = await currentUserId(ctx);
  if (userId === null) throw new ConvexError({ code: "UNAUTHENTICATED", message: `Sign in to ${purpose}.` });
  return userId;
}
