import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
import { authTables } from "convex-authjs/convex";

const row = defineTable({ n: v.number(), payload: v.string() }).index("by_n", ["n"]);

export default defineSchema({
  ...authTables,
  items: defineTable({ key: v.number(), value: v.string() }).index("by_key", ["key"]),
  rows10k: row,
  rows1m: row,
  ticks: defineTable({ round: v.number(), payload: v.string() }),
});
