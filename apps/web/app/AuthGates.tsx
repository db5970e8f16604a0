"use client";
// convex/react ships without "use client"; re-exported here so server components can render them.
export { AuthLoading, Authenticated, Unauthenticated } from "convex/react";
