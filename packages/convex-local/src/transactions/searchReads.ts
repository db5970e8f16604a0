/**
 * What a full-text search read, for reactivity: its search field, its words (the last one also as
 * a prefix) and its filter values. As on Convex (`crates/search/src/query.rs` `QueryReads`
 * `overlaps_document`), a write re-runs the search only when the document before or after it holds
 * every filter value and a word of the search — a word equal to one of the search's, or starting
 * with its last. Such a write is the only kind that can add, drop or change a result; writes of
 * other documents move BM25's statistics (document count, average length) but are not re-run for,
 * as on Convex.
 *
 * ```ts
 * const read = searchRead(index, { tokens: ["hello", "wor"], filters: [{ field: "channel", value: "general" }] });
 * new SearchedDocument(parseDocument(json)).matches(read); // true for "Hello world" in #general
 * ```
 */
import type { Value } from "convex/values";

import { valueAtPath } from "../storage/documents.js";
import { encodeIndexKey } from "../storage/keys.js";
import type { TextIndexDefinition, TextQuery } from "../storage/textIndexes.js";
import { tokenize } from "../storage/textTokens.js";

/** A search's read: plain data, so it crosses from a query worker with the rest of a read set. */
export interface SearchRead {
  /** The search field's path. */
  field: string;
  /** The search's words (at most 16, lowercased); the last is matched as a prefix too. */
  words: string[];
  /** Per filter, its field path and the hex of its value's index key (a missing field has its own). */
  filters: { field: string; keyHex: string }[];
}

/** The read of a compiled search on `index`. */
export function searchRead(index: TextIndexDefinition, query: TextQuery): SearchRead {
  return {
    field: index.searchField,
    words: query.tokens,
    filters: query.filters.map(({ field, value }) => ({ field, keyHex: encodeIndexKey([value]).toString("hex") })),
  };
}

/** Whether two search reads are the same. */
export function sameSearchRead(a: SearchRead, b: SearchRead): boolean {
  return (
    a.field === b.field &&
    a.words.length === b.words.length &&
    a.words.every((word, i) => word === b.words[i]) &&
    a.filters.length === b.filters.length &&
    a.filters.every((filter, i) => filter.field === b.filters[i].field && filter.keyHex === b.filters[i].keyHex)
  );
}

/** A written document, checked against search reads; its words and filter keys are worked out once. */
export class SearchedDocument {
  private readonly words = new Map<string, Set<string>>();
  private readonly filterKeys = new Map<string, string>();

  constructor(private readonly document: Value) {}

  /** Whether a write of this document can change what `read` found. */
  matches(read: SearchRead): boolean {
    for (const { field, keyHex } of read.filters) if (this.filterKey(field) !== keyHex) return false;
    if (read.words.length === 0) return false;
    const words = this.wordsAt(read.field);
    if (words.size === 0) return false;
    const last = read.words[read.words.length - 1];
    if (read.words.some((word) => words.has(word))) return true;
    for (const word of words) if (word.startsWith(last)) return true;
    return false;
  }

  private wordsAt(field: string): Set<string> {
    let words = this.words.get(field);
    if (words === undefined) {
      const text = valueAtPath(this.document, field);
      this.words.set(field, (words = new Set(typeof text === "string" ? tokenize(text) : [])));
    }
    return words;
  }

  private filterKey(field: string): string {
    let key = this.filterKeys.get(field);
    if (key === undefined) this.filterKeys.set(field, (key = encodeIndexKey([valueAtPath(this.document, field)]).toString("hex")));
    return key;
  }
}
