import { defineConfig } from "vitest/config";
import { TIMED_TESTS } from "./vitest.timed.config.js";

export default defineConfig({
  test: {
    name: "convex-local",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Run alone, after the rest (vitest.timed.config.ts).
    exclude: ["**/node_modules/**", ...TIMED_TESTS],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
