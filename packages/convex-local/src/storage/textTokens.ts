/**
 * Convex's text analysis and BM25 arithmetic, as its search crate does them (facts from
 * convex-backend `crates/search/src/constants.rs`, `lib.rs`, `memory_index/` and the tantivy
 * version it pins; written here from those rules, not copied):
 *
 * - A search field's text is split into runs of alphanumeric characters (Unicode `Alphabetic` or
 *   a number: tantivy's `SimpleTokenizer`), runs of 32 UTF-8 bytes or more are dropped
 *   (`RemoveLongFilter::limit(MAX_TEXT_TERM_LENGTH)`), and each character is lowercased on its own
 *   (`LowerCaser`: so a final `Σ` becomes `σ`, not `ς`).
 * - A query keeps its first 16 tokens (`MAX_QUERY_TERMS`; the rest are ignored, not refused).
 * - BM25 with k1 = 1.2 and b = 0.75; a document's length is its number of search tokens,
 *   quantized to one of 256 "fieldnorm" buckets (exact up to 40) as tantivy stores it.
 *
 * ```ts
 * tokenize("Hello, WORLD!") // ["hello", "world"]
 * ```
 */

/** Tokens of this many UTF-8 bytes or more are left out of the index and the query. */
export const MAX_TEXT_TERM_BYTES = 32;
/** Query tokens past this many are ignored. */
export const MAX_QUERY_TERMS = 16;

const TOKEN = /[\p{Alphabetic}\p{N}]+/gu;
const ASCII = /^[\x00-\x7f]*$/;

/** The tokens of `text` in order, repeats included, lowercased; over-long runs dropped. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (const match of text.matchAll(TOKEN)) {
    const run = match[0];
    // UTF-8 length without encoding: ASCII runs are 1 byte per character.
    const ascii = ASCII.test(run);
    const bytes = ascii ? run.length : Buffer.byteLength(run, "utf8");
    if (bytes >= MAX_TEXT_TERM_BYTES) continue;
    tokens.push(ascii ? run.toLowerCase() : lowercaseEachCharacter(run));
  }
  return tokens;
}

/** Lowercases character by character (no context-sensitive mappings such as final sigma). */
function lowercaseEachCharacter(text: string): string {
  let out = "";
  for (const character of text) out += character.toLowerCase();
  return out;
}

/** The tokens of a search query: the first `MAX_QUERY_TERMS` of its text. */
export function queryTokens(text: string): string[] {
  return tokenize(text).slice(0, MAX_QUERY_TERMS);
}

/** BM25 parameters tantivy (and so Convex) uses. */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/**
 * The document lengths a fieldnorm byte can stand for, ascending: 0 to 40 exactly, then groups of
 * eight values whose step doubles from one group to the next (42, 44, … 56, 60, 64, … 88, 96, …),
 * the scheme tantivy shares with Lucene's `SmallFloat`.
 */
const FIELDNORM_LENGTHS: readonly number[] = (() => {
  const lengths: number[] = [];
  for (let n = 0; n <= 40; n++) lengths.push(n);
  let step = 2;
  while (lengths.length < 256) {
    for (let i = 0; i < 8 && lengths.length < 256; i++) lengths.push(lengths[lengths.length - 1] + step);
    step *= 2;
  }
  return lengths;
})();

/** A document length as BM25 sees it: the largest fieldnorm length not above `tokens`. */
export function quantizedLength(tokens: number): number {
  let low = 0;
  let high = FIELDNORM_LENGTHS.length - 1;
  if (tokens >= FIELDNORM_LENGTHS[high]) return FIELDNORM_LENGTHS[high];
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (FIELDNORM_LENGTHS[middle] <= tokens) low = middle;
    else high = middle - 1;
  }
  return FIELDNORM_LENGTHS[low];
}

/** A term's inverse document frequency as tantivy computes it: ln(1 + (N − n + 0.5) / (n + 0.5)). */
export function inverseDocumentFrequency(documentsWithTerm: number, documents: number): number {
  return Math.log(1 + (documents - documentsWithTerm + 0.5) / (documentsWithTerm + 0.5));
}
