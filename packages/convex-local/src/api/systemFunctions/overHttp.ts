/**
 * System queries over the HTTP API: `ConvexHttpClient.query("_system/…")` posts to `/api/query`
 * as any query does (`npx convex import` asks `_system/cli/queryImport:list` so), and Convex
 * answers its `_system/` modules there too. The returned runner answers those from `answer` and
 * every other query as `runner` does.
 *
 *   const httpRunner = withSystemQueries(runner, (request) => systemQuery(context, request));
 */
import type { JSONValue } from "convex/values";
import type { Caller, FunctionRunner, QueryRequest, QueryResult } from "../../runtime/runner.js";

export function withSystemQueries(runner: FunctionRunner, answer: (request: QueryRequest) => QueryResult | undefined): FunctionRunner {
  const query = (path: string, args: JSONValue, caller: Caller, journal: string | null = null): Promise<QueryResult> =>
    Promise.resolve(answer({ path, args, caller, journal }) ?? runner.query(path, args, caller, journal));
  return Object.create(runner, { query: { value: query } }) as FunctionRunner;
}
