import { describe, expect, it } from "vitest";
import { randomRequestId } from "./requestMetadata.js";

describe("randomRequestId", () => {
  it("gives 16 hex digits, distinct across the draws of its random pool", () => {
    const ids = Array.from({ length: 2000 }, () => randomRequestId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
