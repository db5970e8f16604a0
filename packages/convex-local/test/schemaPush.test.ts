/**
 * Schema validation on push, as Convex does it: the stored documents of a table are checked when
 * the push's document type for it may refuse something the running one accepted, not at every
 * push (a dev loop's push, which rarely narrows the schema, then reads no documents). A document that the
 * running schema never checked — written here around the function API — shows which tables a
 * push checks.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { childProcesses, deployFixture, type TestDeployment } from "./harness.js";

let deployment: TestDeployment;
let schemaFile: string;
let originalSchema: string;

beforeAll(async () => {
  deployment = await deployFixture("schemaPush");
  schemaFile = path.join(deployment.appDir, "convex/schema.ts");
  originalSchema = readFileSync(schemaFile, "utf8");
  await deployment.backend.runner.systemWrite((transaction) => transaction.insert("things", { name: 5 }));
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

/** Deploys with the official CLI; resolves with what it printed and whether it succeeded. */
async function deploy(): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    return { ok: false, output: stdout + stderr };
  }
}

it("does not re-read a table whose validator the push leaves as it is", async () => {
  writeFileSync(path.join(deployment.appDir, "convex/more.ts"), 'import { query } from "./_generated/server";\nexport const one = query({ args: {}, handler: async () => 1 });\n');
  const pushed = await deploy();
  expect(pushed.output).not.toMatch(/does not match the schema/);
  expect(pushed.ok).toBe(true);
});

it("does not re-read a table whose new validator accepts everything the running one did", async () => {
  writeFileSync(schemaFile, originalSchema.replace("things: defineTable({ name: v.string() })", "things: defineTable({ name: v.union(v.string(), v.null()), note: v.optional(v.string()) })"));
  expect(await deploy()).toMatchObject({ ok: true });
});

it("checks a table whose validator narrows, and refuses the push naming the document", async () => {
  writeFileSync(schemaFile, originalSchema.replace("things: defineTable({ name: v.string() })", "things: defineTable({ name: v.string(), note: v.string() })"));
  const pushed = await deploy();
  expect(pushed.ok).toBe(false);
  expect(pushed.output).toMatch(/Document with ID "\w+" in table "things" does not match the schema/);
});

it("checks every table again when a push turns schema validation back on", async () => {
  writeFileSync(schemaFile, originalSchema.replace("});\n", "}, { schemaValidation: false });\n"));
  expect((await deploy()).ok).toBe(true);
  writeFileSync(schemaFile, originalSchema);
  const pushed = await deploy();
  expect(pushed.ok).toBe(false);
  expect(pushed.output).toMatch(/Document with ID "\w+" in table "things" does not match the schema/);
});

it.runIf(process.platform === "linux")("backfills a search index on a table with documents in a push worker, while the backend answers queries", async () => {
  const words = ["wombat", "quokka", "numbat", "bilby", "dingo", "possum", "wallaby", "echidna"];
  await deployment.backend.runner.systemWrite((transaction) => {
    for (let i = 0; i < 3000; i++) transaction.insert("notes", { text: Array.from({ length: 24 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" ") });
  });
  // The running schema does not validate (the test before): this push only adds the index.
  writeFileSync(
    schemaFile,
    originalSchema
      .replace("notes: defineTable({ text: v.string() })", 'notes: defineTable({ text: v.string() }).searchIndex("search_text", { searchField: "text" })')
      .replace("});\n", "}, { schemaValidation: false });\n"),
  );
  writeFileSync(
    path.join(deployment.appDir, "convex/notes.ts"),
    `import { v } from "convex/values";
import { query } from "./_generated/server";
export const search = query({
  args: { text: v.string() },
  handler: async (ctx, { text }) => (await ctx.db.query("notes").withSearchIndex("search_text", (q) => q.search("text", text)).take(5)).length,
});
`,
  );
  let pushing = true;
  const pushed = deploy().finally(() => (pushing = false));
  let answeredDuringBackfill = false;
  while (pushing && !answeredDuringBackfill) {
    if (childProcesses("pushWorker").length > 0) {
      const response = await fetch(`${deployment.backend.url}/api/query`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ path: "things:count", args: {}, format: "json" }) });
      expect(await response.json()).toMatchObject({ status: "success" });
      answeredDuringBackfill = childProcesses("pushWorker").length > 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(await pushed).toMatchObject({ ok: true });
  expect(answeredDuringBackfill).toBe(true);
  const found = await fetch(`${deployment.backend.url}/api/query`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ path: "notes:search", args: { text: "quokka" }, format: "json" }) });
  expect(await found.json()).toEqual({ status: "success", value: 5 });
});
