import { queryGeneric as query } from "convex/server";
import { v } from "convex/values";

/** The best 10 posts for `text` (the last word matched as a prefix, as a search box sends it). */
export const search = query({
  args: { table: v.union(v.literal("posts1k"), v.literal("posts100k")), text: v.string() },
  handler: async (ctx, { table, text }) => {
    const posts = await ctx.db
      .query(table)
      .withSearchIndex("search_body", (q) => q.search("body", text))
      .take(10);
    return posts.map((post) => post.n);
  },
});
