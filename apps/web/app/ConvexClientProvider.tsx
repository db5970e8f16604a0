"use client";

import { ConvexReactClient } from "convex/react";
import { ConvexAuthJsProvider } from "convex-authjs/react";
import type { Session } from "next-auth";
import type { ReactNode } from "react";

const url = process.env.NEXT_PUBLIC_CONVEX_URL;
if (!url) {
  throw new Error("NEXT_PUBLIC_CONVEX_URL is not set: start the app with `npm run dev`, which writes it to apps/web/.env.local.");
}
// One client for the whole app, so client-side navigation keeps the connection.
const convex = new ConvexReactClient(url);

export function ConvexClientProvider({ session, children }: { session: Session | null; children: ReactNode }) {
  return (
    <ConvexAuthJsProvider client={convex} session={session}>
      {children}
    </ConvexAuthJsProvider>
  );
}
