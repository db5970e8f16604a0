import { cronJobs, makeFunctionReference } from "convex/server";
import { afterEach, describe, expect, test, vi } from "vitest";
import { startFixtureApp } from "../testing/convexTestApp.js";
import {
  ADAPTER_MUTATIONS,
  ADAPTER_QUERIES,
  AuthConfigError,
  authJsProvider,
  authJsProviders,
  defineAuthAdapter,
  defineAuthConfig,
  getAuthUserId,
  scheduleAuthCleanup,
} from "./index.js";

const PUBLIC_RSA_JWK = { kty: "RSA", n: "sXch", e: "AQAB", kid: "k1", alg: "RS256", use: "sig" };

describe("addAuthRoutes", () => {
  test("serves the JWKS with JSON, cache and CORS headers", async () => {
    vi.stubEnv("JWKS", JSON.stringify({ keys: [PUBLIC_RSA_JWK] }));
    const response = await startFixtureApp().t.fetch("/.well-known/jwks.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("cache-control")).toMatch(/^public, max-age=60\b/);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(await response.json()).toEqual({ keys: [PUBLIC_RSA_JWK] });
  });

  test("never serves private key members, even if JWKS holds a private key", async () => {
    const privateJwk = { ...PUBLIC_RSA_JWK, d: "secret-d", p: "p", q: "q", dp: "dp", dq: "dq", qi: "qi" };
    vi.stubEnv("JWKS", JSON.stringify({ keys: [privateJwk] }));
    const body = await (await startFixtureApp().t.fetch("/.well-known/jwks.json")).text();
    expect(JSON.parse(body)).toEqual({ keys: [PUBLIC_RSA_JWK] });
    expect(body).not.toContain("secret-d");
  });

  test.each([
    ["unset", undefined, /JWKS is not set/],
    ["empty", "", /JWKS is not set/],
    ["not JSON", "{", /not valid JSON/],
    ["without keys", '{"kty":"RSA"}', /must be/],
  ])("answers 500, uncached, when JWKS is %s", async (_label, value, message) => {
    vi.stubEnv("JWKS", value);
    const response = await startFixtureApp().t.fetch("/.well-known/jwks.json");
    expect(response.status).toBe(500);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect((await response.json()).error).toMatch(message);
  });

  test("serves the OpenID configuration with the deployment's site URL as issuer", async () => {
    vi.stubEnv("CONVEX_SITE_URL", "https://happy-otter-123.convex.site/");
    vi.stubEnv("JWKS", JSON.stringify({ keys: [{ ...PUBLIC_RSA_JWK, alg: "ES256" }, PUBLIC_RSA_JWK] }));
    const response = await startFixtureApp().t.fetch("/.well-known/openid-configuration");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(await response.json()).toEqual({
      issuer: "https://happy-otter-123.convex.site",
      jwks_uri: "https://happy-otter-123.convex.site/.well-known/jwks.json",
      authorization_endpoint: "https://happy-otter-123.convex.site/oauth/authorize",
      response_types_supported: ["id_token"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["ES256", "RS256"],
    });
  });

  test("without CONVEX_SITE_URL the issuer is the request's origin", async () => {
    vi.stubEnv("CONVEX_SITE_URL", undefined);
    vi.stubEnv("JWKS", JSON.stringify({ keys: [PUBLIC_RSA_JWK] }));
    const body = await (await startFixtureApp().t.fetch("/.well-known/openid-configuration")).json();
    // convex-test serves HTTP actions on this origin.
    expect(body.issuer).toBe("https://some.convex.site");
  });

  test.each(["/.well-known/jwks.json", "/.well-known/openid-configuration"])(
    "answers CORS preflight on %s",
    async (path) => {
      const response = await startFixtureApp().t.fetch(path, { method: "OPTIONS" });
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-methods")).toBe("GET, OPTIONS");
    },
  );
});

describe("authJsProvider", () => {
  const provider = (algorithm: string, applicationID: string) => ({
    type: "customJwt",
    issuer: "http://127.0.0.1:3211",
    jwks: "http://127.0.0.1:3211/.well-known/jwks.json",
    algorithm,
    applicationID,
  });

  test("defineAuthConfig: a customJwt provider per algorithm for the deployment's own JWKS, then one for tokens of earlier releases", () => {
    vi.stubEnv("CONVEX_SITE_URL", "http://127.0.0.1:3211");
    vi.stubEnv("JWKS", undefined);
    expect(defineAuthConfig()).toEqual({
      providers: [provider("RS256", "convex:RS256"), provider("ES256", "convex:ES256"), provider("RS256", "convex")],
    });
    expect(authJsProviders({ algorithm: "ES256" })).toEqual([
      provider("RS256", "convex:RS256"),
      provider("ES256", "convex:ES256"),
      provider("ES256", "convex"),
    ]);
  });

  test("takes the algorithm from the JWKS, or from the option", () => {
    vi.stubEnv("CONVEX_SITE_URL", "https://a.convex.site");
    vi.stubEnv("JWKS", JSON.stringify({ keys: [{ kty: "EC", alg: "ES256" }] }));
    expect(authJsProvider()).toMatchObject({ algorithm: "ES256" });
    expect(authJsProvider({ algorithm: "RS256" })).toMatchObject({ algorithm: "RS256" });
  });

  test("fails clearly when the site URL is unknown", () => {
    vi.stubEnv("CONVEX_SITE_URL", undefined);
    expect(() => authJsProvider()).toThrow(AuthConfigError);
    expect(() => authJsProvider()).toThrow(/CONVEX_SITE_URL/);
    expect(authJsProvider({ siteUrl: "https://x.example.com/" })).toMatchObject({
      issuer: "https://x.example.com",
    });
  });
});

describe("expired data cleanup", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const cleanup = makeFunctionReference<"mutation">("authAdapter:deleteExpiredAuthData");

  test("deletes expired sessions and tokens in batches, rescheduling until done", async () => {
    vi.useFakeTimers();
    const now = Date.UTC(2025, 5, 1);
    vi.setSystemTime(now);
    const { t, readTable } = startFixtureApp();
    await t.run(async (ctx) => {
      const userId = await ctx.db.insert("users", { email: "a@example.com" });
      for (let i = 0; i < 7; i++) {
        await ctx.db.insert("sessions", { userId, sessionToken: `old-${i}`, expires: now - 1000 - i });
      }
      await ctx.db.insert("sessions", { userId, sessionToken: "live", expires: now + 60_000 });
      for (let i = 0; i < 2; i++) {
        await ctx.db.insert("verificationTokens", { identifier: "a", token: `old-${i}`, expires: now - 1 });
      }
      await ctx.db.insert("verificationTokens", { identifier: "a", token: "live", expires: now + 1 });
      // Rate-limit windows: one ended, one still counting.
      await ctx.db.insert("authRateLimits", { name: "magicLink:address", key: "old", windowStart: now - 7200_000, count: 5, expires: now - 3600_000 });
      await ctx.db.insert("authRateLimits", { name: "magicLink:address", key: "live", windowStart: now, count: 1, expires: now + 3600_000 });
    });

    // The fixture's batch size is 3: a full batch of sessions means more may remain.
    expect(await t.mutation(cleanup, {})).toEqual({ deleted: 6, rescheduled: true });
    expect(await readTable("sessions")).toHaveLength(5);

    await t.finishAllScheduledFunctions(vi.runAllTimers);
    expect((await readTable("sessions")).map((s) => s.sessionToken)).toEqual(["live"]);
    expect((await readTable("verificationTokens")).map((s) => s.token)).toEqual(["live"]);
    expect((await readTable("authRateLimits")).map((s) => s.key)).toEqual(["live"]);
    expect(await readTable("users")).toHaveLength(1);
  });

  test("stops when nothing is left, and refuses a bad batch size", async () => {
    const { t } = startFixtureApp();
    expect(await t.mutation(cleanup, {})).toEqual({ deleted: 0, rescheduled: false });
    await expect(t.mutation(cleanup, { batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(t.mutation(cleanup, { batchSize: 1.5 })).rejects.toThrow(/batchSize/);
  });

  test("scheduleAuthCleanup registers an hourly run of the cleanup mutation", () => {
    const crons = cronJobs();
    scheduleAuthCleanup(crons);
    const jobs = Object.values(crons.crons);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({
      name: "authAdapter:deleteExpiredAuthData",
      schedule: { type: "interval", minutes: 60 },
    });

    const custom = cronJobs();
    scheduleAuthCleanup(custom, { functionsModule: "auth/adapter", intervalMinutes: 15, batchSize: 50 });
    expect(Object.values(custom.crons)[0]).toMatchObject({
      name: "auth/adapter:deleteExpiredAuthData",
      schedule: { minutes: 15 },
    });
  });
});

describe("defineAuthAdapter", () => {
  test("defines public functions for the adapter and an internal cleanup mutation", () => {
    const functions = defineAuthAdapter();
    const { deleteExpiredAuthData, ...adapterFunctions } = functions;
    // The 19 Auth.js methods, limitMagicLink and limitPasskey.
    expect(Object.keys(adapterFunctions).sort()).toEqual([...ADAPTER_QUERIES, ...ADAPTER_MUTATIONS].sort());
    expect(Object.keys(adapterFunctions)).toHaveLength(21);
    for (const fn of Object.values(adapterFunctions)) {
      expect((fn as unknown as { isPublic: boolean }).isPublic).toBe(true);
      // Unvalidated by Convex: its ArgumentValidationError would quote the secret (arguments.ts checks them).
      expect(JSON.parse((fn as unknown as { exportArgs(): string }).exportArgs())).toEqual({ type: "any" });
    }
    expect((deleteExpiredAuthData as unknown as { isInternal: boolean }).isInternal).toBe(true);
  });
});

describe("getAuthUserId", () => {
  async function userWithSession(t: ReturnType<typeof startFixtureApp>["t"], email: string) {
    return await t.run(async (ctx) => {
      const userId = await ctx.db.insert("users", { email });
      const sessionId = await ctx.db.insert("sessions", { userId, sessionToken: `token-${email}`, expires: Date.now() + 60_000 });
      return { userId, sessionId };
    });
  }

  test("is the token's user while the session it names exists, and null once it is deleted", async () => {
    const { t } = startFixtureApp();
    const { userId, sessionId } = await userWithSession(t, "ada@example.com");
    const caller = t.withIdentity({ subject: userId, sid: sessionId });
    expect(await caller.run((ctx) => getAuthUserId(ctx))).toBe(userId);
    await t.run((ctx) => ctx.db.delete(sessionId));
    expect(await caller.run((ctx) => getAuthUserId(ctx))).toBeNull();
  });

  test("is null for another user's session, a malformed session id, or no identity", async () => {
    const { t } = startFixtureApp();
    const ada = await userWithSession(t, "ada@example.com");
    const bob = await userWithSession(t, "bob@example.com");
    expect(await t.withIdentity({ subject: ada.userId, sid: bob.sessionId }).run((ctx) => getAuthUserId(ctx))).toBeNull();
    expect(await t.withIdentity({ subject: ada.userId, sid: "not-an-id" }).run((ctx) => getAuthUserId(ctx))).toBeNull();
    expect(await t.withIdentity({ subject: ada.userId, sid: 42 }).run((ctx) => getAuthUserId(ctx))).toBeNull();
    expect(await t.withIdentity({ subject: "not-a-user-id", sid: ada.sessionId }).run((ctx) => getAuthUserId(ctx))).toBeNull();
    expect(await t.run((ctx) => getAuthUserId(ctx))).toBeNull();
  });

  test("refuses a token without a session claim unless the app uses JWT sessions", async () => {
    const { t } = startFixtureApp();
    const { userId } = await userWithSession(t, "ada@example.com");
    const caller = t.withIdentity({ subject: userId });
    expect(await caller.run((ctx) => getAuthUserId(ctx))).toBeNull();
    expect(await caller.run((ctx) => getAuthUserId(ctx, { allowTokensWithoutSession: true }))).toBe(userId);
  });
});
