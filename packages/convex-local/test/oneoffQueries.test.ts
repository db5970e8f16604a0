/**
 * One-off queries (`POST /api/run_test_function`), as `npx convex run --inline-query` sends them
 * and Convex answers them (crates/application/src/lib.rs `execute_standalone_module`,
 * crates/local_backend/src/dashboard.rs `run_test_function`): the module runs once as a read-only
 * query in a query worker, its refusals are Convex's, a component's tables are reached by its id,
 * and nothing of it stays installed. The MCP server's `runOneoffQuery` tool is in mcp.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployFixture, type TestDeployment } from "./harness.js";

let deployment: TestDeployment;

beforeAll(async () => {
  deployment = await deployFixture("oneoff", { ONEOFF_VARIABLE: "from the deployment" });
  for (const [author, body] of [["ada", "first"], ["bob", "second"], ["ada", "third"]]) {
    await deployment.cli(["run", "messages:send", JSON.stringify({ author, body })]);
  }
  await deployment.cli(["run", "messages:note", JSON.stringify({ name: "app's own", note: "not the component's" })]);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

/** `npx convex run --inline-query <query>` (and more arguments); a failure's output instead of a throw. */
async function inlineQuery(query: string, ...more: string[]): Promise<{ stdout: string; stderr: string; failed: boolean }> {
  try {
    return { ...(await deployment.cli(["run", "--inline-query", query, ...more])), failed: false };
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string };
    return { stdout, stderr, failed: true };
  }
}

/** The CLI's request, as `runTestFunctionQuery` sends it (convex-js src/cli/lib/runTestFunction.ts). */
async function runTestFunction(source: string, body: Record<string, unknown> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const { adminKey, url } = deployment.backend;
  const response = await fetch(`${url}/api/run_test_function`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Convex ${adminKey}` },
    body: JSON.stringify({ adminKey, args: {}, bundle: { path: "testQuery.js", source }, format: "convex_encoded_json", ...body }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const PREAMBLE = 'import { query, internalQuery } from "convex:/_system/repl/wrappers.js";\n';

async function messageCount(): Promise<number> {
  return (JSON.parse((await deployment.cli(["run", "messages:list"])).stdout) as unknown[]).length;
}

describe("npx convex run --inline-query", () => {
  it("prints what an expression evaluates to: the documents it read", async () => {
    const listed = JSON.parse((await deployment.cli(["run", "messages:list"])).stdout) as unknown[];
    const { stdout, failed } = await inlineQuery('await ctx.db.query("messages").take(2)');
    expect(failed).toBe(false);
    expect(JSON.parse(stdout)).toEqual(listed.slice(0, 2));
  });

  it("runs a module's default export, printing its log lines, and statements with an explicit return", async () => {
    const module = await inlineQuery('export default query({ handler: async (ctx) => { console.log("counting", 1); return (await ctx.db.query("messages").collect()).length; } })');
    expect(module.stdout.trim()).toBe("3");
    expect(module.stderr).toContain("[LOG] 'counting' 1");
    const statements = await inlineQuery('const first = await ctx.db.query("messages").first();\nreturn first.author + ": " + first.body;');
    expect(statements.stdout.trim()).toBe('"ada: first"');
    const internal = await inlineQuery('export default internalQuery({ args: {}, handler: async () => ({ big: 12n }) })');
    expect(JSON.parse(internal.stdout)).toEqual({ big: { $integer: "DAAAAAAAAAA=" } });
  });

  it("is not cached: a commit between two runs is seen by the second", async () => {
    const query = 'export default query({ handler: async (ctx) => (await ctx.db.query("messages").collect()).length })';
    const before = Number((await inlineQuery(query)).stdout);
    await deployment.cli(["run", "messages:send", JSON.stringify({ author: "cy", body: "fourth" })]);
    expect(Number((await inlineQuery(query)).stdout)).toBe(before + 1);
  });

  it("cannot write: ctx.db of a query has no insert, and a raw write syscall is refused in its read-only transaction", async () => {
    const before = await messageCount();
    const insert = await inlineQuery('await ctx.db.insert("messages", { author: "eve", body: "sneaky" })');
    expect(insert.failed).toBe(true);
    expect(insert.stderr).toContain("Query failed:");
    expect(insert.stderr).toMatch(/Server Error\\nUncaught TypeError: ctx\.db\.insert is not a function/);
    const raw = await runTestFunction(
      `${PREAMBLE}export default query({ handler: async () => await globalThis.Convex.asyncSyscall("1.0/insert", JSON.stringify({ table: "messages", value: { author: "eve", body: "raw" } })) });`,
    );
    expect(raw.status).toBe(200);
    expect(raw.body.status).toBe("error");
    expect(raw.body.errorMessage).toContain("insert is not allowed in a query: queries are read-only.");
    expect(await messageCount()).toBe(before);
  });

  it("refuses a module with other exported functions with Convex's 400 InvalidTestQuery", async () => {
    const { stderr, failed } = await inlineQuery("export const helper = query({ handler: async () => 1 }); export default query({ handler: async () => 2 })");
    expect(failed).toBe(true);
    expect(stderr).toContain("400 Bad Request: InvalidTestQuery: Only `export default` is supported.");
  });

  it("stops a query at the query time limit; the next one runs", async () => {
    const looping = await runTestFunction(`${PREAMBLE}export default query({ handler: async () => { while (true) {} } });`);
    expect(looping.body).toMatchObject({ status: "error" });
    expect(looping.body.errorMessage).toMatch(/^\[Request ID: [0-9a-f]{16}\] Server Error\nFunction execution timed out \(maximum duration: 1s\)/);
    expect((await inlineQuery("1 + 1")).stdout.trim()).toBe("2");
  });

  it("runs out of memory as any query does: Convex's error, and the next one runs", async () => {
    const hoarding = await runTestFunction(`${PREAMBLE}export default query({ handler: async () => { const kept = []; while (true) kept.push(new Array(1e5).fill(Math.random())); } });`);
    expect(hoarding.body).toMatchObject({ status: "error" });
    expect(hoarding.body.errorMessage).toContain("JavaScript execution ran out of memory (maximum memory usage: 64 MB)");
    expect((await inlineQuery("2 + 2")).stdout.trim()).toBe("4");
  });

  it("sees the deployment's environment variables", async () => {
    expect((await inlineQuery("process.env.ONEOFF_VARIABLE")).stdout.trim()).toBe('"from the deployment"');
  });

  it("--component reads that component's tables, without the deployment's environment variables", async () => {
    const component = await inlineQuery('(await ctx.db.query("counters").collect()).map((d) => [d.name, d.value])', "--component", "shardedCounter");
    expect(component.failed).toBe(false);
    expect((JSON.parse(component.stdout) as [string, number][]).sort()).toEqual([
      ["ada", 2],
      ["bob", 1],
      ["cy", 1],
    ]);
    const app = await inlineQuery('(await ctx.db.query("counters").collect()).map((d) => d.note)');
    expect(JSON.parse(app.stdout)).toEqual(["not the component's"]);
    expect((await inlineQuery("process.env.ONEOFF_VARIABLE ?? null", "--component", "shardedCounter")).stdout.trim()).toBe("");
    const unknown = await inlineQuery("1", "--component", "nowhere");
    expect(unknown.failed).toBe(true);
    expect(unknown.stderr).toContain('Component path "nowhere" was not found.\n\nAvailable components:\n• shardedCounter\nOmit `--component` to target the app root.');
  });

  it("leaves nothing installed: the function spec is the same after one-off queries, a pushed testQuery.js included", async () => {
    const before = (await deployment.cli(["function-spec"])).stdout;
    expect((await inlineQuery("1")).stdout.trim()).toBe("1");
    await runTestFunction(`${PREAMBLE}export default query({ handler: async () => 1 });`, { componentId: "@shardedCounter" });
    expect((await deployment.cli(["function-spec"])).stdout).toBe(before);
    expect(before).not.toContain("testQuery");
  });
});

describe("POST /api/run_test_function", () => {
  it("answers Convex's UdfResponse: the value in the requested format, log lines only when there are some", async () => {
    expect(await runTestFunction(`${PREAMBLE}export default query({ handler: async () => 7n });`, { format: "json" })).toEqual({ status: 200, body: { status: "success", value: "7" } });
    const logged = await runTestFunction(`${PREAMBLE}export default query({ handler: async () => { console.warn("careful"); return null; } });`);
    expect(logged.body).toEqual({ status: "success", value: null, logLines: ["[WARN] 'careful'"] });
  });

  it("answers a thrown error as Convex's error response", async () => {
    const thrown = await runTestFunction(`${PREAMBLE}export default query({ handler: async () => { throw new Error("inside"); } });`);
    expect(thrown.status).toBe(200);
    expect(thrown.body.status).toBe("error");
    expect(thrown.body.errorMessage).toMatch(/^\[Request ID: [0-9a-f]{16}\] Server Error\nUncaught Error: inside/);
  });

  it("refuses mutations, actions, HTTP actions and a default export that is not a function, with Convex's codes and texts", async () => {
    const refusal = async (source: string) => (await runTestFunction(source)).body;
    expect(await refusal("export default { isMutation: true, isPublic: true };")).toEqual({ code: "UnsupportedTestQuery", message: "Mutations are not supported in the REPL yet." });
    expect(await refusal("export default { isAction: true, isPublic: true };")).toEqual({ code: "UnsupportedTestQuery", message: "Actions are not supported in the REPL yet." });
    expect(await refusal("export default { isHttp: true };")).toEqual({ code: "UnsupportedTestQuery", message: "HTTP actions are not supported in the REPL yet." });
    expect(await refusal("export default 42;")).toEqual({ code: "InvalidTestQuery", message: "Default export is not a Convex function." });
    expect(await refusal(`${PREAMBLE}export const named = query({ handler: async () => 1 });`)).toEqual({ code: "InvalidTestQuery", message: "Only `export default` is supported." });
    const status = (await runTestFunction("export default 42;")).status;
    expect(status).toBe(400);
  });

  it("refuses a module that fails to load with Convex's InvalidModules text", async () => {
    const thrown = await runTestFunction('throw new Error("boom at import");\nexport default 1;');
    expect(thrown).toEqual({ status: 400, body: { code: "InvalidModules", message: "Could not analyze the given module:\nUncaught Error: boom at import" } });
    const unparsable = await runTestFunction("export default query({");
    expect(unparsable.status).toBe(400);
    expect(unparsable.body.code).toBe("InvalidModules");
    expect(unparsable.body.message).toMatch(/^Could not analyze the given module:\n/);
    const missing = await runTestFunction('import { query } from "convex:/_system/nothing.js";\nexport default query({ handler: async () => 1 });');
    expect(missing.body.code).toBe("InvalidModules");
  });

  it("checks the admin key in the body, as Convex does", async () => {
    const { status, body } = await runTestFunction(`${PREAMBLE}export default query({ handler: async () => 1 });`, { adminKey: "not-the-key" });
    expect(status).toBe(401);
    expect(body).toEqual({ code: "BadAdminKey", message: "The provided admin key was invalid for this instance" });
  });

  it("refuses an unknown componentId", async () => {
    const { status, body } = await runTestFunction(`${PREAMBLE}export default query({ handler: async () => 1 });`, { componentId: "@nowhere" });
    expect(status).toBe(400);
    expect(body.code).toBe("InvalidComponentId");
  });
});
