/**
 * Token attacks against a real backend, over both the HTTP path (`Authorization: Bearer`, which
 * `ConvexHttpClient.setAuth` sends) and the WebSocket path (`Authenticate`, which
 * `ConvexClient.setAuth` sends). The fixture's auth.config.ts trusts an identity provider served
 * here on 127.0.0.1: a customJwt provider (JWKS URL) and an OIDC provider (discovery + JWKS).
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { SignJWT, base64url, exportJWK, exportSPKI, generateKeyPair, type JWK } from "jose";
import WebSocket from "ws";
import { startBackend } from "../../src/api/backend.js";
import { deployFixture, type TestDeployment } from "../harness.js";
import { syncClient, valueOf } from "./serverProcess.js";

const api = anyApi;
const CUSTOM_AUDIENCE = "convex-local-tests";
const OIDC_AUDIENCE = "oidc-tests";
/** The backend trusts a fetched key set this long, so a removed key stops working soon after. */
const JWKS_CACHE_MS = 200;

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let idp: Server;
let idpUrl: string;
let deployment: TestDeployment;
let trusted: KeyPair;
let retired: KeyPair;
let attacker: KeyPair;
/** The key set the identity provider publishes right now. */
let published: JWK[] = [];

beforeAll(async () => {
  [trusted, retired, attacker] = await Promise.all([1, 2, 3].map(() => generateKeyPair("RS256", { extractable: true })));
  published = [
    { ...(await exportJWK(trusted.publicKey)), kid: "trusted", alg: "RS256", use: "sig" },
    { ...(await exportJWK(retired.publicKey)), kid: "retired", alg: "RS256", use: "sig" },
  ];
  idp = createServer((request, response) => {
    const json = (body: unknown) => {
      response.writeHead(200, { "Content-Type": "application/json" });
      response.end(JSON.stringify(body));
    };
    if (request.url === "/custom/jwks" || request.url === "/oidc/jwks") return json({ keys: published });
    if (request.url === "/oidc/.well-known/openid-configuration") return json({ issuer: `${idpUrl}/oidc`, jwks_uri: `${idpUrl}/oidc/jwks` });
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => idp.listen(0, "127.0.0.1", resolve));
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  deployment = await deployFixture("reliability", { IDP_URL: idpUrl });
  await deployment.backend.close();
  deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0, jwksCacheMs: JWKS_CACHE_MS });
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
  await new Promise((resolve) => idp?.close(resolve));
});

type Provider = "custom" | "oidc";

interface TokenOptions {
  key?: CryptoKey;
  kid?: string;
  issuer?: string;
  audience?: string;
  expiresInS?: number;
  notBeforeInS?: number;
  subject?: string;
}

async function token(provider: Provider, options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: "RS256", kid: options.kid ?? "trusted", typ: "JWT" })
    .setSubject(options.subject ?? "user-1")
    .setIssuer(options.issuer ?? `${idpUrl}/${provider}`)
    .setAudience(options.audience ?? (provider === "custom" ? CUSTOM_AUDIENCE : OIDC_AUDIENCE))
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInS ?? 600));
  if (options.notBeforeInS !== undefined) jwt.setNotBefore(now + options.notBeforeInS);
  return await jwt.sign(options.key ?? trusted.privateKey);
}

function encodeSegment(value: object): string {
  return base64url.encode(JSON.stringify(value));
}

function payloadOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(base64url.decode(jwt.split(".")[1])).toString("utf8"));
}

/** HS256 signed with the provider's *public* key as the HMAC secret (the classic algorithm confusion). */
async function hmacWithPublicKey(provider: Provider): Promise<string> {
  const claims = payloadOf(await token(provider));
  const secret = new TextEncoder().encode(await exportSPKI(trusted.publicKey));
  return await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: "trusted", typ: "JWT" }).sign(secret);
}

async function unsignedToken(provider: Provider): Promise<string> {
  return `${encodeSegment({ alg: "none", kid: "trusted", typ: "JWT" })}.${encodeSegment(payloadOf(await token(provider)))}.`;
}

/** A valid token whose payload was edited after signing (another subject). */
async function tamperedToken(provider: Provider): Promise<string> {
  const [header, payload, signature] = (await token(provider)).split(".");
  const claims = JSON.parse(Buffer.from(base64url.decode(payload)).toString("utf8"));
  return [header, encodeSegment({ ...claims, sub: "admin" }), signature].join(".");
}

/** Calls `auth:whoami` over HTTP with the token as `Authorization: Bearer`. */
async function overHttp(jwt: string): Promise<unknown> {
  const client = new ConvexHttpClient(deployment.backend.url);
  client.setAuth(jwt);
  return await client.query(api.auth.whoami, {});
}

/** Authenticates a raw sync connection with the token; resolves with the server's verdict. */
function overSocket(jwt: string): Promise<{ type: "AuthError"; error: string } | { type: "Transition"; identity: unknown }> {
  const socket = new WebSocket(`${deployment.backend.url.replace("http", "ws")}/api/1.48.0/sync`);
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.once("open", () => {
      socket.send(JSON.stringify({ type: "Connect", sessionId: randomUUID(), connectionCount: 0, lastCloseReason: "InitialConnect", clientTs: Date.now() }));
      socket.send(JSON.stringify({ type: "Authenticate", tokenType: "User", value: jwt, baseVersion: 0 }));
      socket.send(
        JSON.stringify({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "auth:whoami", args: [{}] }] }),
      );
    });
    socket.on("message", (data) => {
      const message = JSON.parse(String(data));
      if (message.type === "AuthError") resolve({ type: "AuthError", error: message.error });
      else if (message.type === "Transition") resolve({ type: "Transition", identity: message.modifications[0]?.value });
      else if (message.type === "FatalError") reject(new Error(`FatalError: ${message.error}`));
      else return;
      socket.close();
    });
    // A close before any verdict is a failure to report, not a reason to wait for the test timeout.
    socket.once("close", (code, reason) => reject(new Error(`socket closed (${code} ${String(reason)}) before a verdict`)));
  });
}

/** Through the official ConvexClient: resolves with what `setAuth`'s onChange reports, and whoami. */
async function throughClient(jwt: string): Promise<{ authenticated: boolean; identity: unknown }> {
  const client = syncClient(deployment.backend.url);
  try {
    // The client confirms a token once the server answers with a transition, so a query must be subscribed.
    let latest: unknown;
    client.onUpdate(api.auth.whoami, {}, (value) => (latest = value));
    // The same token on every fetch, forced refresh included: once the server confirms a token the
    // client at once fetches a fresh one, and a null there would sign it out behind the test's back.
    const authChanges: boolean[] = [];
    let reportFlip!: (error: Error) => void;
    // A later change of mind fails the test at once: whoami would never show the first verdict.
    const flipped = new Promise<never>((_, reject) => (reportFlip = reject));
    const authenticated = await new Promise<boolean>((resolve) =>
      client.setAuth(
        async () => jwt,
        (isAuthenticated) => {
          authChanges.push(isAuthenticated);
          if (authChanges.length === 1) resolve(isAuthenticated);
          else reportFlip(new Error(`the client reported authenticated ${authChanges.join(", then ")}`));
        },
      ),
    );
    const identity = await Promise.race([valueOf<unknown>(client, api.auth.whoami, {}, (value) => (value === null) === !authenticated), flipped]);
    expect(authChanges).toEqual([authenticated]);
    expect(latest).toEqual(identity);
    return { authenticated, identity };
  } finally {
    await client.close();
  }
}

describe.each<Provider>(["custom", "oidc"])("%s provider", (provider) => {
  it("accepts a valid token on both paths (the control case)", async () => {
    const jwt = await token(provider);
    const identity = { subject: "user-1", issuer: `${idpUrl}/${provider}` };
    expect(await overHttp(jwt)).toEqual(identity);
    expect(await overSocket(jwt)).toEqual({ type: "Transition", identity });
    expect(await throughClient(jwt)).toEqual({ authenticated: true, identity });
  });

  const attacks: [string, () => Promise<string>, RegExp][] = [
    ["forged (signed by a key the provider never published, under a published kid)", () => token(provider, { key: attacker.privateKey }), /signature/i],
    ["expired", () => token(provider, { expiresInS: -60 }), /expired/i],
    ["not yet valid (nbf an hour ahead)", () => token(provider, { notBeforeInS: 3600 }), /not yet valid|Token will be valid in \d+ seconds/i],
    ["from the wrong issuer", () => token(provider, { issuer: `${idpUrl}/elsewhere` }), /No auth provider found matching the given token/],
    ["for the wrong audience", () => token(provider, { audience: "another-app" }), /No auth provider found matching the given token/],
    ["unsigned (alg: none)", () => unsignedToken(provider), /alg|algorithm/i],
    ["HMAC-signed with the public key (HS256 confusion)", () => hmacWithPublicKey(provider), /alg|algorithm/i],
    ["signed under an unknown kid", () => token(provider, { key: attacker.privateKey, kid: "unknown" }), /No matching key found for kid 'unknown'/],
    ["tampered after signing", () => tamperedToken(provider), /signature/i],
  ];

  it.each(attacks)("refuses a token %s over HTTP, the raw socket and ConvexClient", async (_name, make, reason) => {
    const jwt = await make();
    await expect(overHttp(jwt)).rejects.toThrow(reason);
    const verdict = await overSocket(jwt);
    expect(verdict.type).toBe("AuthError");
    expect((verdict as { error: string }).error).toMatch(reason);
    expect(await throughClient(jwt)).toEqual({ authenticated: false, identity: null });
  });
});

it("refuses a token replayed after its key was removed from the JWKS", async () => {
  const jwt = await token("custom", { key: retired.privateKey, kid: "retired", subject: "rotated-out" });
  expect(await overHttp(jwt)).toEqual({ subject: "rotated-out", issuer: `${idpUrl}/custom` });
  published = published.filter((key) => key.kid !== "retired");
  try {
    await new Promise((resolve) => setTimeout(resolve, JWKS_CACHE_MS + 50)); // let the cached key set go stale
    await expect(overHttp(jwt)).rejects.toThrow(/No matching key found for kid 'retired'/);
    expect(await overSocket(jwt)).toMatchObject({ type: "AuthError", error: expect.stringMatching(/No matching key found for kid 'retired'/) });
    expect(await throughClient(jwt)).toEqual({ authenticated: false, identity: null });
    // Tokens under the key that stayed keep working.
    expect(await overHttp(await token("custom"))).toMatchObject({ subject: "user-1" });
  } finally {
    published.push({ ...(await exportJWK(retired.publicKey)), kid: "retired", alg: "RS256", use: "sig" });
  }
});
