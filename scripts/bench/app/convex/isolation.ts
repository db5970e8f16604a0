import { actionGeneric as action, queryGeneric as query } from "convex/server";
import { v } from "convex/values";

/** Figure 8: CPU-bound work (about 5 ms); distinct seeds keep it out of the query cache. */
export const crunch = query({
  args: { seed: v.number() },
  handler: async (_ctx, { seed }) => {
    let x = seed | 0;
    for (let i = 0; i < 3_000_000; i++) x = (x + Math.imul(i, i)) | 0;
    return x;
  },
});

/** Figure 9: the control query, answered with its (distinct) argument. */
export const ping = query({
  args: { n: v.number() },
  handler: async (_ctx, { n }) => n,
});

/** Figure 9: an action that keeps its thread busy for `ms` without ever awaiting. */
export const busy = action({
  args: { ms: v.number() },
  handler: async (_ctx, { ms }) => {
    const end = Date.now() + ms;
    let spins = 0;
    while (Date.now() < end) spins++;
    return spins;
  },
});
