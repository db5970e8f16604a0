/**
 * Convex file storage on convex-local, as an app uses it: a browser-style upload to the URL a
 * mutation generates, the file served from `getUrl` (whole or by range), its `_storage` document
 * through `ctx.db.system` (live over the sync socket), `store`/`get` in actions, deletion, refused
 * uploads and storage ids, and files surviving a restart (with what a crash leaves cleaned up).
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
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
const APP_ORIGIN = "http://localhost:3000";

function sha256Of(bytes: Buffer | string, encoding: "base64" | "hex" = "base64"): string {
  return createHash("sha256").update(bytes).digest(encoding);
}

/** POSTs `bytes` to a fresh upload URL from the app's origin, as a browser's `fetch` does. */
async function post(bytes: Buffer, headers: Record<string, string>): Promise<Response> {
  const url = await client.mutation(api.files.generateUploadUrl, {});
  expect(url).toMatch(new RegExp(`^${deployment.backend.url}/api/storage/upload\\?token=`));
  return await fetch(url, { method: "POST", headers: { Origin: APP_ORIGIN, ...headers }, body: bytes });
}

async function upload(bytes: Buffer, contentType: string): Promise<string> {
  const response = await post(bytes, { "Content-Type": contentType });
  expect(response.status).toBe(200);
  expect(response.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
  const { storageId } = (await response.json()) as { storageId: string };
  return storageId;
}

function storedFiles(): string[] {
  return readdirSync(path.join(deployment.dataDir, "files")).sort();
}

describe("uploads and file URLs", () => {
  it("stores an upload, describes it like Convex and serves its bytes", async () => {
    const storageId = await upload(PNG, "image/png");
    const { url, document, metadata } = await client.query(api.files.describe, { id: storageId });
    expect(document).toEqual({ _id: storageId, _creationTime: expect.any(Number), sha256: sha256Of(PNG), size: PNG.length, contentType: "image/png" });
    expect(url).toMatch(new RegExp(`^${deployment.backend.url}/api/storage/[0-9a-f-]{36}$`));
    expect(url).not.toContain(storageId); // the id alone does not locate the bytes
    // Convex's deprecated metadata names the file by its URL's UUID, with a hex digest.
    const fileUuid = url.split("/").at(-1);
    expect(metadata).toEqual({ storageId: fileUuid, sha256: sha256Of(PNG, "hex"), size: PNG.length, contentType: "image/png" });
    expect(await client.query(api.files.urlOf, { id: fileUuid })).toBe(url);

    const served = await fetch(url);
    expect(served.status).toBe(200);
    expect(Object.fromEntries(["content-type", "content-length", "digest", "cache-control", "accept-ranges"].map((name) => [name, served.headers.get(name)]))).toEqual({
      "content-type": "image/png",
      "content-length": String(PNG.length),
      digest: `sha-256=${sha256Of(PNG)}`,
      "cache-control": "private, max-age=2592000",
      "accept-ranges": "bytes",
    });
    expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it("serves one byte range of a file, and refuses several or one past its end", async () => {
    const text = Buffer.from("0123456789");
    const { url } = await client.query(api.files.describe, { id: await upload(text, "text/plain") });
    const get = (range: string) => fetch(url, { headers: { Range: range } });

    const middle = await get("bytes=2-5");
    expect(middle.status).toBe(206);
    expect(middle.headers.get("content-range")).toBe("bytes 2-5/10");
    expect(await middle.text()).toBe("2345");
    const suffix = await get("bytes=-3");
    expect([suffix.status, suffix.headers.get("content-range"), await suffix.text()]).toEqual([206, "bytes 7-9/10", "789"]);
    const open = await get("bytes=8-100");
    expect([open.status, open.headers.get("content-range"), await open.text()]).toEqual([206, "bytes 8-9/10", "89"]);

    for (const refused of ["bytes=0-1,4-5", "bytes=10-"]) {
      const response = await get(refused);
      expect([response.status, response.headers.get("content-range")]).toEqual([416, "bytes */10"]);
    }
    const unparsable = await get("lines=1-2");
    expect([unparsable.status, await unparsable.text()]).toEqual([200, "0123456789"]);
  });

  it("checks a Digest header against the bytes and keeps nothing of a mismatch", async () => {
    const body = Buffer.from("checked");
    const matching = await post(body, { "Content-Type": "text/plain", Digest: `sha-256=${sha256Of(body)}` });
    expect(matching.status).toBe(200);

    const filesBefore = await client.query(api.files.list, {});
    const onDiskBefore = storedFiles();
    const mismatch = await post(body, { Digest: `sha-256=${sha256Of("something else")}` });
    expect(mismatch.status).toBe(400);
    expect(await mismatch.json()).toEqual({ code: "Sha256Mismatch", message: `Sha256 mismatch. Expected: ${sha256Of("something else")} Actual: ${sha256Of(body)}` });
    const malformed = await post(body, { Digest: "md5=abc" });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: "BadHeader" });
    expect(await client.query(api.files.list, {})).toEqual(filesBefore);
    expect(storedFiles()).toEqual(onDiskBefore);
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

  it("deletes a file: no URL, no document, no bytes on disk, and its old URL answers 404", async () => {
    const storageId = await upload(Buffer.from("short-lived"), "text/plain");
    const { url } = await client.query(api.files.describe, { id: storageId });
    const fileUuid = url.split("/").at(-1);
    expect(storedFiles()).toContain(fileUuid);
    await client.mutation(api.files.remove, { id: storageId });
    expect(await client.query(api.files.describe, { id: storageId })).toEqual({ url: null, document: null, metadata: null });
    expect(await client.query(api.files.urlOf, { id: fileUuid })).toBeNull();
    expect(storedFiles().filter((name) => name.startsWith(fileUuid))).toEqual([]);
    const response = await fetch(url);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "FileNotFound" });
    await expect(client.mutation(api.files.remove, { id: storageId })).rejects.toThrow(`storage id ${storageId} not found`);
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

  it("checks the sha256 option of store", async () => {
    const text = "digest checked";
    const storageId = await client.action(api.files.storeText, { text, sha256: sha256Of(text) });
    expect(await client.action(api.files.readText, { id: storageId })).toMatchObject({ text });
    await expect(client.action(api.files.storeText, { text, sha256: sha256Of("other") })).rejects.toThrow("Sha256 mismatch");
    await expect(client.action(api.files.storeText, { text, sha256: "not a digest" })).rejects.toThrow("InvalidDigestHeader");
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

  it("refuses an upload URL past its hour, and accepts one several times within it (Convex's are not single-use)", async () => {
    const expired = deployment.backend.runner.fileStorage().uploadUrl(Date.now() - 60 * 60 * 1000 - 1);
    const refused = await fetch(expired, { method: "POST", body: "late" });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: "StorageTokenExpired" });

    const url = await client.mutation(api.files.generateUploadUrl, {});
    const ids = [];
    for (const body of ["first", "second"]) {
      const response = await fetch(url, { method: "POST", body });
      expect(response.status).toBe(200);
      ids.push(((await response.json()) as { storageId: string }).storageId);
    }
    expect(new Set(ids).size).toBe(2);
  });

  it("refuses uploads over the size limit, declared or streamed, and keeps nothing of them", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "convex-local-small-files-"));
    const small = await startBackend({ dataDir, port: 0, sitePort: 0, maxFileBytes: 1024 });
    try {
      const send = (headers: Record<string, string>, chunks: Buffer[]) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const outgoing = request(small.runner.fileStorage().uploadUrl(), { method: "POST", headers }, (response) => {
            let body = "";
            response.on("data", (chunk) => (body += chunk));
            response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
          });
          outgoing.on("error", reject);
          for (const chunk of chunks) outgoing.write(chunk);
          outgoing.end();
        });
      // Declared too large: refused before the body is read.
      const declared = await send({ "Content-Length": "2048" }, [Buffer.alloc(2048)]);
      // Chunked, with no length to check up front: refused once the bytes counted pass the limit.
      const streamed = await send({}, [Buffer.alloc(600), Buffer.alloc(600)]);
      for (const refused of [declared, streamed]) {
        expect(refused.status).toBe(413);
        expect(JSON.parse(refused.body)).toMatchObject({ code: "FileTooLarge" });
      }
      expect(readdirSync(path.join(dataDir, "files"))).toEqual([]);
      expect((await send({}, [Buffer.alloc(1024)])).status).toBe(200);
    } finally {
      await small.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("answers a malformed file path with Convex's error", async () => {
    const response = await fetch(`${deployment.backend.url}/api/storage/not-a-key`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "InvalidStoragePath" });
  });

  it("refuses storage ids of other tables and strings that are no storage id", async () => {
    const noteId = await client.mutation(api.files.addNote, {});
    await expect(client.query(api.files.urlOf, { id: noteId })).rejects.toThrow("Storage ID cannot be an ID on any table other than '_storage'");
    await expect(client.query(api.files.urlOf, { id: "nonsense" })).rejects.toThrow('Invalid storage ID: "nonsense"');
  });
});

it("keeps files, their documents and upload URLs across a restart, and removes what a crash left behind", async () => {
  const storageId = await upload(PNG, "image/png");
  const uploadUrl = new URL(await client.mutation(api.files.generateUploadUrl, {}));
  const filesDirectory = path.join(deployment.dataDir, "files");
  const kept = storedFiles();
  await deployment.backend.close();
  // What a crash can leave: an unfinished write, and bytes whose document never committed.
  const unfinished = `${randomUUID()}.partial`;
  const uncommitted = randomUUID();
  writeFileSync(path.join(filesDirectory, unfinished), "half");
  writeFileSync(path.join(filesDirectory, uncommitted), "orphan");
  writeFileSync(path.join(filesDirectory, `${uncommitted}.json`), "{}");

  deployment.backend = await startBackend({ dataDir: deployment.dataDir, port: 0, sitePort: 0 });
  client = new ConvexHttpClient(deployment.backend.url);
  expect(storedFiles()).toEqual(kept);
  const { url, document } = await client.query(api.files.describe, { id: storageId });
  expect(document).toMatchObject({ size: PNG.length });
  expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(PNG)).toBe(true);
  // The new backend listens on another port; the token still verifies there.
  const response = await fetch(`${deployment.backend.url}${uploadUrl.pathname}${uploadUrl.search}`, { method: "POST", body: "after restart" });
  expect(response.status).toBe(200);
});
