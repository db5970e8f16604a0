/**
 * "Acting as a user": the admin key with a user's identity — what `npx convex run --identity` and
 * the dashboard send — runs functions as that user, over HTTP (the identity as base64 JSON after the
 * key, `Convex <key>:<identity>`) and over the sync WebSocket (`Authenticate` with `impersonating`),
 * with the identity `ctx.auth.getUserIdentity()` returns on Convex, non-ASCII text intact.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { deployFixture, type TestDeployment } from "./harness.js";
import { startCli } from "./cliProcess.js";

let deployment: TestDeployment;

beforeAll(async () => {
  // auth.config.ts names this identity provider; acting as a user needs none, so nothing listens there.
  deployment = await deployFixture("identity", { TEST_IDP_URL: "http://127.0.0.1:9" });
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

const whoami = makeFunctionReference<"query">("identity:whoami");
const whoamiInMutation = makeFunctionReference<"mutation">("identity:whoamiInMutation");
const innerWhoami = makeFunctionReference<"action">("actions:innerWhoami");

/** Text in several scripts and outside the BMP (a UTF-16 surrogate pair). */
const NAME = "Zoë Ørsted 张伟 🎉";

/** The identity `npx convex run --identity` makes of `{ name, subject }` (its default issuer). */
const expectedIdentity = {
  tokenIdentifier: "https://convex.test|user-1",
  issuer: "https://convex.test",
  subject: "user-1",
  name: NAME,
};

describe("over HTTP", () => {
  it("npx convex run --identity runs queries and mutations as that user", async () => {
    const identity = JSON.stringify({ name: NAME, subject: "user-1" });
    for (const fn of ["identity:whoami", "identity:whoamiInMutation"]) {
      const { stdout } = await deployment.cli(["run", "--identity", identity, fn]);
      expect(JSON.parse(stdout)).toEqual(expectedIdentity);
    }
    // Without --identity the admin is nobody.
    expect((await deployment.cli(["run", "identity:whoami"])).stdout).toBe("");
  });

  it("keeps custom claims as any JSON and drops typed fields that are null; the given tokenIdentifier wins", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    client.setAdminAuth(deployment.backend.adminKey, {
      subject: "s",
      issuer: "https://issuer.example",
      tokenIdentifier: "custom|id",
      zeta: { nested: ["ü", 2] },
      alpha: null,
      emailVerified: true,
      gender: null,
    } as never);
    expect(await client.query(whoami, {})).toEqual({
      tokenIdentifier: "custom|id",
      issuer: "https://issuer.example",
      subject: "s",
      emailVerified: true,
      alpha: null,
      zeta: { nested: ["ü", 2] },
    });
  });

  it("lets the user call internal functions, as the admin may", async () => {
    const { stdout } = await deployment.cli(["run", "--identity", JSON.stringify({ subject: "user-2" }), "identity:recordVisit", JSON.stringify({ via: "acting" })]);
    expect(JSON.parse(stdout)).toBe("https://convex.test|user-2");
  });

  it("refuses an identity that does not parse with Convex's 400, before the key is checked", async () => {
    const encode = (identity: unknown) => Buffer.from(JSON.stringify(identity)).toString("base64");
    const answer = async (authorization: string) => {
      const response = await fetch(`${deployment.backend.url}/api/query`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: authorization },
        body: JSON.stringify({ path: "identity:whoami", args: {} }),
      });
      return { status: response.status, body: await response.json() };
    };
    const malformed = { status: 400, body: { code: "HeaderParseFailure", message: "Malformed Authorization header." } };
    for (const suffix of ["not base64!", encode({ name: "no subject" }), encode({ subject: "s", issuer: "i", name: 5 }), encode(["array"])]) {
      expect(await answer(`Convex ${deployment.backend.adminKey}:${suffix}`)).toEqual(malformed);
      expect(await answer(`Convex not-the-key:${suffix}`)).toEqual(malformed);
    }
    expect((await answer(`Convex not-the-key:${encode({ subject: "s", issuer: "i" })}`)).status).toBe(401);
  });
});

describe("over the sync WebSocket", () => {
  it("npx convex run --watch subscribes as that user", async () => {
    const watch = startCli(deployment, ["run", "--watch", "--identity", JSON.stringify({ name: NAME, subject: "user-1" }), "identity:whoami"]);
    try {
      const stdout = await watch.waitForOutput((output) => output.includes("}"));
      expect(JSON.parse(stdout.slice(0, stdout.indexOf("}") + 1))).toEqual(expectedIdentity);
    } finally {
      await watch.stop();
    }
  });

  it("runs mutations and actions as that user, and switches back to the admin when the identity is dropped", async () => {
    const client = new ConvexClient(deployment.backend.url);
    try {
      client.setAdminAuth(deployment.backend.adminKey, { name: NAME, subject: "user-1", issuer: "https://convex.test" });
      expect(await client.mutation(whoamiInMutation, {})).toEqual(expectedIdentity);
      expect(await client.action(innerWhoami, {})).toBe("https://convex.test|user-1");
      client.setAdminAuth(deployment.backend.adminKey);
      expect(await client.mutation(whoamiInMutation, {})).toBeNull();
    } finally {
      await client.close();
    }
  });

  it("ends the connection, as Convex does, when the identity does not parse", async () => {
    const socket = new WebSocket(`${deployment.backend.url.replace("http", "ws")}/api/1.48.0/sync`);
    const messages: { type: string; error?: string }[] = [];
    socket.on("message", (data) => messages.push(JSON.parse(String(data))));
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(JSON.stringify({ type: "Connect", sessionId: "00000000-0000-4000-8000-000000000000", connectionCount: 0 }));
    socket.send(
      JSON.stringify({ type: "Authenticate", baseVersion: 0, tokenType: "Admin", value: deployment.backend.adminKey, impersonating: { subject: "s", issuer: "i", name: 5 } }),
    );
    const code = await new Promise<number>((resolve) => socket.once("close", resolve));
    expect(messages).toEqual([{ type: "FatalError", error: "Received Invalid JSON on websocket: invalid type: integer `5`, expected a string" }]);
    expect(code).toBe(1008);
  });
});
