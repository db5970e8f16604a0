import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "convex-local",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
