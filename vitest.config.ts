import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["./scripts/test/prerequisites.ts"],
    projects: ["packages/*", "packages/convex-local/vitest.timed.config.ts", "apps/*", "apps/web/vitest.e2e.config.ts", "scripts/test/vitest.config.ts", "scripts/adopter/vitest.config.ts"],
  },
});
