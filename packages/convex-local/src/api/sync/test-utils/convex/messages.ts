import { actionGeneric as action, internalQueryGeneric as internalQuery, mutationGeneric as mutation, queryGeneric as query } from "convex/server";
import { ConvexError, v } from "convex/values";

export const list = query({
  args: { channel: v.string() },
  handler: async (ctx, { channel }) => {
    const rows = await ctx.db
      .query("messages")
      .withIndex("by_channel", (q) => q.eq("channel", channel))
      .collect();
    return rows.map((row) => row.body);
  },
});

export const get = query({
  args: { id: v.id("messages") },
  handler: async (ctx, { id }) => (await ctx.db.get(id))?.body ?? null,
});

export const send = mutation({
  args: { channel: v.string(), body: v.string() },
  handler: async (ctx, args) => await ctx.db.insert("messages", args),
});

export const edit = mutation({
  args: { id: v.id("messages"), body: v.string() },
  handler: async (ctx, { id, body }) => {
    await ctx.db.patch(id, { body });
  },
});

export const notes = query({
  args: {},
  handler: async (ctx) => (await ctx.db.query("notes").collect()).map((n) => n.text),
});

export const addNote = mutation({
  args: { text: v.string() },
  handler: async (ctx, { text }) => await ctx.db.insert("notes", { text }),
});

export const failing = query({
  args: {},
  handler: async () => {
    throw new Error("boom from query");
  },
});

export const failingWithData = query({
  args: {},
  handler: async () => {
    throw new ConvexError({ code: 42 });
  },
});

export const whoami = query({
  args: {},
  handler: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    return identity === null ? null : identity.subject;
  },
});

export const secret = internalQuery({
  args: {},
  handler: async () => "s3cret",
});

export const echo = action({
  args: { value: v.any() },
  handler: async (_ctx, { value }) => value,
});

/** Returns null after logging `lines` lines of `size` characters: a small result with large log lines. */
export const chatty = query({
  args: { lines: v.number(), size: v.number() },
  handler: async (_ctx, { lines, size }) => {
    for (let i = 0; i < lines; i++) console.log("l".repeat(size));
    return null;
  },
});

