import { beforeEach, describe, expect, test, vi } from "vitest";
import {
  TEST_SECRET,
  fixtureConformanceTarget,
  startCustomUsersApp,
  startFixtureApp,
} from "../testing/convexTestApp.js";
import { runAdapterConformance } from "../testing/adapterConformance.js";
import { AdapterSecretRejectedError, ConvexAdapter, MissingEnvironmentVariableError } from "./index.js";

beforeEach(() => {
  vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
});

runAdapterConformance("convex-test", fixtureConformanceTarget);

describe("ConvexAdapter settings", () => {
  const countingCaller = () => {
    const { caller } = startFixtureApp();
    const calls: string[] = [];
    return {
      calls,
      caller: {
        query: (ref: any, args: any) => (calls.push("query"), caller.query(ref, args)),
        mutation: (ref: any, args: any) => (calls.push("mutation"), caller.mutation(ref, args)),
      },
    };
  };

  test("reads the secret from the environment at call time, not at creation", async () => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", undefined);
    const { caller } = countingCaller();
    const adapter = ConvexAdapter({ caller });
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", TEST_SECRET);
    expect(await adapter.getUserByEmail("nobody@example.com")).toBeNull();
  });

  test.each([undefined, ""])("fails closed, naming the variable, when the secret is %j", async (value) => {
    const { caller, calls } = countingCaller();
    const adapter = ConvexAdapter({ caller });
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", value);
    const error = await adapter.getUser("anything").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingEnvironmentVariableError);
    expect(error).toMatchObject({ variable: "CONVEX_AUTH_ADAPTER_SECRET" });
    expect((error as Error).message).toContain("CONVEX_AUTH_ADAPTER_SECRET");
    expect(calls).toEqual([]);
  });

  test("fails closed, naming NEXT_PUBLIC_CONVEX_URL, when no URL or caller is given", async () => {
    vi.stubEnv("NEXT_PUBLIC_CONVEX_URL", undefined);
    const error = await ConvexAdapter({ secret: TEST_SECRET })
      .getUser("anything")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingEnvironmentVariableError);
    expect((error as Error).message).toContain("NEXT_PUBLIC_CONVEX_URL");
  });

  test("an explicit secret wins over the environment", async () => {
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", "stale-value");
    const { caller } = countingCaller();
    // The deployment (this process) checks against the env, so the explicit value must be sent.
    const error = await ConvexAdapter({ caller, secret: "explicit-value" })
      .getUser("anything")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterSecretRejectedError);
    expect(error).toMatchObject({ reason: "mismatch" });
  });

  test("a secret the deployment refuses surfaces as AdapterSecretRejectedError", async () => {
    const { caller } = countingCaller();
    const adapter = ConvexAdapter({ caller, secret: TEST_SECRET });
    vi.stubEnv("CONVEX_AUTH_ADAPTER_SECRET", "");
    await expect(adapter.getUser("anything")).rejects.toMatchObject({
      name: "AdapterSecretRejectedError",
      reason: "not-configured-on-deployment",
    });
  });

  test("the default caller posts to the configured URL", async () => {
    const fetchMock = vi.fn(async () =>
      Response.json({ results: [{ status: "success", value: null, logLines: [] }] }),
    );
    vi.stubGlobal("fetch", fetchMock);
    try {
      const adapter = ConvexAdapter({ url: "http://127.0.0.1:3210", secret: TEST_SECRET });
      expect(await adapter.getUser("some-id")).toBeNull();
      const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
      expect(url).toBe("http://127.0.0.1:3210/api/query_batch");
      expect(init.cache).toBe("no-store");
      expect(JSON.parse(init.body as string)).toEqual({
        queries: [{ path: "authAdapter:getUser", args: { id: "some-id", secret: TEST_SECRET }, format: "convex_encoded_json" }],
      });
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe("extra user fields", () => {
  const profileUser = {
    id: "ignored",
    email: "ada@example.com",
    emailVerified: null,
    name: "Ada",
    role: "admin",
    phone: "+100000000",
  };

  test("are stored and returned when both tables and functions declare them", async () => {
    const adapter = ConvexAdapter({ caller: startCustomUsersApp().caller, secret: TEST_SECRET });
    const user = await adapter.createUser(profileUser);
    expect(user).toEqual({ ...profileUser, id: user.id, image: null });
    const updated = await adapter.updateUser({ id: user.id, role: "member", phone: null } as never);
    expect(updated).toMatchObject({ role: "member" });
    expect(updated).not.toHaveProperty("phone");
    expect(await adapter.getUser(user.id)).toEqual(updated);
  });

  test("are refused, with nothing stored, when not declared", async () => {
    const { caller, readTable } = startFixtureApp();
    const adapter = ConvexAdapter({ caller, secret: TEST_SECRET });
    await expect(adapter.createUser(profileUser)).rejects.toThrow(/role/);
    expect(await readTable("users")).toEqual([]);
  });
});
