import { ConvexError, v } from "convex/values";
import { mutation, query, type MutationCtx } from "./_generated/server";
import type { Id } from "./_generated/dataModel";
import { MAX_NOTE_LENGTH } from "./limits";
import { currentUserId, requireUserId } from "./users";

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
async function ownNote(ctx: MutationCtx, userId: Id<"users">, id: string) {
  // A string, not v.id("notes"): a tampered id gets the same clear "not found" as someone else's.
  const noteId = ctx.db.normalizeId("notes", id);
  const note = noteId === null ? null : await ctx.db.get(noteId);
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
    const userId = await requireUserId(ctx, "use notes");
    return await ctx.db.insert("notes", { userId, text: validText(text), updatedAt: Date.now() });
  },
});

export const update = mutation({
  args: { id: v.string(), text: v.string() },
  handler: async (ctx, { id, text }) => {
    const userId = await requireUserId(ctx, "use notes");
    const note = await ownNote(ctx, userId, id);
    await ctx.db.patch(note._id, { text: validText(text), updatedAt: Date.now() });
  },
});

export const remove = mutation({
  args: { id: v.string() },
  handler: async (ctx, { id }) => {
    const userId = await requireUserId(ctx, "use notes");
    const note = await ownNote(ctx, userId, id);
    await ctx.db.delete(note._id);
  },
});
