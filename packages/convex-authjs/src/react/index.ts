"use client";
/**
 * The client side of `convex-authjs`: one provider that authenticates a
 * `ConvexReactClient` with the Auth.js session.
 *
 * @example
 * ```tsx
 * // app/providers.tsx
 * "use client";
 * import { ConvexReactClient } from "convex/react";
 * import { ConvexAuthJsProvider } from "convex-authjs/react";
 *
 * const convex = new ConvexReactClient(process.env.NEXT_PUBLIC_CONVEX_URL!);
 *
 * export function Providers({ session, children }) {
 *   return <ConvexAuthJsProvider client={convex} session={session}>{children}</ConvexAuthJsProvider>;
 * }
 *
 * // app/layout.tsx (a server component)
 * const session = await auth();
 * return <Providers session={session}>{children}</Providers>;
 * ```
 *
 * @module
 */
export {
  ConvexAuthJsProvider,
  useConvexAuthFromSession,
  type ConvexAuthJsProviderProps,
} from "./ConvexAuthJsProvider.js";
export { convexTokenOf } from "../shared/session.js";
