/**
 * Issue #14: default-runtime code cannot reach the backend's `process` through the objects it is
 * given. The `realmEscapes` fixture is deployed with the official CLI; a query, a mutation, an
 * action and an HTTP action each try the known ways out (attempts.ts) and answer what each came to.
 * As on Convex, every attempt to compile a string throws V8's EvalError, and no callback is handed
 * a global object.
 */
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { afterAll, beforeAll, expect, it } from "vitest";
import { deployFixture, type TestDeployment } from "../harness.js";

const REFUSED = "threw EvalError: Code generation from strings disallowed for this context";
const expected = {
  "TextEncoder.constructor": REFUSED,
  AsyncFunction: REFUSED,
  "error.constructor.constructor": REFUSED,
  "prototype of fetch": REFUSED,
  "Headers#forEach this": expect.stringMatching(/^returned (undefined|this realm's global)$/),
  // Convex's console does not call the method; Node's inspect calls it with objects that lead nowhere.
  "inspect.custom": expect.stringMatching(/^(not called|threw \w*Error: [^;]*; threw \w*Error: [^;]*)$/),
};

let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture("realmEscapes");
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

it("a query reaches no process", async () => {
  expect(await client.query(anyApi.escapes.fromQuery, {})).toEqual(expected);
});

it("a mutation reaches no process", async () => {
  expect(await client.mutation(anyApi.escapes.fromMutation, {})).toEqual(expected);
});

it("an action reaches no process", async () => {
  expect(await client.action(anyApi.escapes.fromAction, {})).toEqual(expected);
});

it("an HTTP action reaches no process", async () => {
  const response = await fetch(`${deployment.backend.siteUrl}/escapes`);
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual(expected);
});
