import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
import { authTables } from "convex-authjs/convex";

export default defineSchema({
  // users, accounts, sessions, verificationTokens, authenticators (Auth.js models).
  ...authTables,
  notes: defineTable({
    // The Auth.js user id, which is the `sub` of the Convex token.
    userId: v.id("users"),
    text: v.string(),
    updatedAt: v.number(),
  }).index("by_user", ["userId"]),
  // Named app-wide counters (convex/counter.ts): the clicks counter of /api/clicks.
  counters: defineTable({ name: v.string(), value: v.number() }).index("by_name", ["name"]),
});
