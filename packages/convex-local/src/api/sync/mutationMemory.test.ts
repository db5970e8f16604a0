import { describe, expect, test } from "vitest";
import { MutationMemory } from "./mutationMemory.js";

const limits = { maxSessions: 3, maxAnswersPerSession: 4, maxBytesPerSession: 100, maxBytes: 250 };

describe("MutationMemory", () => {
  test("recalls what it remembered, by session and request id", () => {
    const memory = new MutationMemory(limits);
    memory.remember("a", 1, "one");
    memory.remember("b", 1, "uno");
    expect(memory.recall("a", 1)).toBe("one");
    expect(memory.recall("b", 1)).toBe("uno");
    expect(memory.recall("a", 2)).toBeUndefined();
    expect(memory.bytes).toBe(6);
  });

  test("keeps a session's most recent answers within its count and bytes", () => {
    const memory = new MutationMemory(limits);
    for (let id = 1; id <= 6; id++) memory.remember("a", id, "x");
    expect([1, 2, 3, 4, 5, 6].map((id) => memory.recall("a", id) !== undefined)).toEqual([false, false, true, true, true, true]);
    memory.remember("a", 7, "y".repeat(99));
    expect([5, 6, 7].map((id) => memory.recall("a", id) !== undefined)).toEqual([false, true, true]);
    expect(memory.bytes).toBe(100);
  });

  test("forgets the least recently active sessions first, within the total", () => {
    const memory = new MutationMemory(limits);
    memory.remember("a", 1, "a".repeat(90));
    memory.remember("b", 1, "b".repeat(90));
    memory.remember("a", 2, "a");
    memory.remember("c", 1, "c".repeat(90)); // 271 bytes > 250: b, the least recently active, goes
    expect(memory.recall("b", 1)).toBeUndefined();
    expect(memory.recall("a", 1)).toBeDefined();
    expect(memory.bytes).toBe(181);
    memory.remember("d", 1, "d");
    memory.remember("e", 1, "e"); // a fourth session: a goes
    expect(memory.recall("a", 2)).toBeUndefined();
    expect(memory.bytes).toBe(92);
  });

  test("does not keep an answer larger than a session may hold", () => {
    const memory = new MutationMemory(limits);
    memory.remember("a", 1, "z".repeat(101));
    expect(memory.recall("a", 1)).toBeUndefined();
    expect(memory.bytes).toBe(0);
  });

  test("counts bytes as UTF-8", () => {
    const memory = new MutationMemory(limits);
    memory.remember("a", 1, "é".repeat(10));
    expect(memory.bytes).toBe(20);
  });
});
