import { defineProject } from "vitest/config";

/**
 * End-to-end tests: the whole stack (tests/e2e/servers.ts) once per run, Debian Chromium through
 * playwright-core. A separate project so its setup and timeouts stay out of the unit tests.
 */
export default defineProject({
  test: {
    name: "web-e2e",
    environment: "node",
    include: ["tests/e2e/**/*.test.ts"],
    globalSetup: ["tests/e2e/globalSetup.ts"],
    // Starting the stack compiles the app; a browser flow is several page loads.
    hookTimeout: 300_000,
    testTimeout: 180_000,
    // Two cores: one browser at a time keeps page loads, and so the run, predictable.
    poolOptions: { forks: { singleFork: true } },
  },
});
