import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // The workspace packages ship compiled ESM in dist/; nothing to transpile.
  reactStrictMode: true,
};

export default nextConfig;
