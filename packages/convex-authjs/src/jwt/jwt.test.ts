import { createLocalJWKSet, decodeProtectedHeader, generateKeyPair, exportPKCS8, jwtVerify, type JSONWebKeySet } from "jose";
import { beforeAll, describe, expect, test, vi } from "vitest";
import { startFixtureApp } from "../testing/convexTestApp.js";
import {
  convexSessionCallback,
  convexSiteUrl,
  createConvexTokenMinter,
  generateSigningKeyPair,
  importSigningKey,
  InvalidSigningKeyError,
  IssuerDerivationError,
  MissingEnvironmentVariableError,
  parseJwks,
  rotateJwks,
  type SigningKeyPair,
} from "./index.js";

const ISSUER = "https://happy-otter-123.convex.site";

/** The JWKS exactly as the fixture deployment's `addAuthRoutes` serves it. */
async function servedJwks(jwks: unknown): Promise<JSONWebKeySet> {
  vi.stubEnv("JWKS", JSON.stringify(jwks));
  const response = await startFixtureApp().t.fetch("/.well-known/jwks.json");
  expect(response.status).toBe(200);
  return (await response.json()) as JSONWebKeySet;
}

/** A token's claims, read without verification (the tests that need a verified token verify it). */
const decodePayload = (token: string) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) as Record<string, unknown>;

const verify = (token: string, jwks: JSONWebKeySet) =>
  jwtVerify(token, createLocalJWKSet(jwks), { issuer: ISSUER, audience: "convex" });

let rsa: SigningKeyPair;
let ec: SigningKeyPair;
beforeAll(async () => {
  [rsa, ec] = await Promise.all([generateSigningKeyPair("RS256"), generateSigningKeyPair("ES256")]);
});

describe("minted tokens", () => {
  test.each(["RS256", "ES256"] as const)("%s tokens verify against the served JWKS", async (alg) => {
    const pair = alg === "RS256" ? rsa : ec;
    const minter = createConvexTokenMinter({ privateKey: pair.privateKeyPem, issuer: ISSUER });
    const token = await minter.tokenFor("user123");
    const { payload, protectedHeader } = await verify(token, await servedJwks({ keys: [pair.publicJwk] }));
    expect(protectedHeader).toEqual({ alg, kid: pair.publicJwk.kid, typ: "JWT" });
    expect(payload).toEqual({
      sub: "user123",
      iss: ISSUER,
      aud: ["convex", `convex:${alg}`],
      iat: expect.any(Number),
      exp: (payload.iat as number) + 3600,
    });
  });

  test("a token from a key outside the JWKS does not verify", async () => {
    const minter = createConvexTokenMinter({ privateKey: ec.privateKeyPem, issuer: ISSUER });
    const token = await minter.tokenFor("user123");
    await expect(verify(token, await servedJwks({ keys: [rsa.publicJwk] }))).rejects.toThrow();
  });

  test("rotation overlap: tokens of the old and the new key both verify", async () => {
    const old = rsa;
    const fresh = await generateSigningKeyPair("RS256");
    const retired = await generateSigningKeyPair("RS256");
    const rotated = rotateJwks(fresh.publicJwk, { keys: [old.publicJwk, retired.publicJwk] }, 1);
    expect(rotated.keys.map((key) => key.kid)).toEqual([fresh.publicJwk.kid, old.publicJwk.kid]);
    const jwks = await servedJwks(rotated);

    for (const pair of [old, fresh]) {
      const token = await createConvexTokenMinter({ privateKey: pair.privateKeyPem, issuer: ISSUER }).tokenFor("u");
      expect(decodeProtectedHeader(token).kid).toBe(pair.publicJwk.kid);
      await expect(verify(token, jwks)).resolves.toBeDefined();
    }
    const dropped = await createConvexTokenMinter({ privateKey: retired.privateKeyPem, issuer: ISSUER }).tokenFor("u");
    await expect(verify(dropped, jwks)).rejects.toThrow();
  });

  test("rotating onto a key already in the set does not list it twice", () => {
    expect(rotateJwks(rsa.publicJwk, { keys: [rsa.publicJwk, ec.publicJwk] }, 5).keys).toEqual([
      rsa.publicJwk,
      ec.publicJwk,
    ]);
  });

  test("the issuer defaults to the environment's Convex site URL", async () => {
    vi.stubEnv("CONVEX_SITE_URL", "");
    vi.stubEnv("NEXT_PUBLIC_CONVEX_URL", "http://127.0.0.1:3210");
    const token = await createConvexTokenMinter({ privateKey: rsa.privateKeyPem }).tokenFor("u");
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: [rsa.publicJwk] }), {
      issuer: "http://127.0.0.1:3211",
      audience: "convex",
    });
    expect(payload.sub).toBe("u");
  });
});

describe("convexSiteUrl", () => {
  test.each([
    [{ CONVEX_SITE_URL: "https://custom.example.com/" }, "https://custom.example.com"],
    [{ CONVEX_SITE_URL: "https://a.convex.site", NEXT_PUBLIC_CONVEX_URL: "https://b.convex.cloud" }, "https://a.convex.site"],
    [{ NEXT_PUBLIC_CONVEX_URL: "https://happy-otter-123.convex.cloud" }, "https://happy-otter-123.convex.site"],
    [{ NEXT_PUBLIC_CONVEX_URL: "https://happy-otter-123.convex.cloud/" }, "https://happy-otter-123.convex.site"],
    [{ NEXT_PUBLIC_CONVEX_URL: "https://x.eu-west-1.convex.cloud" }, "https://x.eu-west-1.convex.site"],
    [{ NEXT_PUBLIC_CONVEX_URL: "http://127.0.0.1:3210" }, "http://127.0.0.1:3211"],
    [{ NEXT_PUBLIC_CONVEX_URL: "http://localhost:3210" }, "http://localhost:3211"],
    [{ NEXT_PUBLIC_CONVEX_URL: "https://convex.example.com:8443" }, "https://convex.example.com:8444"],
    [{ CONVEX_SITE_URL: "", NEXT_PUBLIC_CONVEX_URL: "http://127.0.0.1:4000" }, "http://127.0.0.1:4001"],
  ])("%j → %s", (env, expected) => {
    expect(convexSiteUrl(env)).toBe(expected);
  });

  test("a self-hosted URL without a port needs CONVEX_SITE_URL", () => {
    expect(() => convexSiteUrl({ NEXT_PUBLIC_CONVEX_URL: "https://convex.example.com" })).toThrow(
      IssuerDerivationError,
    );
    expect(() => convexSiteUrl({ NEXT_PUBLIC_CONVEX_URL: "not a url" })).toThrow(IssuerDerivationError);
  });

  test("with neither variable, the error names CONVEX_SITE_URL", () => {
    expect(() => convexSiteUrl({})).toThrow(MissingEnvironmentVariableError);
    expect(() => convexSiteUrl({})).toThrow(/CONVEX_SITE_URL/);
  });
});

describe("token reuse", () => {
  const HOUR = 3_600_000;

  function clockedMinter(options: { renewBeforeSeconds?: number; maxCachedUsers?: number } = {}) {
    const clock = { now: Date.UTC(2025, 0, 1) };
    const minter = createConvexTokenMinter({
      privateKey: rsa.privateKeyPem,
      issuer: ISSUER,
      now: () => clock.now,
      ...options,
    });
    return { clock, minter };
  }

  test("imports the key once and reuses a user's token until shortly before expiry", async () => {
    const { clock, minter } = clockedMinter({ renewBeforeSeconds: 300 });
    const first = await minter.tokenFor("alice");
    expect(minter.stats).toEqual({ keyImports: 1, signatures: 1, reused: 0 });

    clock.now += HOUR - 300_000 - 1; // 1 ms before the renewal point
    expect(await minter.tokenFor("alice")).toBe(first);
    expect(minter.stats).toEqual({ keyImports: 1, signatures: 1, reused: 1 });

    clock.now += 1; // at the renewal point
    const second = await minter.tokenFor("alice");
    expect(second).not.toBe(first);
    expect(minter.stats).toEqual({ keyImports: 1, signatures: 2, reused: 1 });

    // The clock is synthetic, so jose checks exp against it too.
    const { payload } = await jwtVerify(second, createLocalJWKSet({ keys: [rsa.publicJwk] }), {
      currentDate: new Date(clock.now),
    });
    expect(payload.iat).toBe(Math.floor(clock.now / 1000));
  });

  test("each user gets their own token; the key is still imported once", async () => {
    const { minter } = clockedMinter();
    const tokens = await Promise.all(["a", "b", "c"].map((user) => minter.tokenFor(user)));
    expect(new Set(tokens).size).toBe(3);
    expect(minter.stats).toMatchObject({ keyImports: 1, signatures: 3 });
  });

  test("concurrent requests for one user share a single signature", async () => {
    const { minter } = clockedMinter();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => minter.tokenFor("alice")));
    expect(new Set(tokens).size).toBe(1);
    expect(minter.stats).toMatchObject({ keyImports: 1, signatures: 1 });
  });

  test("the cache is bounded: the least recently used user is evicted", async () => {
    const { minter } = clockedMinter({ maxCachedUsers: 2 });
    await minter.tokenFor("a");
    await minter.tokenFor("b");
    await minter.tokenFor("a"); // a is now the most recent
    await minter.tokenFor("c"); // evicts b
    expect(minter.stats.signatures).toBe(3);
    await minter.tokenFor("a");
    expect(minter.stats.signatures).toBe(3);
    await minter.tokenFor("b");
    expect(minter.stats.signatures).toBe(4);
  });

  test("a token ends with its session when the session expires first", async () => {
    const { clock, minter } = clockedMinter();
    const expires = new Date(clock.now + 600_500);
    const token = await minter.tokenFor("alice", { id: "session-a", expires });
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: [rsa.publicJwk] }), { currentDate: new Date(clock.now) });
    expect(payload).toMatchObject({ sub: "alice", sid: "session-a", exp: Math.floor(expires.getTime() / 1000) });
    // A later session keeps the full lifetime.
    const later = await minter.tokenFor("alice", { id: "session-b", expires: new Date(clock.now + 30 * 24 * HOUR) });
    expect(decodePayload(later).exp).toBe(Math.floor(clock.now / 1000) + 3600);
  });

  test("a session's token is reused while the session lasts at least as long, and replaced once it is shortened", async () => {
    const { clock, minter } = clockedMinter();
    const session = { id: "session-a", expires: new Date(clock.now + 30 * 24 * HOUR) };
    const first = await minter.tokenFor("alice", session);
    // Auth.js extends a session as its user comes back: the token still ends before it.
    expect(await minter.tokenFor("alice", { ...session, expires: new Date(clock.now + 31 * 24 * HOUR) })).toBe(first);
    const shortened = { ...session, expires: new Date(clock.now + HOUR / 2) };
    const second = await minter.tokenFor("alice", shortened);
    expect(second).not.toBe(first);
    expect(decodePayload(second).exp).toBe(Math.floor(shortened.expires.getTime() / 1000));
    expect(minter.stats).toMatchObject({ signatures: 2, reused: 1 });
  });

  test("refuses an empty user or session id, a session that is not an object, and a bad or past expiry", async () => {
    const { clock, minter } = clockedMinter();
    await expect(minter.tokenFor("")).rejects.toThrow(/non-empty user id/);
    await expect(minter.tokenFor("user-1", { id: "" })).rejects.toThrow(/non-empty session id/);
    await expect(minter.tokenFor("user-1", "session-a" as never)).rejects.toThrow(/second argument is the session/);
    await expect(minter.tokenFor("user-1", { expires: new Date("not a date") })).rejects.toThrow(/valid Date \(got Invalid Date\)/);
    await expect(minter.tokenFor("user-1", { expires: "2030-01-01" as never })).rejects.toThrow(/valid Date/);
    await expect(minter.tokenFor("user-1", { id: "s", expires: new Date(clock.now) })).rejects.toThrow(/already expired/);
    expect(minter.stats.signatures).toBe(0);
  });

  test("refuses a renewal margin as long as the lifetime", () => {
    expect(() => createConvexTokenMinter({ lifetimeSeconds: 60, renewBeforeSeconds: 60 })).toThrow(RangeError);
  });
});

describe("signing key", () => {
  test("accepts the PEM with escaped newlines and quotes, as env files deliver it", async () => {
    const escaped = `"${rsa.privateKeyPem.replace(/\n/g, "\\n")}"`;
    const imported = await importSigningKey(escaped);
    expect(imported).toMatchObject({ alg: "RS256", kid: rsa.publicJwk.kid });
    expect((await importSigningKey(ec.privateKeyPem)).alg).toBe("ES256");
  });

  test("refuses a key that is not RSA or P-256", async () => {
    const { privateKey } = await generateKeyPair("ES384", { extractable: true });
    await expect(importSigningKey(await exportPKCS8(privateKey))).rejects.toBeInstanceOf(InvalidSigningKeyError);
    await expect(importSigningKey("not a key")).rejects.toBeInstanceOf(InvalidSigningKeyError);
    await expect(importSigningKey(rsa.privateKeyPem, "ES256")).rejects.toBeInstanceOf(InvalidSigningKeyError);
  });

  test("a missing key fails the mint, naming the variable, and is retried once set", async () => {
    vi.stubEnv("CONVEX_AUTH_PRIVATE_KEY", "");
    const minter = createConvexTokenMinter({ issuer: ISSUER });
    await expect(minter.tokenFor("u")).rejects.toThrow(/CONVEX_AUTH_PRIVATE_KEY/);
    vi.stubEnv("CONVEX_AUTH_PRIVATE_KEY", rsa.privateKeyPem);
    await expect(minter.tokenFor("u")).resolves.toMatch(/^ey/);
  });

  test("parseJwks refuses malformed documents", () => {
    expect(() => parseJwks("{")).toThrow(/JSON/);
    expect(() => parseJwks('{"keys": {}}')).toThrow(/keys/);
    expect(() => parseJwks('{"keys": [1]}')).toThrow(/keys/);
    expect(parseJwks(JSON.stringify({ keys: [rsa.publicJwk] })).keys).toHaveLength(1);
  });
});

describe("convexSessionCallback", () => {
  const session = { user: { name: "Ada", email: "ada@example.com", image: null }, expires: "2030-01-01T00:00:00.000Z" };
  const minter = () => createConvexTokenMinter({ privateKey: rsa.privateKeyPem, issuer: ISSUER });

  test("database sessions: adds the user's token and sends only public fields", async () => {
    // What Auth.js passes with database sessions: the adapter's session and user merged.
    const databaseSession = {
      ...session,
      expires: new Date("2030-01-01T00:00:00.000Z"),
      sessionToken: "secret-session-token",
      userId: "user-1",
      user: { ...session.user, id: "user-1", emailVerified: new Date() },
    };
    const result = await convexSessionCallback(minter())({
      session: databaseSession as never,
      user: { id: "user-1" },
    });
    expect(result).toEqual({
      user: { id: "user-1", name: "Ada", email: "ada@example.com", image: null },
      expires: "2030-01-01T00:00:00.000Z",
      convexToken: expect.any(String),
    });
    expect(JSON.stringify(result)).not.toContain("secret-session-token");
    expect((await verify(result.convexToken!, { keys: [rsa.publicJwk] })).payload.sub).toBe("user-1");
  });

  test("database sessions: the token names its session, and each session gets its own token", async () => {
    const tokens = minter();
    const callback = convexSessionCallback(tokens);
    const forSession = async (id: string) =>
      (await callback({ session: { ...session, id, sessionToken: `token-${id}`, userId: "user-1" } as never, user: { id: "user-1" } })).convexToken!;
    const first = await forSession("session-a");
    const second = await forSession("session-b");
    expect((await verify(first, { keys: [rsa.publicJwk] })).payload).toMatchObject({ sub: "user-1", sid: "session-a" });
    expect((await verify(second, { keys: [rsa.publicJwk] })).payload).toMatchObject({ sub: "user-1", sid: "session-b" });
    expect(await forSession("session-a")).toBe(first);
    expect(tokens.stats).toMatchObject({ signatures: 2, reused: 1 });
  });

  test("database sessions: a session about to expire gets a token that expires with it", async () => {
    const expires = new Date(Date.now() + 120_000);
    const databaseSession = { ...session, id: "session-a", expires, sessionToken: "secret", userId: "user-1" };
    const result = await convexSessionCallback(minter())({ session: databaseSession as never, user: { id: "user-1" } });
    expect(result.expires).toBe(expires.toISOString());
    expect((await verify(result.convexToken!, { keys: [rsa.publicJwk] })).payload.exp).toBe(Math.floor(expires.getTime() / 1000));
  });

  test("JWT sessions: adds the token of token.sub, naming no session", async () => {
    const result = await convexSessionCallback(minter())({ session, token: { sub: "user-2" } });
    expect(result.user?.id).toBe("user-2");
    const { payload } = await verify(result.convexToken!, { keys: [rsa.publicJwk] });
    expect(payload.sub).toBe("user-2");
    expect(payload).not.toHaveProperty("sid");
  });

  test("a session without a user id gets no token", async () => {
    const tokens = minter();
    const result = await convexSessionCallback(tokens)({ session });
    expect(result).toEqual({ user: { name: "Ada", email: "ada@example.com", image: null }, expires: session.expires });
    expect(tokens.stats.signatures).toBe(0);
  });
});
