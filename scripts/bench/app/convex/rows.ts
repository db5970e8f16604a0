import { mutationGeneric as mutation, queryGeneric as query } from "convex/server";
import { v } from "convex/values";

const table = v.union(v.literal("rows10k"), v.literal("rows1m"));

/** Loads rows `from .. from + count - 1` (the bench calls it in batches). */
export const fill = mutation({
  args: { table, from: v.number(), count: v.number() },
  handler: async (ctx, { table, from, count }) => {
    for (let n = from; n < from + count; n++) await ctx.db.insert(table, { n, payload: `row ${n}` });
  },
});

/** Figure 6: an index range read of `count` rows starting at `from`. */
export const range = query({
  args: { table, from: v.number(), count: v.number() },
  handler: (ctx, { table, from, count }) =>
    ctx.db
      .query(table)
      .withIndex("by_n", (q) => q.gte("n", from).lt("n", from + count))
      .collect(),
});
