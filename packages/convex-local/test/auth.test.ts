/**
 * The JWT acceptance table of issue 5, end to end: the `identity` fixture's auth.config.ts has an
 * OIDC provider (discovery + a JWKS with two keys) and a customJwt provider (ES256), served by a
 * local IdP. Every valid token is accepted over HTTP (`Authorization: Bearer`, ConvexHttpClient)
 * and over the WebSocket (ConvexClient.setAuth), and `ctx.auth.getUserIdentity()` returns Convex's
 * fields; every invalid token is refused on both.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { base64url, SignJWT } from "jose";
import WebSocket from "ws";
import type { TestDeployment } from "./harness.js";
import { deployIdentityFixture, startIdentityProvider, type IdentityProvider } from "./idp.js";

const api = anyApi;
let idp: IdentityProvider;
let deployment: TestDeployment;

beforeAll(async () => {
  idp = await startIdentityProvider();
  deployment = await deployIdentityFixture(idp);
}, 240_000);

afterAll(async () => {
  await deployment?.cleanup();
  await idp?.close();
});

const nowS = () => Math.floor(Date.now() / 1000);

function wsClient(): ConvexClient {
  return new ConvexClient(deployment.backend.url, {
    webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
    skipConvexDeploymentUrlCheck: true,
    logger: false,
  });
}

/** Asks over HTTP with a Bearer token; the identity, or the error's message. */
async function identityOverHttp(token: string): Promise<{ identity?: Record<string, unknown> | null; error?: string }> {
  const client = new ConvexHttpClient(deployment.backend.url);
  client.setAuth(token);
  return client.query(api.identity.whoami, {}).then(
    (identity: Record<string, unknown> | null) => ({ identity }),
    (error: Error) => ({ error: error.message }),
  );
}

/**
 * Authenticates a ConvexClient with `tokens` (one per fetchToken call, the last one repeated)
 * and reports whether the client ended up authenticated, with what fetchToken was asked.
 */
async function authenticateOverWebSocket(tokens: string[]): Promise<{ authenticated: boolean; identity: unknown; fetches: boolean[] }> {
  const client = wsClient();
  const fetches: boolean[] = [];
  try {
    const authenticated = await new Promise<boolean>((resolve) => {
      client.setAuth(
        async ({ forceRefreshToken }) => {
          fetches.push(forceRefreshToken);
          return tokens[Math.min(fetches.length - 1, tokens.length - 1)]!;
        },
        resolve,
      );
    });
    const identity = authenticated ? await client.query(api.identity.whoami, {}) : undefined;
    return { authenticated, identity, fetches };
  } finally {
    await client.close();
  }
}

interface TokenCase {
  name: string;
  token: () => Promise<string>;
}

const validCases: (TokenCase & { expected: () => Record<string, unknown> })[] = [
  {
    name: "OIDC token signed with the current key, standard claims mapped",
    token: () =>
      idp.oidcToken({ sub: "alice", name: "Alice", email: "alice@example.com", email_verified: true, picture: "https://example.com/a.png", given_name: "Al" }),
    expected: () => ({
      subject: "alice",
      issuer: idp.url,
      tokenIdentifier: `${idp.url}|alice`,
      name: "Alice",
      email: "alice@example.com",
      emailVerified: true,
      pictureUrl: "https://example.com/a.png",
      givenName: "Al",
    }),
  },
  {
    name: "OIDC token signed with the next key of a rotation (JWKS with two keys)",
    token: () => idp.oidcToken({ sub: "bob" }, idp.oidcKeys[1]),
    expected: () => ({ subject: "bob", issuer: idp.url, tokenIdentifier: `${idp.url}|bob` }),
  },
  {
    name: "customJwt ES256 token with custom claims passed through",
    token: () => idp.customToken({ sub: "carol", role: "admin", org: { id: "o1" } }),
    expected: () => ({
      subject: "carol",
      issuer: `${idp.url}/custom`,
      tokenIdentifier: `${idp.url}/custom|carol`,
      role: "admin",
      "org.id": "o1",
    }),
  },
];

const invalidCases: TokenCase[] = [
  { name: "expired", token: () => idp.oidcToken({ iat: nowS() - 1200, exp: nowS() - 600 }) },
  { name: "not valid yet (nbf in the future)", token: () => idp.oidcToken({ nbf: nowS() + 600 }) },
  { name: "issued in the future (customJwt iat)", token: () => idp.customToken({ iat: nowS() + 600 }) },
  { name: "wrong audience", token: () => idp.oidcToken({ aud: "another-app" }) },
  { name: "unknown issuer", token: () => idp.oidcToken({ iss: "http://127.0.0.1:9/elsewhere" }) },
  { name: "customJwt token with the OIDC audience", token: () => idp.customToken({ aud: "convex-oidc-app" }) },
  { name: "missing sub", token: () => idp.oidcToken({ sub: undefined }) },
  {
    name: "alg none",
    token: async () => {
      const valid = await idp.oidcToken();
      const header = base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }));
      return `${header}.${valid.split(".")[1]}.`;
    },
  },
  {
    name: "HS256 signed with the provider's public key as the secret",
    token: () =>
      new SignJWT({ sub: "mallory", iss: idp.url, aud: "convex-oidc-app", iat: nowS(), exp: nowS() + 600 })
        .setProtectedHeader({ alg: "HS256", kid: idp.oidcKeys[0].kid })
        .sign(new TextEncoder().encode(JSON.stringify(idp.oidcKeys[0].publicJwk))),
  },
  {
    name: "unknown kid",
    token: () =>
      new SignJWT({ sub: "mallory", iss: idp.url, aud: "convex-oidc-app", iat: nowS(), exp: nowS() + 600 })
        .setProtectedHeader({ alg: "RS256", kid: "no-such-key" })
        .sign(idp.oidcKeys[0].privateKey),
  },
  { name: "signed by a key the IdP never published (same kid)", token: () => idp.oidcToken({ sub: "mallory" }, idp.strangerKey) },
  {
    name: "tampered payload",
    token: async () => {
      const [header, payload, signature] = (await idp.oidcToken({ sub: "alice" })).split(".");
      const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!)));
      return `${header}.${base64url.encode(JSON.stringify({ ...claims, sub: "admin" }))}.${signature}`;
    },
  },
  { name: "not a JWT", token: async () => "definitely-not-a-jwt" },
];

describe("valid tokens are accepted", () => {
  it.each(validCases)("$name — over HTTP (Bearer)", async ({ token, expected }) => {
    const { identity, error } = await identityOverHttp(await token());
    expect(error).toBeUndefined();
    expect(identity).toMatchObject(expected());
  });

  it.each(validCases)("$name — over the WebSocket (setAuth)", async ({ token, expected }) => {
    const result = await authenticateOverWebSocket([await token()]);
    expect(result.authenticated).toBe(true);
    expect(result.identity).toMatchObject(expected());
  });

  it("mutations see the same identity as queries", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    client.setAuth(await idp.customToken({ sub: "dave" }));
    expect(await client.mutation(api.identity.whoamiInMutation, {})).toMatchObject({ tokenIdentifier: `${idp.url}/custom|dave` });
  });
});

describe("HTTP actions", () => {
  const whoami = async (authorization?: string) =>
    await (await fetch(`${deployment.backend.siteUrl}/whoami`, { headers: authorization ? { Authorization: authorization } : {} })).json();

  it("see the identity of a valid Bearer token", async () => {
    expect(await whoami(`Bearer ${await idp.customToken({ sub: "erin" })}`)).toMatchObject({ tokenIdentifier: `${idp.url}/custom|erin`, subject: "erin" });
  });

  it("run anonymously without an Authorization header", async () => {
    expect(await whoami()).toBeNull();
  });

  it("run with a refused Authorization header, and ctx.auth.getUserIdentity() throws the refusal, as on Convex", async () => {
    const refusal = async (authorization: string) => {
      const response = await fetch(`${deployment.backend.siteUrl}/whoamiOrRefusal`, { headers: { Authorization: authorization } });
      expect(response.status).toBe(200);
      return ((await response.json()) as { refusal?: string }).refusal;
    };
    expect(await refusal("Basic")).toBe("Invalid authentication header");
    expect(await refusal("Basic dXNlcjpwYXNz")).toBe("Invalid admin key");
    expect(await refusal("Convex not-the-admin-key")).toBe("The provided admin key was invalid for this instance");
    expect(await refusal("Bearer definitely-not-a-jwt")).toEqual(expect.any(String));
    const [header, payload] = (await idp.customToken({ sub: "mallory" })).split(".");
    expect(await refusal(`Bearer ${header}.${payload}.forged-signature`)).toEqual(expect.any(String));
    // Uncaught, the refusal fails the action with Convex's HTTP action error.
    const uncaught = await fetch(`${deployment.backend.siteUrl}/whoami`, { headers: { Authorization: "Basic dXNlcjpwYXNz" } });
    expect(uncaught.status).toBe(500);
    expect(await uncaught.json()).toMatchObject({ code: expect.stringMatching(/Server Error: Uncaught Error: Invalid admin key$/) });
  });
});

describe("invalid tokens are refused", () => {
  it.each(invalidCases)("$name — over HTTP (Bearer)", async ({ token }) => {
    const { identity, error } = await identityOverHttp(await token());
    expect(identity).toBeUndefined();
    expect(error).toEqual(expect.any(String));
  });

  it.each(invalidCases)("$name — over the WebSocket (setAuth)", async ({ token }) => {
    const result = await authenticateOverWebSocket([await token()]);
    expect(result.authenticated).toBe(false);
    // The refusal came as Convex's AuthError: the client asked for a fresh token before giving up.
    expect(result.fetches).toEqual([false, true]);
  });
});

describe("token refresh", () => {
  it("an expired token over the WebSocket yields AuthError, and the client's forced refresh recovers", async () => {
    const expired = await idp.oidcToken({ sub: "erin", iat: nowS() - 1200, exp: nowS() - 600 });
    const fresh = await idp.oidcToken({ sub: "erin" });
    const result = await authenticateOverWebSocket([expired, fresh]);
    expect(result.fetches).toEqual([false, true]);
    expect(result.authenticated).toBe(true);
    expect(result.identity).toMatchObject({ tokenIdentifier: `${idp.url}|erin` });
  });
});
