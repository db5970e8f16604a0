/**
 * `1.0/actions/vectorSearch`: `ctx.vectorSearch(table, index, { vector, limit, filter })` in an
 * action, default runtime or `"use node"`. Reads the request as convex-js sends it
 * (`src/server/impl/vector_search_impl.ts`: `{ requestId, version, query: { indexName: "table.index",
 * limit?, vector, expressions } }`), checks it with Convex's rules and texts (convex-backend
 * `crates/vector/src/query.rs` for the filter, `qdrant_index.rs` `compile` for the limit, filter
 * fields and dimensions) and answers `{ results: [{ _id, _score }] }` from the store's vector
 * search thread (vectorSearchThreads.ts), as of the latest commit.
 *
 * ```ts
 * await vectorSearchSyscall(storage, argsJson, namespace, isStaged) // '{"results":[{"_id":"…","_score":0.93}]}'
 * ```
 */
import type { JSONValue, Value } from "convex/values";

import { isJsonObject, type Storage } from "../storage/index.js";
import { jsonToValue } from "../storage/values.js";
import { DEFAULT_VECTOR_LIMIT, MAX_VECTOR_RESULTS, type VectorQuery } from "../storage/vectorSearch.js";
import { storedTableName } from "./components.js";
import { searchVectors } from "./vectorSearchThreads.js";

/**
 * Runs the syscall; `namespace` is the calling component's ("" for the app), `isStaged` says
 * whether an index (as that code names it) is staged in the deployed schema. Returns the answer's JSON text.
 */
export async function vectorSearchSyscall(storage: Storage, argsJson: string, namespace: string, isStaged: (table: string, index: string) => boolean): Promise<string> {
  const query = parseVectorQuery(JSON.parse(argsJson) as JSONValue, namespace);
  const dot = query.printableName.indexOf(".");
  if (isStaged(query.printableName.slice(0, dot), query.index)) {
    // Convex's IndexStagedError (crates/indexing/src/index_registry.rs `index_staged_error`).
    throw new Error(`Index ${query.printableName} is currently staged and not available to query until it is enabled.`);
  }
  const results = await searchVectors(storage, query);
  return JSON.stringify({ results: results.map(({ _id, _score }) => ({ _id, _score: float32Json(_score) })) });
}

/** The search the syscall's arguments describe, its filter grouped by field as Convex groups it. */
export function parseVectorQuery(args: JSONValue, namespace: string): VectorQuery {
  const query = (isJsonObject(args) ? args.query : undefined) as JSONValue | undefined;
  if (!isJsonObject(query)) throw new Error("vectorSearch needs a `query` object");
  const { indexName, limit, vector, expressions } = query;
  if (typeof indexName !== "string") throw new Error("vectorSearch needs an index name");
  const dot = indexName.indexOf(".");
  if (dot <= 0 || dot === indexName.length - 1) throw new Error(`Invalid index name: "${indexName}"`);
  const table = indexName.slice(0, dot);
  const index = indexName.slice(dot + 1);
  if (!Array.isArray(vector) || vector.length === 0) throw new Error("`vector` must be a non-empty Array in vectorSearch");
  if (!vector.every((element) => typeof element === "number" && Number.isFinite(element))) {
    throw new Error("`vector` must be an Array of finite numbers in vectorSearch");
  }
  let resultLimit = DEFAULT_VECTOR_LIMIT;
  if (limit !== undefined && limit !== null) {
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) {
      throw new Error(`\`limit\` must be an integer between 1 and ${MAX_VECTOR_RESULTS} in vectorSearch, got ${JSON.stringify(limit)}`);
    }
    resultLimit = limit;
  }
  const filter = expressions === undefined || expressions === null ? new Map<string, (Value | undefined)[]>() : filterOf(expressions);
  return {
    table: storedTableName(namespace, table),
    index,
    printableName: indexName,
    vector: vector as number[],
    limit: resultLimit,
    filter,
  };
}

/**
 * Groups a `q.or` of `q.eq`s by field: field → its distinct values (undefined for a missing
 * field). As Convex, anything else in a filter is refused, nested `q.or`s flatten, and a bare
 * `q.or()` filters nothing out.
 */
function filterOf(expression: JSONValue): Map<string, (Value | undefined)[]> {
  const byField = new Map<string, Map<string, Value | undefined>>();
  const visit = (node: JSONValue): void => {
    if (isJsonObject(node) && Object.keys(node).length === 1 && Array.isArray(node.$or)) {
      for (const inner of node.$or) visit(inner);
      return;
    }
    if (isJsonObject(node) && Object.keys(node).length === 1 && node.$eq !== undefined) {
      const operands = node.$eq;
      const [left, right] = Array.isArray(operands) && operands.length === 2 ? operands : [undefined, undefined];
      if (!isJsonObject(left) || typeof left.$field !== "string" || !isJsonObject(right) || !("$literal" in right)) {
        throw new Error("`q.eq` must take a field path as its first argument and a value as its second");
      }
      const value = literalValue(right.$literal);
      let values = byField.get(left.$field);
      if (values === undefined) byField.set(left.$field, (values = new Map()));
      values.set(JSON.stringify(right.$literal), value);
      return;
    }
    throw new Error("Filters should be a combination of `q.eq` and `q.or`.");
  };
  visit(expression);
  return new Map([...byField].map(([field, values]) => [field, [...values.values()]]));
}

/** A literal's Convex value; `{ $undefined: null }` is convex-js's encoding of undefined (a missing field). */
function literalValue(json: JSONValue): Value | undefined {
  if (isJsonObject(json) && Object.keys(json).length === 1 && "$undefined" in json) return undefined;
  return jsonToValue(json);
}


/**
 * A float32 score as Convex's JSON writes it: the shortest decimal that reads back as the same
 * float32 (serde_json prints an f32 so), e.g. 0.8 rather than 0.800000011920929.
 */
export function float32Json(score: number): number {
  if (!Number.isFinite(score) || score === 0) return score;
  const single = Math.fround(score);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(single.toPrecision(digits));
    if (Math.fround(candidate) === single) return candidate;
  }
  return single;
}
