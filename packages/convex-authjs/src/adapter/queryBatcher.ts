/**
 * Coalesces the adapter's concurrent queries into one `POST /api/query_batch`, an endpoint of
 * Convex's public deployment API (cloud and self-hosted) that runs several queries at one
 * timestamp. A Next.js server under load looks sessions up for many requests at once; sent
 * together, they cost one round trip and one `fetch` instead of one each, and `fetch` is what
 * dominates the caller's CPU per lookup. Queries made in the same turn of the event loop go out
 * together (at most `maxBatchSize` per request); a lone query is a batch of one.
 *
 * Failures look exactly like `ConvexHttpClient`'s: a query's own error rejects only its caller
 * (a `ConvexError` with its data, or an `Error` with the server's message), and a failed request
 * (network error, non-200 answer) rejects every caller of that batch.
 *
 * @example
 * ```ts
 * const batcher = new QueryBatcher({ url: process.env.NEXT_PUBLIC_CONVEX_URL! });
 * const [a, b] = await Promise.all([
 *   batcher.query(makeFunctionReference<"query">("authAdapter:getUser"), { id, secret }),
 *   batcher.query(makeFunctionReference<"query">("authAdapter:getSessionAndUser"), { sessionToken, secret }),
 * ]); // one HTTP request
 * ```
 */
import { version } from "convex";
import { getFunctionName, type FunctionReference } from "convex/server";
import { ConvexError, convexToJson, jsonToConvex, type JSONValue, type Value } from "convex/values";

export interface QueryBatcherOptions {
  /** The deployment URL. */
  url: string;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Most queries per request. Default 64. */
  maxBatchSize?: number;
}

interface PendingQuery {
  path: string;
  args: JSONValue;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type QueryAnswer =
  | { status: "success"; value: JSONValue }
  | { status: "error"; errorMessage: string; errorData?: JSONValue };

const DEFAULT_MAX_BATCH_SIZE = 64;

/** Runs `flush` once the current turn of the event loop is done (edge runtimes have no setImmediate). */
const afterThisTurn: (flush: () => void) => void =
  typeof setImmediate === "function" ? (flush) => setImmediate(flush) : (flush) => setTimeout(flush, 0);

export class QueryBatcher {
  private pending: PendingQuery[] = [];
  private readonly fetchImpl: typeof fetch;
  private readonly maxBatchSize: number;

  constructor(private readonly options: QueryBatcherOptions) {
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  }

  /** Runs a public query; resolves with its value once its batch is answered. */
  query(reference: FunctionReference<"query">, args: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) afterThisTurn(() => this.flush());
      this.pending.push({ path: getFunctionName(reference), args: convexToJson(args as Value), resolve, reject });
    });
  }

  private flush(): void {
    const queued = this.pending;
    this.pending = [];
    for (let start = 0; start < queued.length; start += this.maxBatchSize) {
      void this.send(queued.slice(start, start + this.maxBatchSize));
    }
  }

  private async send(batch: PendingQuery[]): Promise<void> {
    let answers: QueryAnswer[];
    try {
      const response = await this.fetchImpl(`${this.options.url}/api/query_batch`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Convex-Client": `npm-${version}` },
        body: JSON.stringify({
          // Named args (an object), the documented form; a `[args]` array is Convex's legacy form.
          queries: batch.map(({ path, args }) => ({ path, args, format: "convex_encoded_json" })),
        }),
      });
      if (!response.ok) throw new Error(await response.text());
      const body = (await response.json()) as { results?: unknown };
      if (!Array.isArray(body.results) || body.results.length !== batch.length) {
        throw new Error(`Invalid response: ${JSON.stringify(body)}`);
      }
      answers = body.results as QueryAnswer[];
    } catch (error) {
      for (const query of batch) query.reject(error);
      return;
    }
    batch.forEach((query, i) => settle(query, answers[i]));
  }
}

/** Resolves or rejects one caller as `ConvexHttpClient.query` would for the same answer. */
function settle(query: PendingQuery, answer: QueryAnswer): void {
  switch (answer?.status) {
    case "success":
      query.resolve(jsonToConvex(answer.value));
      return;
    case "error":
      if (answer.errorData !== undefined) {
        // As the client does: the message stays the server's, `data` is the thrown value.
        const error = new ConvexError<Value>(answer.errorMessage);
        error.data = jsonToConvex(answer.errorData);
        query.reject(error);
      } else {
        query.reject(new Error(answer.errorMessage));
      }
      return;
    default:
      query.reject(new Error(`Invalid response: ${JSON.stringify(answer)}`));
  }
}
