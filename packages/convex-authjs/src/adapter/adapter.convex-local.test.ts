/**
 * The adapter against a real backend: the fixture Convex app is pushed to an embedded
 * `convex-local` with the official CLI, and the adapter talks to it over HTTP. Runs the
 * conformance suite with the default transport, the secret refusals, and the transport's
 * query batching (concurrent queries share one `/api/query_batch` request and each caller
 * gets its own answer or error, exactly as from `ConvexHttpClient`).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { ConvexError, type Value } from "convex/values";
import type { Backend } from "convex-local";
import { AdapterSecretRejectedError, ConvexAdapter } from "./index.js";
import { QueryBatcher } from "./queryBatcher.js";
import { ADAPTER_MUTATIONS, ADAPTER_QUERIES, Env, ErrorCode } from "../shared/protocol.js";
import { VALID_ADAPTER_ARGS } from "../testing/adapterArgs.js";
import { runAdapterConformance } from "../testing/adapterConformance.js";
import { TEST_SECRET } from "../testing/convexTestApp.js";
import { startFixtureDeployment, type FixtureDeployment } from "../testing/fixtureDeployment.js";

let deployment: FixtureDeployment;
let backend: Backend;

beforeAll(async () => {
  deployment = await startFixtureDeployment();
  backend = deployment.backend;
}, 180_000);

afterAll(async () => {
  await deployment?.close();
});

const adminQuery = <T>(functionPath: string, args: Record<string, unknown>) => deployment.adminQuery<T>(functionPath, args);
const setDeploymentSecret = (value: string | null) => deployment.setEnv(Env.adapterSecret, value);

// The adapter's default transport (ConvexHttpClient for mutations, batched `/api/query_batch` queries).
runAdapterConformance("convex-local", () => ({
  adapter: ConvexAdapter({ url: backend.url, secret: TEST_SECRET }),
  readTable: (name) => adminQuery<Record<string, unknown>[]>("inspect:table", { name }),
}));

/** Calls an adapter function over the HTTP API as the adapter does (no admin key). */
async function callAdapterFunction(name: string, args: Record<string, unknown>): Promise<{ status: string; errorMessage?: string; errorData?: { code?: string } }> {
  const kind = (ADAPTER_QUERIES as readonly string[]).includes(name) ? "query" : "mutation";
  const response = await fetch(`${backend.url}/api/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: `authAdapter:${name}`, args, format: "json" }),
  });
  return (await response.json()) as { status: string; errorMessage?: string; errorData?: { code?: string } };
}

const STORED_TABLES = ["users", "accounts", "sessions", "verificationTokens", "authenticators"];

async function tableSizes(): Promise<number[]> {
  return await Promise.all(STORED_TABLES.map(async (name) => (await adminQuery<unknown[]>("inspect:table", { name })).length));
}

describe.each([...ADAPTER_QUERIES, ...ADAPTER_MUTATIONS])("adapter secret of %s on convex-local", (name) => {
  const args = VALID_ADAPTER_ARGS[name];

  test("refuses a missing, wrong, empty or near-miss secret and writes nothing", async () => {
    const before = await tableSizes();
    const missing = await callAdapterFunction(name, args);
    expect(missing.status).toBe("error");
    expect(missing.errorMessage).toMatch(/secret/);
    for (const secret of ["wrong-secret", "", TEST_SECRET.slice(0, -1), `${TEST_SECRET}x`]) {
      const refused = await callAdapterFunction(name, { ...args, secret });
      expect(refused).toMatchObject({ status: "error", errorData: { code: ErrorCode.secretMismatch } });
      expect(refused.errorMessage).not.toContain(TEST_SECRET);
    }
    expect(await tableSizes()).toEqual(before);
  });

  test("refuses every secret while the deployment's secret is unset", async () => {
    await setDeploymentSecret(null);
    try {
      for (const secret of [TEST_SECRET, "", "anything"]) {
        expect(await callAdapterFunction(name, { ...args, secret })).toMatchObject({ status: "error", errorData: { code: ErrorCode.secretNotConfigured } });
      }
    } finally {
      await setDeploymentSecret(TEST_SECRET);
    }
  });
});

const getUser = makeFunctionReference<"query">("authAdapter:getUser");

/** A fetch that records the path of every request it makes. */
function countingFetch(): { fetch: typeof fetch; paths: string[] } {
  const paths: string[] = [];
  return {
    paths,
    fetch: (input, init) => {
      paths.push(new URL(String(input)).pathname);
      return fetch(input, init);
    },
  };
}

async function createUsers(count: number) {
  const adapter = ConvexAdapter({ url: backend.url, secret: TEST_SECRET });
  return await Promise.all(
    Array.from({ length: count }, (_, i) => adapter.createUser({ id: randomUUID(), name: `User ${i}`, email: `batch-${randomUUID()}@example.com`, emailVerified: null })),
  );
}

describe("QueryBatcher", () => {
  test("sends queries made together as one request and answers each caller", async () => {
    const users = await createUsers(5);
    const { fetch, paths } = countingFetch();
    const batcher = new QueryBatcher({ url: backend.url, fetch });
    const found = await Promise.all(users.map((user) => batcher.query(getUser, { id: user.id, secret: TEST_SECRET })));
    expect(paths).toEqual(["/api/query_batch"]);
    expect(found.map((user) => (user as { name: string }).name)).toEqual(users.map((user) => user.name));
  });

  test("splits a batch over its size limit", async () => {
    const users = await createUsers(5);
    const { fetch, paths } = countingFetch();
    const batcher = new QueryBatcher({ url: backend.url, fetch, maxBatchSize: 2 });
    const found = await Promise.all(users.map((user) => batcher.query(getUser, { id: user.id, secret: TEST_SECRET })));
    expect(paths).toHaveLength(3);
    expect(found.map((user) => (user as { id: string }).id)).toEqual(users.map((user) => user.id));
  });

  test("a query's own error rejects only its caller, as ConvexHttpClient's would", async () => {
    const [user] = await createUsers(1);
    const batcher = new QueryBatcher({ url: backend.url });
    const [ok, refused, unknown] = await Promise.allSettled([
      batcher.query(getUser, { id: user.id, secret: TEST_SECRET }),
      batcher.query(getUser, { id: user.id, secret: "wrong-secret" }),
      batcher.query(makeFunctionReference<"query">("authAdapter:noSuchQuery"), {}),
    ]);
    expect(ok).toMatchObject({ status: "fulfilled", value: { id: user.id } });

    const client = new ConvexHttpClient(backend.url, { logger: false });
    const expected = await client.query(getUser, { id: user.id, secret: "wrong-secret" }).catch((error: unknown) => error);
    expect(refused.status).toBe("rejected");
    const reason = (refused as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(ConvexError);
    expect((reason as ConvexError<Value>).data).toEqual((expected as ConvexError<Value>).data);
    expect(reason.message.replace(/\[Request ID: \w+\]/, "")).toBe((expected as Error).message.replace(/\[Request ID: \w+\]/, ""));

    expect(unknown.status).toBe("rejected");
    const unknownReason = (unknown as PromiseRejectedResult).reason;
    expect(unknownReason).not.toBeInstanceOf(ConvexError);
    expect(unknownReason.message).toMatch(/Could not find public function for 'authAdapter:noSuchQuery'/);
  });

  test("a failed request rejects every caller of its batch with the reason", async () => {
    const answering500: typeof fetch = async () => new Response("backend unavailable", { status: 500 });
    const batcher = new QueryBatcher({ url: backend.url, fetch: answering500 });
    const results = await Promise.allSettled([batcher.query(getUser, { id: "a", secret: TEST_SECRET }), batcher.query(getUser, { id: "b", secret: TEST_SECRET })]);
    for (const result of results) expect(result).toMatchObject({ status: "rejected", reason: expect.objectContaining({ message: "backend unavailable" }) });

    const unreachable = new QueryBatcher({ url: "http://127.0.0.1:9" });
    await expect(unreachable.query(getUser, { id: "a", secret: TEST_SECRET })).rejects.toThrow(/fetch failed/);
  });
});

describe("ConvexAdapter's default transport", () => {
  test("concurrent session lookups share one request and each gets its own session", async () => {
    const adapter = ConvexAdapter({ url: backend.url, secret: TEST_SECRET });
    const users = await createUsers(3);
    const sessions = await Promise.all(
      users.map((user) => adapter.createSession({ sessionToken: randomUUID(), userId: user.id, expires: new Date(Date.now() + 60_000) })),
    );
    const wanted = Array.from({ length: 12 }, (_, i) => sessions[i % sessions.length]);
    // A spy that calls the real fetch: it only records which endpoints the adapter hit.
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    try {
      const found = await Promise.all(wanted.map((session) => adapter.getSessionAndUser(session.sessionToken)));
      expect(fetchSpy.mock.calls.map(([input]) => new URL(String(input)).pathname)).toEqual(["/api/query_batch"]);
      expect(found.map((result) => result?.user.id)).toEqual(wanted.map((session) => session.userId));
      expect(found.map((result) => result?.session.sessionToken)).toEqual(wanted.map((session) => session.sessionToken));
    } finally {
      fetchSpy.mockRestore();
    }
  });

  test("a wrong secret still fails closed with AdapterSecretRejectedError", async () => {
    const wrong = ConvexAdapter({ url: backend.url, secret: "wrong-secret" });
    const lookups = await Promise.allSettled([wrong.getSessionAndUser(randomUUID()), wrong.getUser(randomUUID())]);
    for (const result of lookups) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(AdapterSecretRejectedError);
    }
  });
});

describe("the adapter secret in the deployment's log", () => {
  // A secret of its own, so neither it nor its first characters can appear by chance.
  const secret = `log-probe-${randomUUID()}`;
  const secretPrefix = secret.slice(0, 16);
  const skewed = [
    { label: "an extra argument (a newer adapter)", name: "getUser", args: { id: "x", secret, addedLater: true } },
    { label: "a missing argument (an older adapter)", name: "getUser", args: { secret } },
    { label: "a wrong nested type", name: "createUser", args: { user: { email: 5 }, secret } },
    { label: "a wrong secret and an extra argument", name: "getUser", args: { id: "x", secret: `${secret}-wrong`, addedLater: true } },
  ];

  test.each(skewed)("a call with $label fails without quoting the secret, to the caller or in the log", async ({ name, args }) => {
    const logged: unknown[] = [];
    const unsubscribe = backend.log.subscribe((entry) => logged.push(entry));
    await setDeploymentSecret(secret);
    let answer: Awaited<ReturnType<typeof callAdapterFunction>>;
    try {
      answer = await callAdapterFunction(name, args);
    } finally {
      unsubscribe();
      await setDeploymentSecret(TEST_SECRET);
    }
    expect(answer.status).toBe("error");
    expect(JSON.stringify(answer)).not.toContain(secretPrefix);
    // What the terminal prints (the log's entries) and what `npx convex logs` streams.
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(logged)).not.toContain(secretPrefix);
    const streamed = await fetch(`${backend.url}/api/stream_function_logs?cursor=0`, { headers: { Authorization: `Convex ${backend.adminKey}` } });
    const text = await streamed.text();
    expect(text).toContain(`authAdapter:${name}`);
    expect(text).not.toContain(secretPrefix);
    // Refused by the secret check or by the functions' own argument check, not by Convex's.
    expect(answer.errorData?.code).toMatch(/^(INVALID_ARGUMENTS|CONVEX_AUTH_ADAPTER_SECRET_MISMATCH)$/);
  });
});

describe("sign-in rate limits on convex-local", () => {
  test("concurrent magic-link requests for one address cannot exceed its limit", async () => {
    const adapter = ConvexAdapter({ url: backend.url, secret: TEST_SECRET });
    const address = `concurrent-${randomUUID()}@example.com`;
    // The fixture's limit is the default: 5 per address per hour.
    const verdicts = await Promise.all(Array.from({ length: 30 }, () => adapter.limitMagicLink({ address })));
    expect(verdicts.filter((verdict) => verdict.ok)).toHaveLength(5);
    for (const verdict of verdicts.filter((verdict) => !verdict.ok)) {
      expect(verdict).toMatchObject({ ok: false, limit: "magicLink:address", retryAfterMs: expect.any(Number) });
    }
    const windows = (await adminQuery<{ name: string; key: string; count: number }[]>("inspect:table", { name: "authRateLimits" })).filter((doc) => doc.key === address);
    expect(windows).toEqual([expect.objectContaining({ name: "magicLink:address", count: 5 })]);
  });

  test("concurrent requests from one client for many addresses stop at the client's limit", async () => {
    const adapter = ConvexAdapter({ url: backend.url, secret: TEST_SECRET });
    const client = `203.0.113.${Math.floor(Math.random() * 250)}-${randomUUID()}`;
    const verdicts = await Promise.all(
      Array.from({ length: 40 }, (_, i) => adapter.limitMagicLink({ address: `many-${i}-${randomUUID()}@example.com`, client })),
    );
    expect(verdicts.filter((verdict) => verdict.ok)).toHaveLength(20);
  });
});
