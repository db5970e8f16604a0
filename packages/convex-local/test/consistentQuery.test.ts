/**
 * `ConvexHttpClient.consistentQuery`: the client takes one timestamp from `/api/query_ts` and reads
 * every query at it through `/api/query_at_ts`. convex-local keeps no history: it answers while
 * what the query read is unchanged since that timestamp, and otherwise as Convex does for a
 * timestamp out of its retention window (503 `InternalServerError`, crates/errors/src/lib.rs
 * `out_of_retention`); a future timestamp is Convex's system error (500).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;

beforeAll(async () => {
  deployment = await deployFixture("schedulerFidelity");
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

const RETRY_LATER = JSON.stringify({ code: "InternalServerError", message: "Your request couldn't be completed. Try again later." });

describe("consistentQuery", () => {
  it("reads at the client's timestamp: unrelated commits keep the answer, a commit into what it read makes that timestamp unreadable", async () => {
    const writer = new ConvexHttpClient(deployment.backend.url);
    const before: string = await writer.mutation(api.tables.addEvent, { tag: "before" });
    const reader = new ConvexHttpClient(deployment.backend.url);
    expect(await reader.consistentQuery(api.tables.countEvents, {})).toBe(1);

    // A commit into another table: the events the query read are the same at the reader's timestamp.
    await writer.mutation(api.tables.addNote, {});
    expect(await reader.consistentQuery(api.tables.countEvents, {})).toBe(1);
    await expect(reader.consistentQuery(api.tables.countNotes, {})).rejects.toThrow(RETRY_LATER);

    // A commit into the events: the answer now is not the answer at the reader's timestamp.
    await writer.mutation(api.tables.addEvent, { tag: "after" });
    expect(await writer.query(api.tables.countEvents, {})).toBe(2);
    await expect(reader.consistentQuery(api.tables.countEvents, {})).rejects.toThrow(RETRY_LATER);
    // The one document a point read reads was not written since: still readable at that timestamp.
    expect(await reader.consistentQuery(api.tables.get, { id: before })).toMatchObject({ _id: before, tag: "before" });

    // A new client reads at a new timestamp.
    expect(await new ConvexHttpClient(deployment.backend.url).consistentQuery(api.tables.countEvents, {})).toBe(2);
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
