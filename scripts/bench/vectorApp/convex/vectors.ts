import { actionGeneric as action } from "convex/server";
import { v } from "convex/values";

/** One `ctx.vectorSearch` of the nearest 10 documents. */
export const nearest = action({
  args: { table: v.union(v.literal("chunks1k"), v.literal("chunks100k")), vector: v.array(v.float64()) },
  handler: (ctx, { table, vector }) => ctx.vectorSearch(table, "by_embedding", { vector, limit: 10 }),
});
