import { mutationGeneric as mutation, queryGeneric as query } from "convex/server";
import { v } from "convex/values";

/** Figure 3: the query 1000 WebSocket clients subscribe to. */
export const latest = query({ args: {}, handler: (ctx) => ctx.db.query("ticks").first() });

/** Figure 3: the mutation whose result every subscriber must see. */
export const bump = mutation({
  args: { round: v.number(), payload: v.string() },
  handler: async (ctx, tick) => {
    const current = await ctx.db.query("ticks").first();
    if (current === null) await ctx.db.insert("ticks", tick);
    else await ctx.db.replace(current._id, tick);
  },
});
