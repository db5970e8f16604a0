/**
 * The Convex side of `convex-authjs`: the auth tables, the functions the
 * Auth.js adapter calls, the cleanup job, the token verification routes and
 * the `auth.config.ts` provider. Everything here is built on
 * `queryGeneric`/`mutationGeneric`/`httpActionGeneric`, so it needs no
 * `convex/_generated` code and runs in Convex's default runtime.
 *
 * @example
 * ```ts
 * // convex/schema.ts
 * import { defineSchema } from "convex/server";
 * import { authTables } from "convex-authjs/convex";
 * export default defineSchema({ ...authTables });
 *
 * // convex/authAdapter.ts
 * import { defineAuthAdapter } from "convex-authjs/convex";
 * export const { createUser, getUser, ... , deleteExpiredAuthData } = defineAuthAdapter();
 *
 * // convex/http.ts
 * const http = httpRouter();
 * addAuthRoutes(http);
 * export default http;
 *
 * // convex/auth.config.ts
 * export default defineAuthConfig();
 *
 * // convex/notes.ts: who is calling (null once their session is gone)
 * const userId = await getAuthUserId(ctx);
 *
 * // convex/crons.ts
 * const crons = cronJobs();
 * scheduleAuthCleanup(crons);
 * export default crons;
 * ```
 *
 * @module
 */
export {
  authTables,
  defineAuthTables,
  userFields,
  accountFields,
  sessionFields,
  verificationTokenFields,
  authenticatorFields,
  type AuthTablesOptions,
  type AuthTableName,
} from "./schema.js";
export { defineAuthAdapter, type AuthAdapterOptions } from "./functions.js";
export { getAuthUserId, type GetAuthUserIdOptions } from "./authUser.js";
export {
  addAuthRoutes,
  JWKS_PATH,
  OPENID_CONFIGURATION_PATH,
  type AuthRoutesOptions,
} from "./http.js";
export {
  authJsProvider,
  authJsProviders,
  defineAuthConfig,
  AuthConfigError,
  type AuthJsProviderOptions,
  type SigningAlgorithm,
} from "./authConfig.js";
export { scheduleAuthCleanup, type AuthCleanupOptions } from "./crons.js";
export { ADAPTER_MUTATIONS, ADAPTER_QUERIES, CLEANUP_MUTATION } from "../shared/protocol.js";
