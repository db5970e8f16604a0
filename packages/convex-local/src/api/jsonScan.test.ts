import { describe, expect, it } from "vitest";
import { scanJson } from "./jsonScan.js";

const count = (json: string, maxValues = 1000) => scanJson(Buffer.from(json), { maxValues }).values;

describe("scanJson", () => {
  it("counts strings, objects, arrays and commas", () => {
    expect(count('{"a":[1,2]}')).toBe(4);
    expect(count("[{},{},{}]")).toBe(6);
    expect(count("12")).toBe(0);
  });

  it("skips what is inside strings, escaped quotes included", () => {
    expect(count(JSON.stringify({ text: 'a, [b], {c}, "d", \\' }))).toBe(3);
  });

  it("stops as soon as the count passes the limit", () => {
    const huge = Buffer.from(`[${"0,".repeat(10_000_000)}0]`);
    expect(scanJson(huge, { maxValues: 100 })).toEqual({ values: 101 });
  });

  it("finds nesting past maxDepth where serde_json reports it, and stops there", () => {
    const scan = (json: string, maxDepth: number) => scanJson(Buffer.from(json), { maxValues: 1_000_000, maxDepth });
    expect(scan("[[[]]]", 3)).toEqual({ values: 3 });
    expect(scan("[[[[]]]]", 3)).toEqual({ values: 3, tooDeep: { line: 1, column: 4 } });
    expect(scan('{\n "a": [[', 2).tooDeep).toEqual({ line: 2, column: 8 });
    // Brackets inside strings do not nest; depth falls back as arrays close.
    expect(scan(JSON.stringify(["[[[[", "{{{{"]), 1)).toEqual({ values: 4 });
    expect(scan("[[]],[[]],[[]]", 2).tooDeep).toBeUndefined();
    // Multi-byte characters count as their bytes in the column.
    expect(scan('["é",[[', 2).tooDeep).toEqual({ line: 1, column: 8 });
  });

  it("stops at whichever limit comes first", () => {
    expect(scanJson(Buffer.from(`[${"[".repeat(10)}`), { maxValues: 5, maxDepth: 8 })).toEqual({ values: 6 });
    expect(scanJson(Buffer.from(`${"[".repeat(10)}`), { maxValues: 100, maxDepth: 3 })).toEqual({ values: 3, tooDeep: { line: 1, column: 4 } });
  });
});
