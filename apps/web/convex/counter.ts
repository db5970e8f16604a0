import { ConvexError, v } from "convex/values";
import { mutation, query, type QueryCtx } from "./_generated/server";
import { requireUserId } from "./users";

/** The counters that exist; any other name is refused rather than creating rows on demand. */
export const COUNTER_NAMES = ["clicks"] as const;
type CounterName = (typeof COUNTER_NAMES)[number];

function knownCounter(counterName: string): CounterName {
  if (!(COUNTER_NAMES as readonly string[]).includes(counterName)) {
    throw new ConvexError({ code: "UNKNOWN_COUNTER", message: `There is no counter named ${JSON.stringify(counterName.slice(0, 64))}.` });
  }
  return counterName as CounterName;
}

async function counterRow(ctx: QueryCtx, name: CounterName) {
  return await ctx.db
    .query("counters")
    .withIndex("by_name", (q) => q.eq("name", name))
    .unique();
}

/** The counter's value; 0 before the first increment. Public: anyone may read it. */
export const get = query({
  args: { counterName: v.string() },
  returns: v.number(),
  handler: async (ctx, { counterName }) => {
    return (await counterRow(ctx, knownCounter(counterName)))?.value ?? 0;
  },
});

/** Adds one and returns the new value. Signed-in users only, so anonymous scripts cannot inflate it. */
export const increment = mutation({
  args: { counterName: v.string() },
  returns: v.number(),
  handler: async (ctx, { counterName }) => {
    await requireUserId(ctx, "click");
    const name = knownCounter(counterName);
    const row = await counterRow(ctx, name);
    if (row === null) {
      await ctx.db.insert("counters", { name, value: 1 });
      return 1;
    }
    await ctx.db.patch(row._id, { value: row.value + 1 });
    return row.value + 1;
  },
});
