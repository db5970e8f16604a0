import { describe, expect, it } from "vitest";
import { MAX_QUOTED_LENGTH, quoteValue, truncateText } from "./valueText.js";

describe("quoteValue", () => {
  it("renders values as Convex's validation errors show them", () => {
    expect(quoteValue({ a: 1, b: "x", c: [true, null], d: 2.5, e: 3n })).toBe('{a: 1.0, b: "x", c: [true, null], d: 2.5, e: 3}');
    expect(quoteValue(new Uint8Array([1, 2]).buffer)).toBe('b"AQI="');
    expect(quoteValue(new ArrayBuffer(64 * 1024 * 1024), 100)).toHaveLength(100);
    expect(quoteValue(undefined)).toBe("undefined");
  });

  it("keeps a quote within the limit, marked as truncated", () => {
    const huge = { body: "x".repeat(50 * 1024 * 1024) };
    const quoted = quoteValue(huge);
    expect(quoted).toHaveLength(MAX_QUOTED_LENGTH);
    expect(quoted.startsWith('{body: "xxx')).toBe(true);
    expect(quoted.endsWith("[...truncated]")).toBe(true);
  });

  it("stops early on values with very many parts", () => {
    const many = Array.from({ length: 1_000_000 }, (_, i) => ({ i }));
    const started = performance.now();
    expect(quoteValue(many, 100)).toHaveLength(100);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("leaves a quote that fits exactly as it is", () => {
    const value = "y".repeat(98);
    expect(quoteValue(value, 100)).toBe(JSON.stringify(value));
  });
});

describe("truncateText", () => {
  it("cuts to the limit, never between the halves of a surrogate pair", () => {
    expect(truncateText("short")).toBe("short");
    const cut = truncateText("a".repeat(85) + "😀".repeat(20), 100);
    expect(cut).toBe("a".repeat(85) + "[...truncated]");
    expect(truncateText("a".repeat(200), 100)).toBe("a".repeat(86) + "[...truncated]");
  });
});
