/**
 * `npx convex import` of a large table while the backend keeps serving: other clients' queries and
 * mutations are answered while the import runs, nothing of it shows until it is done, and an import
 * that fails — in its last file, or because the backend was killed — changes nothing visible and
 * leaves nothing behind (no hidden table, no stored file) once the backend is up again.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BY_CREATION_TIME_INDEX, encodeDocumentId, newInternalId, type Storage } from "../../src/storage/index.js";
import { cleanEnv, convexCli, deployFixture, repoRoot, waitFor, type TestDeployment } from "../harness.js";
import { failedImport, writeZip } from "./importHelpers.js";

const api = anyApi;
const TICKS = 100_000;
let deployment: TestDeployment;
const scratch = mkdtempSync(path.join(tmpdir(), "convex-local-import-background-"));
/** One `ticks` document per line, `{"n": i}`. */
const ticksFile = path.join(scratch, "ticks.jsonl");

beforeAll(async () => {
  writeFileSync(ticksFile, Array.from({ length: TICKS }, (_, n) => `{"n":${n}}\n`).join(""));
  deployment = await deployFixture("snapshot");
}, 240_000);

afterAll(async () => {
  await deployment?.cleanup();
});

/** The state of the newest import in `storage`, or undefined. */
function newestImportState(storage: Storage): string | undefined {
  if (storage.tableNumber("_snapshot_imports") === undefined) return undefined;
  const [row] = storage.scanIndex("_snapshot_imports", BY_CREATION_TIME_INDEX, { lowerInclusive: true, upperInclusive: false }, "desc", { limit: 1 });
  return row === undefined ? undefined : (JSON.parse(row.json) as { state: { state: string } }).state.state;
}

/** The newest import is under way: uploaded (its rows being written), waiting for its confirmation, or activating. */
function importRunning(storage: Storage): boolean {
  const state = newestImportState(storage);
  return state !== undefined && state !== "completed" && state !== "failed";
}

function hiddenTables(storage: Storage): string[] {
  return storage.listTables().map(({ name }) => name).filter((name) => name.startsWith("_hidden/"));
}

describe("an import of 100k documents", () => {
  it("lets other clients' queries and mutations through while it runs, and shows nothing of it until it is done", async () => {
    const client = new ConvexHttpClient(deployment.backend.url);
    const storage = deployment.backend.storage;
    expect(await client.query(api.data.firstTicks, {})).toEqual({ first: null, count: 0 });
    const importing = deployment.cli(["import", "--table", "ticks", "--replace", ticksFile, "--yes"]);
    await waitFor(() => importRunning(storage), 120_000);
    let answeredDuringImport = 0;
    for (let round = 0; importRunning(storage); round++) {
      const seen = await client.query(api.data.firstTicks, {});
      await client.mutation(api.data.note, { tag: `during import ${round}` });
      // Every answer sees the table as before the import, or as it is once the import is done.
      if (!importRunning(storage)) break;
      expect(seen).toEqual({ first: null, count: 0 });
      answeredDuringImport++;
    }
    const { stderr } = await importing;
    expect(stderr).toContain(`Added ${TICKS} documents`);
    // The import took a while; other clients kept being answered all along.
    expect(answeredDuringImport).toBeGreaterThanOrEqual(5);
    expect(await client.query(api.data.firstTicks, {})).toEqual({ first: 0, count: 10 });
    expect(storage.countDocuments("ticks")).toBe(TICKS);
    const notes = [...storage.scanIndex("values", "by_tag", { lowerInclusive: true, upperInclusive: false }, "asc")].filter((row) => row.json.includes("during import"));
    expect(notes.length).toBeGreaterThanOrEqual(answeredDuringImport);
    expect(hiddenTables(storage)).toEqual([]);
  }, 240_000);
});

describe("an import that fails in its last file changes nothing and leaves nothing behind", () => {
  const files = () => readdirSync(path.join(deployment.dataDir, "files")).sort();
  // An empty table whose number the import wanted has another one afterwards (it has no id to keep): names and counts are compared.
  const snapshot = (storage: Storage) => ({
    tables: storage
      .listTables()
      .filter(({ name }) => name !== "_snapshot_imports")
      .map(({ name }) => [name, storage.countDocuments(name)])
      .sort(),
    ticks: [...storage.scanIndex("ticks", "by_id", { lowerInclusive: true, upperInclusive: false }, "asc", { limit: 5 })].map((row) => row.json),
    files: files(),
  });

  it("a file whose bytes do not match their SHA-256, after 20k documents were written", async () => {
    const storage = deployment.backend.storage;
    const before = snapshot(storage);
    const storageNumber = storage.tableNumber("_storage")!;
    const good = Buffer.from("the first file");
    const bad = Buffer.from("the second file");
    const [goodId, badId] = [encodeDocumentId(storageNumber, newInternalId()), encodeDocumentId(storageNumber, newInternalId())];
    const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("base64");
    const zip = await writeZip(scratch, "last-file.zip", [
      ["users/documents.jsonl", Array.from({ length: 20_000 }, (_, i) => `{"name":"user ${i}"}\n`).join("")],
      ["_storage/documents.jsonl", `{"_id":"${goodId}","sha256":"${sha256(good)}","size":${good.length}}\n{"_id":"${badId}","sha256":"${sha256(good)}","size":${bad.length}}\n`],
      [`_storage/${goodId}`, good],
      [`_storage/${badId}`, bad],
    ]);
    expect(await failedImport(deployment.cli, [zip, "--replace-all"])).toMatch(/_storage\/\w+: .*sha/i);
    await waitFor(() => hiddenTables(storage).length === 0, 60_000);
    expect(snapshot(storage)).toEqual(before);
  }, 120_000);

  it("a document the schema refuses, the last row of the last table", async () => {
    const storage = deployment.backend.storage;
    const before = snapshot(storage);
    const zip = await writeZip(scratch, "last-row.zip", [
      ["ticks/documents.jsonl", Array.from({ length: 20_000 }, (_, n) => `{"n":${n}}\n`).join("")],
      ["users/documents.jsonl", `{"name":"ada"}\n{"name":"bob"}\n{"name":5}\n`],
    ]);
    expect(await failedImport(deployment.cli, [zip, "--replace"])).toMatch(/users\/documents\.jsonl: Row 3: Failed to insert or update a document in table "users" because it does not match the schema/);
    await waitFor(() => hiddenTables(storage).length === 0, 60_000);
    expect(snapshot(storage)).toEqual(before);
  }, 120_000);
});

describe("an import never confirmed", () => {
  it("is dropped, with what it wrote, when another import is uploaded", async () => {
    const storage = deployment.backend.storage;
    const admin = async (route: string, body: BodyInit, contentType = "application/json") => {
      const response = await fetch(`${deployment.backend.url}/api/${route}`, { method: "POST", headers: { Authorization: `Convex ${deployment.backend.adminKey}`, "Content-Type": contentType }, body });
      expect(response.status).toBe(200);
      return (await response.json()) as Record<string, unknown> | string;
    };
    // What `npx convex import` does up to its question, answered "no": upload, then nothing.
    const { uploadToken } = (await admin("import/start_upload", "{}")) as { uploadToken: string };
    const part = await admin(`import/upload_part?uploadToken=${uploadToken}&partNumber=1`, '{"tag":"never confirmed","value":1}\n', "application/octet-stream");
    const { importId } = (await admin("import/finish_upload", JSON.stringify({ import: { tableName: "values", mode: "append", format: "jsonLines" }, uploadToken, partTokens: [part] }))) as { importId: string };
    await waitFor(() => newestImportState(storage) === "waiting_for_confirmation", 60_000);
    expect(hiddenTables(storage)).toHaveLength(1);

    const next = path.join(scratch, "next.jsonl");
    writeFileSync(next, '{"tag":"next","value":2}\n');
    expect((await deployment.cli(["import", "--table", "values", "--append", next, "--yes"])).stderr).toContain("Added 1 documents");
    const state = (JSON.parse(storage.getDocument(importId)!) as { state: unknown }).state;
    expect(state).toEqual({ state: "failed", error_message: "Import canceled: another import was uploaded before this one was confirmed" });
    await waitFor(() => hiddenTables(storage).length === 0, 60_000);
    expect([...storage.scanIndex("values", "by_tag", { lowerInclusive: true, upperInclusive: false }, "asc")].map((row) => row.json).filter((json) => json.includes("never confirmed"))).toEqual([]);
  }, 120_000);
});

describe("a backend killed while an import writes", () => {
  const run = promisify(execFile);
  const bin = path.join(repoRoot, "packages/convex-local/bin/convex-local.js");

  /** `convex-local start` over the deployment's data directory; resolves with the process and its URL once it is ready. */
  function startServer(): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn(process.execPath, [bin, "start", "--port", "0", "--site-port", "0", "--data", deployment.dataDir, "--admin-key", deployment.backend.adminKey], { stdio: ["ignore", "pipe", "inherit"] });
    return new Promise((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const ready = /ready: deployment (http:\/\/\S+),/.exec(line);
        if (ready) resolve({ child, url: ready[1]! });
      });
      child.once("exit", (code) => reject(new Error(`convex-local exited before it was ready (${code})`)));
    });
  }

  it("comes back with nothing of the import, the import failed, no hidden table, no stray file and an intact database", async () => {
    await deployment.backend.close();
    const database = () => new Database(path.join(deployment.dataDir, "convex.sqlite3"), { readonly: true });
    const read = <T>(query: (db: Database.Database) => T): T => {
      const db = database();
      try {
        return query(db);
      } finally {
        db.close();
      }
    };
    // Every table but the imports' own (which gains the import's document), with its documents.
    const visible = () => read((db) => db.prepare("SELECT t.name AS name, COUNT(d.id) AS documents FROM tables t LEFT JOIN documents d ON d.table_number = t.number WHERE t.name NOT LIKE '\\_hidden/%' ESCAPE '\\' AND t.name != '_snapshot_imports' GROUP BY t.number ORDER BY t.name").all());
    const hiddenRows = () => read((db) => (db.prepare("SELECT COUNT(*) AS n FROM documents d JOIN tables t ON t.number = d.table_number WHERE t.name LIKE '\\_hidden/%' ESCAPE '\\'").get() as { n: number }).n);
    const importState = () => read((db) => (db.prepare("SELECT json FROM documents d JOIN tables t ON t.number = d.table_number WHERE t.name = '_snapshot_imports' ORDER BY json_extract(json, '$._creationTime') DESC LIMIT 1").get() as { json: string }).json);
    const files = () => readdirSync(path.join(deployment.dataDir, "files")).sort();

    let server = await startServer();
    try {
      const cli = (args: string[], signal?: AbortSignal) =>
        run(process.execPath, [convexCli, ...args], { cwd: deployment.appDir, env: { ...cleanEnv(), CONVEX_SELF_HOSTED_URL: server.url, CONVEX_SELF_HOSTED_ADMIN_KEY: deployment.backend.adminKey }, timeout: 120_000, signal });
      const before = visible();
      const filesBefore = files();
      // The CLI would wait for the killed backend to come back: it is stopped with it.
      const stopCli = new AbortController();
      const importing = cli(["import", "--table", "ticks", "--append", ticksFile, "--yes"], stopCli.signal).catch(() => undefined);
      // Killed once some batches are written into the hidden table, before the import is done.
      await waitFor(() => hiddenRows() > 0, 120_000);
      expect(JSON.parse(importState()).state.state).toBe("uploaded");
      server.child.kill("SIGKILL");
      await new Promise((resolve) => server.child.once("exit", resolve));
      stopCli.abort();
      await importing;

      server = await startServer();
      expect(visible()).toEqual(before);
      expect(JSON.parse(importState()).state).toMatchObject({ state: "failed", error_message: expect.stringMatching(/restarted before the import finished/) });
      await waitFor(() => hiddenRows() === 0 && read((db) => db.prepare("SELECT name FROM tables WHERE name LIKE '\\_hidden/%' ESCAPE '\\'").all()).length === 0, 60_000);
      expect(files()).toEqual(filesBefore);
      expect(read((db) => db.pragma("integrity_check", { simple: true }))).toBe("ok");
      // And the next import goes through.
      const { stderr } = await cli(["import", "--table", "ticks", "--append", ticksFile, "--yes"]);
      expect(stderr).toContain(`Added ${TICKS} documents`);
    } finally {
      server.child.kill("SIGKILL");
    }
  }, 300_000);
});
