/**
 * `withSearchIndex(name, q => q.search(field, text).eq(field, value)…)` as a query source: the
 * filters the client sends (convex-js `SerializedSearchFilter`: `{type: "Search" | "Eq",
 * fieldPath, value}`) checked and compiled with Convex's errors (convex-backend
 * `crates/search/src/lib.rs` `compile`), and the key each result gets — Convex's
 * `(-score, -_creationTime, id)`, so results run in ascending key order and a page's cursor is a
 * position in that order (`crates/search/src/lib.rs`, `crates/database/src/query/search_query.rs`).
 */
import type { JSONValue, Value } from "convex/values";

import { encodeIndexKey } from "../storage/keys.js";
import type { StoredTextIndex, TextQuery, TextSearchHit } from "../storage/textIndexes.js";
import { queryTokens } from "../storage/textTokens.js";
import { jsonToValue } from "../storage/values.js";
import { isUndefinedMarker } from "./filter.js";

/** At most this many `.eq` filters per search (Convex's `MAX_FILTER_CONDITIONS`). */
export const MAX_SEARCH_FILTER_CONDITIONS = 8;

/** A search query that Convex refuses; the message is Convex's. */
export class SearchQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SearchQueryError";
  }
}

/** Reading past the 1024th result (Convex's `SearchQueryScannedTooManyDocumentsError`). */
export function tooManySearchResults(limit: number): SearchQueryError {
  return new SearchQueryError(
    `Search query scanned too many documents (fetched ${limit}). Consider using a smaller limit, paginating the query, or using a filter field to limit the number of documents pulled from the search index.`,
  );
}

/** Checks the client's search filters against the index and compiles them; `indexName` is `table.index` as the app names it. */
export function compileSearch(indexName: string, index: StoredTextIndex, filters: unknown): TextQuery {
  if (!Array.isArray(filters)) throw new SearchQueryError(`Search query against ${indexName} has invalid filters`);
  let text: string | undefined;
  const conditions: TextQuery["filters"] = [];
  for (const filter of filters as { type?: unknown; fieldPath?: unknown; value?: unknown }[]) {
    const field = filter?.fieldPath;
    if (typeof field !== "string") throw new SearchQueryError(`Search query against ${indexName} has a filter without a field path`);
    if (filter.type === "Search") {
      if (field !== index.searchField) {
        throw new SearchQueryError(
          `Search query against ${indexName} contains a search filter against "${field}", which doesn't match the indexed \`searchField\` "${index.searchField}".`,
        );
      }
      if (text !== undefined) {
        throw new SearchQueryError(`Search query against ${indexName} contains multiple search filters against "${field}". Only one is allowed.`);
      }
      if (typeof filter.value !== "string") throw new SearchQueryError(`Search query against ${indexName} searches for a value that is not a string`);
      text = filter.value;
    } else if (filter.type === "Eq") {
      if (!index.filterFields.includes(field)) {
        throw new SearchQueryError(
          `Search query against ${indexName} contains an equality filter on "${field}" but that field isn't indexed for filtering in \`filterFields\`.`,
        );
      }
      const value = isUndefinedMarker(filter.value) ? undefined : jsonToValue(filter.value as JSONValue);
      conditions.push({ field, value: value as Value | undefined });
    } else {
      throw new SearchQueryError(`Search query against ${indexName} has a filter of unknown type ${JSON.stringify(filter.type)}`);
    }
  }
  if (text === undefined) {
    // Convex formats the field with its quotes inside quotes: `q.search(""body"", searchText)`.
    throw new SearchQueryError(
      `Search query against ${indexName} does not contain any search filters. You must include a search filter like \`q.search(""${index.searchField}"", searchText)\`.`,
    );
  }
  if (conditions.length > MAX_SEARCH_FILTER_CONDITIONS) {
    throw new SearchQueryError(
      `Search query against ${indexName} has too many filter conditions. Max: ${MAX_SEARCH_FILTER_CONDITIONS} Actual: ${conditions.length}`,
    );
  }
  return { tokens: queryTokens(text), filters: conditions };
}

/** A result's position: ascending keys run best first (higher score, then newer). */
export function searchResultKey(hit: TextSearchHit): Buffer {
  return encodeIndexKey([-hit.score, -hit.creationTime, hit.documentId]);
}
