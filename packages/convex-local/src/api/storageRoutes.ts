/**
 * File storage over HTTP, as Convex serves it: `POST /api/storage/upload?token=…` (the URL
 * `ctx.storage.generateUploadUrl()` hands out) stores the request body and answers
 * `{"storageId": …}`; `GET /api/storage/<key>` (the URL `ctx.storage.getUrl()` hands out) serves
 * the bytes with their content type and SHA-256 digest.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { BlobStore, BlobTooLargeError } from "../storage/blobs.js";
import { MAX_FILE_BYTES, type FunctionRunner } from "../runtime/runner.js";
import { RequestError, sendJson } from "./http.js";

/** Convex's `Cache-Control` for files: private, 30 days (a file never changes under its key). */
const FILE_CACHE_CONTROL = "private, max-age=2592000";

/** Handles a storage route; false when `route` is none. */
export async function handleStorageRoute(route: string, request: IncomingMessage, response: ServerResponse, runner: FunctionRunner): Promise<boolean> {
  if (route === "/api/storage/upload" && request.method === "POST") {
    const token = new URL(request.url ?? "/", "http://localhost").searchParams.get("token") ?? "";
    if (!runner.fileStorage().acceptsUploadToken(token)) {
      throw new RequestError(401, "StorageTokenInvalid", "The upload URL is invalid or has expired: generate a new one with `ctx.storage.generateUploadUrl()`.");
    }
    const declared = Number(request.headers["content-length"] ?? 0);
    if (declared > MAX_FILE_BYTES) throw tooLarge();
    let storageId: string;
    try {
      storageId = await runner.storeUpload(request, request.headers["content-type"] ?? null);
    } catch (error) {
      if (error instanceof BlobTooLargeError) throw tooLarge();
      throw error;
    }
    sendJson(response, 200, { storageId });
    return true;
  }
  if (route.startsWith("/api/storage/") && (request.method === "GET" || request.method === "HEAD")) {
    const key = decodeURIComponent(route.slice("/api/storage/".length));
    if (!BlobStore.isKey(key)) {
      throw new RequestError(
        400,
        "InvalidStoragePath",
        `Invalid storage path: "${key}". Please use \`storage.getUrl(storageId: Id<"_storage">)\` to generate a valid URL to retrieve files. See https://docs.convex.dev/file-storage/serve-files for more details`,
      );
    }
    // A file's bytes exist exactly while its `_storage` document does (they go when it is deleted).
    const file = runner.fileStorage().blobs.open(key);
    if (file === null) throw new RequestError(404, "FileNotFound", `File not found: ${key}`);
    response.writeHead(200, {
      "Content-Length": file.blob.size,
      ...(file.blob.contentType ? { "Content-Type": file.blob.contentType } : {}),
      Digest: `sha-256=${file.blob.sha256}`,
      "Cache-Control": FILE_CACHE_CONTROL,
    });
    if (request.method === "HEAD") {
      file.stream.destroy();
      response.end();
    } else {
      file.stream.pipe(response);
    }
    return true;
  }
  return false;
}

function tooLarge(): RequestError {
  return new RequestError(413, "FileTooLarge", `The file is larger than the ${MAX_FILE_BYTES} bytes convex-local accepts`);
}
