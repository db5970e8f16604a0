import { describe, expect, it } from "vitest";
import { truncateUtf8 } from "./utf8Text.js";

describe("truncateUtf8", () => {
  it("keeps text within the limit and cuts longer text at a character boundary", () => {
    expect(truncateUtf8("hello", 5)).toBe("hello");
    expect(truncateUtf8("hello!", 5)).toBe("hello");
    // "é" is 2 bytes, "😀" 4: never half a character.
    expect(truncateUtf8("éééé", 5)).toBe("éé");
    expect(truncateUtf8("a😀b", 4)).toBe("a");
    expect(truncateUtf8("😀".repeat(100), 123)).toBe("😀".repeat(30));
  });

  it("cuts a huge text in one pass", () => {
    const start = performance.now();
    expect(Buffer.byteLength(truncateUtf8("é".repeat(5_000_000), 123))).toBe(122);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
