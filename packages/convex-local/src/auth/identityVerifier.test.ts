import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { base64url, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import type { AuthProvider } from "../runtime/functions.js";
import { AuthError } from "./authError.js";
import { IdentityVerifier } from "./identityVerifier.js";
import { MAX_TOKEN_LENGTH } from "./jwt.js";

// A real local identity provider on 127.0.0.1: OIDC discovery + JWKS, and a
// second JWKS for a customJwt provider. Tests mutate `idp` to rotate keys or
// take the provider down, and read `idp.hits` to count fetches.

interface Key {
  kid: string;
  alg: "RS256" | "ES256" | "EdDSA";
  privateKey: CryptoKey;
  publicJwk: JWK;
}

const idp = {
  oidcKeys: [] as JWK[],
  customKeys: [] as JWK[],
  down: false,
  jwksContentType: "application/json",
  hits: new Map<string, number>(),
};
let server: http.Server;
let base = "";
let closedPortBase = "";

let rsaA: Key, rsaB: Key, rsaC: Key, ed: Key, ec: Key, attackerRsa: Key, attackerEc: Key;

const START_MS = Date.UTC(2025, 0, 15, 12, 0, 0);
let nowMs = START_MS;
const nowS = () => Math.floor(nowMs / 1000);

async function makeKey(kid: string, alg: Key["alg"]): Promise<Key> {
  const pair = alg === "EdDSA" ? await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true }) : await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey: pair.privateKey, publicJwk };
}

function providers(): AuthProvider[] {
  return [
    { domain: base, applicationID: "app-oidc" },
    { type: "customJwt", issuer: `${base}/custom`, jwks: `${base}/custom/jwks.json`, algorithm: "ES256", applicationID: "app-custom" },
    {
      type: "customJwt",
      issuer: "https://data.example.com",
      jwks: `data:text/plain;charset=utf-8;base64,${Buffer.from(JSON.stringify({ keys: [rsaA.publicJwk] })).toString("base64")}`,
      algorithm: "RS256",
      applicationID: null,
    },
  ];
}

function verifier(opts: { jwksCacheMs?: number; providers?: AuthProvider[] } = {}) {
  return new IdentityVerifier(opts.providers ?? providers(), { now: () => nowMs, jwksCacheMs: opts.jwksCacheMs });
}

async function sign(claims: Record<string, unknown>, key: Key, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header }).sign(key.privateKey);
}

const oidcClaims = (extra: Record<string, unknown> = {}) => ({ iss: base, aud: "app-oidc", sub: "user-1", iat: nowS(), exp: nowS() + 3600, ...extra });
const customClaims = (extra: Record<string, unknown> = {}) => ({ iss: `${base}/custom`, aud: "app-custom", sub: "user-2", iat: nowS(), exp: nowS() + 3600, ...extra });
const dataClaims = (extra: Record<string, unknown> = {}) => ({ iss: "https://data.example.com", sub: "user-3", iat: nowS(), exp: nowS() + 3600, ...extra });

const hits = (path: string) => idp.hits.get(path) ?? 0;

function unsigned(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ""): string {
  const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

async function refusal(p: Promise<unknown>): Promise<AuthError> {
  const e = await p.then(
    (v) => {
      throw new Error(`expected the token to be refused, got ${JSON.stringify(v)}`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AuthError);
  return e as AuthError;
}

beforeAll(async () => {
  [rsaA, rsaB, rsaC, ed, ec, attackerRsa, attackerEc] = await Promise.all([
    makeKey("rsa-a", "RS256"),
    makeKey("rsa-b", "RS256"),
    makeKey("rsa-c", "RS256"),
    makeKey("ed-1", "EdDSA"),
    makeKey("ec-1", "ES256"),
    makeKey("rsa-a", "RS256"), // same kid as rsaA, different key
    makeKey("ec-1", "ES256"),
  ]);
  server = http.createServer((req, res) => {
    const path = req.url ?? "";
    idp.hits.set(path, hits(path) + 1);
    if (idp.down) {
      res.writeHead(503, { "content-type": "text/plain" }).end("down");
      return;
    }
    const json = (body: unknown, type = "application/json") => res.writeHead(200, { "content-type": type }).end(JSON.stringify(body));
    if (path === "/.well-known/openid-configuration") json({ issuer: base, jwks_uri: `${base}/jwks.json` });
    else if (path === "/jwks.json") json({ keys: idp.oidcKeys }, idp.jwksContentType);
    else if (path === "/custom/jwks.json") json({ keys: idp.customKeys }, idp.jwksContentType);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port with nothing listening: bind, note the port, close.
  const tmp = http.createServer();
  await new Promise<void>((resolve) => tmp.listen(0, "127.0.0.1", resolve));
  closedPortBase = `http://127.0.0.1:${(tmp.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => tmp.close(() => resolve()));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  nowMs = START_MS;
  idp.oidcKeys = [rsaA.publicJwk, rsaB.publicJwk, ed.publicJwk];
  idp.customKeys = [ec.publicJwk];
  idp.down = false;
  idp.jwksContentType = "application/json";
  idp.hits.clear();
});

describe("accepted tokens", () => {
  const cases: [string, () => Promise<string>, string][] = [
    ["OIDC RS256 (first key)", () => sign(oidcClaims(), rsaA), "user-1"],
    ["OIDC RS256 (second key: rotation)", () => sign(oidcClaims(), rsaB), "user-1"],
    ["OIDC EdDSA", () => sign(oidcClaims(), ed), "user-1"],
    ["OIDC iat in the future (Convex's OIDC verifier ignores iat)", () => sign(oidcClaims({ iat: nowS() + 600 }), rsaA), "user-1"],
    ["customJwt ES256 via JWKS URL", () => sign(customClaims(), ec), "user-2"],
    ["customJwt exp 3 s ago (within the 5 s epsilon)", () => sign(customClaims({ exp: nowS() - 3 }), ec), "user-2"],
    ["customJwt RS256 via data: URI, no applicationID, no aud", () => sign(dataClaims(), rsaA), "user-3"],
    ["customJwt via data: URI, iss without https://", () => sign(dataClaims({ iss: "data.example.com" }), rsaA), "user-3"],
  ];
  it.each(cases)("%s", async (_name, make, subject) => {
    const identity = await verifier().verify(await make());
    expect(identity.subject).toBe(subject);
    expect(identity.tokenIdentifier).toBe(`${identity.issuer}|${subject}`);
  });

  it("maps OIDC claims the way Convex does (typed fields, custom claims, drops)", async () => {
    const token = await sign(
      oidcClaims({
        name: "Ada Lovelace",
        "name#fr": "Ada",
        given_name: "Ada",
        family_name: "Lovelace",
        middle_name: "King",
        nickname: "ada",
        preferred_username: "ada_l",
        profile: "https://example.com/ada",
        picture: "https://example.com/ada.png",
        website: "https://ada.example.com",
        email: "ada@example.com",
        email_verified: true,
        gender: "female",
        birthdate: "1815-12-10",
        zoneinfo: "Europe/London",
        locale: "en-GB",
        phone_number: "+44 1",
        phone_number_verified: false,
        address: { formatted: "12 St James's Square", country: "UK" },
        updated_at: 1700000000,
        azp: "app-oidc",
        nonce: "n",
        auth_time: nowS(),
        jti: "abc",
        nbf: nowS() - 10,
        fva: [0, -1],
        org: "acme",
        roles: ["admin", "dev"],
        meta: { plan: { tier: 2 } },
        tokenIdentifier: "spoofed|x",
      }),
      rsaA,
    );
    const identity = await verifier().verify(token);
    expect(identity).toStrictEqual({
      tokenIdentifier: `${base}|user-1`,
      issuer: base,
      subject: "user-1",
      name: "Ada Lovelace",
      givenName: "Ada",
      familyName: "Lovelace",
      nickname: "ada",
      preferredUsername: "ada_l",
      profileUrl: "https://example.com/ada",
      pictureUrl: "https://example.com/ada.png",
      websiteUrl: "https://ada.example.com",
      email: "ada@example.com",
      emailVerified: true,
      gender: "female",
      birthday: "1815-12-10",
      timezone: "Europe/London",
      language: "en-GB",
      phoneNumber: "+44 1",
      phoneNumberVerified: false,
      address: "12 St James's Square",
      updatedAt: "2023-11-14T22:13:20+00:00",
      org: "acme",
      roles: ["admin", "dev"],
      meta: { plan: { tier: 2 } },
    });
  });

  it("passes custom JWT claims through, nested objects flattened to dotted keys", async () => {
    const token = await sign(
      customClaims({
        jti: "j",
        nbf: nowS() - 1,
        email: "b@example.com",
        email_verified: true,
        properties: { id: "123", favoriteColor: "red", deep: { on: true } },
        list: [1, { a: 2 }],
        fva: [3, 4],
        issuer: "https://spoofed.example.com",
      }),
      ec,
    );
    const identity = await verifier().verify(token);
    expect(identity).toStrictEqual({
      tokenIdentifier: `${base}/custom|user-2`,
      issuer: `${base}/custom`,
      subject: "user-2",
      email: "b@example.com",
      email_verified: true,
      "properties.id": "123",
      "properties.favoriteColor": "red",
      "properties.deep.on": true,
      list: [1, { a: 2 }],
    });
  });

  it("returns the expiry with verifyToken", async () => {
    const exp = nowS() + 120;
    const { expiresAtMs } = await verifier().verifyToken(await sign(oidcClaims({ exp }), rsaA));
    expect(expiresAtMs).toBe(exp * 1000);
  });

  it("accepts a provider domain written with a trailing slash", async () => {
    const v = verifier({ providers: [{ domain: `${base}/`, applicationID: "app-oidc" }] });
    expect((await v.verify(await sign(oidcClaims(), rsaA))).issuer).toBe(base);
  });

  it("selects among providers sharing an issuer by audience", async () => {
    const p: AuthProvider[] = [
      { type: "customJwt", issuer: `${base}/custom`, jwks: `${base}/custom/jwks.json`, algorithm: "ES256", applicationID: "other" },
      ...providers(),
    ];
    await expect(verifier({ providers: p }).verify(await sign(customClaims(), ec))).resolves.toMatchObject({ subject: "user-2" });
    await expect(verifier({ providers: p }).verify(await sign(customClaims({ aud: "other" }), ec))).resolves.toMatchObject({ subject: "user-2" });
  });
});

describe("refused tokens", () => {
  const cases: [string, () => Promise<string>, RegExp][] = [
    ["OIDC forged (another key, same kid)", () => sign(oidcClaims(), attackerRsa), /^Could not verify OIDC token claim\..*signature verification failed/i],
    ["customJwt forged (another key, same kid)", () => sign(customClaims(), attackerEc), /^Could not decode token\. The JWT's 'kid' \(key ID\) header is 'ec-1'.*signature verification failed/i],
    ["data: URI forged", () => sign(dataClaims(), attackerRsa), /^Could not decode token\./],
    ["OIDC expired", () => sign(oidcClaims({ exp: nowS() - 1 }), rsaA), /hasn't expired\. Reason: Expired/],
    ["customJwt expired", () => sign(customClaims({ exp: nowS() - 10 }), ec), /^Could not validate token: Token expired 10 seconds ago$/],
    ["OIDC not yet valid (nbf)", () => sign(oidcClaims({ nbf: nowS() + 60 }), rsaA), /Reason: Token not yet valid \(nbf/],
    ["customJwt not yet valid (nbf)", () => sign(customClaims({ nbf: nowS() + 60 }), ec), /^Could not validate token: Token will be valid in 60 seconds$/],
    ["customJwt iat in the future", () => sign(customClaims({ iat: nowS() + 60 }), ec), /^Could not validate token: Token will be valid in 60 seconds$/],
    ["unknown issuer", () => sign(oidcClaims({ iss: "http://evil.example" }), rsaA), /^No auth provider found matching the given token\. Check that your JWT's issuer and audience/],
    ["missing issuer", () => sign(oidcClaims({ iss: undefined }), rsaA), /^Missing issuer claim \('iss'\)/],
    ["OIDC wrong audience", () => sign(oidcClaims({ aud: "someone-else" }), rsaA), /^No auth provider found/],
    ["customJwt wrong audience", () => sign(customClaims({ aud: ["x", "y"] }), ec), /^No auth provider found/],
    ["OIDC extra untrusted audience", () => sign(oidcClaims({ aud: ["app-oidc", "other"] }), rsaA), /Invalid audiences: `other` is not a trusted audience/],
    ["OIDC missing exp", () => sign(oidcClaims({ exp: undefined }), rsaA), /^Could not parse as OIDC ID token/],
    ["OIDC alg none", async () => unsigned({ alg: "none", kid: "rsa-a" }, oidcClaims()), /algorithm `none` is not one of: RS256, EdDSA/],
    ["customJwt alg none", async () => unsigned({ alg: "none", kid: "ec-1" }, customClaims()), /^Could not decode token\..*'alg' header is 'none'/],
    ["OIDC HS256 with the public key as secret", () => hs256WithPublicKey(oidcClaims(), rsaA), /algorithm `HS256` is not one of/],
    ["data: URI HS256 with the public key as secret", () => hs256WithPublicKey(dataClaims(), rsaA), /'alg' header is 'HS256', expected 'RS256'/],
    ["customJwt RS256 when the provider says ES256", () => sign(customClaims(), { ...rsaA, kid: "ec-1" }), /'alg' header is 'RS256', expected 'ES256'/],
    ["OIDC unknown kid", () => sign(oidcClaims(), { ...rsaC, kid: "nope" }), /No matching key found for kid 'nope'/],
    ["customJwt unknown kid", () => sign(customClaims(), { ...attackerEc, kid: "nope" }), /header is 'nope', does this key match any key/],
    ["customJwt without kid", async () => new SignJWT(customClaims()).setProtectedHeader({ alg: "ES256" }).sign(ec.privateKey), /JWT may be missing a 'kid'/],
    ["OIDC missing sub", () => sign(oidcClaims({ sub: undefined }), rsaA), /^Could not parse as OIDC ID token.*'sub'/],
    ["customJwt missing sub", () => sign(customClaims({ sub: undefined }), ec), /^Could not verify token claim\..*Reason: Missing subject/],
    ["customJwt missing exp", () => sign(customClaims({ exp: undefined }), ec), /Reason: Missing expiry/],
    ["OIDC typ not a JWT", () => sign(oidcClaims(), rsaA, { typ: "at+jwt" }), /unsupported JWT type/],
    ["tampered payload", async () => swapPart(await sign(oidcClaims(), rsaA), 1, base64url.encode(JSON.stringify(oidcClaims({ sub: "admin" })))), /signature verification failed/i],
    ["tampered header (kid switched)", async () => swapPart(await sign(oidcClaims(), rsaA), 0, base64url.encode(JSON.stringify({ alg: "RS256", kid: "rsa-b", typ: "JWT" }))), /signature verification failed/i],
    ["tampered signature", async () => flipSignature(await sign(oidcClaims(), rsaA)), /signature verification failed/i],
    ["customJwt tampered payload", async () => swapPart(await sign(customClaims(), ec), 1, base64url.encode(JSON.stringify(customClaims({ sub: "admin" })))), /^Could not decode token\./],
  ];
  it.each(cases)("%s", async (_name, make, message) => {
    const e = await refusal(verifier().verify(await make()));
    expect(e.message).toMatch(message);
  });

  const malformed: [string, string][] = [
    ["empty", ""],
    ["one part", "abc"],
    ["two parts", "a.b"],
    ["four parts", "a.b.c.d"],
    ["JWE-shaped", "a.b.c.d.e"],
    ["not base64url", "!!!.???.sig"],
    ["header not JSON", `${base64url.encode("nope")}.${base64url.encode("{}")}.x`],
    ["payload is an array", `${base64url.encode('{"alg":"RS256"}')}.${base64url.encode("[1]")}.x`],
    ["payload is a string", `${base64url.encode('{"alg":"RS256"}')}.${base64url.encode('"s"')}.x`],
    ["spaces", "a b.c.d"],
  ];
  it.each(malformed)("malformed token: %s", async (_name, token) => {
    const e = await refusal(verifier().verify(token));
    expect(e.message).toMatch(/^Could not parse JWT payload\. Check that the token is a valid JWT format/);
    expect(idp.hits.size).toBe(0);
  });

  it("refuses an oversized token before parsing or fetching", async () => {
    const real = await sign(oidcClaims({ pad: "x".repeat(MAX_TOKEN_LENGTH) }), rsaA);
    const e = await refusal(verifier().verify(real));
    expect(e.message).toMatch(/too large/);
    expect(idp.hits.size).toBe(0);
    // Just under the limit is parsed normally (then refused for its signature).
    const e2 = await refusal(verifier().verify(`${"a".repeat(MAX_TOKEN_LENGTH - 4)}.b.c`));
    expect(e2.message).not.toMatch(/too large/);
  });

  it("refuses everything when no providers are configured", async () => {
    const e = await refusal(new IdentityVerifier([]).verify(await sign(oidcClaims(), rsaA)));
    expect(e.message).toBe("No auth provider found matching the given token (no providers configured). Check convex/auth.config.ts.");
    expect(e.code).toBe("NoAuthProvider");
  });
});

describe("JWKS fetching and caching", () => {
  it("fetches discovery and JWKS once, then serves from the cache", async () => {
    const v = verifier();
    for (let i = 0; i < 3; i++) await v.verify(await sign(oidcClaims(), i % 2 ? rsaA : rsaB));
    await Promise.all([v.verify(await sign(oidcClaims(), rsaA)), v.verify(await sign(oidcClaims(), ed))]);
    expect(hits("/.well-known/openid-configuration")).toBe(1);
    expect(hits("/jwks.json")).toBe(1);
  });

  it("concurrent first requests share one fetch", async () => {
    const v = verifier();
    const tokens = await Promise.all(Array.from({ length: 8 }, () => sign(customClaims(), ec)));
    await Promise.all(tokens.map((t) => v.verify(t)));
    expect(hits("/custom/jwks.json")).toBe(1);
  });

  it("an unknown kid refetches at most once per cooldown (no refetch storm)", async () => {
    const v = verifier();
    await v.verify(await sign(oidcClaims(), rsaA));
    expect(hits("/jwks.json")).toBe(1);
    const unknown = await sign(oidcClaims(), { ...rsaC, kid: "unknown" });
    // Within the cooldown right after the first fetch: no refetch at all.
    await refusal(v.verify(unknown));
    expect(hits("/jwks.json")).toBe(1);
    nowMs += 31_000;
    await Promise.all(Array.from({ length: 10 }, () => refusal(v.verify(unknown))));
    for (let i = 0; i < 10; i++) await refusal(v.verify(unknown));
    expect(hits("/jwks.json")).toBe(2);
  });

  it("accepts a newly rotated-in key after one refetch", async () => {
    const v = verifier();
    await v.verify(await sign(oidcClaims(), rsaA));
    idp.oidcKeys = [rsaA.publicJwk, rsaC.publicJwk];
    const rotated = await sign(oidcClaims(), rsaC);
    nowMs += 31_000;
    await expect(v.verify(rotated)).resolves.toMatchObject({ subject: "user-1" });
    expect(hits("/jwks.json")).toBe(2);
  });

  it("refuses a token whose key was removed, once the cache expires", async () => {
    const v = verifier({ jwksCacheMs: 60_000 });
    const token = await sign(oidcClaims({ exp: nowS() + 3600 }), rsaB);
    await v.verify(token);
    idp.oidcKeys = [rsaA.publicJwk];
    nowMs += 30_000;
    await v.verify(token); // still cached: the cache is what keeps it valid here
    expect(hits("/jwks.json")).toBe(1);
    nowMs += 31_000;
    const e = await refusal(v.verify(token));
    expect(e.message).toMatch(/No matching key found for kid 'rsa-b'/);
    expect(hits("/jwks.json")).toBe(2);
  });

  it("fails closed when the IdP is down (OIDC discovery)", async () => {
    idp.down = true;
    const e = await refusal(verifier().verify(await sign(oidcClaims(), rsaA)));
    expect(e.code).toBe("AuthProviderDiscoveryFailed");
    expect(e.message).toBe(`Auth provider discovery of ${base} failed: 503 Service Unavailable`);
  });

  it("fails closed when the JWKS URL is down, and does not refetch per token", async () => {
    idp.down = true;
    const v = verifier();
    const e = await refusal(v.verify(await sign(customClaims(), ec)));
    expect(e.message).toBe(`Could not fetch JWKS from URL '${base}/custom/jwks.json': HTTP 503 Service Unavailable. Check that the URL is correct and accessible.`);
    idp.down = false;
    await refusal(v.verify(await sign(customClaims(), ec)));
    expect(hits("/custom/jwks.json")).toBe(1);
    nowMs += 6_000;
    await expect(v.verify(await sign(customClaims(), ec))).resolves.toMatchObject({ subject: "user-2" });
    expect(hits("/custom/jwks.json")).toBe(2);
  });

  it("fails closed when nothing listens at the IdP address", async () => {
    const p: AuthProvider[] = [{ type: "customJwt", issuer: `${base}/custom`, jwks: `${closedPortBase}/jwks.json`, algorithm: "ES256", applicationID: "app-custom" }];
    const e = await refusal(verifier({ providers: p }).verify(await sign(customClaims(), ec)));
    expect(e.message).toMatch(/^Could not fetch JWKS from URL '.*': fetch failed/);
  });

  it("fails closed when a refresh fails after the cache expired (no stale keys)", async () => {
    const v = verifier({ jwksCacheMs: 60_000 });
    const token = await sign(oidcClaims({ exp: nowS() + 3600 }), rsaA);
    await v.verify(token);
    idp.down = true;
    nowMs += 61_000;
    const e = await refusal(v.verify(token));
    expect(e.code).toBe("AuthProviderDiscoveryFailed");
  });

  it("refuses a JWKS served with the wrong Content-Type", async () => {
    idp.jwksContentType = "text/html";
    const e = await refusal(verifier().verify(await sign(customClaims(), ec)));
    expect(e.message).toBe(`Invalid Content-Type 'text/html' when fetching JWKS from '${base}/custom/jwks.json'. Expected 'application/json' or 'application/jwk-set+json'.`);
  });

  it("refuses a malformed data: URI JWKS", async () => {
    const p: AuthProvider[] = [{ type: "customJwt", issuer: "https://data.example.com", jwks: "data:text/plain;base64,%%%", algorithm: "RS256", applicationID: null }];
    const e = await refusal(verifier({ providers: p }).verify(await sign(dataClaims(), rsaA)));
    expect(e.message).toMatch(/^Invalid JWKS data URL\./);
  });

  it("reads a non-base64 data: URI JWKS", async () => {
    const p: AuthProvider[] = [
      { type: "customJwt", issuer: "https://data.example.com", jwks: `data:application/json,${encodeURIComponent(JSON.stringify({ keys: [rsaA.publicJwk] }))}`, algorithm: "RS256", applicationID: null },
    ];
    await expect(verifier({ providers: p }).verify(await sign(dataClaims(), rsaA))).resolves.toMatchObject({ subject: "user-3" });
  });
});

async function hs256WithPublicKey(claims: Record<string, unknown>, key: Key): Promise<string> {
  // The classic algorithm-confusion attack: HMAC keyed with the verifier's public key.
  const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: key.kid, typ: "JWT" }).sign(secret);
}

function swapPart(token: string, index: number, replacement: string): string {
  const parts = token.split(".");
  parts[index] = replacement;
  return parts.join(".");
}

function flipSignature(token: string): string {
  const parts = token.split(".");
  const sig = base64url.decode(parts[2]);
  sig[10] ^= 0x01;
  parts[2] = base64url.encode(sig);
  return parts.join(".");
}
