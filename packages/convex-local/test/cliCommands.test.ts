/**
 * The official CLI's commands for inspecting a deployment, run against convex-local as a user runs
 * them: `npx convex data`, `function-spec`, `run` (and its list of available functions), `env` and
 * `logs`. They read the system queries Convex serves from its `_system/` modules over the sync
 * WebSocket (api/systemFunctions) and the admin endpoints, and must print what they print against
 * Convex.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { deployFixture, waitFor, type TestDeployment } from "./harness.js";
import { startCli } from "./cliProcess.js";

let deployment: TestDeployment;
const ids: string[] = [];

beforeAll(async () => {
  deployment = await deployFixture();
  for (const [author, body] of [["ada", "first"], ["bob", "second"], ["cy", "third"]]) {
    const { stdout } = await deployment.cli(["run", "messages:send", JSON.stringify({ author, body })]);
    ids.push(JSON.parse(stdout) as string);
  }
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

/** Lines of a command's output, without the final newline. */
const lines = (text: string) => text.replace(/\n$/, "").split("\n");

describe("npx convex data", () => {
  it("lists the tables, by name, leaving out the system tables", async () => {
    await deployment.backend.runner.storeFile(Buffer.from("a file"), "text/plain");
    const { stdout } = await deployment.cli(["data"]);
    expect(lines(stdout)).toEqual(["counters", "messages", "values"]);
  });

  it("prints a table's newest documents, and says when --limit cut the list short", async () => {
    const { stdout, stderr } = await deployment.cli(["data", "messages", "--limit", "2"]);
    const [header, rule, ...rows] = lines(stdout);
    expect(header!.split("|").map((cell) => cell.trim())).toEqual(["_id", "_creationTime", "author", "body"]);
    expect(rule).toMatch(/^-+-\|-+-\|-+-\|-+$/);
    expect(rows.map((row) => row.split("|").map((cell) => cell.trim())[0])).toEqual([JSON.stringify(ids[2]), JSON.stringify(ids[1])]);
    expect(stderr).toContain("Showing the 2 most recently created documents. Use the --limit option to see more.");
  });

  it("prints them oldest first with --order asc, as JSON lines", async () => {
    const { stdout } = await deployment.cli(["data", "messages", "--order", "asc", "--format", "jsonl"]);
    const documents = lines(stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(documents.map((document) => [document._id, document.author, document.body])).toEqual([
      [ids[0], "ada", "first"],
      [ids[1], "bob", "second"],
      [ids[2], "cy", "third"],
    ]);
  });

  it("reads the system tables a developer may read, not the private ones, nor tables that do not exist", async () => {
    const storage = await deployment.cli(["data", "_storage", "--format", "jsonl"]);
    expect(Object.keys(JSON.parse(storage.stdout) as object).sort()).toEqual(["_creationTime", "_id", "contentType", "sha256", "size"]);
    for (const table of ["_modules", "_environment_variables", "nonexistent"]) {
      const { stdout, stderr } = await deployment.cli(["data", table]);
      expect({ table, stdout, stderr: stderr.trim() }).toEqual({ table, stdout: "", stderr: "There are no documents in this table." });
    }
  });
});

describe("npx convex function-spec", () => {
  it("describes every function and HTTP route with the deployment's URL", async () => {
    const { stdout } = await deployment.cli(["function-spec"]);
    const spec = JSON.parse(stdout) as { url: string; functions: Record<string, unknown>[] };
    expect(spec.url).toBe(deployment.backend.url);
    expect(spec.functions.find((fn) => fn.identifier === "messages.js:send")).toEqual({
      identifier: "messages.js:send",
      functionType: "Mutation",
      visibility: { kind: "public" },
      args: {
        type: "object",
        value: {
          author: { fieldType: { type: "string" }, optional: false },
          body: { fieldType: { type: "string" }, optional: false },
          likes: { fieldType: { type: "number" }, optional: true },
        },
      },
      returns: { type: "id", tableName: "messages" },
    });
    // A function without a return validator: null, as Convex stores it.
    expect(spec.functions.find((fn) => fn.identifier === "messages.js:list")).toMatchObject({ functionType: "Query", returns: null });
    expect(spec.functions.filter((fn) => fn.functionType === "HttpAction")).toEqual([
      { functionType: "HttpAction", method: "POST", path: "/messages" },
      { functionType: "HttpAction", method: "GET", path: "/echo/*" },
    ]);
  });
});

describe("npx convex run", () => {
  it("lists the available functions when the one named does not exist", async () => {
    const failure = (await deployment.cli(["run", "messages:nope"]).catch((error: unknown) => error)) as { stderr: string };
    expect(failure.stderr).toContain('Failed to run function "messages:nope"');
    expect(failure.stderr).toContain("Available functions:\n");
    expect(failure.stderr).toContain("• messages:send\n");
    expect(failure.stderr).not.toContain("/messages");
  });
});

describe("npx convex env", () => {
  it("sets, lists by name, gets and removes variables; get also reads the deployment's URLs", async () => {
    await deployment.cli(["env", "set", "ZETA", "last"]);
    await deployment.cli(["env", "set", "ALPHA", "first"]);
    expect(lines((await deployment.cli(["env", "list"])).stdout)).toEqual(["ALPHA=first", "ZETA=last"]);
    expect((await deployment.cli(["env", "get", "ZETA"])).stdout).toBe("last\n");
    expect((await deployment.cli(["env", "get", "CONVEX_CLOUD_URL"])).stdout).toBe(`${deployment.backend.url}\n`);
    await deployment.cli(["env", "remove", "ZETA"]);
    await deployment.cli(["env", "remove", "ALPHA"]);
    expect((await deployment.cli(["env", "list"])).stdout).toBe("");
  });
});

describe("npx convex logs", () => {
  it("prints the executions with their log lines as they complete", async () => {
    const logs = startCli(deployment, ["logs", "--history", "1"]);
    try {
      await deployment.cli(["run", "messages:send", JSON.stringify({ author: "dee", body: "logged" })]);
      const stdout = await logs.waitForOutput((output) => output.includes("'logged'"));
      expect(stdout).toMatch(/\[CONVEX M\(messages:send\)\] \[LOG\] 'sending' 'logged'/);
    } finally {
      await logs.stop();
    }
  });
});

describe("the system queries", () => {
  it("keep a subscription to a table's page current, as a paginated query does", async () => {
    const client = new ConvexClient(deployment.backend.url);
    client.setAdminAuth(deployment.backend.adminKey);
    try {
      const pages: { page: { body: string }[]; isDone: boolean }[] = [];
      const tableData = makeFunctionReference<"query">("_system/cli/tableData");
      client.onUpdate(tableData, { table: "messages", order: "desc", paginationOpts: { numItems: 100, cursor: null } }, (page) => pages.push(page));
      await waitFor(() => pages.length === 1, 10_000);
      expect(pages[0]!.isDone).toBe(true);
      await deployment.cli(["run", "messages:send", JSON.stringify({ author: "eve", body: "live" })]);
      await waitFor(() => pages.some((page) => page.page[0]?.body === "live"), 10_000);
    } finally {
      await client.close();
    }
  });

  it("are no public functions to a caller without the admin key", async () => {
    const client = new ConvexClient(deployment.backend.url);
    try {
      const error = await new Promise<Error>((resolve) => {
        client.onUpdate(makeFunctionReference<"query">("_system/cli/tables"), { paginationOpts: { numItems: 10, cursor: null } }, () => undefined, resolve);
      });
      expect(error.message).toMatch(/Could not find public function for '_system\/cli\/tables'\./);
    } finally {
      await client.close();
    }
  });
});
