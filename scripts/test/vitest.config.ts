import { defineProject } from "vitest/config";

/** Tests of the repository's own scripts (the test prerequisites). */
export default defineProject({
  test: {
    name: "scripts",
    environment: "node",
    include: ["*.test.ts"],
  },
});
