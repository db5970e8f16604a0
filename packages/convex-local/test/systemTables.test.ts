/**
 * Reads and writes across user and system tables refused as Convex refuses them: the backend's
 * `system_table_guard` and `check_table_name` (convex-backend crates/isolate/src/environment/udf/async_syscall.rs,
 * crates/isolate/src/environment/helpers/mod.rs) behind `db.get` / `db.system.get` (the `isSystem`
 * flag of convex-js src/server/impl/database_impl.ts), and the `convex` package's own checks of
 * `db.query` / `db.system.query`. The fixture in `fixtures/schedulerFidelity` is pushed with the
 * official CLI and driven through `ConvexHttpClient`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;
let eventId: string;
let noteId: string;
let fileId: string;
let jobId: string;

beforeAll(async () => {
  deployment = await deployFixture("schedulerFidelity");
  client = new ConvexHttpClient(deployment.backend.url);
  eventId = await client.mutation(api.tables.addEvent, { tag: "system tables" });
  noteId = await client.mutation(api.tables.addNote, {});
  fileId = await client.action(api.tables.storeFile, {});
  jobId = await client.mutation(api.jobs.scheduleAt, { at: Date.now() + 3_600_000 });
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

const SYSTEM_ONLY = "Uncaught Error: System tables can only be accessed with db.system.";

describe("db.get and db.system.get", () => {
  it("db.get of a _storage or _scheduled_functions id is refused", async () => {
    await expect(client.query(api.tables.get, { id: fileId })).rejects.toThrow(SYSTEM_ONLY);
    await expect(client.query(api.tables.get, { id: jobId })).rejects.toThrow(SYSTEM_ONLY);
  });

  it("db.system.get of a user table's id is refused", async () => {
    await expect(client.query(api.tables.systemGet, { id: eventId })).rejects.toThrow("Uncaught Error: User tables cannot be accessed with db.system.");
  });

  it("each reads its own tables", async () => {
    expect(await client.query(api.tables.get, { id: eventId })).toMatchObject({ _id: eventId, tag: "system tables" });
    expect(await client.query(api.tables.systemGet, { id: fileId })).toMatchObject({ _id: fileId, size: 5 });
    expect(await client.query(api.tables.systemGet, { id: jobId })).toMatchObject({ _id: jobId, state: { kind: "pending" } });
  });

  it("db.get(table, id) with the id of another table is refused, naming both", async () => {
    await expect(client.query(api.tables.getFromTable, { table: "notes", id: eventId })).rejects.toThrow(
      'Uncaught Error: Invalid argument `id` for `db.get`: expected to be an Id<"notes">, got Id<"events"> instead.',
    );
    expect(await client.query(api.tables.getFromTable, { table: "notes", id: noteId })).toMatchObject({ _id: noteId });
  });
});

describe("db.query and db.system.query (checked by the convex package)", () => {
  it("refuses a user table through db.system and a system table without it", async () => {
    await expect(client.query(api.tables.systemQuery, { table: "events" })).rejects.toThrow("User tables can only be accessed from db.query().");
    await expect(client.query(api.tables.userQuery, { table: "_storage" })).rejects.toThrow("System tables can only be accessed from db.system.query().");
  });
});

describe("writes to system tables", () => {
  it("db.delete and db.patch of a system table's id are refused as reads through db are", async () => {
    await expect(client.mutation(api.tables.remove, { id: jobId })).rejects.toThrow(SYSTEM_ONLY);
    await expect(client.mutation(api.tables.patch, { id: fileId })).rejects.toThrow(SYSTEM_ONLY);
    expect(await client.query(api.tables.systemGet, { id: jobId })).toMatchObject({ state: { kind: "pending" } });
  });
});
