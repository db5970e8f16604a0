/**
 * `npx convex export` from one convex-local and `npx convex import` into a fresh one, with the
 * official CLI as a subprocess: every document equal (ids, creation times, every value type),
 * references resolving, files byte-identical with their content types, indexes answering.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployFixture, type TestDeployment } from "../harness.js";

let source: TestDeployment;
let target: TestDeployment;
const zip = path.join(mkdtempSync(path.join(tmpdir(), "convex-local-snapshot-")), "snapshot.zip");
const files = [
  { bytes: Buffer.from("PNG\x00\x01 not really a picture", "latin1"), contentType: "image/png" },
  { bytes: Buffer.from([...Array(70_000).keys()].map((i) => (i * 7) % 256)), contentType: "application/octet-stream" },
];

/** Every document of `table` as stored. */
function documents(deployment: TestDeployment, table: string): Record<string, unknown>[] {
  return [...deployment.backend.storage.scanIndex(table, "by_id", { lowerInclusive: true, upperInclusive: false }, "asc")].map((row) => JSON.parse(row.json) as Record<string, unknown>);
}

beforeAll(async () => {
  [source, target] = await Promise.all([deployFixture("snapshot"), deployFixture("snapshot")]);
  const ids = [];
  for (const file of files) ids.push(await source.backend.runner.storeFile(file.bytes, file.contentType));
  await source.cli(["run", "data:seed", JSON.stringify({ avatar: ids[0] })]);
}, 240_000);

afterAll(async () => {
  await Promise.all([source?.cleanup(), target?.cleanup()]);
});

describe("export, then import into a fresh deployment", () => {
  it("exports a ZIP with the CLI", async () => {
    const { stderr } = await source.cli(["export", "--path", zip, "--include-file-storage"]);
    // convex 1.48 says "Created snapshot export at timestamp N", 1.51 "Snapshot export completed at <date>".
    expect(stderr).toMatch(/Created snapshot export at timestamp|Snapshot export completed at/);
    expect(existsSync(zip)).toBe(true);
  });

  it("imports it with the CLI, keeping every document as it was", async () => {
    const { stderr } = await target.cli(["import", zip, "--yes"]);
    expect(stderr).toContain("Added 24 documents.");
    for (const table of ["users", "posts", "values"]) expect(documents(target, table)).toEqual(documents(source, table));
    expect(target.backend.storage.tableNumber("posts")).toBe(source.backend.storage.tableNumber("posts"));
  });

  it("restores the files byte for byte, with their content types and ids", async () => {
    const before = documents(source, "_storage");
    const after = documents(target, "_storage");
    const visible = (document: Record<string, unknown>) => ({ ...document, blobKey: undefined });
    expect(after.map(visible)).toEqual(before.map(visible));
    for (const [i, document] of after.entries()) {
      const blob = target.backend.runner.fileStorage().blobs;
      const original = files.find((file) => file.bytes.length === document.size)!;
      expect(blob.read(document.blobKey as string)).toEqual(original.bytes);
      expect(blob.describe(document.blobKey as string)?.contentType).toBe(original.contentType);
      expect(document._id).toBe(before[i]!._id);
    }
  });

  it("answers index queries and resolves references", async () => {
    const { stdout } = await target.cli(["run", "data:postsBy", JSON.stringify({ name: "ada" })]);
    expect(JSON.parse(stdout)).toEqual(["first", "second"]);
    const int64 = await target.cli(["run", "data:valueOf", JSON.stringify({ tag: "int64max" })]);
    // The CLI prints an Int64 in Convex's JSON encoding: 2^63 - 1, little-endian.
    expect(JSON.parse(int64.stdout)).toEqual({ $integer: Buffer.from("ffffffffffffff7f", "hex").toString("base64") });
  });
});
