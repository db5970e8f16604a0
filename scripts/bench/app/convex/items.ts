import { mutationGeneric as mutation, queryGeneric as query } from "convex/server";
import { v } from "convex/values";

/** Figure 1: a point read by index. */
export const get = query({
  args: { key: v.number() },
  handler: (ctx, { key }) =>
    ctx.db
      .query("items")
      .withIndex("by_key", (q) => q.eq("key", key))
      .unique(),
});

/** Figure 1b: documents with keys `from .. from + count - 1`, so queries can read distinct ones. */
export const fill = mutation({
  args: { from: v.number(), count: v.number() },
  handler: async (ctx, { from, count }) => {
    for (let key = from; key < from + count; key++) await ctx.db.insert("items", { key, value: `document ${key}` });
  },
});

/** Figure 2: one durable single-document insert. */
export const insert = mutation({
  args: { key: v.number(), value: v.string() },
  handler: (ctx, doc) => ctx.db.insert("items", doc),
});
