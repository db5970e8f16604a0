/**
 * Sign-in rate limits through Auth.js itself (`@auth/core` in process, its HTTP endpoints, a cookie
 * jar) with `limitSignIns` as the signIn callback, over ConvexAdapter on the fixture app
 * (convex-test, default limits: 5 magic links per address and 20 per client address, per hour).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Passkey from "@auth/core/providers/passkey";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { DevMailbox, readDevMailbox } from "../dev/index.js";
import { AUTH_BASE_PATH, AUTH_ORIGIN, authjsClient } from "../testing/authjsHttp.js";
import { startFixtureApp, TEST_SECRET } from "../testing/convexTestApp.js";
import { ConvexAdapter, limitSignIns, type LimitSignInsOptions, type SignInRefusal } from "./index.js";

const VERIFY = `${AUTH_ORIGIN}${AUTH_BASE_PATH}/verify-request?provider=dev-mailbox&type=email`;
const REFUSED = `${AUTH_ORIGIN}${AUTH_BASE_PATH}/error?error=AccessDenied`;
const HOUR = 60 * 60 * 1000;
let dir: string;

beforeEach(() => {
  vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
  dir = mkdtempSync(path.join(tmpdir(), "sign-in-limits-"));
});

afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function signInApp(whenRefused?: LimitSignInsOptions["whenRefused"]) {
  const { caller, readTable } = startFixtureApp();
  const adapter = ConvexAdapter({ caller, secret: TEST_SECRET });
  const client = { address: "198.51.100.1" as string | undefined };
  const auth = authjsClient({
    providers: [DevMailbox({ dir, log: false })],
    adapter,
    callbacks: { signIn: limitSignIns(adapter, { clientAddress: () => client.address, whenRefused }) },
    // Auth.js logs each refusal as an AccessDenied error; anything else is shown.
    logger: { error: (error) => void (error.name === "AccessDenied" || console.error(error)) },
  });
  const request = async (email: string) => (await auth.requestMagicLink("dev-mailbox", email)).headers.get("location");
  return { request, client, readTable };
}

describe("magic links per address", () => {
  test("the 6th request within the hour ends on Auth.js's error page, stores no token and sends nothing", async () => {
    const { request, readTable } = signInApp();
    for (let i = 0; i < 5; i++) expect(await request("ada@example.com")).toBe(VERIFY);
    expect(await request("ada@example.com")).toBe(REFUSED);
    expect(readDevMailbox(dir, "ada@example.com")).toHaveLength(5);
    expect((await readTable("verificationTokens")).filter((token) => token.identifier === "ada@example.com")).toHaveLength(5);
  });

  test("other addresses are not affected", async () => {
    const { request } = signInApp();
    for (let i = 0; i < 6; i++) await request("ada@example.com");
    expect(await request("bob@example.com")).toBe(VERIFY);
    expect(readDevMailbox(dir, "bob@example.com")).toHaveLength(1);
  });

  test("the address's limit resets when its window ends", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2026, 0, 1));
    const { request } = signInApp();
    for (let i = 0; i < 5; i++) await request("ada@example.com");
    vi.setSystemTime(Date.UTC(2026, 0, 1) + HOUR - 1);
    expect(await request("ada@example.com")).toBe(REFUSED);
    vi.setSystemTime(Date.UTC(2026, 0, 1) + HOUR);
    expect(await request("ada@example.com")).toBe(VERIFY);
  });
});

test("whenRefused sends a refused request where it says, told which limit refused it and for how long", async () => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.UTC(2026, 0, 1));
  const refusals: SignInRefusal[] = [];
  const { request } = signInApp((refusal) => {
    refusals.push(refusal);
    return `/signin?error=TooManySignInLinks&minutes=${Math.ceil(refusal.retryAfterMs / 60_000)}`;
  });
  for (let i = 0; i < 5; i++) expect(await request("ada@example.com")).toBe(VERIFY);
  vi.setSystemTime(Date.UTC(2026, 0, 1) + 20 * 60_000);
  expect(await request("ada@example.com")).toBe(`${AUTH_ORIGIN}/signin?error=TooManySignInLinks&minutes=40`);
  expect(refusals).toEqual([{ ok: false, limit: "magicLink:address", retryAfterMs: 40 * 60_000 }]);
  expect(readDevMailbox(dir, "ada@example.com")).toHaveLength(5);
});

describe("magic links per client address", () => {
  test("the 21st request from one client within the hour is refused, whatever the address; other clients are not", async () => {
    const { request, client } = signInApp();
    for (let i = 0; i < 20; i++) expect(await request(`user${i}@example.com`)).toBe(VERIFY);
    expect(await request("user20@example.com")).toBe(REFUSED);
    client.address = "198.51.100.2";
    expect(await request("user20@example.com")).toBe(VERIFY);
  });

  test("a refused request counts against neither limit", async () => {
    const { request, client } = signInApp();
    for (let i = 0; i < 5; i++) await request("ada@example.com");
    // Refused by the address limit, 10 times: the client's own count stays at 5.
    for (let i = 0; i < 10; i++) expect(await request("ada@example.com")).toBe(REFUSED);
    for (let i = 0; i < 15; i++) expect(await request(`other${i}@example.com`)).toBe(VERIFY);
    expect(await request("one-too-many@example.com")).toBe(REFUSED);
    client.address = undefined;
    // Without a client address only the address limit applies.
    expect(await request("one-too-many@example.com")).toBe(VERIFY);
  });
});

test("other sign-ins pass through the callback untouched", async () => {
  const adapter = { limitMagicLink: vi.fn(), limitPasskey: vi.fn() };
  const signIn = limitSignIns(adapter, { clientAddress: () => "198.51.100.1" });
  expect(await signIn({ user: { email: "ada@example.com" } })).toBe(true);
  expect(await signIn({ user: { email: "ada@example.com" }, email: { verificationRequest: false } })).toBe(true);
  expect(await signIn({ user: { id: "u1", email: "ada@example.com" }, account: { type: "oidc" } })).toBe(true);
  expect(adapter.limitMagicLink).not.toHaveBeenCalled();
  expect(adapter.limitPasskey).not.toHaveBeenCalled();
});

describe("failed passkey sign-ins per account", () => {
  const MINUTE = 60_000;
  const ADA = "Y3JlZC1hZGE="; // stored as Auth.js stores a credential ID: standard base64
  const BOB = "Y3JlZC1ib2I=";

  async function passkeyApp() {
    const { caller } = startFixtureApp();
    const adapter = ConvexAdapter({ caller, secret: TEST_SECRET });
    const withPasskey = async (email: string, credentialID: string) => {
      const user = await adapter.createUser({ id: "", email, emailVerified: null });
      await adapter.linkAccount({ userId: user.id, type: "webauthn", provider: "passkey", providerAccountId: credentialID });
      await adapter.createAuthenticator({
        credentialID,
        userId: user.id,
        providerAccountId: credentialID,
        credentialPublicKey: "cHVibGljLWtleQ",
        counter: 0,
        credentialDeviceType: "singleDevice",
        credentialBackedUp: false,
        transports: "internal",
      });
      return user.id;
    };
    // What Auth.js calls once it has verified a passkey.
    const verified = (userId: string) => limitSignIns(adapter)({ user: { id: userId }, account: { type: "webauthn" } });
    return { adapter, withPasskey, verified };
  }

  test("after 5 failed attempts in 15 minutes a verified passkey is refused too; other accounts are not affected", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2026, 0, 1));
    const { adapter, withPasskey, verified } = await passkeyApp();
    const ada = await withPasskey("ada@example.com", ADA);
    const bob = await withPasskey("bob@example.com", BOB);
    // Auth.js looks each passkey up before it verifies it; 5 of these failed, the 6th is verified.
    for (let i = 0; i < 6; i++) await adapter.getAuthenticator!(ADA);
    vi.setSystemTime(Date.UTC(2026, 0, 1) + 5 * MINUTE);
    const refusals: SignInRefusal[] = [];
    const signIn = limitSignIns(adapter, { whenRefused: (refusal) => (refusals.push(refusal), "/signin?error=TooManyPasskeyFailures") });
    expect(await signIn({ user: { id: ada }, account: { type: "webauthn" } })).toBe("/signin?error=TooManyPasskeyFailures");
    expect(refusals).toEqual([{ ok: false, limit: "passkey:account", retryAfterMs: 10 * MINUTE }]);
    expect(await verified(ada)).toBe(false);
    await adapter.getAuthenticator!(BOB);
    expect(await verified(bob)).toBe(true);
    // The window ends: the next verified passkey signs in, and ends the count.
    vi.setSystemTime(Date.UTC(2026, 0, 1) + 15 * MINUTE);
    await adapter.getAuthenticator!(ADA);
    expect(await verified(ada)).toBe(true);
  });

  test("fewer failures than the limit: a verified passkey signs in and the count starts again", async () => {
    const { adapter, withPasskey, verified } = await passkeyApp();
    const ada = await withPasskey("ada@example.com", ADA);
    for (let i = 0; i < 5; i++) await adapter.getAuthenticator!(ADA); // 4 failed, the 5th verified
    expect(await verified(ada)).toBe(true);
    for (let i = 0; i < 5; i++) await adapter.getAuthenticator!(ADA);
    expect(await verified(ada)).toBe(true);
    // A lookup of a credential nobody has counts against nobody.
    expect(await adapter.getAuthenticator!("dW5rbm93bg==")).toBeNull();
  });

  test("through Auth.js: each passkey assertion it fails counts against the account", async () => {
    const { adapter, withPasskey, verified } = await passkeyApp();
    const ada = await withPasskey("ada@example.com", ADA);
    const auth = authjsClient({ providers: [Passkey], adapter, experimental: { enableWebAuthn: true }, logger: { error: () => undefined } });
    // An assertion of Ada's credential with no challenge: Auth.js looks the passkey up, then fails it.
    const failedAttempt = async () => {
      const response = await auth.request(`${AUTH_BASE_PATH}/callback/passkey`, {
        method: "POST",
        form: { action: "authenticate", data: JSON.stringify({ id: "Y3JlZC1hZGE", rawId: "Y3JlZC1hZGE", type: "public-key", response: {} }) },
      });
      return new URL(response.headers.get("location")!).pathname;
    };
    for (let i = 0; i < 5; i++) expect(await failedAttempt()).toBe(`${AUTH_BASE_PATH}/error`);
    await adapter.getAuthenticator!(ADA);
    expect(await verified(ada)).toBe(false);
  });
});
