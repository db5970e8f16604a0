import { defineConfig } from "vitest/config";

/**
 * The tests that measure latency — a control client's p95 while a function loops, allocates or
 * crashes, or while the backend is attacked. On a 2-core machine they hold only when nothing else
 * competes for the cores, so they run as a project of their own: after every other project has
 * finished (`groupOrder`), one file at a time.
 */
export const TIMED_TESTS = [
  "test/isolation.test.ts",
  "test/pushAnalysis.test.ts",
  "test/actionConcurrency.test.ts",
  "test/security/*.test.ts",
];

export default defineConfig({
  test: {
    name: "convex-local-timed",
    include: TIMED_TESTS,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    sequence: { groupOrder: 1 },
    fileParallelism: false,
  },
});
