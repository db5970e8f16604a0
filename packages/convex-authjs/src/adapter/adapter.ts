import type {
  Adapter,
  AdapterAccount,
  AdapterAuthenticator,
  AdapterSession,
  AdapterUser,
  VerificationToken,
} from "@auth/core/adapters";
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference, type FunctionReference } from "convex/server";
import { MissingEnvironmentVariableError } from "../shared/errors.js";
import {
  DEFAULT_FUNCTIONS_MODULE,
  Env,
  type AdapterMutationName,
  type AdapterQueryName,
} from "../shared/protocol.js";
import { adapterErrorFrom } from "./errors.js";
import { QueryBatcher } from "./queryBatcher.js";

/**
 * What the adapter needs from a Convex client: `ConvexHttpClient`, a
 * `convex-test` instance and `fetchQuery`/`fetchMutation` wrappers all fit.
 */
export interface ConvexFunctionCaller {
  query(reference: FunctionReference<"query">, args: Record<string, unknown>): Promise<unknown>;
  mutation(reference: FunctionReference<"mutation">, args: Record<string, unknown>): Promise<unknown>;
}

export interface ConvexAdapterOptions {
  /** The deployment URL. Default: `NEXT_PUBLIC_CONVEX_URL`, read at each call. */
  url?: string;
  /** The shared secret. Default: `CONVEX_AUTH_ADAPTER_SECRET`, read at each call. */
  secret?: string;
  /** The module exporting `defineAuthAdapter()`'s functions. Default `"authAdapter"`. */
  functionsModule?: string;
  /**
   * Calls the Convex functions. Default: mutations through a `ConvexHttpClient` for `url`,
   * queries made in the same turn of the event loop sent together as one `POST /api/query_batch`.
   * Inject one to use another transport or to test against `convex-test`.
   */
  caller?: ConvexFunctionCaller;
}

type AccountKey = Pick<AdapterAccount, "provider" | "providerAccountId">;

/** Auth.js's `Adapter`, every method present and returning a promise. */
export interface ConvexAdapterMethods extends Required<Adapter> {
  createUser(user: AdapterUser): Promise<AdapterUser>;
  getUser(id: string): Promise<AdapterUser | null>;
  getUserByEmail(email: string): Promise<AdapterUser | null>;
  getUserByAccount(account: AccountKey): Promise<AdapterUser | null>;
  /** Resolves null for an unknown id, like every lookup (Auth.js's type omits that case). */
  updateUser(user: Partial<AdapterUser> & Pick<AdapterUser, "id">): Promise<AdapterUser>;
  deleteUser(userId: string): Promise<AdapterUser | null>;
  linkAccount(account: AdapterAccount): Promise<AdapterAccount>;
  unlinkAccount(account: AccountKey): Promise<AdapterAccount | undefined>;
  getAccount(providerAccountId: string, provider: string): Promise<AdapterAccount | null>;
  createSession(session: AdapterSession): Promise<AdapterSession>;
  getSessionAndUser(sessionToken: string): Promise<{ session: AdapterSession; user: AdapterUser } | null>;
  updateSession(
    session: Partial<AdapterSession> & Pick<AdapterSession, "sessionToken">,
  ): Promise<AdapterSession | null>;
  deleteSession(sessionToken: string): Promise<AdapterSession | null>;
  createVerificationToken(token: VerificationToken): Promise<VerificationToken>;
  useVerificationToken(params: { identifier: string; token: string }): Promise<VerificationToken | null>;
  createAuthenticator(authenticator: AdapterAuthenticator): Promise<AdapterAuthenticator>;
  getAuthenticator(credentialID: string): Promise<AdapterAuthenticator | null>;
  listAuthenticatorsByUserId(userId: string): Promise<AdapterAuthenticator[]>;
  updateAuthenticatorCounter(credentialID: string, newCounter: number): Promise<AdapterAuthenticator>;
  /**
   * Not an Auth.js method: counts a magic-link request against the deployment's sign-in rate
   * limits (`defineAuthAdapter({ rateLimits })`). Used by `limitSignIns`.
   */
  limitMagicLink(request: { address: string; client?: string }): Promise<SignInVerdict>;
  /**
   * Not an Auth.js method: at a verified passkey sign-in, refused while the account's failed
   * attempts before it reach the limit; otherwise their count ends. Used by `limitSignIns`.
   */
  limitPasskey(request: { userId: string }): Promise<SignInVerdict>;
}

/** A sign-in limit's answer: allowed, or refused by the named limit until `retryAfterMs` from now. */
export type SignInVerdict = { ok: true } | { ok: false; limit: string; retryAfterMs: number };

type Wire = Record<string, unknown> & { id: string };

// Optional user fields: absent in Convex, `null` in Auth.js's user model.
const NULLABLE_USER_FIELDS = ["name", "image"];
// Optional account fields. An account reads back with exactly the fields stored: Auth.js types them
// optional, and its adapter suite checks that the stored record contains the adapter's answer.
const OPTIONAL_ACCOUNT_FIELDS = [
  "refresh_token",
  "access_token",
  "expires_at",
  "token_type",
  "scope",
  "id_token",
  "session_state",
];
const ACCOUNT_FIELDS = ["userId", "type", "provider", "providerAccountId", ...OPTIONAL_ACCOUNT_FIELDS];

/** Drops `null` and `undefined` values: Convex stores "no value" as an absent field. */
function withoutEmpty(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record).filter(([, value]) => value !== null && value !== undefined),
  );
}

function withNulls<T extends Record<string, unknown>>(record: T, fields: string[]): T {
  const result: Record<string, unknown> = { ...record };
  for (const field of fields) result[field] ??= null;
  return result as T;
}

const millis = (date: Date | string | number) => new Date(date).getTime();

function userToWire(user: Partial<AdapterUser>): Record<string, unknown> {
  const { id: _ignored, emailVerified, ...fields } = user;
  return withoutEmpty({ ...fields, emailVerified: emailVerified && millis(emailVerified) });
}

function userFromWire(wire: Wire): AdapterUser {
  const { emailVerified, ...fields } = withNulls(wire, NULLABLE_USER_FIELDS);
  return {
    ...fields,
    emailVerified: typeof emailVerified === "number" ? new Date(emailVerified) : null,
  } as AdapterUser;
}

function accountToWire(account: AdapterAccount): Record<string, unknown> {
  const known: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(withoutEmpty(account))) {
    (ACCOUNT_FIELDS.includes(field) ? known : extra)[field] = value;
  }
  return Object.keys(extra).length === 0 ? known : { ...known, extra };
}

function accountFromWire(wire: Wire): AdapterAccount {
  const { extra, ...fields } = wire;
  return { ...(extra as object | undefined), ...fields } as unknown as AdapterAccount;
}

function sessionFromWire(wire: Wire): AdapterSession {
  return { ...wire, expires: new Date(wire.expires as number) } as unknown as AdapterSession;
}

function verificationTokenFromWire(wire: Record<string, unknown>): VerificationToken {
  return { ...wire, expires: new Date(wire.expires as number) } as VerificationToken;
}

function authenticatorFromWire(wire: Wire): AdapterAuthenticator {
  return withNulls(wire, ["transports"]) as unknown as AdapterAuthenticator;
}

function mapNullable<T>(wire: unknown, convert: (wire: Wire) => T): T | null {
  return wire === null || wire === undefined ? null : convert(wire as Wire);
}

function defaultCaller(url: string): ConvexFunctionCaller {
  // Next.js patches fetch and may cache responses; adapter reads must always be fresh.
  const freshFetch: typeof fetch = (input, init) => fetch(input, { ...init, cache: "no-store" });
  const client = new ConvexHttpClient(url, { logger: false, fetch: freshFetch });
  // Concurrent lookups (many requests checking their sessions) share one request.
  const queries = new QueryBatcher({ url, fetch: freshFetch });
  return {
    query: (reference, args) => queries.query(reference, args),
    // Skip the client's mutation queue: it would serialize every sign-in on the server.
    mutation: (reference, args) => client.mutation(reference, args, { skipQueue: true }),
  };
}

/**
 * The Auth.js adapter backed by the functions of `defineAuthAdapter()` on a
 * Convex deployment. Settings are read when a method is called, so a missing
 * variable fails that call (closed, naming the variable), not the import.
 */
export function ConvexAdapter(options: ConvexAdapterOptions = {}): ConvexAdapterMethods {
  const functionsModule = options.functionsModule ?? DEFAULT_FUNCTIONS_MODULE;
  let cachedClient: { url: string; caller: ConvexFunctionCaller } | undefined;

  function required(value: string | undefined, variable: string, hint: string): string {
    if (value === undefined || value === "") throw new MissingEnvironmentVariableError(variable, hint);
    return value;
  }

  function connection() {
    const secret = required(
      options.secret ?? process.env[Env.adapterSecret],
      Env.adapterSecret,
      "set it (or pass { secret }) to the same value as on the Convex deployment.",
    );
    if (options.caller) return { secret, caller: options.caller };
    const url = required(
      options.url ?? process.env[Env.convexUrl],
      Env.convexUrl,
      "set it (or pass { url }) to the Convex deployment URL.",
    );
    if (cachedClient?.url !== url) cachedClient = { url, caller: defaultCaller(url) };
    return { secret, caller: cachedClient.caller };
  }

  async function query(name: AdapterQueryName, args: Record<string, unknown>): Promise<unknown> {
    const { secret, caller } = connection();
    try {
      return await caller.query(makeFunctionReference<"query">(`${functionsModule}:${name}`), {
        ...args,
        secret,
      });
    } catch (error) {
      throw adapterErrorFrom(error);
    }
  }

  async function mutation(name: AdapterMutationName, args: Record<string, unknown>): Promise<unknown> {
    const { secret, caller } = connection();
    try {
      return await caller.mutation(
        makeFunctionReference<"mutation">(`${functionsModule}:${name}`),
        { ...args, secret },
      );
    } catch (error) {
      throw adapterErrorFrom(error);
    }
  }

  return {
    async createUser(user) {
      return userFromWire((await mutation("createUser", { user: userToWire(user) })) as Wire);
    },
    async getUser(id) {
      return mapNullable(await query("getUser", { id }), userFromWire);
    },
    async getUserByEmail(email) {
      return mapNullable(await query("getUserByEmail", { email }), userFromWire);
    },
    async getUserByAccount({ provider, providerAccountId }) {
      return mapNullable(
        await query("getUserByAccount", { provider, providerAccountId }),
        userFromWire,
      );
    },
    async updateUser({ id, ...changes }) {
      const set: Record<string, unknown> = {};
      const unset: string[] = [];
      for (const [field, value] of Object.entries(changes)) {
        if (value === null) unset.push(field);
        else if (value !== undefined) set[field] = value instanceof Date ? value.getTime() : value;
      }
      const updated = await mutation("updateUser", { id, set, unset });
      // Auth.js types this non-null, but an unknown id gets null like every other lookup.
      return mapNullable(updated, userFromWire) as AdapterUser;
    },
    async deleteUser(id) {
      return mapNullable(await mutation("deleteUser", { id }), userFromWire);
    },
    async linkAccount(account) {
      return accountFromWire(
        (await mutation("linkAccount", { account: accountToWire(account) })) as Wire,
      );
    },
    async unlinkAccount({ provider, providerAccountId }) {
      const removed = await mutation("unlinkAccount", { provider, providerAccountId });
      return mapNullable(removed, accountFromWire) ?? undefined;
    },
    async getAccount(providerAccountId, provider) {
      return mapNullable(await query("getAccount", { provider, providerAccountId }), accountFromWire);
    },
    async createSession({ sessionToken, userId, expires }) {
      const created = await mutation("createSession", {
        session: { sessionToken, userId, expires: millis(expires) },
      });
      return sessionFromWire(created as Wire);
    },
    async getSessionAndUser(sessionToken) {
      const found = (await query("getSessionAndUser", { sessionToken })) as {
        session: Wire;
        user: Wire;
      } | null;
      return found && { session: sessionFromWire(found.session), user: userFromWire(found.user) };
    },
    async updateSession({ sessionToken, expires, userId }) {
      const updated = await mutation("updateSession", {
        sessionToken,
        ...(expires ? { expires: millis(expires) } : {}),
        ...(userId ? { userId } : {}),
      });
      return mapNullable(updated, sessionFromWire);
    },
    async deleteSession(sessionToken) {
      return mapNullable(await mutation("deleteSession", { sessionToken }), sessionFromWire);
    },
    async createVerificationToken({ identifier, token, expires }) {
      const created = await mutation("createVerificationToken", {
        verificationToken: { identifier, token, expires: millis(expires) },
      });
      return verificationTokenFromWire(created as Wire);
    },
    async useVerificationToken({ identifier, token }) {
      return mapNullable(
        await mutation("useVerificationToken", { identifier, token }),
        verificationTokenFromWire,
      );
    },
    async createAuthenticator(authenticator) {
      const created = await mutation("createAuthenticator", {
        authenticator: withoutEmpty({ ...authenticator }),
      });
      return authenticatorFromWire(created as Wire);
    },
    async getAuthenticator(credentialID) {
      // Auth.js asks only when it is about to verify a passkey: the Convex side counts the attempt (limitPasskey).
      return mapNullable(await mutation("getAuthenticator", { credentialID }), authenticatorFromWire);
    },
    async listAuthenticatorsByUserId(userId) {
      const listed = (await query("listAuthenticatorsByUserId", { userId })) as Wire[];
      return listed.map(authenticatorFromWire);
    },
    async updateAuthenticatorCounter(credentialID, newCounter) {
      const updated = await mutation("updateAuthenticatorCounter", { credentialID, newCounter });
      return authenticatorFromWire(updated as Wire);
    },
    async limitMagicLink({ address, client }) {
      return (await mutation("limitMagicLink", { address, ...(client ? { client } : {}) })) as SignInVerdict;
    },
    async limitPasskey({ userId }) {
      return (await mutation("limitPasskey", { userId })) as SignInVerdict;
    },
  };
}
