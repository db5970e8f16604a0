import { describe, expect, it } from "vitest";
import { v, type GenericValidator } from "convex/values";
import { acceptsAllOf } from "./validatorSubset.js";
import type { ValidatorJson } from "./validator.js";

/** The JSON form a schema's export holds (`json` is not part of the validators' public type). */
const json = (validator: GenericValidator) => (validator as unknown as { json: ValidatorJson }).json;
const accepts = (outer: GenericValidator, inner: GenericValidator) => acceptsAllOf(json(outer), json(inner));

describe("acceptsAllOf", () => {
  it("holds for equal validators and for any", () => {
    expect(accepts(v.object({ a: v.string(), b: v.array(v.int64()) }), v.object({ a: v.string(), b: v.array(v.int64()) }))).toBe(true);
    expect(accepts(v.any(), v.object({ a: v.bytes() }))).toBe(true);
  });

  it("holds when the outer object adds optional fields or widens a field", () => {
    expect(accepts(v.object({ a: v.string(), b: v.optional(v.number()) }), v.object({ a: v.string() }))).toBe(true);
    expect(accepts(v.object({ a: v.optional(v.string()) }), v.object({ a: v.string() }))).toBe(true);
    expect(accepts(v.object({ a: v.union(v.string(), v.null()) }), v.object({ a: v.string() }))).toBe(true);
    expect(accepts(v.object({ a: v.string() }), v.object({ a: v.literal("x") }))).toBe(true);
    expect(accepts(v.object({ a: v.int64() }), v.object({ a: v.literal(3n) }))).toBe(true);
    expect(accepts(v.string(), v.id("users"))).toBe(true);
    expect(accepts(v.record(v.string(), v.number()), v.record(v.string(), v.number()))).toBe(true);
  });

  it("fails when the outer validator refuses something the inner one accepts", () => {
    expect(accepts(v.object({ a: v.string(), b: v.number() }), v.object({ a: v.string() }))).toBe(false); // b becomes required
    expect(accepts(v.object({ a: v.string() }), v.object({ a: v.optional(v.string()) }))).toBe(false);
    expect(accepts(v.object({ a: v.string() }), v.object({ a: v.string(), b: v.optional(v.string()) }))).toBe(false); // b no longer allowed
    expect(accepts(v.object({ a: v.literal("x") }), v.object({ a: v.string() }))).toBe(false);
    expect(accepts(v.object({ a: v.number() }), v.object({ a: v.int64() }))).toBe(false);
    expect(accepts(v.id("users"), v.id("posts"))).toBe(false);
    expect(accepts(v.id("users"), v.string())).toBe(false);
    expect(accepts(v.string(), v.union(v.string(), v.null()))).toBe(false);
    expect(accepts(v.array(v.string()), v.array(v.any()))).toBe(false);
  });
});
