/**
 * The adapter's query transport against a real convex-local backend: concurrent queries share
 * one `/api/query_batch` request and each caller gets its own answer or error, exactly as from
 * `ConvexHttpClient`.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { ConvexError, type Value } from "convex/values";
import { ConvexAdapter, AdapterSecretRejectedError } from "./index.js";
import { QueryBatcher } from "./queryBatcher.js";
import { TEST_SECRET } from "../testing/convexTestApp.js";
import { deployFixtureToConvexLocal, type FixtureDeployment } from "../testing/convexLocalApp.js";

let deployment: FixtureDeployment;

beforeAll(async () => {
  deployment = await deployFixtureToConvexLocal();
}, 180_000);

afterAll(async () => {
  await deployment?.close();
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
  const adapter = ConvexAdapter({ url: deployment.backend.url, secret: TEST_SECRET });
  return await Promise.all(
    Array.from({ length: count }, (_, i) => adapter.createUser({ id: randomUUID(), name: `User ${i}`, email: `batch-${randomUUID()}@example.com`, emailVerified: null })),
  );
}

describe("QueryBatcher", () => {
  test("sends queries made together as one request and answers each caller", async () => {
    const users = await createUsers(5);
    const { fetch, paths } = countingFetch();
    const batcher = new QueryBatcher({ url: deployment.backend.url, fetch });
    const found = await Promise.all(users.map((user) => batcher.query(getUser, { id: user.id, secret: TEST_SECRET })));
    expect(paths).toEqual(["/api/query_batch"]);
    expect(found.map((user) => (user as { name: string }).name)).toEqual(users.map((user) => user.name));
  });

  test("splits a batch over its size limit", async () => {
    const users = await createUsers(5);
    const { fetch, paths } = countingFetch();
    const batcher = new QueryBatcher({ url: deployment.backend.url, fetch, maxBatchSize: 2 });
    const found = await Promise.all(users.map((user) => batcher.query(getUser, { id: user.id, secret: TEST_SECRET })));
    expect(paths).toHaveLength(3);
    expect(found.map((user) => (user as { id: string }).id)).toEqual(users.map((user) => user.id));
  });

  test("a query's own error rejects only its caller, as ConvexHttpClient's would", async () => {
    const [user] = await createUsers(1);
    const batcher = new QueryBatcher({ url: deployment.backend.url });
    const [ok, refused, unknown] = await Promise.allSettled([
      batcher.query(getUser, { id: user.id, secret: TEST_SECRET }),
      batcher.query(getUser, { id: user.id, secret: "wrong-secret" }),
      batcher.query(makeFunctionReference<"query">("authAdapter:noSuchQuery"), {}),
    ]);
    expect(ok).toMatchObject({ status: "fulfilled", value: { id: user.id } });

    const client = new ConvexHttpClient(deployment.backend.url, { logger: false });
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
    const batcher = new QueryBatcher({ url: deployment.backend.url, fetch: answering500 });
    const results = await Promise.allSettled([batcher.query(getUser, { id: "a", secret: TEST_SECRET }), batcher.query(getUser, { id: "b", secret: TEST_SECRET })]);
    for (const result of results) expect(result).toMatchObject({ status: "rejected", reason: expect.objectContaining({ message: "backend unavailable" }) });

    const unreachable = new QueryBatcher({ url: "http://127.0.0.1:9" });
    await expect(unreachable.query(getUser, { id: "a", secret: TEST_SECRET })).rejects.toThrow(/fetch failed/);
  });
});

describe("ConvexAdapter's default transport", () => {
  test("concurrent session lookups share one request; a wrong secret still fails closed", async () => {
    const adapter = ConvexAdapter({ url: deployment.backend.url, secret: TEST_SECRET });
    const [user] = await createUsers(1);
    const sessionToken = randomUUID();
    await adapter.createSession({ sessionToken, userId: user.id, expires: new Date(Date.now() + 60_000) });
    const lookups = await Promise.all(Array.from({ length: 8 }, () => adapter.getSessionAndUser(sessionToken)));
    for (const found of lookups) expect(found?.user.id).toBe(user.id);

    const wrong = ConvexAdapter({ url: deployment.backend.url, secret: "wrong-secret" });
    await expect(wrong.getSessionAndUser(sessionToken)).rejects.toBeInstanceOf(AdapterSecretRejectedError);
  });
});
