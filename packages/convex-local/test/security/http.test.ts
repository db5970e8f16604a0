/**
 * Issue #13 findings 3, 6 and 7 (HTTP), attacked over the network against a `convex-local start`
 * child process:
 * 3. compression bombs: limits apply to the decoded body (Convex's 16 MiB), decoding stops at the
 *    limit, `/api/query_batch` holds a bounded number of queries, and errors quote values cut short;
 * 6. an HTTP action's `request.url` is on the site URL whatever the request line says;
 * 7. CORS as Convex answers it on the public API and none on admin routes; stored files are served
 *    with `nosniff` and, as pages, sandboxed.
 * Every attack runs under {@link underAttack}: the server stays up and serves a control client.
 */
import { connect } from "node:net";
import { brotliCompressSync, constants, deflateSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MAX_QUERY_BATCH_SIZE } from "../../src/api/functionRoutes.js";
import { MAX_BODY_BYTES, MAX_JSON_BODY_VALUES } from "../../src/api/http.js";
import { securityTarget, underAttack } from "./target.js";

const target = securityTarget();

const MiB = 1024 * 1024;
/** A request error is a line or two; a quoted value is at most Convex's 16384 characters. */
const MAX_ERROR_BYTES = 4 * 1024;
const MAX_QUOTING_ERROR_BYTES = 17 * 1024;

type Encoding = "identity" | "gzip" | "br" | "deflate";

function encode(body: Buffer, encoding: Encoding): Buffer {
  switch (encoding) {
    case "gzip":
      return gzipSync(body, { level: 9 });
    case "deflate":
      return deflateSync(body, { level: 9 });
    case "br":
      return brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } });
    case "identity":
      return body;
  }
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function post(route: string, body: Buffer, encoding: Encoding = "identity", headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${target.url}${route}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(encoding === "identity" ? {} : { "Content-Encoding": encoding }), ...headers },
    body: encode(body, encoding),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Asserts Convex's `{code, message}` request error, a few KB at most, and returns it. */
function requestError(answer: Answer, status = 400): { code: string; message: string } {
  expect(Buffer.byteLength(answer.text)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
  expect(answer.status).toBe(status);
  const error = JSON.parse(answer.text);
  expect(error).toEqual({ code: expect.stringMatching(/^\w+$/), message: expect.stringMatching(/\S/) });
  return error;
}

/** `{"path":…,"args":{"value":"xxx…"},…}` of `totalBytes` (or the bare envelope): one huge, highly compressible argument. */
function hugeArgument(totalBytes: number): Buffer {
  const envelope = Buffer.from(JSON.stringify({ path: "bodies:size", args: { value: "" }, format: "json" }));
  const at = envelope.indexOf('""') + 1;
  return Buffer.concat([envelope.subarray(0, at), Buffer.alloc(Math.max(0, totalBytes - envelope.length), "x"), envelope.subarray(at)]);
}

/** A query batch of `count` control queries. */
function queryBatch(count: number): Buffer {
  const query = JSON.stringify({ path: "control:ping", args: { n: 1 }, format: "json" });
  return Buffer.from(`{"queries":[${new Array(count).fill(query).join(",")}]}`);
}

describe("finding 3: compression bombs and unbounded batches", () => {
  it("refuses a small brotli body that inflates to a 128 MiB argument, without inflating it", async () => {
    const bomb = encode(hugeArgument(128 * MiB), "br");
    expect(bomb.length).toBeLessThan(4096);
    const report = await underAttack(target, () => post("/api/query", bomb, "identity", { "Content-Encoding": "br" }));
    expect(requestError(report.result)).toEqual({ code: "BadJsonBody", message: "Failed to buffer the request body: length limit exceeded" });
    expect(report.rssGrowth).toBeLessThan(96 * MiB);
  });

  it("refuses a tiny brotli body of a million queries before running any", async () => {
    const bomb = encode(queryBatch(1_000_000), "br");
    expect(bomb.length).toBeLessThan(4096);
    const report = await underAttack(target, () => post("/api/query_batch", bomb, "identity", { "Content-Encoding": "br" }));
    expect(requestError(report.result)).toEqual({ code: "BadJsonBody", message: "Failed to buffer the request body: length limit exceeded" });
    expect(report.rssGrowth).toBeLessThan(96 * MiB);
  });

  it(`runs a batch of ${MAX_QUERY_BATCH_SIZE} queries and refuses one more`, async () => {
    const report = await underAttack(target, async () => [await post("/api/query_batch", queryBatch(MAX_QUERY_BATCH_SIZE)), await post("/api/query_batch", queryBatch(MAX_QUERY_BATCH_SIZE + 1), "gzip")]);
    const [full, tooMany] = report.result;
    expect(full.status).toBe(200);
    expect(JSON.parse(full.text).results).toHaveLength(MAX_QUERY_BATCH_SIZE);
    expect(requestError(tooMany)).toEqual({
      code: "TooManyQueries",
      message: `The batch holds ${MAX_QUERY_BATCH_SIZE + 1} queries; /api/query_batch runs at most ${MAX_QUERY_BATCH_SIZE} in one request.`,
    });
  });

  it("refuses a body of millions of tiny values without parsing it", async () => {
    const manyObjects = Buffer.from(`{"path":"bodies:size","args":{"value":[${"{},".repeat(5 * MiB)}{}]}}`);
    expect(manyObjects.length).toBeLessThan(MAX_BODY_BYTES);
    const bomb = encode(manyObjects, "gzip");
    const report = await underAttack(target, () => post("/api/query", bomb, "identity", { "Content-Encoding": "gzip" }));
    expect(requestError(report.result)).toEqual({
      code: "BadJsonBody",
      message: `Failed to parse the request body as JSON: it holds more than ${MAX_JSON_BODY_VALUES} values, the most convex-local accepts in one request`,
    });
    expect(report.rssGrowth).toBeLessThan(96 * MiB);
  });

  it("still runs a valid compressed argument just under the limit", async () => {
    const body = hugeArgument(MAX_BODY_BYTES - 100);
    const valueLength = body.length - hugeArgument(0).length;
    // Not under attack: an honest argument at the limit still costs the runtime's single thread a few tenths of a second (#14).
    const answer = await post("/api/query", body, "deflate");
    expect(JSON.parse(answer.text)).toEqual({ status: "success", value: JSON.stringify("x".repeat(valueLength)).length });
  });

  it("quotes a huge value or path in a request error cut short", async () => {
    const huge = "y".repeat(4 * MiB);
    const report = await underAttack(target, async () => ({
      legacyArgs: await post("/api/query", Buffer.from(JSON.stringify({ path: "control:ping", args: [{ n: 1 }, huge], format: "json" })), "gzip"),
      path: await post("/api/query", Buffer.from(JSON.stringify({ path: `${huge}!`, args: {} })), "br"),
      format: await post("/api/query", Buffer.from(JSON.stringify({ path: "control:ping", args: { n: 1 }, format: huge }))),
    }));
    const { legacyArgs, path, format } = report.result;
    expect(legacyArgs.status).toBe(200);
    expect(Buffer.byteLength(legacyArgs.text)).toBeLessThanOrEqual(MAX_QUOTING_ERROR_BYTES);
    expect(JSON.parse(legacyArgs.text).errorMessage).toMatch(/Instead received 2 arguments: \[\{"n":1\},"y+\[\.\.\.truncated\]$/);
    expect(requestError(path).message).toMatch(/^y+\[\.\.\.truncated\] is not a valid path to a Convex function\. Path component is too long \(\d+ > maximum 64\): y{64}\.\.\.$/);
    expect(requestError(format).message).toMatch(/^format param must be one of \[`json`\]\. Got y+\[\.\.\.truncated\]$/);
  });
});

/** Writes one raw HTTP/1.1 request (request line as given, `Host: evil.example`) and resolves with the raw answer. */
function rawRequest(baseUrl: string, requestLine: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString()));
    socket.on("error", reject);
    socket.write(`${requestLine}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
  });
}

describe("finding 6: the origin an HTTP action sees", () => {
  const cases = [
    { requestLine: "GET http://evil.example/x?y=1 HTTP/1.1", path: "/x" },
    { requestLine: "GET //evil.example/x?y=1 HTTP/1.1", path: "//evil.example/x" },
    { requestLine: "GET /x?y=1 HTTP/1.1", path: "/x" },
  ];
  for (const { requestLine, path } of cases) {
    it(`gives \`${requestLine}\` a request.url on the site URL`, async () => {
      const report = await underAttack(target, () => rawRequest(target.siteUrl, requestLine));
      const seen = JSON.parse(/\{"url":"[^"]*"\}/.exec(report.result)![0]) as { url: string };
      expect(seen.url).toBe(`${new URL(target.siteUrl).origin}${path}?y=1`);
    });
  }

  it("refuses a request target that is neither a path nor a URL with a clear error", async () => {
    const answer = await rawRequest(target.siteUrl, "OPTIONS * HTTP/1.1");
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('{"code":"BadRequestTarget","message":"Invalid request target: * (expected a path such as /hook)"}');
  });
});

describe("finding 7: CORS and stored files", () => {
  const origin = "https://evil.example";

  async function preflight(route: string): Promise<Headers> {
    const response = await fetch(`${target.url}${route}`, {
      method: "OPTIONS",
      headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" },
    });
    await response.arrayBuffer();
    return response.headers;
  }

  it("answers a public route's preflight as Convex's CorsLayer does", async () => {
    const headers = await preflight("/api/query");
    expect(Object.fromEntries([...headers].filter(([name]) => name.startsWith("access-control-")))).toEqual({
      "access-control-allow-origin": origin,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET,POST,OPTIONS,PATCH,DELETE,PUT",
      "access-control-allow-headers": "authorization,content-type",
      "access-control-max-age": "86400",
    });
  });

  it("lets no web page call an admin route, not even with the admin key", async () => {
    const report = await underAttack(target, async () => {
      const preflights = await Promise.all(["/api/update_environment_variables", "/api/deploy2/start_push", "/api/check_admin_key"].map(preflight));
      const call = await fetch(`${target.url}/api/check_admin_key`, { headers: { Origin: origin, Authorization: `Convex ${target.adminKey}` } });
      return { preflights, call: { status: call.status, headers: call.headers, body: await call.json() } };
    });
    for (const headers of report.result.preflights) expect([...headers.keys()].filter((name) => name.startsWith("access-control-"))).toEqual([]);
    // Programs (the CLI) still call it; a browser would not let the page read the answer.
    expect(report.result.call.status).toBe(200);
    expect(report.result.call.headers.get("access-control-allow-origin")).toBeNull();
  });

  async function uploadAndFetch(contentType: string, content: string): Promise<Response> {
    const call = async (kind: "mutation" | "query", path: string, args: object): Promise<string> =>
      JSON.parse((await post(`/api/${kind}`, Buffer.from(JSON.stringify({ path, args, format: "json" })))).text).value;
    const uploadUrl = await call("mutation", "files:generateUploadUrl", {});
    const { storageId } = (await (await fetch(uploadUrl, { method: "POST", headers: { "Content-Type": contentType }, body: content })).json()) as { storageId: string };
    return await fetch(await call("query", "files:url", { id: storageId }));
  }

  it("serves an uploaded HTML page sandboxed, never sniffed, with Convex's headers", async () => {
    const report = await underAttack(target, () => uploadAndFetch("text/html", "<script>fetch('/api/query?path=x:y')</script>"));
    const file = report.result;
    expect(file.status).toBe(200);
    expect(await file.text()).toContain("<script>");
    expect(file.headers.get("content-type")).toBe("text/html");
    expect(file.headers.get("cache-control")).toBe("private, max-age=2592000");
    expect(file.headers.get("x-content-type-options")).toBe("nosniff");
    expect(file.headers.get("content-security-policy")).toBe("sandbox");
  });

  it("serves a PDF unsandboxed (browsers' viewers refuse a sandbox) but never sniffed", async () => {
    const file = await uploadAndFetch("application/pdf", "%PDF-1.4\n%%EOF\n");
    expect(file.headers.get("content-type")).toBe("application/pdf");
    expect(file.headers.get("x-content-type-options")).toBe("nosniff");
    expect(file.headers.get("content-security-policy")).toBeNull();
  });
});

describe("random, malformed and compressed bodies (property-based)", () => {
  const routes = ["/api/query", "/api/query_batch", "/api/mutation", "/api/action", "/api/run/control/ping", "/api/function"];
  const encodings: Encoding[] = ["identity", "gzip", "br", "deflate"];

  /**
   * Bomb-like decoded bodies: huge and highly repetitive, far over a limit (refused cheaply) or well
   * within them (served or refused by the parser or validator). Honest bodies right at the limits
   * still cost the runtime's one thread a few tenths of a second (#14), so those stay at half size.
   */
  const bombShapes: Record<string, () => Buffer> = {
    overLimitString: () => hugeArgument(40 * MiB),
    overLimitZeros: () => Buffer.from(`{"path":"control:ping","args":{"n":[${"0,".repeat(7 * MiB)}0]}}`),
    overLimitQueries: () => Buffer.from(`{"queries":[${'{"path":"control:ping","args":{}},'.repeat(400_000)}{}]}`),
    overLimitNesting: () => Buffer.from(`{"path":"control:ping","args":{"n":${"[".repeat(MAX_JSON_BODY_VALUES)}${"]".repeat(MAX_JSON_BODY_VALUES)}}}`),
    deepNesting: () => Buffer.from(`{"path":"control:ping","args":{"n":${"[".repeat(MAX_JSON_BODY_VALUES / 4)}${"]".repeat(MAX_JSON_BODY_VALUES / 4)}}}`),
    whitespacePadding: () => Buffer.from(`{"path":"control:ping","args":{"n":1},"format":"json"${" ".repeat(8 * MiB)}}`),
    truncatedString: () => hugeArgument(8 * MiB).subarray(0, 8 * MiB - 10),
  };
  const encodedBombs = new Map<string, Buffer>();
  const bomb = (shape: string, encoding: Encoding): Buffer => {
    const key = `${shape}/${encoding}`;
    if (!encodedBombs.has(key)) encodedBombs.set(key, encode(bombShapes[shape](), encoding));
    return encodedBombs.get(key)!;
  };

  const envelope = fc.record(
    { path: fc.oneof(fc.constantFrom("control:ping", "bodies:size", "nope:nope", ""), fc.string()), args: fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.object()), format: fc.constantFrom("json", "nope") },
    { requiredKeys: [] },
  );
  const smallBody = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
    fc.json({ maxDepth: 4 }).map((text) => Buffer.from(text)),
    envelope.map((value) => Buffer.from(JSON.stringify(value))),
    fc.array(envelope, { maxLength: 8 }).map((queries) => Buffer.from(JSON.stringify({ queries }))),
  );
  const request = fc.record({
    route: fc.constantFrom(...routes),
    encoding: fc.constantFrom(...encodings),
    /** The encoding the request claims; usually the real one, sometimes a lie or an unknown one. */
    claimed: fc.option(fc.constantFrom<string>("gzip", "br", "deflate", "zstd", "gzip, br"), { freq: 4 }),
    body: fc.oneof({ arbitrary: smallBody, weight: 3 }, { arbitrary: fc.constantFrom(...Object.keys(bombShapes)), weight: 2 }),
  });

  it("answers every body with a small 4xx {code, message} or a function result, and keeps serving", async () => {
    const report = await underAttack(target, () =>
      fc.assert(
        fc.asyncProperty(request, async ({ route, encoding, claimed, body }) => {
          const sent = typeof body === "string" ? bomb(body, encoding) : encode(body, encoding);
          const contentEncoding = claimed ?? (encoding === "identity" ? undefined : encoding);
          const response = await fetch(`${target.url}${route}`, {
            method: "POST",
            headers: { "Content-Type": "application/json", ...(contentEncoding === undefined ? {} : { "Content-Encoding": contentEncoding }) },
            body: sent,
          });
          const text = await response.text();
          expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_QUOTING_ERROR_BYTES);
          expect(response.status).toBeLessThan(500);
          const answer = JSON.parse(text);
          if (response.status !== 200) expect(answer).toEqual({ code: expect.stringMatching(/^\w+$/), message: expect.stringMatching(/\S/) });
        }),
        { numRuns: 60 },
      ),
    );
    expect(report.rssGrowth).toBeLessThan(160 * MiB);
  }, 60_000);
});
