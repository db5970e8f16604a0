/**
 * Contention between concurrently running actions: each action's mutations interleave with the
 * others', and every read-modify-write still serializes (test/contention.test.ts covers HTTP and
 * WebSocket clients racing directly).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { deployFixture, type TestDeployment } from "../harness.js";

const api = anyApi;
let deployment: TestDeployment;

beforeAll(async () => {
  // The fixture's auth.config.ts reads IDP_URL (an unset one fails the push); no token is sent here.
  deployment = await deployFixture("reliability", { IDP_URL: "http://127.0.0.1:9" });
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

it("8 concurrent actions of 25 increments each end at exactly 200, without deadlock", async () => {
  const client = new ConvexHttpClient(deployment.backend.url);
  await Promise.all(Array.from({ length: 8 }, () => client.action(api.contention.incrementFromAction, { name: "from-actions", times: 25 })));
  expect(await client.query(api.contention.count, { name: "from-actions" })).toBe(200);
});
