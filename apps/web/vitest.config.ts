import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "web",
    // convex-test runs the functions in this process; edge-like globals are not needed.
    environment: "node",
    include: ["tests/**/*.test.ts"],
    // The browser tests are their own project (vitest.e2e.config.ts).
    exclude: ["tests/e2e/**", "node_modules/**"],
  },
});
