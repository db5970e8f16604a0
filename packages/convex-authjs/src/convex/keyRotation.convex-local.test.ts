/**
 * Key rotation to another algorithm on a real deployment, without a push: the fixture app (whose
 * `auth.config.ts` is `defineAuthConfig()`) deployed once to `convex-local`, keys made and rotated with
 * the real `convex-authjs keys --set` bin, tokens minted as the Next.js side mints them, and a query
 * that reads `getAuthUserId` called with each token over HTTP, as `fetchQuery` would.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { ConvexAdapter } from "../adapter/index.js";
import { createConvexTokenMinter } from "../jwt/index.js";
import { TEST_SECRET } from "../testing/convexTestApp.js";
import { startFixtureDeployment, type FixtureDeployment } from "../testing/fixtureDeployment.js";

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/convex-authjs.js");
const viewer = makeFunctionReference<"query", Record<string, never>, string | null>("viewer:userId");
let deployment: FixtureDeployment;

beforeAll(async () => {
  // A JWKS cached 1 s: convex-local refetches for an unknown key id at most once per that (Convex: per Cache-Control).
  deployment = await startFixtureDeployment({ jwksCacheMs: 1000 });
}, 180_000);

afterAll(async () => {
  await deployment?.close();
});

async function keys(...args: string[]): Promise<void> {
  await promisify(execFile)(process.execPath, [bin, "keys", ...args], { cwd: deployment.appDir, env: deployment.cliEnv });
}

/** The private key `keys --set` wrote to the app's .env.local, as Next.js would read it. */
function privateKeyInEnvFile(): string {
  const text = readFileSync(path.join(deployment.appDir, ".env.local"), "utf8");
  const line = text.split("\n").find((l) => l.startsWith("CONVEX_AUTH_PRIVATE_KEY="));
  if (line === undefined) throw new Error("keys --set wrote no CONVEX_AUTH_PRIVATE_KEY");
  return line.slice("CONVEX_AUTH_PRIVATE_KEY=".length);
}

async function viewerWith(token: string): Promise<string | null> {
  const client = new ConvexHttpClient(deployment.backend.url, { logger: false });
  client.setAuth(token);
  return await client.query(viewer, {});
}

/** Polls until `check` passes (the verifier refetches the JWKS for a new key id after its cooldown). */
async function eventually(check: () => Promise<void>, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > end) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

test("keys --alg ES256 --rotate --set: signed-in users stay signed in, new ES256 tokens work, no push", async () => {
  await keys("--set");
  const adapter = ConvexAdapter({ url: deployment.backend.url, secret: TEST_SECRET });
  const user = await adapter.createUser({ id: "ignored", email: "rotation@example.com", emailVerified: null });
  const session = await adapter.createSession({ sessionToken: "rotation-session", userId: user.id, expires: new Date(Date.now() + 86_400_000) });

  const rsaMinter = createConvexTokenMinter({ privateKey: privateKeyInEnvFile(), issuer: deployment.backend.siteUrl });
  const rsaToken = await rsaMinter.tokenFor(user.id, session);
  expect(JSON.parse(Buffer.from(rsaToken.split(".")[0], "base64url").toString()).alg).toBe("RS256");
  expect(await viewerWith(rsaToken)).toBe(user.id);

  await keys("--alg", "ES256", "--rotate", "--set");

  // The served key set lists the new EC key first and keeps the RSA key while its tokens are valid.
  const served = (await (await fetch(`${deployment.backend.siteUrl}/.well-known/jwks.json`)).json()) as { keys: { kty: string; alg: string }[] };
  expect(served.keys.map((key) => [key.kty, key.alg])).toEqual([["EC", "ES256"], ["RSA", "RS256"]]);

  // A token minted before the rotation still counts (the user stays signed in)...
  expect(await viewerWith(rsaToken)).toBe(user.id);
  // ...and the Next.js side, restarted with the new key, signs ES256 tokens the deployment accepts.
  const ecMinter = createConvexTokenMinter({ privateKey: privateKeyInEnvFile(), issuer: deployment.backend.siteUrl });
  const ecToken = await ecMinter.tokenFor(user.id, session);
  expect(JSON.parse(Buffer.from(ecToken.split(".")[0], "base64url").toString()).alg).toBe("ES256");
  await eventually(async () => expect(await viewerWith(ecToken)).toBe(user.id));
  expect(await viewerWith(rsaToken)).toBe(user.id);

  // Back to RS256 keeping one previous key: the ES256 key stays, the first RSA key is gone.
  await keys("--alg", "RS256", "--rotate", "--set");
  const rsaMinter2 = createConvexTokenMinter({ privateKey: privateKeyInEnvFile(), issuer: deployment.backend.siteUrl });
  const rsaToken2 = await rsaMinter2.tokenFor(user.id, session);
  await eventually(async () => expect(await viewerWith(rsaToken2)).toBe(user.id));
  expect(await viewerWith(ecToken)).toBe(user.id);
  await expect(viewerWith(rsaToken)).rejects.toThrow(/kid|key/i);
}, 120_000);
