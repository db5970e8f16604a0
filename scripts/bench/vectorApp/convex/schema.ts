import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

/** The vector search figure's tables: the same 768-dimension documents, 1k of them and 100k. */
const chunks = defineTable({ n: v.number(), embedding: v.array(v.float64()) }).vectorIndex("by_embedding", {
  vectorField: "embedding",
  dimensions: 768,
});

export default defineSchema({ chunks1k: chunks, chunks100k: chunks });
