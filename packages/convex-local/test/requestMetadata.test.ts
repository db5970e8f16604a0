/**
 * `ctx.meta.getRequestMetadata()` and `log.audit` as Convex answers them (src/runtime/requestMetadata.ts,
 * src/runtime/auditLog.ts), through the official clients and CLI: over HTTP, the sync WebSocket,
 * HTTP actions, nested calls and scheduled functions.
 */
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployFixture, waitFor, type TestDeployment } from "./harness.js";
import { startIdentityProvider, type IdentityProvider } from "./idp.js";

const REQUEST_ID = /^[0-9a-f]{16}$/;

let idp: IdentityProvider;
let deployment: TestDeployment;

beforeAll(async () => {
  idp = await startIdentityProvider();
  deployment = await deployFixture("requestMetadata", { TEST_IDP_URL: idp.url });
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
  await idp?.close();
});

/** POSTs `/api/<kind>` as a plain HTTP client would, with `headers`. */
async function callOverHttp(kind: "mutation" | "action" | "query", path: string, args: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(`${deployment.backend.url}/api/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ path, args, format: "json" }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { status: string; value?: any; errorMessage?: string };
}

describe("ctx.meta.getRequestMetadata()", () => {
  it("reports a mutation's request over HTTP: the peer's address, the User-Agent, a fresh request id and the user's JWT", async () => {
    const token = await idp.oidcToken();
    const answer = await callOverHttp("mutation", "requestInfo:inMutation", {}, { "User-Agent": "request-metadata-test/1.0", Authorization: `Bearer ${token}` });
    expect(answer.status).toBe("success");
    expect(answer.value).toEqual({ ip: "127.0.0.1", userAgent: "request-metadata-test/1.0", requestId: expect.stringMatching(REQUEST_ID), scheduledFunctionId: null, authToken: token });
  });

  it("takes the first X-Forwarded-For address and the client's convex-request-id, as Convex's HTTP layer does", async () => {
    const answer = await callOverHttp("mutation", "requestInfo:inMutation", {}, { "X-Forwarded-For": " 203.0.113.7 , 10.0.0.1", "convex-request-id": "client-chosen-id" });
    expect(answer.value).toMatchObject({ ip: "203.0.113.7", requestId: "client-chosen-id", authToken: null });
  });

  it("quotes the same request id in a failure's [Request ID: …]", async () => {
    const answer = await callOverHttp("mutation", "requestInfo:failing", {}, { "convex-request-id": "0123456789abcdef" });
    expect(answer.status).toBe("error");
    expect(answer.errorMessage).toMatch(/^\[Request ID: 0123456789abcdef\] Server Error\nUncaught Error: failing on purpose/);
  });

  it("cuts a user agent at Convex's 512 bytes and drops one that is not visible ASCII", async () => {
    const long = await callOverHttp("mutation", "requestInfo:inMutation", {}, { "User-Agent": "a".repeat(600) });
    expect(long.value.userAgent).toBe("a".repeat(512));
    const response = await fetch(`${deployment.backend.url}/api/mutation`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": Buffer.from("agent-\u00e9", "latin1").toString("latin1") },
      body: JSON.stringify({ path: "requestInfo:inMutation", args: {}, format: "json" }),
    });
    expect(((await response.json()) as { value: { userAgent: unknown } }).value.userAgent).toBeNull();
  });

  it("gives an action's nested mutation and action the action's own request", async () => {
    const answer = await callOverHttp("action", "requestInfo:inAction", {}, { "User-Agent": "nested-test" });
    const { own, mutation, action } = answer.value;
    expect(own).toEqual({ ip: "127.0.0.1", userAgent: "nested-test", requestId: expect.stringMatching(REQUEST_ID), scheduledFunctionId: null, authToken: null });
    expect(mutation).toEqual(own);
    expect(action).toEqual(own);
  });

  it("is refused in a query, which has no getRequestMetadata, in Convex's words", async () => {
    const answer = await callOverHttp("query", "requestInfo:inQuery", {});
    expect(answer.value).toEqual({ method: "undefined", syscall: { error: "Cannot get request metadata in a Query" } });
  });

  it("reports the sync connection's upgrade request and the token set on the ConvexClient", async () => {
    const token = await idp.oidcToken({ sub: "socket-user" });
    const client = new ConvexClient(deployment.backend.url);
    try {
      client.setAuth(async () => token);
      const inMutation = makeFunctionReference<"mutation", Record<string, never>, Record<string, unknown>>("requestInfo:inMutation");
      const first = await client.mutation(inMutation, {});
      const second = await client.mutation(inMutation, {});
      expect(first).toMatchObject({ ip: "127.0.0.1", requestId: expect.stringMatching(REQUEST_ID), scheduledFunctionId: null, authToken: token });
      // Each request of the connection has its own id (derived from the session and request number).
      expect(second.requestId).not.toBe(first.requestId);
    } finally {
      await client.close();
    }
  });

  it("gives no token for the admin key, nor when the CLI acts as a user (npx convex run --identity)", async () => {
    const asAdmin = JSON.parse((await deployment.cli(["run", "requestInfo:inMutation"])).stdout);
    expect(asAdmin).toMatchObject({ ip: "127.0.0.1", authToken: null, scheduledFunctionId: null });
    const actingUser = JSON.parse((await deployment.cli(["run", "--identity", JSON.stringify({ subject: "acted" }), "requestInfo:inMutation"])).stdout);
    expect(actingUser.authToken).toBeNull();
  });

  it("reports an HTTP action's request, passed on to the mutation it calls", async () => {
    const response = await fetch(`${deployment.backend.siteUrl}/requestMetadata`, { headers: { "User-Agent": "http-action-test" } });
    const { own, mutation } = (await response.json()) as { own: Record<string, unknown>; mutation: Record<string, unknown> };
    expect(own).toEqual({ ip: "127.0.0.1", userAgent: "http-action-test", requestId: expect.stringMatching(REQUEST_ID), scheduledFunctionId: null, authToken: null });
    expect(mutation).toEqual(own);
  });

  it("gives a scheduled function, and what it calls, the job's id and no address", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    const jobId = await client.mutation(makeFunctionReference<"mutation", Record<string, never>, string>("requestInfo:schedule"), {});
    const seen = makeFunctionReference<"query", Record<string, never>, { by: string; metadata: Record<string, unknown> }[]>("requestInfo:seen");
    const rows = await waitFor(async () => {
      const rows = await client.query(seen, {});
      return rows.length === 2 ? rows : undefined;
    }, 30_000);
    const byName = Object.fromEntries(rows.map((row) => [row.by, row.metadata]));
    expect(byName.scheduledAction).toEqual({ ip: null, userAgent: null, requestId: expect.stringMatching(REQUEST_ID), scheduledFunctionId: jobId, authToken: null });
    expect(byName.recordOwn).toEqual(byName.scheduledAction);
  });
});

describe("log.audit", () => {
  it("accepts lines in mutations and queries, with every variable Convex resolves", async () => {
    expect((await callOverHttp("mutation", "requestInfo:auditInMutation", { lines: 3 })).value).toBe("written");
    expect((await callOverHttp("query", "requestInfo:auditInQuery", {})).value).toBe("written");
  });

  it("refuses what Convex refuses, in its words", async () => {
    const tooMany = await callOverHttp("mutation", "requestInfo:auditInMutation", { lines: 501 });
    expect(tooMany.status).toBe("error");
    expect(tooMany.errorMessage).toContain("Function execution exceeded the maximum of 500 audit log lines.");
    expect((await callOverHttp("mutation", "requestInfo:auditRefusals", {})).value).toEqual({
      reservedKey: 'Audit log body keys must not start with "$": "$bad"',
      unknownVariable: { error: 'Unknown audit log variable: "nobody"' },
      tooLarge: { error: "An audit log line may have a maximum possible size of 100000 bytes, but this line could be up to 100011 bytes." },
    });
    expect((await callOverHttp("action", "requestInfo:auditInAction", {})).value).toBe("Audit logging is not yet supported in actions");
  });
});

describe("getServiceToken and getServiceUrl", () => {
  it("fails as on a self-hosted backend: the AI gateway is Convex Cloud's; unknown outside actions", async () => {
    expect((await callOverHttp("action", "serviceTokens:inAction", {})).value).toEqual({
      aiGateway:
        '`getServiceToken("ai-gateway")` isn\'t available on this deployment because the AI gateway is a Convex Cloud service. Deploy to Convex Cloud, or call your model provider directly with your own API key.',
      unknown: "Invalid arguments for `createServiceToken`: unknown variant `elsewhere`, expected `ai-gateway`",
      url: '`getServiceUrl("ai-gateway")` isn\'t available on this deployment because the AI gateway is a Convex Cloud service. Deploy to Convex Cloud, or call your model provider directly with your own API key.',
      unknownUrl: "Invalid arguments for `getServiceUrl`: unknown variant `elsewhere`, expected `ai-gateway`",
    });
    expect((await callOverHttp("mutation", "serviceTokens:inMutation", {})).value).toEqual({
      token: "Unknown async operation 1.0/createServiceToken",
      url: "Unknown async operation 1.0/getServiceUrl",
    });
  });
});
