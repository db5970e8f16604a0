/**
 * The tools `npx convex mcp start` gives coding assistants, against convex-local: the MCP server
 * runs as a subprocess, spoken to in JSON-RPC over stdio as an assistant speaks to it, and each tool
 * must answer what it answers against Convex. The server asks Convex's account service whether the
 * developer is logged in before every call, as it does against any self-hosted deployment: a stand-in
 * on 127.0.0.1 (CONVEX_PROVISION_HOST) says yes.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployFixture, type TestDeployment } from "./harness.js";
import { startCli, type CliProcess } from "./cliProcess.js";

let deployment: TestDeployment;
let accounts: Server;
let mcp: CliProcess;
let selector: string;
let nextId = 1;

beforeAll(async () => {
  deployment = await deployFixture();
  accounts = createServer((request, response) => {
    // HEAD /api/authorize: the access token is valid; POST /api/check_opt_ins: nothing to accept.
    response.setHeader("Content-Type", "application/json");
    response.end(request.url === "/api/check_opt_ins" ? JSON.stringify({ optInsToAccept: [] }) : undefined);
  });
  await new Promise<void>((resolve) => accounts.listen(0, "127.0.0.1", resolve));
  mcp = startCli(deployment, ["mcp", "start", "--project-dir", deployment.appDir], {
    CONVEX_PROVISION_HOST: `http://127.0.0.1:${(accounts.address() as AddressInfo).port}`,
    CONVEX_OVERRIDE_ACCESS_TOKEN: "test-access-token",
  });
  await rpc("initialize", { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "convex-local-test", version: "1" } });
  mcp.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
  const status = (await callTool("status", { projectDir: deployment.appDir })) as { availableDeployments: { deploymentSelector: string; url: string }[] };
  expect(status.availableDeployments.map(({ url }) => url)).toEqual([deployment.backend.url]);
  selector = status.availableDeployments[0]!.deploymentSelector;
  for (const [author, body, likes] of [["ada", "first", undefined], ["bob", "second", 3]] as const) {
    await deployment.cli(["run", "messages:send", JSON.stringify({ author, body, likes })]);
  }
}, 180_000);

afterAll(async () => {
  await mcp?.stop();
  await new Promise((resolve) => accounts?.close(resolve));
  await deployment?.cleanup();
});

/** The import the tool's description tells an assistant to start a one-off query with. */
const REPL_IMPORT = 'import { query, internalQuery } from "convex:/_system/repl/wrappers.js";';

/** One JSON-RPC request on the server's stdin; its response is the stdout line with the same id. */
async function rpc(method: string, params: unknown): Promise<{ result?: unknown; error?: unknown }> {
  const id = nextId++;
  const seen = mcp.stdout().length;
  mcp.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
  const responseOf = (stdout: string) =>
    stdout
      .slice(seen)
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { id?: number; result?: unknown; error?: unknown })
      .find((message) => message.id === id);
  return responseOf(await mcp.waitForOutput((stdout) => responseOf(stdout) !== undefined, 90_000))!;
}

/** A tool's answer: the JSON of its text content; its `{ error }` when the call failed. */
async function callTool(name: string, args: Record<string, unknown>): Promise<unknown> {
  const response = await rpc("tools/call", { name, arguments: args });
  const result = response.result as { content: { type: string; text: string }[]; isError?: boolean };
  return JSON.parse(result.content[0]!.text);
}

describe("the MCP server's tools", () => {
  it("tables: each table's declared schema (the fields the tool keeps) and the shape inferred from its documents", async () => {
    const { tables } = (await callTool("tables", { deploymentSelector: selector })) as { tables: Record<string, { schema?: unknown; inferredSchema?: unknown }> };
    expect(Object.keys(tables)).toEqual(["counters", "messages", "values"]);
    expect(tables.messages!.schema).toEqual({
      tableName: "messages",
      indexes: [
        { indexDescriptor: "by_author", fields: ["author"] },
        { indexDescriptor: "by_likes", fields: ["likes"] },
      ],
      searchIndexes: [],
      vectorIndexes: [],
      documentType: {
        type: "object",
        value: {
          author: { fieldType: { type: "string" }, optional: false },
          body: { fieldType: { type: "string" }, optional: false },
          likes: { fieldType: { type: "number" }, optional: true },
        },
      },
    });
    const float = { type: "Float64", float64Range: { hasSpecialValues: false } };
    expect(tables.messages!.inferredSchema).toEqual({
      type: "Object",
      fields: [
        { fieldName: "_creationTime", optional: false, shape: float },
        { fieldName: "_id", optional: false, shape: { type: "Id", tableName: "messages" } },
        { fieldName: "author", optional: false, shape: { type: "String" } },
        { fieldName: "body", optional: false, shape: { type: "String" } },
        { fieldName: "likes", optional: true, shape: float },
      ],
    });
    expect(tables.counters!.inferredSchema).toEqual({ type: "Never" });
  });

  it("data: a table page by page, following the cursor", async () => {
    const first = (await callTool("data", { deploymentSelector: selector, tableName: "messages", order: "asc", limit: 1 })) as {
      page: { body: string }[];
      isDone: boolean;
      continueCursor: string;
    };
    expect(first.page.map(({ body }) => body)).toEqual(["first"]);
    expect(first.isDone).toBe(false);
    const second = (await callTool("data", { deploymentSelector: selector, tableName: "messages", order: "asc", limit: 1, cursor: first.continueCursor })) as typeof first;
    expect(second.page.map(({ body }) => body)).toEqual(["second"]);
    const rest = (await callTool("data", { deploymentSelector: selector, tableName: "messages", order: "asc", cursor: second.continueCursor })) as typeof first;
    expect(rest).toMatchObject({ page: [], isDone: true });
  });

  it("functionSpec: every function with its validators", async () => {
    const spec = (await callTool("functionSpec", { deploymentSelector: selector })) as { identifier?: string }[];
    expect(spec.find(({ identifier }) => identifier === "messages.js:send")).toMatchObject({ functionType: "Mutation", returns: { type: "id", tableName: "messages" } });
  });

  it("run: a function's result and its log lines", async () => {
    const answer = (await callTool("run", { deploymentSelector: selector, functionName: "messages:count", args: "{}" })) as { result: unknown; logLines: string[] };
    expect(answer).toEqual({ result: 2, logLines: [] });
    const sent = (await callTool("run", { deploymentSelector: selector, functionName: "messages:send", args: JSON.stringify({ author: "mcp", body: "via run" }) })) as {
      result: unknown;
      logLines: string[];
    };
    expect(typeof sent.result).toBe("string");
    expect(sent.logLines).toEqual([expect.stringContaining("'sending' 'via run'")]);
  });

  it("logs: the recent executions as text", async () => {
    const { entries } = (await callTool("logs", { deploymentSelector: selector })) as { entries: string; newCursor: number };
    expect(entries).toMatch(/\[CONVEX M\(messages:send\)\] \[LOG\] 'sending' 'via run'/);
  });

  it("logs: a cursor is a time in ms, as on Convex: what ran after it", async () => {
    const since = Date.now();
    await deployment.cli(["run", "messages:count"]);
    const { entries, newCursor } = (await callTool("logs", { deploymentSelector: selector, cursor: since, jsonl: true })) as { entries: string; newCursor: number };
    const ran = entries.split("\n").map((line) => (JSON.parse(line) as { identifier: string }).identifier);
    // Only what ran after `since`: the query, not the mutations the suite ran before.
    expect(ran).toEqual(["messages:count"]);
    expect(newCursor).toBeGreaterThanOrEqual(since);
  });

  it("envSet, envList, envGet, envRemove: the deployment's environment variables", async () => {
    expect(await callTool("envSet", { deploymentSelector: selector, name: "MCP_VARIABLE", value: "sécret" })).toEqual({ success: true });
    expect(await callTool("envList", { deploymentSelector: selector })).toEqual({ variables: [{ name: "MCP_VARIABLE" }] });
    expect(await callTool("envList", { deploymentSelector: selector, includeValues: true })).toEqual({ variables: [{ name: "MCP_VARIABLE", value: "sécret" }] });
    expect(await callTool("envGet", { deploymentSelector: selector, name: "MCP_VARIABLE" })).toEqual({ value: "sécret" });
    expect(await callTool("envRemove", { deploymentSelector: selector, name: "MCP_VARIABLE" })).toEqual({ success: true });
    expect(await callTool("envGet", { deploymentSelector: selector, name: "MCP_VARIABLE" })).toEqual({ value: null });
  });

  it("runOneoffQuery: runs the module's default query once (read-only) and answers its result and log lines", async () => {
    const answer = await callTool("runOneoffQuery", {
      deploymentSelector: selector,
      query: `${REPL_IMPORT}\nexport default query({ handler: async (ctx) => { console.log("reading"); return (await ctx.db.query("messages").collect()).map((m) => m.author); } });`,
    });
    expect(answer).toEqual({ result: ["ada", "bob", "mcp"], logLines: ["[LOG] 'reading'"] });
    const write = `${REPL_IMPORT}\nexport default query({ handler: async (ctx) => await ctx.db.insert("messages", { author: "x", body: "y" }) });`;
    const refused = (await callTool("runOneoffQuery", { deploymentSelector: selector, query: write })) as { error: string };
    expect(refused.error).toContain("Uncaught TypeError: ctx.db.insert is not a function");
    // The tool sends the module as written (the CLI's --inline-query adds the import itself): without it, Convex's analysis fails.
    const unimported = (await callTool("runOneoffQuery", { deploymentSelector: selector, query: "export default query({ handler: async () => 1 });" })) as { error: string };
    expect(unimported.error).toContain("400 Bad Request: InvalidModules: Could not analyze the given module:\nUncaught ReferenceError: query is not defined");
  });
});
