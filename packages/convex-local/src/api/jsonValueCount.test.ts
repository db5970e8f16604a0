import { describe, expect, it } from "vitest";
import { countJsonValues } from "./jsonValueCount.js";

const count = (json: string, limit = 1000) => countJsonValues(Buffer.from(json), limit);

describe("countJsonValues", () => {
  it("counts strings, objects, arrays and commas", () => {
    expect(count('{"a":[1,2]}')).toBe(4);
    expect(count('[{},{},{}]')).toBe(6);
    expect(count("12")).toBe(0);
  });

  it("skips what is inside strings, escaped quotes included", () => {
    expect(count(JSON.stringify({ text: 'a, [b], {c}, "d", \\' }))).toBe(3);
  });

  it("stops as soon as the count passes the limit", () => {
    const huge = Buffer.from(`[${"0,".repeat(10_000_000)}0]`);
    expect(countJsonValues(huge, 100)).toBe(101);
  });
});
