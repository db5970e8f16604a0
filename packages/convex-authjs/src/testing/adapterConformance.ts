/**
 * The adapter conformance suite: every Auth.js `Adapter` method and the edges
 * Auth.js relies on. It is a function so that it can run against any backend
 * serving `defineAuthAdapter()`: `convex-test` today, a real local Convex
 * backend (`convex-local`) too. Tests use fresh random keys and filter table
 * reads by them, so they also hold on a backend shared between tests.
 *
 * @example
 * ```ts
 * runAdapterConformance("convex-test", () => fixtureConformanceTarget());
 * ```
 */
import type { AdapterAccount, AdapterUser } from "@auth/core/adapters";
import { randomUUID } from "node:crypto";
import { beforeEach, describe, expect, test } from "vitest";
import {
  type ConvexAdapterMethods,
  AuthenticatorNotFoundError,
  DuplicateRecordError,
  UserNotFoundError,
} from "../adapter/index.js";
import type { AuthTableName } from "../convex/index.js";

export interface ConformanceTarget {
  adapter: ConvexAdapterMethods;
  /** Reads a table's documents as stored, bypassing the adapter. */
  readTable(table: AuthTableName): Promise<Record<string, unknown>[]>;
}

const ADAPTER_METHODS = [
  "createUser",
  "getUser",
  "getUserByEmail",
  "getUserByAccount",
  "updateUser",
  "deleteUser",
  "linkAccount",
  "unlinkAccount",
  "getAccount",
  "createSession",
  "getSessionAndUser",
  "updateSession",
  "deleteSession",
  "createVerificationToken",
  "useVerificationToken",
  "createAuthenticator",
  "getAuthenticator",
  "listAuthenticatorsByUserId",
  "updateAuthenticatorCounter",
] as const;

// Whole milliseconds: Convex stores dates as epoch milliseconds.
const inDays = (days: number) => new Date(Math.floor(Date.now() / 1000) * 1000 + days * 86_400_000);
const MALFORMED_IDS = ["", "not-a-convex-id", "invalid-user-id", "🙂", "x".repeat(200)];

export function runAdapterConformance(
  name: string,
  setup: () => ConformanceTarget | Promise<ConformanceTarget>,
): void {
  describe(`Auth.js adapter conformance (${name})`, () => {
    let adapter: ConvexAdapterMethods;
    let readTable: ConformanceTarget["readTable"];

    beforeEach(async () => {
      ({ adapter, readTable } = await setup());
    });

    const stored = async (table: AuthTableName, field: string, value: unknown) =>
      (await readTable(table)).filter((doc) => doc[field] === value);

    const newUser = (overrides: Partial<AdapterUser> = {}) =>
      adapter.createUser({
        id: randomUUID(),
        email: `${randomUUID()}@example.com`,
        name: "Fill Murray",
        image: "https://example.com/fill.png",
        emailVerified: inDays(-1),
        ...overrides,
      });

    const oauthAccount = (userId: string): AdapterAccount => ({
      userId,
      type: "oauth",
      provider: "github",
      providerAccountId: randomUUID(),
      access_token: randomUUID(),
      refresh_token: randomUUID(),
      expires_at: Math.floor(inDays(30).getTime() / 1000),
      token_type: "bearer",
      scope: "read:user",
      id_token: randomUUID(),
      session_state: randomUUID(),
    });

    const webauthnAuthenticator = (userId: string) => ({
      userId,
      credentialID: randomUUID(),
      providerAccountId: randomUUID(),
      credentialPublicKey: "pQECAyYgASFYIA",
      counter: 0,
      credentialDeviceType: "singleDevice",
      credentialBackedUp: false,
      transports: "usb,nfc",
    });

    test("implements every Adapter method", () => {
      for (const method of ADAPTER_METHODS) expect(adapter[method]).toBeTypeOf("function");
    });

    describe("users", () => {
      test("createUser returns an Auth.js user and ignores the incoming id", async () => {
        const input = {
          id: randomUUID(),
          email: `${randomUUID()}@example.com`,
          name: "Ada",
          image: "https://example.com/ada.png",
          emailVerified: inDays(-2),
        };
        const user = await adapter.createUser(input);
        expect(user).toEqual({ ...input, id: user.id });
        expect(user.id).not.toBe(input.id);
        expect(user.emailVerified).toBeInstanceOf(Date);
        expect(Object.keys(user).sort()).toEqual(["email", "emailVerified", "id", "image", "name"]);
      });

      test("stores dates as milliseconds and null fields as absent, and maps them back", async () => {
        const user = await newUser({ name: null, image: null, emailVerified: null });
        const [doc] = await stored("users", "email", user.email);
        expect(doc).not.toHaveProperty("name");
        expect(doc).not.toHaveProperty("image");
        expect(doc).not.toHaveProperty("emailVerified");
        expect(user).toEqual({ id: user.id, email: user.email, name: null, image: null, emailVerified: null });
        expect(await adapter.getUser(user.id)).toEqual(user);

        const verified = await newUser({ emailVerified: new Date(1_700_000_000_123) });
        const [verifiedDoc] = await stored("users", "email", verified.email);
        expect(verifiedDoc.emailVerified).toBe(1_700_000_000_123);
        expect((await adapter.getUser(verified.id))?.emailVerified).toEqual(new Date(1_700_000_000_123));
      });

      test("getUser finds a user, and returns null for unknown and malformed ids", async () => {
        const user = await newUser();
        expect(await adapter.getUser(user.id)).toEqual(user);
        for (const id of MALFORMED_IDS) expect(await adapter.getUser(id)).toBeNull();

        const session = await adapter.createSession({
          sessionToken: randomUUID(),
          userId: user.id,
          expires: inDays(1),
        });
        const [sessionDoc] = await stored("sessions", "sessionToken", session.sessionToken);
        // A well-formed id of another table is not a user.
        expect(await adapter.getUser(sessionDoc._id as string)).toBeNull();

        await adapter.deleteUser(user.id);
        expect(await adapter.getUser(user.id)).toBeNull();
      });

      test("results carry no Convex system fields", async () => {
        const user = await newUser();
        for (const result of [user, await adapter.getUser(user.id), await adapter.getUserByEmail(user.email)]) {
          expect(result).not.toHaveProperty("_id");
          expect(result).not.toHaveProperty("_creationTime");
        }
      });

      test("getUserByEmail finds by email and returns null for an unknown one", async () => {
        const user = await newUser();
        expect(await adapter.getUserByEmail(user.email)).toEqual(user);
        expect(await adapter.getUserByEmail(`${randomUUID()}@example.com`)).toBeNull();
      });

      test("createUser refuses a second user with the same email", async () => {
        const user = await newUser();
        await expect(newUser({ email: user.email })).rejects.toBeInstanceOf(DuplicateRecordError);
        expect(await stored("users", "email", user.email)).toHaveLength(1);
      });

      test("updateUser returns the updated user, and null clears a field", async () => {
        const user = await newUser();
        const verifiedAt = new Date(1_700_000_999_000);
        const updated = await adapter.updateUser({
          id: user.id,
          name: "Updated Name",
          image: null,
          emailVerified: verifiedAt,
        });
        expect(updated).toEqual({ ...user, name: "Updated Name", image: null, emailVerified: verifiedAt });
        expect(await adapter.getUser(user.id)).toEqual(updated);
        const [doc] = await stored("users", "email", user.email);
        expect(doc).not.toHaveProperty("image");
        expect(doc.emailVerified).toBe(verifiedAt.getTime());
      });

      test("updateUser leaves fields it is not given unchanged", async () => {
        const user = await newUser();
        expect(await adapter.updateUser({ id: user.id })).toEqual(user);
      });

      test("updateUser returns null for unknown and malformed ids", async () => {
        for (const id of MALFORMED_IDS) {
          expect(await adapter.updateUser({ id, name: "Nobody" })).toBeNull();
        }
      });
    });

    describe("accounts", () => {
      test("linkAccount stores the account; getUserByAccount and getAccount find it", async () => {
        const user = await newUser();
        const account = oauthAccount(user.id);
        expect(await adapter.linkAccount(account)).toMatchObject(account);
        expect(await adapter.getUserByAccount(account)).toEqual(user);
        const found = await adapter.getAccount(account.providerAccountId, account.provider);
        expect(found).toEqual({ ...account, id: expect.any(String) });
        expect(found).not.toHaveProperty("_id");
      });

      test("keeps provider-specific token fields beyond the Auth.js model", async () => {
        const user = await newUser();
        const account = {
          ...oauthAccount(user.id),
          refresh_token_expires_in: 15_897_600,
          not_before: 1_700_000_000,
        };
        await adapter.linkAccount(account);
        expect(await adapter.getAccount(account.providerAccountId, "github")).toMatchObject(account);
      });

      test("null account fields are stored absent and read back absent", async () => {
        const user = await newUser();
        const account: AdapterAccount = {
          userId: user.id,
          type: "oidc",
          provider: "google",
          providerAccountId: randomUUID(),
          access_token: randomUUID(),
          refresh_token: null as unknown as undefined,
        };
        await adapter.linkAccount(account);
        const [doc] = await stored("accounts", "providerAccountId", account.providerAccountId);
        expect(doc).not.toHaveProperty("refresh_token");
        const found = await adapter.getAccount(account.providerAccountId, "google");
        // Exactly what is stored (Auth.js's own adapter suite checks the stored record contains it).
        expect(found).toEqual({ id: expect.any(String), userId: user.id, type: "oidc", provider: "google", providerAccountId: account.providerAccountId, access_token: account.access_token });
      });

      test("lookups of unknown accounts return null", async () => {
        const unknown = { provider: "invalid-provider", providerAccountId: "invalid-provider-account-id" };
        expect(await adapter.getUserByAccount(unknown)).toBeNull();
        expect(await adapter.getAccount(unknown.providerAccountId, unknown.provider)).toBeNull();
      });

      test("getAccount matches on both provider and providerAccountId", async () => {
        const user = await newUser();
        const account = oauthAccount(user.id);
        await adapter.linkAccount(account);
        expect(await adapter.getAccount(account.providerAccountId, "gitlab")).toBeNull();
      });

      test("linkAccount refuses an unknown user and an already linked account", async () => {
        const user = await newUser();
        const account = oauthAccount(user.id);
        await adapter.linkAccount(account);
        await expect(adapter.linkAccount({ ...account })).rejects.toBeInstanceOf(DuplicateRecordError);
        await expect(adapter.linkAccount(oauthAccount("invalid-user-id"))).rejects.toBeInstanceOf(
          UserNotFoundError,
        );
        await adapter.deleteUser(user.id);
        await expect(adapter.linkAccount(oauthAccount(user.id))).rejects.toBeInstanceOf(UserNotFoundError);
      });

      test("unlinkAccount removes the account and returns it; unknown ones give undefined", async () => {
        const user = await newUser();
        const account = oauthAccount(user.id);
        await adapter.linkAccount(account);
        expect(await adapter.unlinkAccount(account)).toMatchObject(account);
        expect(await stored("accounts", "providerAccountId", account.providerAccountId)).toEqual([]);
        expect(await adapter.getUserByAccount(account)).toBeNull();
        expect(await adapter.unlinkAccount(account)).toBeUndefined();
      });
    });

    describe("sessions", () => {
      test("createSession returns the session; getSessionAndUser returns it with its user", async () => {
        const user = await newUser();
        const input = { sessionToken: randomUUID(), userId: user.id, expires: inDays(7) };
        const session = await adapter.createSession(input);
        expect(session).toMatchObject(input);
        expect(session.expires).toBeInstanceOf(Date);
        const [doc] = await stored("sessions", "sessionToken", input.sessionToken);
        expect(doc.expires).toBe(input.expires.getTime());

        const found = await adapter.getSessionAndUser(input.sessionToken);
        expect(found).toEqual({ session: { ...input, id: expect.any(String) }, user });
        expect(found?.session).not.toHaveProperty("_creationTime");
      });

      test("getSessionAndUser returns null for an unknown token", async () => {
        expect(await adapter.getSessionAndUser("invalid-token")).toBeNull();
        expect(await adapter.getSessionAndUser("")).toBeNull();
      });

      test("getSessionAndUser returns an expired session: Auth.js checks expiry itself", async () => {
        const user = await newUser();
        const expired = { sessionToken: randomUUID(), userId: user.id, expires: inDays(-1) };
        await adapter.createSession(expired);
        expect((await adapter.getSessionAndUser(expired.sessionToken))?.session.expires).toEqual(
          expired.expires,
        );
      });

      test("createSession refuses unknown and malformed user ids", async () => {
        const user = await newUser();
        await adapter.deleteUser(user.id);
        for (const userId of [user.id, ...MALFORMED_IDS]) {
          await expect(
            adapter.createSession({ sessionToken: randomUUID(), userId, expires: inDays(1) }),
          ).rejects.toBeInstanceOf(UserNotFoundError);
        }
      });

      test("updateSession returns the updated session", async () => {
        const user = await newUser();
        const session = await adapter.createSession({
          sessionToken: randomUUID(),
          userId: user.id,
          expires: inDays(7),
        });
        const expires = inDays(30);
        const updated = await adapter.updateSession({ sessionToken: session.sessionToken, expires });
        expect(updated).toEqual({ ...session, expires });
        expect((await adapter.getSessionAndUser(session.sessionToken))?.session.expires).toEqual(expires);
      });

      test("updateSession returns null for an unknown token", async () => {
        expect(await adapter.updateSession({ sessionToken: "invalid-token", expires: inDays(1) })).toBeNull();
      });

      test("deleteSession removes the session and returns it; unknown ones give null", async () => {
        const user = await newUser();
        const session = await adapter.createSession({
          sessionToken: randomUUID(),
          userId: user.id,
          expires: inDays(7),
        });
        expect(await adapter.deleteSession(session.sessionToken)).toEqual(session);
        expect(await stored("sessions", "sessionToken", session.sessionToken)).toEqual([]);
        expect(await adapter.getSessionAndUser(session.sessionToken)).toBeNull();
        expect(await adapter.deleteSession(session.sessionToken)).toBeNull();
      });
    });

    describe("verification tokens", () => {
      const newToken = (expires = inDays(1)) => ({
        identifier: `${randomUUID()}@example.com`,
        token: randomUUID(),
        expires,
      });

      test("createVerificationToken stores the token and returns it", async () => {
        const token = newToken();
        expect(await adapter.createVerificationToken(token)).toEqual(token);
        const [doc] = await stored("verificationTokens", "token", token.token);
        expect(doc).toMatchObject({ ...token, expires: token.expires.getTime() });
      });

      test("useVerificationToken returns the token once, then null", async () => {
        const token = newToken();
        await adapter.createVerificationToken(token);
        const used = await adapter.useVerificationToken(token);
        expect(used).toEqual(token);
        expect(used?.expires).toBeInstanceOf(Date);
        expect(await adapter.useVerificationToken(token)).toBeNull();
        expect(await stored("verificationTokens", "token", token.token)).toEqual([]);
      });

      test("useVerificationToken needs both identifier and token to match", async () => {
        const token = newToken();
        await adapter.createVerificationToken(token);
        expect(await adapter.useVerificationToken({ ...token, identifier: "other@example.com" })).toBeNull();
        expect(await adapter.useVerificationToken({ ...token, token: randomUUID() })).toBeNull();
        expect(await adapter.useVerificationToken(token)).toEqual(token);
      });

      test("concurrent uses of one token: exactly one succeeds", async () => {
        const token = newToken();
        await adapter.createVerificationToken(token);
        const results = await Promise.all(
          Array.from({ length: 5 }, () => adapter.useVerificationToken(token)),
        );
        expect(results.filter((result) => result !== null)).toEqual([token]);
      });

      test("an expired token is still returned once: Auth.js checks expiry itself", async () => {
        const token = newToken(inDays(-1));
        await adapter.createVerificationToken(token);
        expect(await adapter.useVerificationToken(token)).toEqual(token);
      });
    });

    describe("authenticators", () => {
      test("createAuthenticator returns it; getAuthenticator and list find it", async () => {
        const user = await newUser();
        const authenticator = webauthnAuthenticator(user.id);
        const created = await adapter.createAuthenticator(authenticator);
        expect(created).toMatchObject(authenticator);
        expect(created).not.toHaveProperty("_id");
        expect(await adapter.getAuthenticator(authenticator.credentialID)).toEqual(created);
        const second = await adapter.createAuthenticator({
          ...webauthnAuthenticator(user.id),
          transports: null,
        });
        expect(second.transports).toBeNull();
        const listed = await adapter.listAuthenticatorsByUserId(user.id);
        expect(listed.map((a) => a.credentialID).sort()).toEqual(
          [authenticator.credentialID, second.credentialID].sort(),
        );
      });

      test("unknown credentials and users give null and []", async () => {
        expect(await adapter.getAuthenticator("unknown-credential")).toBeNull();
        for (const id of MALFORMED_IDS) expect(await adapter.listAuthenticatorsByUserId(id)).toEqual([]);
        const user = await newUser();
        expect(await adapter.listAuthenticatorsByUserId(user.id)).toEqual([]);
      });

      test("updateAuthenticatorCounter updates and returns the authenticator", async () => {
        const user = await newUser();
        const authenticator = webauthnAuthenticator(user.id);
        await adapter.createAuthenticator(authenticator);
        const updated = await adapter.updateAuthenticatorCounter(authenticator.credentialID, 42);
        expect(updated).toMatchObject({ ...authenticator, counter: 42 });
        expect((await adapter.getAuthenticator(authenticator.credentialID))?.counter).toBe(42);
      });

      test("updateAuthenticatorCounter rejects an unknown credential", async () => {
        await expect(adapter.updateAuthenticatorCounter("unknown-credential", 1)).rejects.toBeInstanceOf(
          AuthenticatorNotFoundError,
        );
      });

      test("createAuthenticator refuses an unknown user and a duplicate credential", async () => {
        const user = await newUser();
        const authenticator = webauthnAuthenticator(user.id);
        await adapter.createAuthenticator(authenticator);
        await expect(adapter.createAuthenticator(authenticator)).rejects.toBeInstanceOf(DuplicateRecordError);
        await expect(
          adapter.createAuthenticator(webauthnAuthenticator("invalid-user-id")),
        ).rejects.toBeInstanceOf(UserNotFoundError);
      });
    });

    describe("deleteUser", () => {
      test("removes the user with their sessions, accounts and authenticators only", async () => {
        const user = await newUser();
        const other = await newUser();
        const populate = async (userId: string) => {
          const session = await adapter.createSession({
            sessionToken: randomUUID(),
            userId,
            expires: inDays(7),
          });
          const account = oauthAccount(userId);
          await adapter.linkAccount(account);
          const authenticator = webauthnAuthenticator(userId);
          await adapter.createAuthenticator(authenticator);
          return { session, account, authenticator };
        };
        const mine = await populate(user.id);
        await populate(user.id);
        const theirs = await populate(other.id);

        expect(await adapter.deleteUser(user.id)).toEqual(user);

        expect(await adapter.getUser(user.id)).toBeNull();
        for (const table of ["sessions", "accounts", "authenticators"] as const) {
          expect(await stored(table, "userId", user.id)).toEqual([]);
          expect(await stored(table, "userId", other.id)).toHaveLength(1);
        }
        expect(await stored("users", "email", user.email)).toEqual([]);
        expect(await adapter.getSessionAndUser(mine.session.sessionToken)).toBeNull();
        expect(await adapter.getAccount(mine.account.providerAccountId, "github")).toBeNull();
        expect(await adapter.getAuthenticator(mine.authenticator.credentialID)).toBeNull();
        expect(await adapter.getSessionAndUser(theirs.session.sessionToken)).not.toBeNull();
      });

      test("returns null for unknown and malformed ids", async () => {
        const user = await newUser();
        await adapter.deleteUser(user.id);
        for (const id of [user.id, ...MALFORMED_IDS]) expect(await adapter.deleteUser(id)).toBeNull();
      });
    });
  });
}
