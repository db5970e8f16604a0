/**
 * The public function API: `/api/query`, `/api/mutation`, `/api/action`, `/api/function`,
 * `/api/run/...`, `/api/query_ts`, `/api/query_at_ts`, `/api/query_batch`, with Convex's encodings:
 * legacy `args: [obj]` or `args: obj`, `format` (encoded or clean JSON), function failures as
 * `{status: "error", errorMessage, errorData?}` and request failures as `{code, message}`.
 */
import { componentFunctionPath, localName } from "../runtime/components.js";
import type { IncomingMessage } from "node:http";
import type { JSONValue } from "convex/values";
import { jsonToValue } from "../storage/values.js";
import type { Caller, FunctionResult, FunctionRunner, QueryRequest } from "../runtime/runner.js";
import { canonicalFunctionPath, checkFunctionPath } from "../runtime/modules.js";
import { InvalidFunctionPathError, strippedFunctionPath } from "../runtime/errors.js";
import { jsErrorText, valueJsonOf } from "../runtime/functionResults.js";
import { truncateText } from "../text/valueText.js";
import { RequestError, readJsonObject, requireString, sendJson, sendJsonText } from "./http.js";
import { notAdmin, type RouteRequest } from "./router.js";
import { randomRequestId, serverErrorText } from "./serverError.js";
import { decodeTs, encodeTs } from "./sync/protocol.js";

/** Convex's value formats (`crates/value/src/export.rs`): `convex_encoded_json`, `json`, `export_json`. */
type Format = "encoded" | "clean" | "export";

/**
 * The most queries one `/api/query_batch` request may hold. Convex bounds a batch only by its
 * 16 MiB body; convex-local runs a batch in one turn of its only thread, so it bounds the count too.
 */
export const MAX_QUERY_BATCH_SIZE = 256;

/** A function result as the API answers it, with Convex's request-id prefix on errors (the id of the request that ran it). */
export function resultBody(result: FunctionResult, format: Format, requestId = randomRequestId()): Record<string, unknown> {
  const body: Record<string, unknown> =
    result.status === "success"
      ? { status: "success", value: exportValue(result.value, format) }
      : { status: "error", errorMessage: serverErrorText(requestId, result.errorMessage) };
  if (result.status === "error" && result.errorData !== undefined) body.errorData = exportValue(result.errorData, format);
  if (result.logLines.length > 0) body.logLines = result.logLines;
  return body;
}

/**
 * {@link resultBody} as JSON text. A successful value goes out as the JSON text it came as (a
 * query's, from its worker: functionResults.ts `resultFromJson`), unless a readable format must
 * convert an encoded scalar in it — an object whose first key starts with `$`, as only those can.
 */
export function resultText(result: FunctionResult, format: Format, requestId?: string): string {
  if (result.status === "success") {
    const valueJson = valueJsonOf(result);
    if (format === "encoded" || !valueJson.includes('{"$')) {
      const logLines = result.logLines.length > 0 ? `,"logLines":${JSON.stringify(result.logLines)}` : "";
      return `{"status":"success","value":${valueJson}${logLines}}`;
    }
  }
  return JSON.stringify(resultBody(result, format, requestId));
}

function exportValue(value: JSONValue, format: Format): JSONValue {
  return format === "encoded" ? value : readableJson(value, format);
}

/**
 * A value in one of Convex's readable formats, from its encoded JSON. `json` (clean): int64 as a
 * decimal string, bytes as base64, NaN and ±Infinity as "NaN", "Infinity" and "-Infinity".
 * `export_json`: int64 as a number; bytes and non-finite floats keep their encoded form. Only the
 * encoded scalars (objects with one `$` key: field names cannot start with `$`) change; the rest
 * is shared with the encoded value, copied only along the path to a changed one.
 */
function readableJson(value: JSONValue, format: "clean" | "export"): JSONValue {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    let copy: JSONValue[] | undefined;
    value.forEach((item, i) => {
      const converted = readableJson(item, format);
      if (converted !== item) (copy ??= [...value])[i] = converted;
    });
    return copy ?? value;
  }
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0]!.startsWith("$")) return readableScalar(value, format);
  let changed = false;
  const converted = keys.map((key) => {
    const item = readableJson(value[key]!, format);
    changed ||= item !== value[key];
    return item;
  });
  return changed ? Object.fromEntries(keys.map((key, i) => [key, converted[i]!])) : value;
}

function readableScalar(encoded: JSONValue, format: "clean" | "export"): JSONValue {
  const scalar = jsonToValue(encoded);
  if (typeof scalar === "bigint") return format === "clean" ? scalar.toString() : Number(scalar);
  if (format === "export") return encoded;
  if (scalar instanceof ArrayBuffer) return Buffer.from(scalar).toString("base64");
  if (typeof scalar === "number") return Number.isNaN(scalar) ? "NaN" : scalar === Infinity ? "Infinity" : scalar === -Infinity ? "-Infinity" : scalar;
  return scalar as JSONValue;
}

export function parseFormat(format: unknown, fallback: Format): Format {
  if (format === undefined || format === null) return fallback;
  if (format === "convex_encoded_json" || format === "convex_json") return "encoded";
  if (format === "json" || format === "convex_clean_json") return "clean";
  if (format === "export_json") return "export";
  throw new RequestError(400, "BadFormat", `format param must be one of [\`json\`]. Got ${truncateText(String(format), 200)}`);
}

/** `args` may be an object or the legacy one-element array the npm client sends. */
function parseArgs(args: unknown): JSONValue {
  if (args === undefined) throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: missing field `args`");
  if (Array.isArray(args)) {
    if (args.length !== 1) {
      throw new FunctionArgumentsError(`Expected to receive a single object as the function's argument. Instead received ${args.length} arguments: ${truncateText(JSON.stringify(args))}`);
    }
    return args[0] as JSONValue;
  }
  return args as JSONValue;
}

class FunctionArgumentsError extends Error {}

/** The path when Convex accepts it; else Convex's 400 naming what is wrong with it. */
function validPath(path: string): string {
  try {
    checkFunctionPath(path);
  } catch (error) {
    if (error instanceof InvalidFunctionPathError) throw new RequestError(400, "BadConvexFunctionIdentifier", error.message);
    throw error;
  }
  return path;
}

export type CallKind = "query" | "mutation" | "action" | "any";

/** Runs one call and answers it; a query with `atTs` reads at that commit. */
async function call(runner: FunctionRunner, kind: CallKind, path: string, args: unknown, caller: Caller, atTs?: bigint): Promise<FunctionResult> {
  let parsedArgs: JSONValue;
  try {
    parsedArgs = parseArgs(args);
  } catch (error) {
    if (error instanceof FunctionArgumentsError) return { status: "error", errorMessage: jsErrorText(error.message), logLines: [] };
    throw error;
  }
  let resolvedKind = kind;
  if (kind === "any") {
    try {
      resolvedKind = runner.resolve(path, caller).udfType.toLowerCase() as CallKind;
    } catch {
      // Convex's `execute_any_function` (crates/application/src/lib.rs) words it so, not as a single kind's lookup does.
      const name = strippedFunctionPath(canonicalFunctionPath(localName(path)));
      return { status: "error", errorMessage: jsErrorText(`Could not find function for '${name}'. Did you forget to run \`npx convex dev\`?`), logLines: [] };
    }
  }
  switch (resolvedKind) {
    case "query":
      if (atTs !== undefined) return await queryAt(runner, { path, args: parsedArgs, caller, journal: null }, atTs);
      return (await runner.query(path, parsedArgs, caller)).result;
    case "mutation":
      return (await runner.mutation(path, parsedArgs, caller)).result;
    default:
      return await runner.action(path, parsedArgs, caller);
  }
}

/** `POST /api/query_ts`: the timestamp of the latest commit, whose snapshot is held for `/api/query_at_ts`. */
export async function queryTimestamp({ response }: RouteRequest, runner: FunctionRunner): Promise<void> {
  sendJson(response, 200, { ts: encodeTs(await runner.holdSnapshot()) });
}

/**
 * Convex's answer when a timestamp is out of its retention window (`ErrorMetadata::out_of_retention`,
 * crates/errors/src/lib.rs: 503, `InternalServerError`) and, as a 500, to any other system error.
 */
const TRY_AGAIN_LATER = "Your request couldn't be completed. Try again later.";

/**
 * `POST /api/query_at_ts` (`ConvexHttpClient.consistentQuery`): a query as it read at the commit
 * `ts` names (from `/api/query_ts`), on the snapshot held for it, or, once that is let go, while
 * what the query read is unchanged since `ts` (runtime/queryRunner.ts `queryAt`); otherwise as
 * Convex does for a timestamp older than it keeps. A future `ts` is a system error there
 * (crates/local_backend/src/public_api.rs, crates/database/src/snapshot_manager.rs).
 */
export async function queryAtTimestamp({ request, response, caller }: RouteRequest, runner: FunctionRunner): Promise<void> {
  const body = await readJsonObject(request);
  const path = validPath(requireString(body, "path"));
  const format = parseFormat(body.format, defaultFormat(request));
  const encodedTs = requireString(body, "ts");
  let ts: bigint;
  try {
    ts = decodeTs(encodedTs);
  } catch {
    // Convex answers this with its 500; a malformed request gets a 4xx here, as every other does.
    throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: ts: expected the base64 of 8 bytes, as /api/query_ts answers");
  }
  sendJsonText(response, 200, resultText(await call(runner, "query", path, body.args, caller, ts), format, caller.request?.id));
}

/** A query's result at commit `ts`, or Convex's answer for a timestamp it cannot read. */
async function queryAt(runner: FunctionRunner, request: QueryRequest, ts: bigint): Promise<FunctionResult> {
  const read = await runner.queryAt(request, ts);
  if (read === "future") throw new RequestError(500, "InternalServerError", TRY_AGAIN_LATER);
  if (read === "unreadable") throw new RequestError(503, "InternalServerError", TRY_AGAIN_LATER);
  return read.result;
}

/** `GET /api/query?path=…&args=…&format=…`. */
export async function queryFromUrl({ request, response, caller }: RouteRequest, runner: FunctionRunner): Promise<void> {
  const url = new URL(request.url ?? "/", "http://localhost");
  const path = url.searchParams.get("path");
  const argsText = url.searchParams.get("args") ?? "{}";
  if (path === null) throw new RequestError(400, "BadQueryArgs", "Failed to deserialize query string: missing field `path`");
  let args: unknown;
  try {
    args = JSON.parse(argsText);
  } catch (error) {
    throw new RequestError(400, "BadQueryArgs", `Failed to deserialize query string: args is not JSON: ${(error as Error).message}`);
  }
  const format = parseFormat(url.searchParams.get("format"), "clean");
  sendJsonText(response, 200, resultText(await call(runner, "query", validPath(path), args, caller), format, caller.request?.id));
}

/**
 * `POST /api/query`, `/api/mutation`, `/api/action` (a function of that kind)
 * and `/api/function` (any function, with the admin key only) with a `{path, args, format}` body.
 */
export async function callFunction({ request, response, caller }: RouteRequest, runner: FunctionRunner, kind: CallKind): Promise<void> {
  if (kind === "any" && !caller.admin) throw notAdmin();
  const body = await readJsonObject(request);
  const path = componentFunction(body.componentPath, validPath(requireString(body, "path")));
  const format = parseFormat(body.format, defaultFormat(request));
  sendJsonText(response, 200, resultText(await call(runner, kind, path, body.args, caller), format, caller.request?.id));
}

/** A function of the component `componentPath` names (the CLI's `run --component`), else of the app. */
function componentFunction(componentPath: unknown, path: string): string {
  if (componentPath === undefined || componentPath === null || componentPath === "") return path;
  if (typeof componentPath !== "string") throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: componentPath: expected a string");
  try {
    return componentFunctionPath(componentPath, path);
  } catch (error) {
    throw new RequestError(400, "InvalidComponentPath", (error as Error).message);
  }
}

/** `POST /api/query_batch`: up to {@link MAX_QUERY_BATCH_SIZE} queries read at one timestamp. */
export async function queryBatch({ request, response, caller }: RouteRequest, runner: FunctionRunner): Promise<void> {
  const body = await readJsonObject(request);
  if (!Array.isArray(body.queries)) throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: missing field `queries`");
  if (body.queries.length > MAX_QUERY_BATCH_SIZE) {
    throw new RequestError(400, "TooManyQueries", `The batch holds ${body.queries.length} queries; /api/query_batch runs at most ${MAX_QUERY_BATCH_SIZE} in one request.`);
  }
  const queries = (body.queries as unknown[]).map((query) => {
    if (typeof query !== "object" || query === null || Array.isArray(query)) {
      throw new RequestError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: queries: expected an array of objects");
    }
    return query as Record<string, unknown>;
  }).map((query) => ({
    path: validPath(requireString(query, "path")),
    args: query.args,
    format: parseFormat(query.format, defaultFormat(request)),
  }));
  // Run together, each result is current at the same moment (a stale one runs again): one timestamp, as on Convex.
  const results: FunctionResult[] = new Array(queries.length);
  const runnable: { index: number; request: QueryRequest }[] = [];
  queries.forEach(({ path, args }, index) => {
    try {
      runnable.push({ index, request: { path, args: parseArgs(args), caller, journal: null } });
    } catch (error) {
      if (!(error instanceof FunctionArgumentsError)) throw error;
      results[index] = { status: "error", errorMessage: jsErrorText(error.message), logLines: [] };
    }
  });
  const ran = await runner.queryMany(runnable.map(({ request }) => request));
  runnable.forEach(({ index }, i) => (results[index] = ran[i]!.result));
  sendJsonText(response, 200, `{"results":[${results.map((result, i) => resultText(result, queries[i].format, caller.request?.id)).join(",")}]}`);
}

/** `POST /api/run/<module path>/<name>`: the function named by the URL, whatever its kind. */
export async function runFunctionAtPath({ request, response, caller, rest }: RouteRequest, runner: FunctionRunner): Promise<void> {
  const segments = rest.split("/").filter(Boolean).map(decodeURIComponent);
  if (segments.length < 2) {
    throw new RequestError(400, "MissingIdentifier", "Path or function name not provided in path, e.g. /api/run/messages/list");
  }
  const path = validPath(`${segments.slice(0, -1).join("/")}:${segments[segments.length - 1]}`);
  const body = await readJsonObject(request);
  const format = parseFormat(body.format, "clean");
  sendJsonText(response, 200, resultText(await call(runner, "any", path, body.args ?? {}, caller), format, caller.request?.id));
}

function defaultFormat(request: IncomingMessage): Format {
  return String(request.headers["convex-client"] ?? "").startsWith("npm-") ? "clean" : "encoded";
}
