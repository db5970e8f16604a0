/**
 * Next.js server helpers: the Convex token of the current Auth.js session and
 * `convex/nextjs`'s `fetchQuery`, `fetchMutation`, `fetchAction` and
 * `preloadQuery` authenticated with it, for the App Router, route handlers,
 * server actions and the Pages Router.
 *
 * @example
 * ```ts
 * // lib/convex.ts
 * import { auth } from "@/auth";
 * import { convexAuthHelpers } from "convex-authjs/next";
 * export const convex = convexAuthHelpers(auth);
 *
 * // app/tasks/page.tsx (server component)
 * const preloaded = await convex.preloadQuery(api.tasks.list, {});
 *
 * // app/api/tasks/route.ts (route handler)
 * export async function POST(request: Request) {
 *   const id = await convex.fetchMutation(api.tasks.create, await request.json());
 *   return Response.json({ id });
 * }
 * ```
 *
 * @module
 */
export {
  convexAuthHelpers,
  convexForSession,
  type AuthenticatedConvex,
  type AuthFunction,
  type ConvexCallOptions,
} from "./helpers.js";
export { convexTokenOf } from "../shared/session.js";
