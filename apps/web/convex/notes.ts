import { ConvexError, v } from "convex/values";
import { mutation, query, type MutationCtx, type QueryCtx } from "./_generated/server";
import type { Id } from "./_generated/dataModel";

export const MAX_NOTE_LENGTH = 2000;

/** The signed-in user's id, from the `sub` of the Convex token the Next.js server minted. */
async function currentUserId(ctx: QueryCtx | MutationCtx): Promise<Id<"users"> | null> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) return null;
  return ctx.db.normalizeId("users", identity.subject);
}

async function requireUserId(ctx: QueryCtx | MutationCtx): Promise<Id<"users">> {
  const userId = await currentUserId(ctx);
  if (userId === null) throw new ConvexError({ code: "UNAUTHENTICATED", message: "Sign in to use notes." });
  return userId;
}

function validText(text: string): string {
  const trimmed = text.trim();
  if (trimmed === "") throw new ConvexError({ code: "INVALID_NOTE", message: "A note cannot be empty." });
  if (trimmed.length > MAX_NOTE_LENGTH) {
    throw new ConvexError({
      code: "INVALID_NOTE",
      message: `A note can be at most ${MAX_NOTE_LENGTH} characters long (got ${trimmed.length}).`,
    });
  }
  return trimmed;
}

/**
 * The note if it belongs to the user. Another user's note and a missing one
 * answer the same, so ids of other users' notes reveal nothing.
 */
async function ownNote(ctx: MutationCtx, userId: Id<"users">, id: Id<"notes">) {
  const note = await ctx.db.get(id);
  if (note === null || note.userId !== userId) {
    throw new ConvexError({ code: "NOT_FOUND", message: "Note not found." });
  }
  return note;
}

/** The signed-in user's notes, newest first; empty when signed out. */
export const list = query({
  args: {},
  handler: async (ctx) => {
    const userId = await currentUserId(ctx);
    if (userId === null) return [];
    return await ctx.db
      .query("notes")
      .withIndex("by_user", (q) => q.eq("userId", userId))
      .order("desc")
      .take(200);
  },
});

export const create = mutation({
  args: { text: v.string() },
  handler: async (ctx, { text }) => {
    const userId = await requireUserId(ctx);
    return await ctx.db.insert("notes", { userId, text: validText(text), updatedAt: Date.now() });
  },
});

export const update = mutation({
  args: { id: v.id("notes"), text: v.string() },
  handler: async (ctx, { id, text }) => {
    const userId = await requireUserId(ctx);
    await ownNote(ctx, userId, id);
    await ctx.db.patch(id, { text: validText(text), updatedAt: Date.now() });
  },
});

export const remove = mutation({
  args: { id: v.id("notes") },
  handler: async (ctx, { id }) => {
    const userId = await requireUserId(ctx);
    await ownNote(ctx, userId, id);
    await ctx.db.delete(id);
  },
});
