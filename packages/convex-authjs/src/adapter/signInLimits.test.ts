/**
 * Sign-in rate limits through Auth.js itself (`@auth/core` in process, its HTTP endpoints, a cookie
 * jar) with `limitSignIns` as the signIn callback, over ConvexAdapter on the fixture app
 * (convex-test, default limits: 5 magic links per address and 20 per client address, per hour).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { DevMailbox, readDevMailbox } from "../dev/index.js";
import { AUTH_BASE_PATH, AUTH_ORIGIN, authjsClient } from "../testing/authjsHttp.js";
import { startFixtureApp, TEST_SECRET } from "../testing/convexTestApp.js";
import { ConvexAdapter, limitSignIns, type LimitSignInsOptions, type MagicLinkRefusal } from "./index.js";

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
  const refusals: MagicLinkRefusal[] = [];
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
  const adapter = { limitMagicLink: vi.fn() };
  const signIn = limitSignIns(adapter, { clientAddress: () => "198.51.100.1" });
  expect(await signIn({ user: { email: "ada@example.com" } })).toBe(true);
  expect(await signIn({ user: { email: "ada@example.com" }, email: { verificationRequest: false } })).toBe(true);
  expect(adapter.limitMagicLink).not.toHaveBeenCalled();
});
