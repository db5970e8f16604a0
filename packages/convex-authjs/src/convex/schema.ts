import { defineTable } from "convex/server";
import { v, type PropertyValidators } from "convex/values";

/*
 * The Auth.js models (https://authjs.dev/concepts/database-models) as Convex
 * documents. Dates are stored as milliseconds since the epoch; an Auth.js
 * `null` is stored as an absent field.
 */

export const userFields = {
  email: v.string(),
  name: v.optional(v.string()),
  emailVerified: v.optional(v.number()),
  image: v.optional(v.string()),
};

export const accountFields = {
  userId: v.id("users"),
  type: v.union(
    v.literal("oauth"),
    v.literal("oidc"),
    v.literal("email"),
    v.literal("webauthn"),
  ),
  provider: v.string(),
  providerAccountId: v.string(),
  refresh_token: v.optional(v.string()),
  access_token: v.optional(v.string()),
  /** Seconds since the epoch, as OAuth token sets carry it. */
  expires_at: v.optional(v.number()),
  token_type: v.optional(v.string()),
  scope: v.optional(v.string()),
  id_token: v.optional(v.string()),
  session_state: v.optional(v.string()),
  /**
   * Token-set fields beyond Auth.js's account model, which providers add
   * freely (GitHub's `refresh_token_expires_in`, Azure's `ext_expires_in`).
   * Kept so that sign-in never fails on an unexpected field.
   */
  extra: v.optional(v.record(v.string(), v.any())),
};

export const sessionFields = {
  userId: v.id("users"),
  sessionToken: v.string(),
  expires: v.number(),
};

export const verificationTokenFields = {
  identifier: v.string(),
  token: v.string(),
  expires: v.number(),
};

export const authenticatorFields = {
  credentialID: v.string(),
  userId: v.id("users"),
  providerAccountId: v.string(),
  credentialPublicKey: v.string(),
  counter: v.number(),
  credentialDeviceType: v.string(),
  credentialBackedUp: v.boolean(),
  transports: v.optional(v.string()),
};

/** One rate-limit window: `count` events of kind `name` for `key` since `windowStart` (see rateLimits.ts). */
export const rateLimitFields = {
  name: v.string(),
  key: v.string(),
  windowStart: v.number(),
  count: v.number(),
  /** When the window ends; the cleanup job deletes the document after that. */
  expires: v.number(),
};

/** Extra user fields, e.g. `{ role: v.optional(v.string()) }` from a `profile()` callback. */
export interface AuthTablesOptions<Extra extends PropertyValidators = {}> {
  /** Fields your Auth.js `profile()` callbacks add to users. Pass the same to `defineAuthAdapter`. */
  extraUserFields?: Extra;
}

/**
 * The auth tables with extra user fields. Use `authTables` when users carry
 * only the Auth.js fields.
 */
export function defineAuthTables<Extra extends PropertyValidators = {}>(
  options: AuthTablesOptions<Extra> = {},
) {
  const extra = (options.extraUserFields ?? {}) as Extra;
  return {
    // `as never`: with a generic `Extra`, TypeScript cannot see that "email" stays a field.
    users: defineTable({ ...userFields, ...extra }).index("by_email", ["email" as never]),
    accounts: defineTable(accountFields)
      .index("by_provider_account", ["provider", "providerAccountId"])
      .index("by_user_id", ["userId"]),
    sessions: defineTable(sessionFields)
      .index("by_session_token", ["sessionToken"])
      .index("by_user_id", ["userId"])
      // The cleanup job walks sessions oldest-expiry first.
      .index("by_expires", ["expires"]),
    verificationTokens: defineTable(verificationTokenFields)
      .index("by_identifier_token", ["identifier", "token"])
      .index("by_expires", ["expires"]),
    authenticators: defineTable(authenticatorFields)
      .index("by_credential_id", ["credentialID"])
      .index("by_user_id", ["userId"]),
    // Sign-in rate limits (defineAuthAdapter's rateLimits).
    authRateLimits: defineTable(rateLimitFields)
      .index("by_name_key", ["name", "key"])
      .index("by_expires", ["expires"]),
  };
}

/**
 * The tables the adapter reads and writes, with the indexes each lookup
 * needs. Spread them into your schema:
 *
 * ```ts
 * export default defineSchema({ ...authTables, messages: defineTable({...}) });
 * ```
 */
export const authTables = defineAuthTables();

export type AuthTableName = keyof typeof authTables;
