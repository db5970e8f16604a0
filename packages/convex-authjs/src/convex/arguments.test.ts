import { makeFunctionReference } from "convex/server";
import { v } from "convex/values";
import { describe, expect, test, vi } from "vitest";
import { ErrorCode } from "../shared/protocol.js";
import { TEST_SECRET, startFixtureApp } from "../testing/convexTestApp.js";
import { adapterArguments } from "./arguments.js";

const fields = {
  id: v.string(),
  count: v.optional(v.number()),
  user: v.object({ email: v.string(), kind: v.union(v.literal("a"), v.literal("b")) }),
  tags: v.array(v.string()),
  extra: v.optional(v.record(v.string(), v.any())),
  big: v.optional(v.int64()),
  flag: v.optional(v.union(v.boolean(), v.null())),
};
const valid = { id: "x", user: { email: "e@example.com", kind: "a" }, tags: ["t"] };

/** The ConvexError data adapterArguments throws for `args`, or "accepted". */
function refusal(args: Record<string, unknown>) {
  try {
    adapterArguments(args, fields);
    return "accepted";
  } catch (error) {
    return (error as { data: { code: string; message: string } }).data;
  }
}

describe("adapterArguments", () => {
  test("returns the arguments without the secret when both are right", () => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    const args = { ...valid, count: 2, extra: { any: [1] }, big: 3n, flag: null };
    expect(adapterArguments({ ...args, secret: TEST_SECRET }, fields)).toEqual(args);
  });

  test.each([
    ["an extra argument", { ...valid, addedLater: 1 }, "argument `addedLater` is not expected"],
    ["a missing argument", { user: valid.user, tags: [] }, "argument `id` is missing"],
    ["a nested wrong type", { ...valid, user: { email: 5, kind: "a" } }, "argument `user.email` must be a string"],
    ["a nested extra field", { ...valid, user: { ...valid.user, admin: true } }, "argument `user.admin` is not expected"],
    ["several extra fields", { ...valid, toString: 1, b: 2 }, "argument `toString`, argument `b` are not expected"],
    ["a value outside a union", { ...valid, user: { ...valid.user, kind: "c" } }, "argument `user.kind` must be one of the union's members"],
    ["a wrong array element", { ...valid, tags: ["t", 2] }, "argument `tags[1]` must be a string"],
    ["a number for an int64", { ...valid, big: 3 }, "argument `big` must be a bigint"],
    ["an array for an object", { ...valid, user: [] }, "argument `user` must be an object"],
  ])("refuses %s, naming where but quoting no value", (_label, args, problem) => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    const data = refusal({ ...args, secret: TEST_SECRET });
    expect(data).toMatchObject({ code: ErrorCode.invalidArguments, message: expect.stringContaining(problem) });
    expect(JSON.stringify(data)).not.toContain(TEST_SECRET);
    expect(JSON.stringify(data)).not.toContain("e@example.com");
  });

  test("checks the secret first, so a caller without it learns nothing about the arguments", () => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    expect(refusal({ addedLater: 1, secret: "wrong" })).toMatchObject({ code: ErrorCode.secretMismatch });
    expect(refusal({ ...valid })).toMatchObject({ code: ErrorCode.secretMismatch, message: expect.stringContaining("no adapter secret") });
    expect(refusal({ ...valid, secret: 42 })).toMatchObject({ code: ErrorCode.secretMismatch });
  });
});

describe("the adapter's functions on convex-test", () => {
  test("refuse an argument a newer adapter sends with INVALID_ARGUMENTS and no secret in the error", async () => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    const { t } = startFixtureApp();
    const error = await t
      .query(makeFunctionReference<"query">("authAdapter:getUser"), { id: "x", addedLater: true, secret: TEST_SECRET })
      .catch((e: unknown) => e as { message: string; data: unknown });
    expect(error).toMatchObject({ data: { code: ErrorCode.invalidArguments } });
    expect(JSON.stringify({ message: (error as Error).message, data: (error as { data: unknown }).data })).not.toContain(TEST_SECRET);
  });
});
