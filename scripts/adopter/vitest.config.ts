import { defineProject } from "vitest/config";

/**
 * The adopter test: a fresh app outside the workspace from the packed packages and the README's
 * quickstart. Installing, building and starting it takes minutes; every step has its own limit.
 */
export default defineProject({
  test: {
    name: "adopter",
    environment: "node",
    include: ["*.test.ts"],
    testTimeout: 5 * 60_000,
    hookTimeout: 30 * 60_000,
  },
});
