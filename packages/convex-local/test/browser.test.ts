/**
 * The official React client in a real browser: two Chromium pages (playwright-core, Debian's
 * /usr/bin/chromium) load a small React page bundled with esbuild from
 * `fixtures/reactivity/page/main.tsx` and talk to the backend with `ConvexReactClient`, unchanged,
 * next to a Node `ConvexClient`. Update latencies are measured and printed, not asserted.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import WebSocket from "ws";
import { startBackend, type Backend } from "../src/api/backend.js";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

type Item = { _id: string; n: number };
interface PageHooks {
  renders: { count: number; at: number }[];
  add(n: number): Promise<{ sentAt: number }>;
  loadMore(): boolean;
  paginationStatus: string;
}

let deployment: TestDeployment;
let backend: Backend;
let pageServer: http.Server;
let pageBase = "";
let browser: Browser;
let nodeClient: ConvexClient;
const httpClient = () => new ConvexHttpClient(backend.url);

beforeAll(async () => {
  deployment = await deployFixture("reactivity");
  backend = deployment.backend;
  const bundle = await build({
    entryPoints: [path.join(here, "fixtures/reactivity/page/main.tsx")],
    bundle: true,
    write: false,
    format: "esm",
    jsx: "automatic",
    minify: true,
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "error",
  });
  const script = bundle.outputFiles[0]!.contents;
  pageServer = http.createServer((request, response) => {
    if (request.url?.startsWith("/main.js")) {
      response.writeHead(200, { "Content-Type": "text/javascript" }).end(script);
    } else {
      response
        .writeHead(200, { "Content-Type": "text/html" })
        .end('<!doctype html><html><body><div id="root"></div><script type="module" src="/main.js"></script></body></html>');
    }
  });
  await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
  pageBase = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  nodeClient = new ConvexClient(backend.url, {
    webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
    skipConvexDeploymentUrlCheck: true,
    logger: false,
  });
}, 180_000);

afterAll(async () => {
  await nodeClient?.close();
  await browser?.close();
  await new Promise((resolve) => pageServer?.close(resolve));
  await backend?.close();
  if (deployment) rmSync(path.dirname(deployment.appDir), { recursive: true, force: true });
});

async function openPage(list: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${pageBase}/?deployment=${encodeURIComponent(backend.url)}&list=${encodeURIComponent(list)}`);
  await page.waitForFunction(() => document.getElementById("all")?.textContent !== "loading", undefined, { polling: 10 });
  return page;
}

const shownIds = async (page: Page, element: "all" | "paginated"): Promise<string[]> =>
  JSON.parse((await page.textContent(`#${element}`)) ?? "null") as string[];

/** Waits until the page shows exactly `ids` in `element`. */
async function waitForIds(page: Page, element: "all" | "paginated", ids: string[], timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    ([selector, expected]) => document.getElementById(selector)?.textContent === expected,
    [element, JSON.stringify(ids)] as const,
    { timeout, polling: 10 },
  );
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe("ConvexReactClient in Chromium", () => {
  it("sees mutations of another page and of a Node ConvexClient, and the Node client sees the page's", async () => {
    const list = "live";
    const [watcher, writer] = [await openPage(list), await openPage(list)];
    let nodeView: Item[] = [];
    nodeClient.onUpdate(api.items.all, { list }, (items: Item[]) => (nodeView = items));

    // Latency on the pages' own clock: from the writer's call to the watcher's React commit.
    const pageToPage: number[] = [];
    const ROUNDS = 15;
    for (let i = 1; i <= ROUNDS; i++) {
      const { sentAt } = await writer.evaluate((n) => (window as unknown as { convexTest: PageHooks }).convexTest.add(n), i);
      const seenAt = await watcher.evaluate(
        (count) =>
          new Promise<number>((resolve) => {
            const hooks = (window as unknown as { convexTest: PageHooks }).convexTest;
            const check = () => {
              const render = hooks.renders.find((entry) => entry.count === count);
              if (render) resolve(render.at);
              else setTimeout(check, 1);
            };
            check();
          }),
        i,
      );
      pageToPage.push(seenAt - sentAt);
      await expect.poll(() => nodeView.length).toBe(i);
    }
    for (let i = 1; i <= 5; i++) await nodeClient.mutation(api.items.add, { list, n: 100 + i });
    const full: Item[] = await httpClient().query(api.items.all, { list });
    expect(full).toHaveLength(ROUNDS + 5);
    await waitForIds(watcher, "all", full.map((item) => item._id));
    await waitForIds(writer, "all", full.map((item) => item._id));
    expect(nodeView).toHaveLength(ROUNDS + 5);
    console.log(`page→page update latency, median of ${ROUNDS}: ${median(pageToPage).toFixed(1)} ms (max ${Math.max(...pageToPage).toFixed(1)} ms)`);
    await Promise.all([watcher.context().close(), writer.context().close()]);
  });

  it("keeps usePaginatedQuery equal to the full list under inserts and deletes", async () => {
    const list = "paginated";
    const client = httpClient();
    await client.mutation(api.items.addMany, { list, ns: Array.from({ length: 10 }, (_, i) => i * 10) });
    const page = await openPage(list);
    // Loads pages until the list is exhausted (each loadMore must bring more items).
    const loadAll = async () => {
      for (;;) {
        await page.waitForFunction(() => {
          const status = document.getElementById("paginated")?.dataset.status;
          return status === "CanLoadMore" || status === "Exhausted";
        }, undefined, { polling: 10 });
        const shown = (await shownIds(page, "paginated")).length;
        const loading = await page.evaluate(() => (window as unknown as { convexTest: PageHooks }).convexTest.loadMore());
        if (!loading) return;
        await page.waitForFunction(
          (before) => {
            const element = document.getElementById("paginated");
            const status = element?.dataset.status;
            return (status === "CanLoadMore" || status === "Exhausted") && (JSON.parse(element!.textContent!) as string[]).length > before;
          },
          shown,
          { polling: 10 },
        );
      }
    };
    await loadAll();
    const expectMatchesFullList = async () => {
      const full: Item[] = await client.query(api.items.all, { list });
      await waitForIds(page, "paginated", full.map((item) => item._id));
      const shown = await shownIds(page, "paginated");
      expect(new Set(shown).size).toBe(shown.length);
    };
    await expectMatchesFullList();

    // Inserts before, inside, on the boundaries of and after the loaded pages; deletes of
    // first, boundary and last items.
    for (const n of [-5, 15, 20, 29.5, 30, 95, 200]) {
      await client.mutation(api.items.add, { list, n });
      await expectMatchesFullList();
    }
    for (const index of [0, 3, 6, -1]) {
      const full: Item[] = await client.query(api.items.all, { list });
      await client.mutation(api.items.remove, { id: full.at(index)!._id });
      await expectMatchesFullList();
    }
    await page.context().close();
  });

  it("restores subscriptions after a backend restart", async () => {
    const list = "restart";
    const client = httpClient();
    await client.mutation(api.items.addMany, { list, ns: [1, 2, 3, 4] });
    const [first, second] = [await openPage(list), await openPage(list)];
    const before: Item[] = await client.query(api.items.all, { list });
    await waitForIds(first, "all", before.map((item) => item._id));

    const url = new URL(backend.url);
    const siteUrl = new URL(backend.siteUrl);
    await backend.close();
    backend = await startBackend({
      dataDir: deployment.dataDir,
      port: Number(url.port),
      sitePort: Number(siteUrl.port),
      queryTimeoutMs: 1000,
    });

    await httpClient().mutation(api.items.add, { list, n: 5 });
    const after: Item[] = await httpClient().query(api.items.all, { list });
    expect(after).toHaveLength(5);
    for (const page of [first, second]) {
      await waitForIds(page, "all", after.map((item) => item._id), 30_000);
      // The first page (3 items) came back with the journal the client re-sent on reconnect.
      await waitForIds(page, "paginated", after.slice(0, 3).map((item) => item._id));
    }
    // The restarted backend's subscriptions are live: a further change reaches both pages.
    await httpClient().mutation(api.items.add, { list, n: 6 });
    const latest: Item[] = await httpClient().query(api.items.all, { list });
    for (const page of [first, second]) await waitForIds(page, "all", latest.map((item) => item._id));
    await Promise.all([first.context().close(), second.context().close()]);
  });
});
