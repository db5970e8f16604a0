import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "web",
    // convex-test runs the functions in this process; edge-like globals are not needed.
    environment: "node",
    include: ["tests/**/*.test.ts"],
  },
});
