import { convexTest } from "convex-test";
import { describe, expect, test } from "vitest";
import { api } from "../convex/_generated/api";
import schema from "../convex/schema";
import { signedIn } from "./convexSession";

const modules = import.meta.glob("../convex/**/!(*.*.*)*.*s");
const DAY = 24 * 60 * 60 * 1000;

/** Two users, Alice with an OIDC account, a passkey (and the account Auth.js links for it) and two sessions. */
async function setup() {
  const t = convexTest(schema, modules);
  const ids = await t.run(async (ctx) => {
    const alice = await ctx.db.insert("users", { email: "alice@example.com", emailVerified: 1 });
    const bob = await ctx.db.insert("users", { email: "bob@example.com" });
    await ctx.db.insert("accounts", {
      userId: alice,
      type: "oidc",
      provider: "oidc",
      providerAccountId: "alice-sub",
      access_token: "secret-access-token",
    });
    await ctx.db.insert("accounts", { userId: alice, type: "webauthn", provider: "passkey", providerAccountId: "cred-1" });
    const passkey = await ctx.db.insert("authenticators", {
      userId: alice,
      credentialID: "cred-1",
      providerAccountId: "cred-1",
      credentialPublicKey: "public-key",
      counter: 0,
      credentialDeviceType: "singleDevice",
      credentialBackedUp: false,
    });
    const sessions = [];
    for (const [userId, token, expires] of [
      [alice, "alice-1", Date.now() + DAY],
      [alice, "alice-2", Date.now() + DAY],
      [alice, "alice-expired", Date.now() - DAY],
      [bob, "bob-1", Date.now() + DAY],
    ] as const) {
      sessions.push(await ctx.db.insert("sessions", { userId, sessionToken: token, expires }));
    }
    return { alice, bob, passkey, aliceSession: sessions[0], bobSession: sessions[3] };
  });
  return { t, ...ids, asAlice: signedIn(t, ids.alice, ids.aliceSession), asBob: signedIn(t, ids.bob, ids.bobSession) };
}

async function errorOf(promise: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  try {
    await promise;
  } catch (error) {
    return (error as { data?: { code: string; message: string } }).data ?? { message: (error as Error).message };
  }
  throw new Error("expected the call to fail");
}

describe("account:overview", () => {
  test("shows the user's own sign-in methods and open sessions, no secrets", async () => {
    const { asAlice, passkey } = await setup();
    const overview = await asAlice.query(api.account.overview, {});
    expect(overview).toEqual({
      email: "alice@example.com",
      name: null,
      emailVerified: true,
      linkedAccounts: [{ provider: "oidc", type: "oidc", linkedAt: expect.any(Number) }],
      passkeys: [{ id: passkey, deviceType: "singleDevice", backedUp: false, createdAt: expect.any(Number) }],
      activeSessions: 2,
    });
    expect(JSON.stringify(overview)).not.toMatch(/secret-access-token|public-key|alice-1|cred-1/);
  });

  test("is null when signed out or for a token that names no user", async () => {
    const { t } = await setup();
    expect(await t.query(api.account.overview, {})).toBeNull();
    expect(await t.withIdentity({ subject: "not-a-user" }).query(api.account.overview, {})).toBeNull();
  });

  test("another user sees only their own", async () => {
    const { asBob } = await setup();
    expect(await asBob.query(api.account.overview, {})).toMatchObject({
      email: "bob@example.com",
      linkedAccounts: [],
      passkeys: [],
      activeSessions: 1,
    });
  });
});

describe("account:removePasskey", () => {
  test("removes the passkey and its webauthn account, keeps the other accounts", async () => {
    const { t, asAlice, passkey, alice } = await setup();
    await asAlice.mutation(api.account.removePasskey, { id: passkey });
    const left = await t.run(async (ctx) => ({
      authenticators: await ctx.db.query("authenticators").collect(),
      accounts: (await ctx.db.query("accounts").collect()).filter((a) => a.userId === alice).map((a) => a.provider),
    }));
    expect(left).toEqual({ authenticators: [], accounts: ["oidc"] });
  });

  test("someone else's, a tampered or a missing passkey is \"not found\" and nothing changes", async () => {
    const { t, asBob, asAlice, passkey, alice } = await setup();
    for (const [caller, id] of [
      [asBob, passkey],
      [asAlice, "tampered"],
      [asAlice, alice],
    ] as const) {
      expect(await errorOf(caller.mutation(api.account.removePasskey, { id }))).toEqual({
        code: "NOT_FOUND",
        message: "Passkey not found.",
      });
    }
    expect(await t.run((ctx) => ctx.db.get(passkey))).not.toBeNull();
    expect(await errorOf(t.mutation(api.account.removePasskey, { id: passkey }))).toMatchObject({ code: "UNAUTHENTICATED" });
  });
});

describe("account:signOutEverywhere", () => {
  test("deletes every session of the caller and no one else's", async () => {
    const { t, asAlice } = await setup();
    expect(await asAlice.mutation(api.account.signOutEverywhere, {})).toBe(3);
    const tokens = await t.run(async (ctx) => (await ctx.db.query("sessions").collect()).map((s) => s.sessionToken));
    expect(tokens).toEqual(["bob-1"]);
    // Her Convex token named one of the deleted sessions: it no longer signs her in.
    expect(await asAlice.query(api.account.overview, {})).toBeNull();
    expect(await errorOf(asAlice.mutation(api.account.signOutEverywhere, {}))).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  test("refuses signed-out callers", async () => {
    const { t } = await setup();
    expect(await errorOf(t.mutation(api.account.signOutEverywhere, {}))).toMatchObject({ code: "UNAUTHENTICATED" });
    expect(await t.run(async (ctx) => (await ctx.db.query("sessions").collect()).length)).toBe(4);
  });
});

describe("counter", () => {
  test("reads 0 at first; signed-in users increment it", async () => {
    const { t, asAlice, asBob } = await setup();
    expect(await t.query(api.counter.get, { counterName: "clicks" })).toBe(0);
    expect(await asAlice.mutation(api.counter.increment, { counterName: "clicks" })).toBe(1);
    expect(await asBob.mutation(api.counter.increment, { counterName: "clicks" })).toBe(2);
    expect(await t.query(api.counter.get, { counterName: "clicks" })).toBe(2);
  });

  test("refuses anonymous increments and unknown counters", async () => {
    const { t, asAlice } = await setup();
    expect(await errorOf(t.mutation(api.counter.increment, { counterName: "clicks" }))).toEqual({
      code: "UNAUTHENTICATED",
      message: "Sign in to click.",
    });
    expect(await errorOf(asAlice.mutation(api.counter.increment, { counterName: "likes" }))).toEqual({
      code: "UNKNOWN_COUNTER",
      message: 'There is no counter named "likes".',
    });
    expect(await errorOf(t.query(api.counter.get, { counterName: "likes" }))).toMatchObject({ code: "UNKNOWN_COUNTER" });
    expect(await t.run(async (ctx) => (await ctx.db.query("counters").collect()).length)).toBe(0);
  });
});
