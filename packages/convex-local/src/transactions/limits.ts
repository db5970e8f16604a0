/**
 * Convex's per-transaction limits (https://docs.convex.dev/production/state/limits). A function that
 * passes one fails with Convex's message; the server goes on serving everyone else.
 */
export interface TransactionLimits {
  maxDocumentsRead: number;
  maxBytesRead: number;
  maxDocumentsWritten: number;
  maxBytesWritten: number;
}

export const DEFAULT_LIMITS: TransactionLimits = {
  maxDocumentsRead: 32_000,
  maxBytesRead: 16 * 1024 * 1024,
  maxDocumentsWritten: 16_000,
  maxBytesWritten: 16 * 1024 * 1024,
};

export class TransactionLimitError extends Error {
  constructor(what: string, limit: number) {
    super(
      `Too many ${what} in a single function execution (limit: ${limit}). ` +
        "Consider using smaller limits in your queries, paginating your queries, or using indexed queries with a selective index range expressions.",
    );
    this.name = "TransactionLimitError";
  }
}
