import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

/** The text search figure's tables: the same documents, 1k of them and 100k. */
const posts = defineTable({ n: v.number(), body: v.string() }).searchIndex("search_body", { searchField: "body" });

export default defineSchema({ posts1k: posts, posts100k: posts });
