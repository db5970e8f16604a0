import { auth } from "@/auth";
import { convexAuthHelpers } from "convex-authjs/next";

/**
 * `fetchQuery`, `fetchMutation`, `preloadQuery` as the signed-in user (App Router server
 * components, server actions, route handlers); `forRequest(ctx)` for the Pages Router.
 */
export const convex = convexAuthHelpers(auth);
