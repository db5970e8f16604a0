/**
 * Reactive pagination through the official clients: page boundaries kept by the query journal,
 * split cursors and page status, cursors bound to their query, and a paginated list that stays
 * equal to the full list while documents are inserted and deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";
import WebSocket from "ws";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
type Item = { _id: string; list: string; n: number };
type Page = { page: Item[]; isDone: boolean; continueCursor: string; splitCursor: string | null; pageStatus: string | null };

let deployment: TestDeployment;
let http: ConvexHttpClient;
const clients: ConvexClient[] = [];

function wsClient(): ConvexClient {
  const client = new ConvexClient(deployment.backend.url, {
    webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
    skipConvexDeploymentUrlCheck: true,
    logger: false,
  });
  clients.push(client);
  return client;
}

/** Resolves once `read()` satisfies `done`, checking after every update; rejects after `timeoutMs`. */
async function until<T>(read: () => T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const numbers = (items: Item[]) => items.map((item) => item.n);

beforeAll(async () => {
  deployment = await deployFixture("reactivity");
  http = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await deployment?.cleanup();
});

describe("page boundaries", () => {
  it("keeps a subscribed page's end where it was while documents are inserted inside and after it", async () => {
    const list = "boundary";
    await http.mutation(api.items.addMany, { list, ns: [10, 20, 30, 40, 50, 60] });
    const client = wsClient();
    let first: Page | undefined;
    client.onUpdate(api.items.page, { list, paginationOpts: { numItems: 3, cursor: null } }, (page: Page) => (first = page));
    first = await until(() => first, (page) => page !== undefined);
    expect(numbers(first!.page)).toEqual([10, 20, 30]);
    let second: Page | undefined;
    client.onUpdate(api.items.page, { list, paginationOpts: { numItems: 3, cursor: first!.continueCursor } }, (page: Page) => (second = page));
    await until(() => second, (page) => page !== undefined && page.isDone);
    expect(numbers(second!.page)).toEqual([40, 50, 60]);

    // 25 lands inside the first page: the journal keeps its end at 30, so the page grows instead
    // of pushing 30 into the second page (which would then show it twice).
    await http.mutation(api.items.add, { list, n: 25 });
    await until(() => first, (page) => page!.page.length === 4);
    expect(numbers(first!.page)).toEqual([10, 20, 25, 30]);
    expect(numbers(second!.page)).toEqual([40, 50, 60]);

    // 35 falls between the pages' boundary and the last page's start: the second page gets it,
    // and 70 after the end joins the last page, which reaches to the end of the range.
    await http.mutation(api.items.addMany, { list, ns: [35, 70] });
    await until(() => second, (page) => page!.page.length === 5);
    expect(numbers(second!.page)).toEqual([35, 40, 50, 60, 70]);
    expect(numbers(first!.page)).toEqual([10, 20, 25, 30]);
  });

  it("honours an explicit endCursor and reports isDone only for a page reaching the end", async () => {
    const list = "explicit-end";
    await http.mutation(api.items.addMany, { list, ns: [1, 2, 3, 4, 5] });
    const first: Page = await http.query(api.items.page, { list, paginationOpts: { numItems: 2, cursor: null } });
    expect(numbers(first.page)).toEqual([1, 2]);
    await http.mutation(api.items.add, { list, n: 1.5 });
    const again: Page = await http.query(api.items.page, { list, paginationOpts: { numItems: 2, cursor: null, endCursor: first.continueCursor } });
    expect(numbers(again.page)).toEqual([1, 1.5, 2]);
    expect(again.isDone).toBe(false);
    expect(again.continueCursor).toBe(first.continueCursor);
    const rest: Page = await http.query(api.items.page, { list, paginationOpts: { numItems: 10, cursor: first.continueCursor } });
    expect(numbers(rest.page)).toEqual([3, 4, 5]);
    expect(rest.isDone).toBe(true);
  });
});

describe("splitting pages", () => {
  it("recommends a split past 3/4 of maximumRowsRead, counting filtered-out rows, with a split cursor", async () => {
    const list = "split";
    await http.mutation(api.items.addMany, { list, ns: Array.from({ length: 20 }, (_, i) => i) });
    // Four even numbers take seven scanned rows (0..6): more than 3/4 of 8.
    const recommended: Page = await http.query(api.items.pageOfEven, { list, paginationOpts: { numItems: 4, cursor: null, maximumRowsRead: 8 } });
    expect(numbers(recommended.page)).toEqual([0, 2, 4, 6]);
    expect(recommended.pageStatus).toBe("SplitRecommended");
    expect(recommended.splitCursor).toEqual(expect.any(String));

    // Split it as usePaginatedQuery does: [start, split] and (split, continue] together are the page.
    const opts = { numItems: 4, maximumRowsRead: 8 };
    const left: Page = await http.query(api.items.pageOfEven, { list, paginationOpts: { ...opts, cursor: null, endCursor: recommended.splitCursor } });
    const right: Page = await http.query(api.items.pageOfEven, {
      list,
      paginationOpts: { ...opts, cursor: recommended.splitCursor, endCursor: recommended.continueCursor },
    });
    expect(left.page.length).toBeGreaterThan(0);
    expect(right.page.length).toBeGreaterThan(0);
    expect([...numbers(left.page), ...numbers(right.page)]).toEqual([0, 2, 4, 6]);

    // Five even numbers would need nine rows: the page stops at eight and must be split.
    const required: Page = await http.query(api.items.pageOfEven, { list, paginationOpts: { numItems: 5, cursor: null, maximumRowsRead: 8 } });
    expect(required.pageStatus).toBe("SplitRequired");
    expect(numbers(required.page)).toEqual([0, 2, 4, 6]);
    expect(required.isDone).toBe(false);
    const next: Page = await http.query(api.items.pageOfEven, { list, paginationOpts: { numItems: 5, cursor: required.continueCursor } });
    expect(numbers(next.page)).toEqual([8, 10, 12, 14, 16]);

    const small: Page = await http.query(api.items.page, { list, paginationOpts: { numItems: 2, cursor: null } });
    expect(small.pageStatus).toBeNull();
    expect(small.splitCursor).toBeNull();
  });
});

describe("cursors", () => {
  it("refuses a cursor of another query with Convex's InvalidCursor error", async () => {
    const list = "cursor-binding";
    await http.mutation(api.items.addMany, { list, ns: [1, 2, 3] });
    const ascending: Page = await http.query(api.items.page, { list, paginationOpts: { numItems: 1, cursor: null } });
    const refused = await http
      .query(api.items.pageDescending, { list, paginationOpts: { numItems: 1, cursor: ascending.continueCursor } })
      .then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(ConvexError);
    expect((refused as ConvexError<Record<string, unknown>>).data).toEqual({ isConvexSystemError: true, paginationError: "InvalidCursor" });
    expect((refused as Error).message).toContain(
      "InvalidCursor: Tried to run a query starting from a cursor, but it looks like this cursor is from a different query.",
    );
    // Same query, other arguments: the cursor's key lies outside this list's range.
    const otherList = await http
      .query(api.items.page, { list: "another", paginationOpts: { numItems: 1, cursor: ascending.continueCursor } })
      .then(() => undefined, (error: unknown) => error);
    expect((otherList as Error).message).toContain("InvalidCursor");
    const garbage = await http
      .query(api.items.page, { list, paginationOpts: { numItems: 1, cursor: "not-a-cursor" } })
      .then(() => undefined, (error: unknown) => error);
    expect((garbage as Error).message).toContain("InvalidCursor");
  });

  it("allows one paginated query per function, as Convex does", async () => {
    await expect(http.query(api.items.twoPaginations, { list: "two" })).rejects.toThrow(/MultiplePaginatedDatabaseQueries/);
  });
});

describe("a paginated list under inserts and deletes", () => {
  it("stays equal to the full list with ConvexClient's paginated subscription", async () => {
    const list = "churn";
    await http.mutation(api.items.addMany, { list, ns: Array.from({ length: 12 }, (_, i) => i * 10) });
    const client = wsClient();
    let latest: { results: Item[]; status: string; loadMore: (n: number) => boolean } | undefined;
    const seenIds: string[][] = [];
    client.onPaginatedUpdate_experimental(api.items.page, { list }, { initialNumItems: 4 }, (result: typeof latest) => {
      latest = result;
      seenIds.push(result!.results.map((item) => item._id));
    });
    await until(() => latest, (value) => value?.status === "CanLoadMore");
    while (latest!.status !== "Exhausted") {
      if (latest!.status === "CanLoadMore") latest!.loadMore(4);
      await until(() => latest, (value) => value!.status !== "LoadingMore");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(numbers(latest!.results)).toEqual(Array.from({ length: 12 }, (_, i) => i * 10));

    // Deterministic churn: inserts at the start, inside pages, on page boundaries and at the end;
    // deletes of the first, last and boundary items.
    let next = 1;
    for (let round = 0; round < 12; round++) {
      const current: Item[] = await http.query(api.items.all, { list });
      if (round % 3 === 2) {
        const victim = current[(round * 7) % current.length]!;
        await http.mutation(api.items.remove, { id: victim._id });
      } else {
        const at = current[(round * 5) % current.length]!.n;
        await http.mutation(api.items.add, { list, n: round % 4 === 0 ? at : at + next++ / 100 });
      }
      const expected = (await http.query(api.items.all, { list })).map((item: Item) => item._id);
      await until(() => latest, (value) => JSON.stringify(value!.results.map((item) => item._id)) === JSON.stringify(expected));
    }
    // No update along the way ever showed a document twice.
    expect(seenIds.filter((ids) => new Set(ids).size !== ids.length)).toEqual([]);
  });
});
