/**
 * File storage over HTTP, as Convex serves it (crates/local_backend/src/storage.rs):
 * `POST /api/storage/upload?token=…` (the URL `ctx.storage.generateUploadUrl()` hands out) stores
 * the request body, checking an optional `Digest: sha-256=…`, and answers `{"storageId": …}`;
 * `GET /api/storage/<key>` (the URL `ctx.storage.getUrl()` hands out) serves the bytes with their
 * content type and digest, or one `Range` of them.
 */
import { BlobDigestMismatchError, BlobStore, BlobTooLargeError, isSha256Base64, type ByteRange } from "../storage/blobs.js";
import { UploadTokenError } from "../runtime/fileStorage.js";
import type { FunctionRunner } from "../runtime/runner.js";
import { RequestError, sendJson } from "./http.js";
import type { RouteRequest } from "./router.js";

/** Convex's `Cache-Control` for files: private, 30 days (a file never changes under its key). */
const FILE_CACHE_CONTROL = "private, max-age=2592000";

/**
 * Headers Convex does not send (README "Security"): a Convex deployment's origin is a site of its
 * own, but convex-local's shares its host, and so its cookies and same-site standing, with the
 * developer's other local servers. So a file is never sniffed into another type, and one opened
 * as a page (an uploaded `text/html` or SVG) runs sandboxed: no script, an opaque origin. PDFs are
 * left out: Chrome refuses to show a PDF in a sandbox, and a PDF's scripts run in the viewer.
 */
function untrustedContentHeaders(contentType: string | null): Record<string, string> {
  const essence = contentType?.split(";")[0].trim().toLowerCase();
  return {
    "X-Content-Type-Options": "nosniff",
    ...(essence === "application/pdf" ? {} : { "Content-Security-Policy": "sandbox" }),
  };
}

/** `POST /api/storage/upload?token=…`: stores the body as a file, authorized by the upload URL's token. */
export async function uploadFile({ request, response }: RouteRequest, runner: FunctionRunner): Promise<void> {
  const token = new URL(request.url ?? "/", "http://localhost").searchParams.get("token") ?? "";
  const files = runner.fileStorage();
  // The namespace whose `_storage` the file goes to: the app's, or the component's that made the URL.
  let namespace: string;
  try {
    namespace = files.checkUploadToken(token);
  } catch (error) {
    if (error instanceof UploadTokenError) throw new RequestError(401, error.code, error.message);
    throw error;
  }
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > files.maxFileBytes) throw tooLarge(files.maxFileBytes);
  const sha256 = expectedDigest(request.headers.digest);
  let storageId: string;
  try {
    storageId = await runner.storeFile(request, request.headers["content-type"] ?? null, sha256, namespace);
  } catch (error) {
    if (error instanceof BlobTooLargeError) throw tooLarge(files.maxFileBytes);
    if (error instanceof BlobDigestMismatchError) throw new RequestError(400, "Sha256Mismatch", error.message);
    throw error;
  }
  sendJson(response, 200, { storageId });
}

/** `GET` or `HEAD /api/storage/<key>`: a stored file, or one `Range` of it. */
export function serveFile({ request, response, rest }: RouteRequest, runner: FunctionRunner): void {
  const key = decodeURIComponent(rest);
  if (!BlobStore.isKey(key)) {
    throw new RequestError(
      400,
      "InvalidStoragePath",
      `Invalid storage path: "${key}". Please use \`storage.getUrl(storageId: Id<"_storage">)\` to generate a valid URL to retrieve files. See https://docs.convex.dev/file-storage/serve-files for more details`,
    );
  }
  // A file's bytes exist exactly while its `_storage` document does (they go when it is deleted).
  const blobs = runner.fileStorage().blobs;
  const file = blobs.describe(key);
  if (file === null) throw new RequestError(404, "FileNotFound", `File not found: ${key}`);
  const range = file.size === 0 ? null : requestedRange(request.headers.range, file.size);
  if (range === "unsatisfiable") {
    response.writeHead(416, { "Content-Range": `bytes */${file.size}` });
    response.end();
    return;
  }
  const headers = {
    ...(file.contentType ? { "Content-Type": file.contentType } : {}),
    "Cache-Control": FILE_CACHE_CONTROL,
    "Accept-Ranges": "bytes",
    ...untrustedContentHeaders(file.contentType),
  };
  if (range === null) {
    response.writeHead(200, { ...headers, "Content-Length": file.size, Digest: `sha-256=${file.sha256}` });
  } else {
    response.writeHead(206, { ...headers, "Content-Length": range.end - range.start + 1, "Content-Range": `bytes ${range.start}-${range.end}/${file.size}` });
  }
  if (request.method === "HEAD") {
    response.end();
    return;
  }
  const stream = blobs.stream(key, range ?? undefined);
  stream.on("error", () => response.destroy());
  stream.pipe(response);
}

/**
 * The single byte range of a `Range` header, clipped to the file: null to serve the whole file
 * (no header, or one that does not parse, as Convex ignores it), "unsatisfiable" for several
 * ranges (Convex serves only one) or one outside the file.
 */
function requestedRange(header: string | undefined, size: number): ByteRange | null | "unsatisfiable" {
  const specs = /^bytes=(.+)$/.exec(header?.trim() ?? "")?.[1].split(",");
  if (specs === undefined) return null;
  const parsed = specs.map((spec) => /^\s*(\d*)-(\d*)\s*$/.exec(spec));
  if (parsed.some((match) => match === null || (match[1] === "" && match[2] === ""))) return null;
  if (parsed.length !== 1) return "unsatisfiable";
  const [, first, last] = parsed[0]!;
  if (first === "") {
    const suffix = Number(last);
    return suffix === 0 ? "unsatisfiable" : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size) return "unsatisfiable";
  return end < start ? null : { start, end };
}

/** The base64 SHA-256 of a `Digest: sha-256=…` header, if there is one. */
function expectedDigest(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const digest = typeof header === "string" ? /^sha-256=(.+)$/.exec(header.trim())?.[1] : undefined;
  if (digest === undefined || !isSha256Base64(digest)) {
    throw new RequestError(400, "BadHeader", `Bad header for Digest: expected "sha-256=<base64 SHA-256 of the body>", got ${JSON.stringify(header)}`);
  }
  return digest;
}

function tooLarge(maxFileBytes: number): RequestError {
  return new RequestError(413, "FileTooLarge", `The file is larger than the ${maxFileBytes} bytes convex-local accepts (the backend's maxFileBytes)`);
}
