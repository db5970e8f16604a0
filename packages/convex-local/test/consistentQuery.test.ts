/**
 * `ConvexHttpClient.consistentQuery`: the client takes one timestamp from `/api/query_ts` and reads
 * every query at it through `/api/query_at_ts`. convex-local holds the snapshot of that timestamp
 * open (runtime/consistentReads.ts), so the queries read as of it whatever is committed after. Once
 * the snapshot is let go (after Convex's 4 minutes of index history, a push, or a failure of the
 * worker holding it), a query is answered only while what it read is unchanged since, and otherwise
 * as Convex does for a timestamp out of its retention window (503 `InternalServerError`,
 * crates/errors/src/lib.rs `out_of_retention`); a future timestamp is Convex's system error (500).
 */
import { statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let writer: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture("schedulerFidelity");
  writer = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

const RETRY_LATER = JSON.stringify({ code: "InternalServerError", message: "Your request couldn't be completed. Try again later." });

async function eventCount(): Promise<number> {
  return await writer.query(api.tables.countEvents, {});
}

describe("consistentQuery", () => {
  it("reads at the client's timestamp, whatever is committed after it", async () => {
    const before: string = await writer.mutation(api.tables.addEvent, { tag: "before" });
    const counted = await eventCount();
    const reader = new ConvexHttpClient(deployment.backend.url);
    expect(await reader.consistentQuery(api.tables.countEvents, {})).toBe(counted);

    const after: string = await writer.mutation(api.tables.addEvent, { tag: "after" });
    await writer.mutation(api.tables.patch, { id: before });
    expect(await eventCount()).toBe(counted + 1);
    expect(await reader.consistentQuery(api.tables.countEvents, {})).toBe(counted);
    expect(await reader.consistentQuery(api.tables.get, { id: before })).toMatchObject({ _id: before, tag: "before" });
    expect(await reader.consistentQuery(api.tables.get, { id: after })).toBeNull();

    // A new client reads at a new timestamp.
    const later = new ConvexHttpClient(deployment.backend.url);
    expect(await later.consistentQuery(api.tables.countEvents, {})).toBe(counted + 1);
    expect(await later.consistentQuery(api.tables.get, { id: before })).toMatchObject({ tag: "x" });
  });

  it("pages through a table as it was, while documents are added and removed", async () => {
    for (let i = 0; i < 10; i++) await writer.mutation(api.tables.addEvent, { tag: `page ${i}` });
    const reader = new ConvexHttpClient(deployment.backend.url);
    const expected = (await reader.consistentQuery(api.tables.pageEvents, { paginationOpts: { numItems: 1000, cursor: null } })).page.map((doc: { _id: string }) => doc._id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (;;) {
      const page: { page: { _id: string }[]; isDone: boolean; continueCursor: string } = await reader.consistentQuery(api.tables.pageEvents, { paginationOpts: { numItems: 3, cursor } });
      seen.push(...page.page.map((doc) => doc._id));
      // Between pages: one document added, the first one seen removed.
      await writer.mutation(api.tables.addEvent, { tag: "between pages" });
      if (seen.length === 3) await writer.mutation(api.tables.remove, { id: seen[0] });
      if (page.isDone) break;
      cursor = page.continueCursor;
    }
    expect(seen).toEqual(expected);
    expect(await eventCount()).not.toBe(expected.length);
  });

  it("after a push, reads at an earlier timestamp only what is unchanged since", async () => {
    const reader = new ConvexHttpClient(deployment.backend.url);
    const notes = await reader.consistentQuery(api.tables.countNotes, {});
    await writer.mutation(api.tables.addEvent, { tag: "before the push" });
    await deployment.cli(["deploy", "--yes", "--typecheck", "disable"]);
    // The snapshot held for the reader's timestamp went with the code it was taken under.
    expect(await reader.consistentQuery(api.tables.countNotes, {})).toBe(notes);
    await expect(reader.consistentQuery(api.tables.countEvents, {})).rejects.toThrow(RETRY_LATER);
  }, 120_000);

  it("a query past its time limit fails alone; the snapshots held then are let go", async () => {
    const reader = new ConvexHttpClient(deployment.backend.url);
    const counted = await reader.consistentQuery(api.tables.countEvents, {});
    await writer.mutation(api.tables.addEvent, { tag: "while held" });
    expect(await reader.consistentQuery(api.tables.countEvents, {})).toBe(counted);
    await expect(reader.consistentQuery(api.tables.spin, {})).rejects.toThrow("Function execution timed out (maximum duration: 1s)");
    await expect(reader.consistentQuery(api.tables.countEvents, {})).rejects.toThrow(RETRY_LATER);
    // A new timestamp is held again.
    const next = new ConvexHttpClient(deployment.backend.url);
    expect(await next.consistentQuery(api.tables.countEvents, {})).toBe(counted + 1);
    await writer.mutation(api.tables.addEvent, { tag: "held again" });
    expect(await next.consistentQuery(api.tables.countEvents, {})).toBe(counted + 1);
  });

  it("refuses arguments nested beyond Convex's limit without holding up other reads at held snapshots", async () => {
    const reader = new ConvexHttpClient(deployment.backend.url);
    const counted = await reader.consistentQuery(api.tables.countEvents, {});
    await writer.mutation(api.tables.addEvent, { tag: "after the deep one" });
    const { ts } = (await (await fetch(`${deployment.backend.url}/api/query_ts`, { method: "POST" })).json()) as { ts: string };
    const levels = 100_000; // the text only: an object this deep would overflow JSON.stringify here
    const deep = `${'{"deep":'.repeat(levels)}{}${"}".repeat(levels)}`;
    const response = await fetch(`${deployment.backend.url}/api/query_at_ts`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: `{"path":"tables:countEvents","ts":${JSON.stringify(ts)},"args":${deep}}`,
    });
    expect(JSON.stringify(await response.json())).toMatch(/Value is too nested \(nested \d+ levels deep > maximum nesting 64\)/);
    expect(await reader.consistentQuery(api.tables.countEvents, {})).toBe(counted);
  });

  it("lets every snapshot go while the WAL is over 256 MiB, and holds them again once it has restarted", async () => {
    const reader = new ConvexHttpClient(deployment.backend.url);
    const counted = await reader.consistentQuery(api.tables.countEvents, {});
    await writer.mutation(api.tables.addEvent, { tag: "after the reader's timestamp" });
    // ~280 MB of commits into another table while the reader's snapshot keeps the WAL from restarting.
    const text = "w".repeat(900_000);
    for (let round = 0; round < 78; round++) await Promise.all(Array.from({ length: 4 }, () => writer.mutation(api.tables.addBlob, { text })));
    expect(statSync(path.join(deployment.dataDir, "convex.sqlite3-wal")).size).toBeGreaterThan(256 * 1024 * 1024);
    await expect(reader.consistentQuery(api.tables.countEvents, {})).rejects.toThrow(RETRY_LATER);
    // Nothing holds the WAL now: the next commits checkpoint it and start it again, cut back to 64 MiB.
    for (let i = 0; i < 3; i++) await writer.mutation(api.tables.addNote, {});
    const next = new ConvexHttpClient(deployment.backend.url);
    expect(await next.consistentQuery(api.tables.countEvents, {})).toBe(counted + 1);
    await writer.mutation(api.tables.addEvent, { tag: "held again" });
    expect(await next.consistentQuery(api.tables.countEvents, {})).toBe(counted + 1);
  }, 120_000);

  it("holds 32 snapshots at most: a 33rd lets the oldest go", async () => {
    const oldest = new ConvexHttpClient(deployment.backend.url);
    const counted = await oldest.consistentQuery(api.tables.countEvents, {});
    await writer.mutation(api.tables.addEvent, { tag: "after the oldest" });
    const second = new ConvexHttpClient(deployment.backend.url);
    expect(await second.consistentQuery(api.tables.countEvents, {})).toBe(counted + 1);
    // 30 more timestamps, each after a commit: 32 held, the oldest still among them.
    const query_ts = async () => {
      await writer.mutation(api.tables.addNote, {});
      await fetch(`${deployment.backend.url}/api/query_ts`, { method: "POST" });
    };
    for (let i = 0; i < 30; i++) await query_ts();
    await writer.mutation(api.tables.addEvent, { tag: "after all of them" });
    expect(await oldest.consistentQuery(api.tables.countEvents, {})).toBe(counted);
    await query_ts(); // the 33rd
    await expect(oldest.consistentQuery(api.tables.countEvents, {})).rejects.toThrow(RETRY_LATER);
    expect(await second.consistentQuery(api.tables.countEvents, {})).toBe(counted + 1);
  });

  it("answers a timestamp after the latest commit with Convex's system error", async () => {
    const { ts } = (await (await fetch(`${deployment.backend.url}/api/query_ts`, { method: "POST" })).json()) as { ts: string };
    const future = Buffer.alloc(8);
    future.writeBigUInt64LE(Buffer.from(ts, "base64").readBigUInt64LE() + 60_000_000_000n);
    const response = await fetch(`${deployment.backend.url}/api/query_at_ts`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "tables:countEvents", args: {}, ts: future.toString("base64") }),
    });
    expect(response.status).toBe(500);
    expect(await response.text()).toBe(RETRY_LATER);
  });
});
