import { ConvexError } from "convex/values";
import { getAuthUserId } from "convex-authjs/convex";
import type { MutationCtx, QueryCtx } from "./_generated/server";
import type { Id } from "./_generated/dataModel";

/**
 * The signed-in user's id: the `sub` of the Convex token the Next.js server minted, as long as the
 * Auth.js session the token names still exists (so "sign out everywhere" takes effect at once).
 */
export async function currentUserId(ctx: QueryCtx | MutationCtx): Promise<Id<"users"> | null> {
  return await getAuthUserId(ctx);
}

export async function requireUserId(ctx: QueryCtx | MutationCtx, purpose: string): Promise<Id<"users">> {
  const userId = await currentUserId(ctx);
  if (userId === null) throw new ConvexError({ code: "UNAUTHENTICATED", message: `Sign in to ${purpose}.` });
  return userId;
}
