import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // The workspace packages ship compiled ESM in dist/; nothing to transpile.
  reactStrictMode: true,
  // Bundled, not loaded as an external ESM package: in Pages Router server code Node resolves
  // next-auth's extensionless `import "next/server"` itself and fails (nextauthjs/next-auth#9307).
  transpilePackages: ["next-auth"],
  // The end-to-end tests run their own `next dev` next to a developer's: each test run gets its own
  // build directory and tsconfig copy (tests/e2e/stack.ts), so neither touches the other's files.
  ...(process.env.NEXT_E2E_DIST_DIR && {
    distDir: process.env.NEXT_E2E_DIST_DIR,
    typescript: { tsconfigPath: process.env.NEXT_E2E_TSCONFIG },
  }),
};

export default nextConfig;
