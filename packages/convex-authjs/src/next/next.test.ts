import { makeFunctionReference } from "convex/server";
import { preloadedQueryResult } from "convex/nextjs";
import NextAuth, { type Session } from "next-auth";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { ConvexAdapter } from "../adapter/index.js";
import { convexSessionCallback } from "../jwt/index.js";
import { convexAuthHelpers, convexForSession } from "./index.js";

const URL = "https://happy-otter-123.convex.cloud";
const listTasks = makeFunctionReference<"query", { done: boolean }, string[]>("tasks:list");
const addTask = makeFunctionReference<"mutation", { text: string }, string>("tasks:add");
const summarize = makeFunctionReference<"action", {}, string>("tasks:summarize");

const signedIn: Session = { expires: "2030-01-01T00:00:00.000Z", user: { name: "Ada" }, convexToken: "token-for-ada" };

/** Convex's HTTP API, recording what each call sent. */
let calls: Array<{ url: string; authorization: string | null; path: string; args: unknown }>;
beforeEach(() => {
  calls = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const body = JSON.parse(init?.body as string);
      calls.push({
        url: String(input),
        authorization: new Headers(init?.headers).get("Authorization"),
        path: body.path,
        args: body.args[0],
      });
      return Response.json({ status: "success", value: `result of ${body.path}`, logLines: [] });
    }),
  );
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe("convexAuthHelpers (App Router, route handlers)", () => {
  test("calls Convex with the current session's token", async () => {
    const auth = vi.fn(async () => signedIn);
    const convex = convexAuthHelpers(auth, { url: URL });
    expect(await convex.convexToken()).toBe("token-for-ada");
    expect(await convex.fetchQuery(listTasks, { done: false })).toBe("result of tasks:list");
    expect(await convex.fetchMutation(addTask, { text: "write tests" })).toBe("result of tasks:add");
    expect(await convex.fetchAction(summarize)).toBe("result of tasks:summarize");
    expect(calls).toEqual([
      { url: `${URL}/api/query`, authorization: "Bearer token-for-ada", path: "tasks:list", args: { done: false } },
      { url: `${URL}/api/mutation`, authorization: "Bearer token-for-ada", path: "tasks:add", args: { text: "write tests" } },
      { url: `${URL}/api/action`, authorization: "Bearer token-for-ada", path: "tasks:summarize", args: {} },
    ]);
  });

  test("preloadQuery preloads with the token", async () => {
    const convex = convexAuthHelpers(async () => signedIn, { url: URL });
    const preloaded = await convex.preloadQuery(listTasks, { done: true });
    expect(preloadedQueryResult(preloaded)).toBe("result of tasks:list");
    expect(preloaded._name).toBe("tasks:list");
    expect(calls[0].authorization).toBe("Bearer token-for-ada");
  });

  test("signed out, calls run unauthenticated and there is no token", async () => {
    const convex = convexAuthHelpers(async () => null, { url: URL });
    expect(await convex.convexToken()).toBeUndefined();
    await convex.fetchQuery(listTasks, { done: false });
    expect(calls[0].authorization).toBeNull();
  });

  test("reads the session for each call, so a new sign-in is picked up", async () => {
    let session: Session | null = null;
    const convex = convexAuthHelpers(async () => session, { url: URL });
    await convex.fetchQuery(listTasks, { done: false });
    session = signedIn;
    await convex.fetchQuery(listTasks, { done: false });
    expect(calls.map((call) => call.authorization)).toEqual([null, "Bearer token-for-ada"]);
  });

  test("the deployment URL defaults to NEXT_PUBLIC_CONVEX_URL", async () => {
    vi.stubEnv("NEXT_PUBLIC_CONVEX_URL", "http://127.0.0.1:3210");
    await convexAuthHelpers(async () => signedIn).fetchQuery(listTasks, { done: false });
    expect(calls[0].url).toBe("http://127.0.0.1:3210/api/query");
  });
});

describe("Pages Router", () => {
  test("forRequest calls auth(ctx) once and binds the calls to that session", async () => {
    const auth = vi.fn(async (_ctx: { req: unknown; res: unknown }) => signedIn);
    const ctx = { req: {}, res: {} };
    const convex = await convexAuthHelpers(auth, { url: URL }).forRequest(ctx);
    await convex.fetchQuery(listTasks, { done: false });
    await convex.fetchMutation(addTask, { text: "x" });
    expect(auth).toHaveBeenCalledTimes(1);
    expect(auth).toHaveBeenCalledWith(ctx);
    expect(convex.session).toBe(signedIn);
    expect(calls.map((call) => call.authorization)).toEqual(["Bearer token-for-ada", "Bearer token-for-ada"]);
  });

  test("convexForSession works from a session already in hand", async () => {
    const convex = convexForSession(signedIn, { url: URL });
    expect(convex.token).toBe("token-for-ada");
    await convex.fetchQuery(listTasks, { done: false });
    expect(calls[0].authorization).toBe("Bearer token-for-ada");
    expect(convexForSession(null).token).toBeUndefined();
  });
});

test("fits a real NextAuth configuration", () => {
  const { auth, handlers } = NextAuth({
    providers: [],
    adapter: ConvexAdapter(),
    callbacks: { session: convexSessionCallback() },
  });
  const convex = convexAuthHelpers(auth);
  expect(typeof handlers.GET).toBe("function");
  expect(typeof convex.forRequest).toBe("function");
});
