/**
 * Actions end to end: `ctx.runQuery`, `ctx.runMutation` and `ctx.runAction` from an action, and
 * `fetch` to a local server, with the caller's identity passed through to every nested call —
 * over HTTP and over the WebSocket.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import WebSocket from "ws";
import type { TestDeployment } from "./harness.js";
import { deployIdentityFixture, startIdentityProvider, type IdentityProvider } from "./idp.js";

const api = anyApi;
let idp: IdentityProvider;
let deployment: TestDeployment;
let echoServer: http.Server;
let echoUrl = "";
const received: unknown[] = [];

beforeAll(async () => {
  echoServer = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      received.push(JSON.parse(body));
      response.writeHead(201, { "Content-Type": "application/json" }).end(JSON.stringify({ echoed: JSON.parse(body), method: request.method }));
    });
  });
  await new Promise<void>((resolve) => echoServer.listen(0, "127.0.0.1", resolve));
  echoUrl = `http://127.0.0.1:${(echoServer.address() as AddressInfo).port}/echo`;
  idp = await startIdentityProvider();
  deployment = await deployIdentityFixture(idp);
}, 240_000);

afterAll(async () => {
  await deployment?.cleanup();
  await idp?.close();
  await new Promise((resolve) => echoServer?.close(resolve));
});

type NestedResult = {
  own: string | null;
  fromQuery: string | null;
  fromMutation: string | null;
  fromAction: string | null;
  fetched: { status: number; body: unknown };
};

describe("an action's nested calls", () => {
  it("run with the caller's identity and fetch reaches a local server (HTTP, Bearer token)", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    client.setAuth(await idp.oidcToken({ sub: "frank" }));
    const via = "http";
    const result: NestedResult = await client.action(api.actions.nested, { via, url: echoUrl });
    const frank = `${idp.url}|frank`;
    expect(result).toEqual({
      own: frank,
      fromQuery: frank,
      fromMutation: frank,
      fromAction: frank,
      fetched: { status: 201, body: { echoed: { via }, method: "POST" } },
    });
    expect(received).toContainEqual({ via });
    // The nested mutation committed.
    expect(await client.query(api.identity.visits, { via })).toEqual([frank]);
  });

  it("run with the caller's identity over the WebSocket (setAuth)", async () => {
    const client = new ConvexClient(deployment.backend.url, {
      webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
      skipConvexDeploymentUrlCheck: true,
      logger: false,
    });
    try {
      const token = await idp.customToken({ sub: "grace" });
      await new Promise<boolean>((resolve) => client.setAuth(async () => token, resolve));
      const result: NestedResult = await client.action(api.actions.nested, { via: "ws", url: echoUrl });
      const grace = `${idp.url}/custom|grace`;
      expect([result.own, result.fromQuery, result.fromMutation, result.fromAction]).toEqual([grace, grace, grace, grace]);
    } finally {
      await client.close();
    }
  });

  it("run anonymously for an anonymous caller", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    const result: NestedResult = await client.action(api.actions.nested, { via: "anonymous", url: echoUrl });
    expect([result.own, result.fromQuery, result.fromMutation, result.fromAction]).toEqual([null, null, null, null]);
    expect(await client.query(api.identity.visits, { via: "anonymous" })).toEqual([null]);
  });

  it("surface a nested call's failure in the action as a catchable error", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    expect(await client.action(api.actions.nestedFailure, {})).toBe("caught: ArgumentValidationError");
  });

  it("cannot call internal functions from a client", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    await expect(client.action(api.actions.innerWhoami as never, {})).rejects.toThrow(/Could not find public function/);
  });
});
