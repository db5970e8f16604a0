/**
 * Convex file storage on convex-local, as an app uses it: a browser-style upload to the URL a
 * mutation generates, the file served from `getUrl`, its `_storage` document through
 * `ctx.db.system` (live over the sync socket), `store`/`get` in actions, deletion, refused
 * uploads, and files surviving a restart.
 */
import { createHash } from "node:crypto";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { startBackend } from "../src/api/backend.js";
import { deployFixture, type TestDeployment } from "./harness.js";

const api = anyApi;
let deployment: TestDeployment;
let client: ConvexHttpClient;

beforeAll(async () => {
  deployment = await deployFixture("files");
  client = new ConvexHttpClient(deployment.backend.url);
}, 180_000);

afterAll(async () => {
  await deployment?.cleanup();
});

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(5000, 7)]);

async function upload(bytes: Buffer, contentType: string): Promise<string> {
  const url = await client.mutation(api.files.generateUploadUrl, {});
  expect(url).toMatch(new RegExp(`^${deployment.backend.url}/api/storage/upload\\?token=`));
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": contentType }, body: bytes });
  expect(response.status).toBe(200);
  const { storageId } = (await response.json()) as { storageId: string };
  return storageId;
}

describe("uploads and file URLs", () => {
  it("stores an upload, describes it like Convex and serves its bytes", async () => {
    const storageId = await upload(PNG, "image/png");
    const sha256 = createHash("sha256").update(PNG).digest("base64");
    const { url, document, metadata } = await client.query(api.files.describe, { id: storageId });
    expect(document).toEqual({ _id: storageId, _creationTime: expect.any(Number), sha256, size: PNG.length, contentType: "image/png" });
    expect(metadata).toEqual({ storageId, sha256, size: PNG.length, contentType: "image/png" });
    expect(url).toMatch(new RegExp(`^${deployment.backend.url}/api/storage/[0-9a-f-]{36}$`));
    expect(url).not.toContain(storageId); // the id alone does not locate the bytes

    const served = await fetch(url);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(served.headers.get("digest")).toBe(`sha-256=${sha256}`);
    expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it("updates a subscription to the _storage table when a file arrives or goes", async () => {
    const live = new ConvexClient(deployment.backend.url);
    try {
      const sizes: number[] = [];
      let resolveNext: (() => void) | undefined;
      live.onUpdate(api.files.list, {}, (files: unknown[]) => {
        sizes.push(files.length);
        resolveNext?.();
      });
      const nextUpdate = () => new Promise<void>((resolve) => (resolveNext = resolve));
      await (sizes.length > 0 ? Promise.resolve() : nextUpdate());
      const before = sizes.at(-1)!;
      const arrived = nextUpdate();
      const storageId = await upload(Buffer.from("hello"), "text/plain");
      await arrived;
      expect(sizes.at(-1)).toBe(before + 1);
      const gone = nextUpdate();
      await client.mutation(api.files.remove, { id: storageId });
      await gone;
      expect(sizes.at(-1)).toBe(before);
    } finally {
      await live.close();
    }
  });

  it("deletes a file: no URL, no document, and its old URL answers 404", async () => {
    const storageId = await upload(Buffer.from("short-lived"), "text/plain");
    const { url } = await client.query(api.files.describe, { id: storageId });
    await client.mutation(api.files.remove, { id: storageId });
    expect(await client.query(api.files.describe, { id: storageId })).toEqual({ url: null, document: null, metadata: null });
    expect((await fetch(url)).status).toBe(404);
    await expect(client.mutation(api.files.remove, { id: storageId })).rejects.toThrow(/not found/);
  });
});

describe("files in actions", () => {
  it("stores a Blob, reads it back and deletes it", async () => {
    const storageId = await client.action(api.files.storeText, { text: "written by an action" });
    const read = await client.action(api.files.readText, { id: storageId });
    expect(read).toMatchObject({ text: "written by an action", type: "text/plain" });
    expect(await (await fetch(read.url)).text()).toBe("written by an action");
    await client.action(api.files.removeInAction, { id: storageId });
    expect(await client.action(api.files.readText, { id: storageId })).toBeNull();
  });
});

describe("refused requests", () => {
  it("refuses an upload without a valid token", async () => {
    const url = await client.mutation(api.files.generateUploadUrl, {});
    const tampered = url.replace(/token=(\d+)/, (_match, expires: string) => `token=${Number(expires) + 1}`);
    for (const target of [tampered, `${deployment.backend.url}/api/storage/upload?token=`, `${deployment.backend.url}/api/storage/upload`]) {
      const response = await fetch(target, { method: "POST", body: "x" });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ code: "StorageTokenInvalid" });
    }
  });

  it("refuses an upload declared larger than the limit before reading it", async () => {
    const url = new URL(await client.mutation(api.files.generateUploadUrl, {}));
    const status = await new Promise<number>((resolve, reject) => {
      const outgoing = request(url, { method: "POST", headers: { "Content-Length": String(300 * 1024 * 1024) } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        outgoing.destroy();
      });
      outgoing.on("error", reject);
      outgoing.write("x");
    });
    expect(status).toBe(413);
  });

  it("answers a malformed file path with Convex's error", async () => {
    const response = await fetch(`${deployment.backend.url}/api/storage/not-a-key`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "InvalidStoragePath" });
  });
});

it("keeps files and their documents across a restart", async () => {
  const storageId = await upload(PNG, "image/png");
  await deployment.backend.close();
  deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0 });
  client = new ConvexHttpClient(deployment.backend.url);
  const { url, document } = await client.query(api.files.describe, { id: storageId });
  expect(document).toMatchObject({ size: PNG.length });
  expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(PNG)).toBe(true);
});
