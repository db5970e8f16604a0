/**
 * `ctx.auth.signJwt` (syscall `1.0/signJwt`, in `convex` 1.48 and later): ES256 tokens signed with the
 * deployment's key, checked here with `jose` against `/.well-known/jwks.json`, and accepted by the
 * deployment itself through a `customJwt` provider that names that JWKS.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { calculateJwkThumbprint, createRemoteJWKSet, jwtVerify } from "jose";
import { deployFixture, startTestBackend, type TestDeployment } from "./harness.js";
import type { Backend } from "../src/index.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;
let restarted: Backend | undefined;

beforeAll(async () => {
  deployment = await deployFixture("signJwt");
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await restarted?.close();
  await deployment?.cleanup();
});

const sign = (options: unknown): Promise<string> => client.mutation(api.tokens.sign, { options });

describe("ctx.auth.signJwt", () => {
  it("signs an ES256 token with the deployment's key, issued by its URL, that its JWKS verifies", async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await sign({ claims: { aud: "my-service", sub: "user-1", role: ["admin"] }, expiresInSeconds: 300 });
    const keys = createRemoteJWKSet(new URL(`${deployment.backend.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(token, keys, { issuer: deployment.backend.url, audience: "my-service", algorithms: ["ES256"] });
    expect(protectedHeader).toMatchObject({ alg: "ES256", typ: "JWT" });
    expect(protectedHeader.kid).toBe(await calculateJwkThumbprint((await (await fetch(`${deployment.backend.url}/.well-known/jwks.json`)).json()).keys[0]));
    expect(payload).toMatchObject({ sub: "user-1", role: ["admin"], iss: deployment.backend.url, aud: "my-service" });
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.exp).toBe(payload.iat! + 300);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{16,}$/);

    const jwks = (await (await fetch(`${deployment.backend.url}/.well-known/jwks.json`)).json()) as { keys: Record<string, string>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig", kid: protectedHeader.kid });
    expect(jwks.keys[0]).not.toHaveProperty("d"); // the public half only
  });

  it("keeps a non-empty jti, makes a new one for each token otherwise, and takes several audiences", async () => {
    const claims = async (token: string) => (await jwtVerify(token, createRemoteJWKSet(new URL(`${deployment.backend.url}/.well-known/jwks.json`)))).payload;
    expect((await claims(await sign({ claims: { aud: ["a", "b"], jti: "trace-7" }, expiresInSeconds: 1 }))).jti).toBe("trace-7");
    const [first, second] = await Promise.all([sign({ claims: { aud: "a", jti: "" }, expiresInSeconds: 60 }), sign({ claims: { aud: "a" }, expiresInSeconds: 60 })]);
    const [firstJti, secondJti] = [(await claims(first)).jti, (await claims(second)).jti];
    expect(firstJti).not.toBe("");
    expect(firstJti).not.toBe(secondJti);
    expect((await claims(first)).aud).toBe("a");
  });

  it("signs tokens the deployment accepts through a customJwt provider naming its own JWKS", async () => {
    const token = await sign({ claims: { aud: "my-service", sub: "user-42", name: "Ada" }, expiresInSeconds: 120 });
    const user = new ConvexHttpClient(deployment.backend.url);
    user.setAuth(token);
    expect(await user.query(api.tokens.whoami, {})).toMatchObject({
      subject: "user-42",
      issuer: deployment.backend.url,
      tokenIdentifier: `${deployment.backend.url}|user-42`,
      name: "Ada",
    });
    // A token for another audience is refused.
    const other = new ConvexHttpClient(deployment.backend.url);
    other.setAuth(await sign({ claims: { aud: "another-service", sub: "user-42" }, expiresInSeconds: 120 }));
    await expect(other.query(api.tokens.whoami, {})).rejects.toThrow();
  });

  it("refuses what the newest package (1.51) documents as refused, naming the problem", async () => {
    const refusals: [unknown, string][] = [
      [{ expiresInSeconds: 60 }, 'claims are required, with "aud"'],
      [{ claims: { sub: "x" }, expiresInSeconds: 60 }, 'the claim "aud" is required'],
      [{ claims: { aud: "" }, expiresInSeconds: 60 }, 'the claim "aud" is required'],
      [{ claims: { aud: [] }, expiresInSeconds: 60 }, 'the claim "aud" is required'],
      [{ claims: { aud: ["a", ""] }, expiresInSeconds: 60 }, 'the claim "aud" is required'],
      [{ claims: { aud: "a" }, expiresInSeconds: 0 }, "expiresInSeconds must be a number from 1 to 3600 (1 hour), got 0"],
      [{ claims: { aud: "a" }, expiresInSeconds: 3601 }, "expiresInSeconds must be a number from 1 to 3600 (1 hour), got 3601"],
      [{ claims: { aud: "a" } }, "expiresInSeconds must be a number from 1 to 3600 (1 hour)"],
      [{ claims: { aud: "a", nbf: 1 }, expiresInSeconds: 60 }, 'the claim "nbf" is set by Convex and may not be given'],
      [{ claims: { aud: "a", iss: "me" }, expiresInSeconds: 60 }, 'the claim "iss" is set by Convex and may not be given'],
      [{ claims: { aud: "a", exp: 1 }, expiresInSeconds: 60 }, 'the claim "exp" is set by Convex and may not be given'],
      [{ claims: { aud: "a", ConvexRole: "x" }, expiresInSeconds: 60 }, 'the claim "ConvexRole" is reserved'],
      [{ claims: { aud: "a", cVx_id: "x" }, expiresInSeconds: 60 }, 'the claim "cVx_id" is reserved'],
      [{ claims: { aud: "a", jti: 7 }, expiresInSeconds: 60 }, 'the claim "jti" must be a string'],
      [{ claims: "aud=a", expiresInSeconds: 60 }, "claims must be an object"],
    ];
    for (const [options, problem] of refusals) await expect(sign(options), JSON.stringify(options)).rejects.toThrow(`ctx.auth.signJwt: ${problem}`);
  });

  it("is refused in a query", async () => {
    await expect(client.query(api.tokens.signInQuery, {})).rejects.toThrow("ctx.auth.signJwt is only available in mutations");
  });

  it("signs with a key that is kept: tokens signed before a restart verify against the JWKS after it", async () => {
    const token = await sign({ claims: { aud: "a" }, expiresInSeconds: 60 });
    await deployment.backend.close();
    restarted = await startTestBackend(deployment.dataDir);
    const keys = createRemoteJWKSet(new URL(`${restarted.url}/.well-known/jwks.json`));
    expect((await jwtVerify(token, keys, { issuer: deployment.backend.url })).payload.aud).toBe("a");
  });
});
