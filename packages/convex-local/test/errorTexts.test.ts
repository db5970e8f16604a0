/**
 * Error texts exactly as Convex formats them (issue #15, items 1 and 2), through the official
 * clients: `[Request ID: …] Server Error` and the JsError layout over HTTP and the WebSocket alike,
 * stack frames in Convex's format, ConvexError subclasses and data, nested calls, function-not-found,
 * HTTP actions' error JSON, and the push's refusal of an auth config that reads an unset variable.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi, makeFunctionReference } from "convex/server";
import { ConvexError } from "convex/values";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
const fixtureSource = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures/errors/app/convex/errors.ts"), "utf8").split("\n");
const REQUEST_ID = "\\[Request ID: [0-9a-f]{16}\\] Server Error";

let deployment: TestDeployment;
let http: ConvexHttpClient;
let ws: ConvexClient;

beforeAll(async () => {
  deployment = await deployFixture("errors/app");
  http = new ConvexHttpClient(deployment.backend.url);
  ws = new ConvexClient(deployment.backend.url, {
    webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
    skipConvexDeploymentUrlCheck: true,
    logger: false,
  });
}, 180_000);

afterAll(async () => {
  await ws?.close();
  await deployment?.cleanup();
});

/** `../convex/errors.ts:<line>:<column>` of `token` on the fixture's line containing `marker`. */
function at(marker: string, token: string): string {
  const index = fixtureSource.findIndex((line) => line.includes(marker));
  if (index < 0) throw new Error(`no line of the fixture contains ${marker}`);
  return `../convex/errors.ts:${index + 1}:${fixtureSource[index]!.indexOf(token) + 1}`;
}

/** A pattern matching `text` exactly, after the request-id line. */
function serverError(text: string): RegExp {
  return new RegExp(`^${REQUEST_ID}\\n${escape(text)}$`);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return await promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: Error) => error,
  );
}

/** The error of a query subscription over the WebSocket. */
function subscriptionError(name: string): Promise<Error> {
  return new Promise((resolve) => {
    const unsubscribe = ws.onUpdate(
      makeFunctionReference<"query">(name),
      {},
      () => undefined,
      (error) => {
        unsubscribe();
        resolve(error);
      },
    );
  });
}

const PLAIN = `Uncaught Error: plain failure\n    at handler (${at('"plain failure"', "new")})\n`;

describe("a function's error over HTTP and the WebSocket", () => {
  it("reads `[Request ID: …] Server Error`, the error and its frames, each line ending in a newline, over HTTP", async () => {
    const error = await rejection(http.query(api.errors.plain, {}));
    expect(error.message).toMatch(serverError(PLAIN));
  });

  it("reads the same over the WebSocket, inside the client's own framing", async () => {
    const error = await subscriptionError("errors:plain");
    expect(error.message).toMatch(new RegExp(`^\\[CONVEX Q\\(errors:plain\\)\\] ${REQUEST_ID}\\n${escape(PLAIN)}\\n  Called by client$`));
    const failed = await rejection(ws.action(api.errors.failingAction, {}));
    const text = `Uncaught Error: action failure\n    at handler (${at('"action failure"', "new")})\n`;
    expect(failed.message).toMatch(new RegExp(`^\\[CONVEX A\\(errors:failingAction\\)\\] ${REQUEST_ID}\\n${escape(text)}\\n  Called by client$`));
  });

  it("shows an anonymous function as `<anonymous>` and a built-in method call as Convex formats it", async () => {
    const error = await rejection(http.query(api.errors.inCallback, {}));
    const frames = [
      `    at <anonymous> (${at('"callback failure"', "new")})`,
      "    at map [as map] (<anonymous>)",
      `    at handler (${at("return [1].map", "map(")})`,
    ];
    expect(error.message).toMatch(serverError(`Uncaught Error: callback failure\n${frames.join("\n")}\n`));
  });

  it("keeps a ConvexError subclass's own name, and its data", async () => {
    const error = await rejection(ws.mutation(api.errors.subclass, {}));
    expect(error).toBeInstanceOf(ConvexError);
    expect((error as ConvexError<{ retryAfter: number }>).data).toEqual({ retryAfter: 5 });
    expect(error.message).toContain(`Server Error\nUncaught RateLimitedError: {"retryAfter":5}\n    at handler (${at("new RateLimitedError", "new")})\n`);
  });

  it("reports a thrown value that is not an Error as V8 words it, without frames", async () => {
    const texts: Record<string, string> = { string: "Uncaught not an error", number: "Uncaught 42", nothing: "Uncaught null", object: "Uncaught #<Object>", instance: "Uncaught #<Rejection>" };
    for (const [kind, text] of Object.entries(texts)) {
      await expect(http.query(makeFunctionReference<"query">("errors:throwsValue"), { kind })).rejects.toThrow(serverError(`${text}\n`));
    }
  });

  it("names a function that is not there as Convex does, without `:default`", async () => {
    await expect(http.query(makeFunctionReference<"query">("errors:missing"), {})).rejects.toThrow(serverError("Could not find public function for 'errors:missing'.\n"));
    await expect(http.query(makeFunctionReference<"query">("errors"), {})).rejects.toThrow(serverError("Could not find public function for 'errors'.\n"));
    const viaWs = await rejection(ws.mutation(makeFunctionReference<"mutation">("nowhere:default"), {}));
    expect(viaWs.message).toMatch(new RegExp(`${REQUEST_ID}\\nCould not find public function for 'nowhere'\\.\\n\\n  Called by client$`));
  });
});

describe("an error from a nested call", () => {
  it("reaches a query's caller as the callee's whole error, rethrown at the caller's frame", async () => {
    const error = await rejection(http.query(api.errors.nestedQuery, {}));
    const outer = `    at async handler (${at("return await ctx.runQuery(api.errors.plain", "await")})`;
    expect(error.message).toMatch(serverError(`Uncaught Error: ${PLAIN}\n${outer}\n`));
  });

  it("reaches an action's caller the same way", async () => {
    const error = await rejection(http.action(api.errors.actionCallsQuery, {}));
    const outer = `    at async handler (${at("const fromAction = await ctx.runQuery", "await")})`;
    expect(error.message).toMatch(new RegExp(`^${REQUEST_ID}\\n${escape(`Uncaught Error: ${PLAIN}\n`)}${escape(outer)}\\n$`));
  });

  it("carries a nested ConvexError's data, parsed", async () => {
    const error = await rejection(http.mutation(api.errors.nestedConvexError, {}));
    expect(error).toBeInstanceOf(ConvexError);
    expect((error as ConvexError<{ code: string }>).data).toEqual({ code: "INNER" });
  });
});

describe("an HTTP action that fails", () => {
  const site = () => deployment.backend.siteUrl;

  it("answers 500 with Convex's JSON: code with the request id and the message, trace, no data", async () => {
    const response = await fetch(`${site()}/fail`);
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toBe("application/json");
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["code", "trace"]);
    expect(body.code).toMatch(/^\[Request ID: [0-9a-f]{16}\] Server Error: Uncaught Error: http failure$/);
    // The handler is an anonymous arrow function.
    expect(body.trace).toBe("Uncaught Error: http failure\n    at <anonymous> (../convex/http.ts:11:11)\n");
  });

  it("adds a ConvexError's data", async () => {
    const body = (await (await fetch(`${site()}/convexError`)).json()) as Record<string, unknown>;
    expect(body.code).toMatch(/Server Error: Uncaught ConvexError: \{"code":"HTTP_REFUSED","count":2\}$/);
    expect(body.data).toEqual({ code: "HTTP_REFUSED", count: 2 });
  });

  it("that returns something other than a Response says so in Convex's words", async () => {
    const response = await fetch(`${site()}/notResponse`);
    expect(response.status).toBe(500);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.code).toMatch(/Server Error: Uncaught Error: HTTP actions must return a Response$/);
    expect(body.trace).toBe("Uncaught Error: HTTP actions must return a Response\n");
  });
});

describe("pushing an auth config", () => {
  it("that reads an unset environment variable fails, naming the variable (auth.config.js too)", async () => {
    const file = path.join(deployment.appDir, "convex/auth.config.js");
    writeFileSync(file, 'export default { providers: [{ domain: process.env.MISSING_ISSUER_URL, applicationID: "app" }] };\n');
    const failed = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failed).toContain("Environment variable MISSING_ISSUER_URL is used in auth config file but its value was not set.");
    expect(failed).not.toContain("auth.config.ts");
  });

  it("that names a provider type Convex does not know fails with Convex's text", async () => {
    const file = path.join(deployment.appDir, "convex/auth.config.js");
    writeFileSync(file, 'export default { providers: [{ type: "oauth", domain: "https://issuer.example.com", applicationID: "app" }] };\n');
    const failed = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failed).toContain("The pushed auth config is invalid: auth config file must include a list of provider credentials: Provider at index 0 has unexpected 'type' value 'oauth'");
  });
});
