import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "convex-authjs",
    environment: "node",
    include: ["src/**/*.test.{ts,tsx}"],
    // The CLI tests run the real bin, which loads dist/: build it when stale.
    globalSetup: ["./vitest.global-setup.ts"],
    unstubEnvs: true,
    // next-auth imports "next/server" without an extension, which only bundlers
    // resolve: let vite process it as Next.js would.
    server: { deps: { inline: ["next-auth"] } },
  },
});
