import {
  internalMutationGeneric,
  makeFunctionReference,
  mutationGeneric,
  queryGeneric,
  type GenericDataModel,
  type GenericMutationCtx,
  type GenericQueryCtx,
} from "convex/server";
import {
  ConvexError,
  v,
  type GenericId,
  type ObjectType,
  type PropertyValidators,
} from "convex/values";
import {
  CLEANUP_MUTATION,
  DEFAULT_FUNCTIONS_MODULE,
  ErrorCode,
  type AdapterErrorData,
} from "../shared/protocol.js";
import {
  accountFields,
  authenticatorFields,
  sessionFields,
  userFields,
  verificationTokenFields,
} from "./schema.js";
import { adapterArguments } from "./arguments.js";
import {
  chargeRateLimits,
  magicLinkCharges,
  passkeyVerdict,
  recordPasskeyAttempt,
  resolveSignInRateLimits,
  type SignInRateLimits,
} from "./rateLimits.js";

type QueryCtx = GenericQueryCtx<GenericDataModel>;
type MutationCtx = GenericMutationCtx<GenericDataModel>;
type Doc = Record<string, unknown> & { _id: GenericId<string>; _creationTime: number };

/** A document as the adapter receives it: `id` instead of `_id`, no `_creationTime`. */
export type WireDoc = Record<string, unknown> & { id: string };

export interface AuthAdapterOptions<Extra extends PropertyValidators = {}> {
  /** The same extra user fields given to `defineAuthTables`. */
  extraUserFields?: Extra;
  /**
   * The module these functions are exported from, so the cleanup job can
   * reschedule itself. Default `"authAdapter"` (`convex/authAdapter.ts`).
   */
  functionsModule?: string;
  /** Documents the cleanup job deletes per table per transaction. Default 200. */
  cleanupBatchSize?: number;
  /**
   * Sign-in rate limits: magic links, enforced by `limitMagicLink` (see `limitSignIns` in
   * `convex-authjs/adapter`), default 5 per address and 20 per client address, per hour; failed
   * passkey sign-ins per account, counted by `getAuthenticator` and enforced by `limitPasskey` (both
   * from `limitSignIns`), default 5 per 15 minutes.
   */
  rateLimits?: SignInRateLimits;
}

const { userId: _accountUserId, ...accountInputFields } = accountFields;
const { userId: _sessionUserId, ...sessionInputFields } = sessionFields;
const { userId: _authenticatorUserId, ...authenticatorInputFields } = authenticatorFields;

function toWire(doc: Doc): WireDoc;
function toWire(doc: Doc | null): WireDoc | null;
function toWire(doc: Doc | null): WireDoc | null {
  if (doc === null) return null;
  const { _id, _creationTime, ...fields } = doc;
  return { id: _id, ...fields };
}

function fail(code: AdapterErrorData["code"], message: string): never {
  throw new ConvexError<AdapterErrorData>({ code, message });
}

async function getDoc(ctx: QueryCtx, table: string, id: string): Promise<Doc | null> {
  // Malformed ids and ids of other tables normalize to null: "not found", never a throw.
  const normalized = ctx.db.normalizeId(table, id);
  return normalized === null ? null : ((await ctx.db.get(normalized)) as Doc | null);
}

async function requireUserId(ctx: QueryCtx, userId: string): Promise<GenericId<"users">> {
  const user = await getDoc(ctx, "users", userId);
  if (user === null) fail(ErrorCode.userNotFound, "No user with this id.");
  return user._id as GenericId<"users">;
}

function findByIndex(
  ctx: QueryCtx,
  table: string,
  index: string,
  fields: Record<string, string>,
): Promise<Doc | null> {
  return ctx.db
    .query(table)
    .withIndex(index, (q) => {
      let range: any = q;
      for (const [field, value] of Object.entries(fields)) range = range.eq(field, value);
      return range;
    })
    .first() as Promise<Doc | null>;
}

function listByUser(ctx: QueryCtx, table: string, userId: GenericId<"users">): Promise<Doc[]> {
  return ctx.db
    .query(table)
    .withIndex("by_user_id", (q) => q.eq("userId", userId))
    .collect() as Promise<Doc[]>;
}

function findAccount(ctx: QueryCtx, provider: string, providerAccountId: string) {
  return findByIndex(ctx, "accounts", "by_provider_account", { provider, providerAccountId });
}

/**
 * Defines every Convex function the Auth.js adapter calls, plus the internal
 * cleanup mutation. Export all of them from `convex/authAdapter.ts`:
 *
 * @example
 * ```ts
 * // convex/authAdapter.ts
 * import { defineAuthAdapter } from "convex-authjs/convex";
 *
 * export const {
 *   createUser, getUser, getUserByEmail, getUserByAccount, updateUser, deleteUser,
 *   linkAccount, unlinkAccount, getAccount,
 *   createSession, getSessionAndUser, updateSession, deleteSession,
 *   createVerificationToken, useVerificationToken,
 *   createAuthenticator, getAuthenticator, listAuthenticatorsByUserId,
 *   updateAuthenticatorCounter, limitMagicLink, limitPasskey, deleteExpiredAuthData,
 * } = defineAuthAdapter();
 * ```
 *
 * Every public function takes the shared `secret` and refuses the call unless
 * it equals the deployment's `CONVEX_AUTH_ADAPTER_SECRET`, so only your
 * Next.js server can use them even though Convex exposes them publicly.
 */
export function defineAuthAdapter<Extra extends PropertyValidators = {}>(
  options: AuthAdapterOptions<Extra> = {},
) {
  const extraUserFields = (options.extraUserFields ?? {}) as Extra;
  const userInput = { ...userFields, ...extraUserFields };
  const optionalUserFields = Object.entries(userInput)
    .filter(([, validator]) => validator.isOptional === "optional")
    .map(([name]) => name);
  const cleanupBatchSize = options.cleanupBatchSize ?? 200;
  const rateLimits = resolveSignInRateLimits(options.rateLimits);
  const cleanupReference = makeFunctionReference<"mutation", { batchSize?: number }>(
    `${options.functionsModule ?? DEFAULT_FUNCTIONS_MODULE}:${CLEANUP_MUTATION}`,
  );

  // No `args` validators: the secret and the arguments are checked by
  // adapterArguments, so no validation failure can quote the secret (see there).
  function adapterQuery<Args extends PropertyValidators, Result>(
    args: Args,
    handler: (ctx: QueryCtx, args: ObjectType<Args>) => Promise<Result>,
  ) {
    return queryGeneric({
      handler: async (ctx: QueryCtx, all: ObjectType<Args> & { secret: string }): Promise<Result> =>
        handler(ctx, adapterArguments(all, args) as ObjectType<Args>),
    });
  }

  function adapterMutation<Args extends PropertyValidators, Result>(
    args: Args,
    handler: (ctx: MutationCtx, args: ObjectType<Args>) => Promise<Result>,
  ) {
    return mutationGeneric({
      handler: async (ctx: MutationCtx, all: ObjectType<Args> & { secret: string }): Promise<Result> =>
        handler(ctx, adapterArguments(all, args) as ObjectType<Args>),
    });
  }

  const getUserByAccount = async (ctx: QueryCtx, provider: string, providerAccountId: string) => {
    const account = await findAccount(ctx, provider, providerAccountId);
    return account === null ? null : toWire(await getDoc(ctx, "users", account.userId as string));
  };

  return {
    createUser: adapterMutation({ user: v.object(userInput) }, async (ctx, { user }) => {
      // Checked inside the transaction, so two concurrent sign-ins cannot both create the user.
      const { email } = user as unknown as { email: string };
      const existing = await findByIndex(ctx, "users", "by_email", { email });
      if (existing !== null) fail(ErrorCode.duplicate, "A user with this email already exists.");
      const id = await ctx.db.insert("users", user);
      return toWire(await ctx.db.get(id) as Doc);
    }),

    getUser: adapterQuery({ id: v.string() }, async (ctx, { id }) =>
      toWire(await getDoc(ctx, "users", id)),
    ),

    getUserByEmail: adapterQuery({ email: v.string() }, async (ctx, { email }) =>
      toWire(await findByIndex(ctx, "users", "by_email", { email })),
    ),

    getUserByAccount: adapterQuery(
      { provider: v.string(), providerAccountId: v.string() },
      async (ctx, { provider, providerAccountId }) =>
        getUserByAccount(ctx, provider, providerAccountId),
    ),

    updateUser: adapterMutation(
      {
        id: v.string(),
        // Values to set, and the optional fields that Auth.js set to null, removed here.
        set: v.object(Object.fromEntries(
          Object.entries(userInput).map(([name, validator]) => [
            name,
            validator.isOptional === "optional" ? validator : v.optional(validator),
          ]),
        )),
        unset: v.array(v.string()),
      },
      async (ctx, { id, set, unset }) => {
        const user = await getDoc(ctx, "users", id);
        if (user === null) return null;
        const removals: Record<string, undefined> = {};
        for (const name of unset) {
          if (!optionalUserFields.includes(name)) {
            throw new ConvexError(`User field "${name}" is required and cannot be removed.`);
          }
          removals[name] = undefined;
        }
        if (set.email !== undefined && set.email !== user.email) {
          const owner = await findByIndex(ctx, "users", "by_email", { email: set.email as string });
          if (owner !== null) fail(ErrorCode.duplicate, "A user with this email already exists.");
        }
        await ctx.db.patch(user._id, { ...set, ...removals });
        return toWire(await ctx.db.get(user._id) as Doc);
      },
    ),

    deleteUser: adapterMutation({ id: v.string() }, async (ctx, { id }) => {
      const user = await getDoc(ctx, "users", id);
      if (user === null) return null;
      const userId = user._id as GenericId<"users">;
      for (const table of ["sessions", "accounts", "authenticators"]) {
        for (const doc of await listByUser(ctx, table, userId)) await ctx.db.delete(doc._id);
      }
      await ctx.db.delete(userId);
      return toWire(user);
    }),

    linkAccount: adapterMutation(
      { account: v.object({ ...accountInputFields, userId: v.string() }) },
      async (ctx, { account }) => {
        const userId = await requireUserId(ctx, account.userId);
        if ((await findAccount(ctx, account.provider, account.providerAccountId)) !== null) {
          fail(ErrorCode.duplicate, "This provider account is already linked.");
        }
        const id = await ctx.db.insert("accounts", { ...account, userId });
        return toWire(await ctx.db.get(id) as Doc);
      },
    ),

    unlinkAccount: adapterMutation(
      { provider: v.string(), providerAccountId: v.string() },
      async (ctx, { provider, providerAccountId }) => {
        const account = await findAccount(ctx, provider, providerAccountId);
        if (account === null) return null;
        await ctx.db.delete(account._id);
        return toWire(account);
      },
    ),

    getAccount: adapterQuery(
      { provider: v.string(), providerAccountId: v.string() },
      async (ctx, { provider, providerAccountId }) => {
        return toWire(await findAccount(ctx, provider, providerAccountId));
      },
    ),

    createSession: adapterMutation(
      { session: v.object({ ...sessionInputFields, userId: v.string() }) },
      async (ctx, { session }) => {
        const userId = await requireUserId(ctx, session.userId);
        const existing = await findByIndex(ctx, "sessions", "by_session_token", {
          sessionToken: session.sessionToken,
        });
        if (existing !== null) fail(ErrorCode.duplicate, "A session with this token already exists.");
        const id = await ctx.db.insert("sessions", { ...session, userId });
        return toWire(await ctx.db.get(id) as Doc);
      },
    ),

    getSessionAndUser: adapterQuery({ sessionToken: v.string() }, async (ctx, { sessionToken }) => {
      const session = await findByIndex(ctx, "sessions", "by_session_token", { sessionToken });
      if (session === null) return null;
      const user = await getDoc(ctx, "users", session.userId as string);
      // A session whose user is gone is as good as no session.
      if (user === null) return null;
      return { session: toWire(session), user: toWire(user) };
    }),

    updateSession: adapterMutation(
      {
        sessionToken: v.string(),
        expires: v.optional(v.number()),
        userId: v.optional(v.string()),
      },
      async (ctx, { sessionToken, expires, userId }) => {
        const session = await findByIndex(ctx, "sessions", "by_session_token", { sessionToken });
        if (session === null) return null;
        await ctx.db.patch(session._id, {
          ...(expires === undefined ? {} : { expires }),
          ...(userId === undefined ? {} : { userId: await requireUserId(ctx, userId) }),
        });
        return toWire(await ctx.db.get(session._id) as Doc);
      },
    ),

    deleteSession: adapterMutation({ sessionToken: v.string() }, async (ctx, { sessionToken }) => {
      const session = await findByIndex(ctx, "sessions", "by_session_token", { sessionToken });
      if (session === null) return null;
      await ctx.db.delete(session._id);
      return toWire(session);
    }),

    createVerificationToken: adapterMutation(
      { verificationToken: v.object(verificationTokenFields) },
      async (ctx, { verificationToken }) => {
        const id = await ctx.db.insert("verificationTokens", verificationToken);
        const { id: _id, ...token } = toWire(await ctx.db.get(id) as Doc);
        return token;
      },
    ),

    // Find and delete run in one serializable transaction: a token works exactly once,
    // even when two requests race to use it.
    useVerificationToken: adapterMutation(
      { identifier: v.string(), token: v.string() },
      async (ctx, { identifier, token }) => {
        const found = await findByIndex(ctx, "verificationTokens", "by_identifier_token", {
          identifier,
          token,
        });
        if (found === null) return null;
        await ctx.db.delete(found._id);
        const { id: _id, ...used } = toWire(found);
        return used;
      },
    ),

    createAuthenticator: adapterMutation(
      { authenticator: v.object({ ...authenticatorInputFields, userId: v.string() }) },
      async (ctx, { authenticator }) => {
        const userId = await requireUserId(ctx, authenticator.userId);
        const existing = await findByIndex(ctx, "authenticators", "by_credential_id", {
          credentialID: authenticator.credentialID,
        });
        if (existing !== null) fail(ErrorCode.duplicate, "This credential is already registered.");
        const id = await ctx.db.insert("authenticators", { ...authenticator, userId });
        return toWire(await ctx.db.get(id) as Doc);
      },
    ),

    /** The passkey Auth.js is about to verify; the attempt counts for `limitPasskey`. */
    getAuthenticator: adapterMutation({ credentialID: v.string() }, async (ctx, { credentialID }) => {
      const authenticator = await findByIndex(ctx, "authenticators", "by_credential_id", { credentialID });
      if (authenticator !== null && rateLimits.passkeyFailuresPerAccount) {
        await recordPasskeyAttempt(ctx, authenticator.userId as string, rateLimits.passkeyFailuresPerAccount);
      }
      return toWire(authenticator);
    }),

    listAuthenticatorsByUserId: adapterQuery({ userId: v.string() }, async (ctx, { userId }) => {
      const normalized = ctx.db.normalizeId("users", userId);
      if (normalized === null) return [];
      return (await listByUser(ctx, "authenticators", normalized)).map((doc) => toWire(doc));
    }),

    updateAuthenticatorCounter: adapterMutation(
      { credentialID: v.string(), newCounter: v.number() },
      async (ctx, { credentialID, newCounter }) => {
        const authenticator = await findByIndex(ctx, "authenticators", "by_credential_id", {
          credentialID,
        });
        if (authenticator === null) {
          fail(ErrorCode.authenticatorNotFound, "No authenticator with this credential ID.");
        }
        await ctx.db.patch(authenticator._id, { counter: newCounter });
        return toWire(await ctx.db.get(authenticator._id) as Doc);
      },
    ),

    /**
     * Counts a magic-link request against the per-address and per-client limits, in one
     * transaction: `{ ok: true }`, or `{ ok: false, limit, retryAfterMs }` with nothing counted.
     */
    limitMagicLink: adapterMutation(
      { address: v.string(), client: v.optional(v.string()) },
      async (ctx, { address, client }) => chargeRateLimits(ctx, magicLinkCharges(rateLimits, address, client)),
    ),

    /**
     * At a verified passkey sign-in: `{ ok: false, limit, retryAfterMs }` while the account's failed
     * attempts before it reach `passkeyFailuresPerAccount` in their window, else `{ ok: true }`
     * and the count ends.
     */
    limitPasskey: adapterMutation({ userId: v.string() }, async (ctx, { userId }) =>
      rateLimits.passkeyFailuresPerAccount ? passkeyVerdict(ctx, userId, rateLimits.passkeyFailuresPerAccount) : { ok: true as const },
    ),

    /**
     * Deletes expired sessions, verification tokens and rate-limit windows, a bounded batch per
     * table per transaction, and reschedules itself while more remain. Run it
     * from `convex/crons.ts` with `scheduleAuthCleanup(crons)`. Internal: only
     * the deployment (crons, scheduler, admin) can call it, so it takes no secret.
     */
    [CLEANUP_MUTATION]: internalMutationGeneric({
      args: { batchSize: v.optional(v.number()) },
      handler: async (ctx: MutationCtx, { batchSize = cleanupBatchSize }) => {
        if (!Number.isInteger(batchSize) || batchSize < 1) {
          throw new ConvexError("batchSize must be a positive integer.");
        }
        const now = Date.now();
        let deleted = 0;
        let more = false;
        for (const table of ["sessions", "verificationTokens", "authRateLimits"]) {
          const expired = await ctx.db
            .query(table)
            .withIndex("by_expires", (q) => q.lt("expires", now))
            .take(batchSize) as Doc[];
          for (const doc of expired) await ctx.db.delete(doc._id);
          deleted += expired.length;
          more ||= expired.length === batchSize;
        }
        if (more) await ctx.scheduler.runAfter(0, cleanupReference, { batchSize });
        return { deleted, rescheduled: more };
      },
    }),
  } as const;
}
