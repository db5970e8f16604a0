import { actionGeneric as action, queryGeneric as query } from "convex/server";
import { v } from "convex/values";

/**
 * Figure 8: CPU-bound work (a few ms); distinct seeds keep it out of the query cache. The loop
 * touches no global: in a `node:vm` context every global lookup (`Math`, …) goes through the
 * context's interceptor, about 30 times slower than in a plain V8 isolate.
 */
export const crunch = query({
  args: { seed: v.number() },
  handler: async (_ctx, { seed }) => {
    let x = seed | 0;
    for (let i = 0; i < 10_000_000; i++) x = (x + ((i * i) | 0)) | 0;
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
