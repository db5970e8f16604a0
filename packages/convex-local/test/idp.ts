/**
 * A local identity provider on 127.0.0.1 for the `identity` fixture: OIDC discovery and a JWKS
 * with two RSA keys (a rotation in progress) for the OIDC provider, and an EC JWKS for the
 * `customJwt` provider. `deployIdentityFixture` pushes the fixture with TEST_IDP_URL pointing here.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { deployFixture, type TestDeployment } from "./harness.js";

export const OIDC_AUDIENCE = "convex-oidc-app";
export const CUSTOM_AUDIENCE = "convex-custom-app";

export interface SigningKey {
  kid: string;
  alg: "RS256" | "ES256";
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface IdentityProvider {
  url: string;
  /** The OIDC provider's current and next key, both published in its JWKS. */
  oidcKeys: [SigningKey, SigningKey];
  customKey: SigningKey;
  /** A key the IdP never published. */
  strangerKey: SigningKey;
  /** A signed OIDC token: issuer, audience, sub, iat and a 10-minute exp unless overridden. */
  oidcToken(claims?: JWTPayload, key?: SigningKey): Promise<string>;
  customToken(claims?: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

async function signingKey(kid: string, alg: SigningKey["alg"]): Promise<SigningKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" } };
}

export async function startIdentityProvider(): Promise<IdentityProvider> {
  const oidcKeys: [SigningKey, SigningKey] = [await signingKey("oidc-current", "RS256"), await signingKey("oidc-next", "RS256")];
  const customKey = await signingKey("custom-1", "ES256");
  const strangerKey = await signingKey("oidc-current", "RS256");
  let url = "";
  const documents: Record<string, () => unknown> = {
    "/.well-known/openid-configuration": () => ({ issuer: url, jwks_uri: `${url}/jwks.json` }),
    "/jwks.json": () => ({ keys: oidcKeys.map((key) => key.publicJwk) }),
    "/custom/jwks.json": () => ({ keys: [customKey.publicJwk] }),
  };
  const server = http.createServer((request, response) => {
    const document = documents[request.url ?? ""];
    if (document === undefined) response.writeHead(404).end();
    else response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(document()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const sign = (claims: JWTPayload, key: SigningKey, defaults: JWTPayload) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: "user-1", iat: now, exp: now + 600, ...defaults, ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
      .sign(key.privateKey);
  };
  return {
    url,
    oidcKeys,
    customKey,
    strangerKey,
    oidcToken: (claims = {}, key = oidcKeys[0]) => sign(claims, key, { iss: url, aud: OIDC_AUDIENCE }),
    customToken: (claims = {}) => sign(claims, customKey, { iss: `${url}/custom`, aud: CUSTOM_AUDIENCE }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Deploys the `identity` fixture with TEST_IDP_URL set, so auth.config.ts names the IdP (an unset variable fails the push, as on Convex). */
export async function deployIdentityFixture(idp: IdentityProvider): Promise<TestDeployment> {
  return await deployFixture("identity", { TEST_IDP_URL: idp.url });
}
