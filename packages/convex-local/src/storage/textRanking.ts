/**
 * Ranked retrieval for full-text search: the documents of a search in Convex's order (BM25 score
 * descending, then newest `_creationTime`, then id), produced one at a time, reading only as much
 * of the long posting lists as the results asked for need — so the cost of `.take(10)` grows with
 * the documents that compete for the top, not with the length of a common term's list.
 *
 * Short lists (rare terms) are read whole: every document in them is a candidate with the exact
 * part of its score those terms give. Long lists (common terms) are read in descending order of
 * their contribution, w · tf / (tf + k1(1 − b) + k1 b len / avg) — stored per (term, frequency) by
 * length, since for a fixed frequency the contribution falls as the document grows, each frequency
 * being a stream of its own. A candidate's score is then at most its known part plus, for each
 * long list that has not reached it yet, that list's current head; a document no list has reached
 * can score at most the sum of the long lists' heads. The best candidate by that bound is scored
 * exactly from its stored record (all of its terms, its filter values), and handed out once its
 * exact score beats every other bound (strictly, so that a tie is settled by `_creationTime`).
 */

/** A term of the search: its bytes, how many documents hold it and its weight (boost · idf · (k1 + 1)). */
export interface RankedTerm {
  bytes: Buffer;
  documents: number;
  weight: number;
}

/** One document of a posting list. */
export interface Posting {
  frequency: number;
  length: number;
  documentId: string;
}

/** What ranking reads: posting lists and each document's record. */
export interface RankingSource {
  /** Every posting of a term. */
  allPostings(term: Buffer): Posting[];
  /** The frequencies the term has in some document, ascending. */
  frequencies(term: Buffer): number[];
  /** Postings of (term, frequency) after (length, documentId), by length then id. */
  postingsAfter(term: Buffer, frequency: number, after: { length: number; documentId: string } | undefined, limit: number): Posting[];
  /** A document's stored record, or undefined when it is not indexed (any more). */
  record(documentId: string): DocumentRecord | undefined;
  /** Documents holding a filter value; at most `limit`. */
  filterDocuments(filter: RankingFilter, limit: number): string[];
}

/** What ranking needs of a document: its term frequencies, quantized length, creation time and filter keys. */
export interface DocumentRecord {
  /** Term → frequency. */
  terms: Map<string, number>;
  length: number;
  creationTime: number;
  /** Per filter field, hex of the value's index key. */
  filterKeys: string[];
}

/** A filter condition: field position and the hex of the value's index key. */
export interface RankingFilter {
  field: number;
  keyHex: string;
}

/** A result of a search. */
export interface RankedHit {
  documentId: string;
  score: number;
  creationTime: number;
}

/** Constants of a search's BM25: length norm = constant + perLength · length. */
export interface LengthNorm {
  constant: number;
  perLength: number;
}

/** Lists at most this long are read whole. */
const WHOLE_LIST_LIMIT = 512;
/** At most this many lists are read in contribution order; longer ones beyond it are read whole. */
const MAX_STREAMED_TERMS = 24;
const FIRST_BATCH = 32;
const LARGEST_BATCH = 256;
/** A filter holding at most this many documents drives the search: only its documents are scored. */
const FILTER_DRIVEN_LIMIT = 256;
/**
 * Bounds are raised by this fraction: a score summed in another order may differ from its bound in
 * the last bits, and a bound must never fall below the score it bounds.
 */
const BOUND_SLACK = 1 + 1e-9;
/**
 * Reading a record costs about as much as this many postings: before scoring a candidate that a
 * list could still rule out, lists are read on while they have cost less than the records so far.
 */
const POSTINGS_PER_RECORD = 32;

/** One (term, frequency) list read in batches by length: contributions fall as it goes. */
class FrequencyStream {
  private rows: Posting[] = [];
  private position = 0;
  private batch = FIRST_BATCH;
  private done = false;
  constructor(
    private readonly source: RankingSource,
    private readonly term: Buffer,
    readonly frequency: number,
    private readonly contribution: (frequency: number, length: number) => number,
  ) {}
  /** The contribution of the next posting; undefined when none is left. */
  head(): number | undefined {
    if (this.position === this.rows.length && !this.load()) return undefined;
    return this.contribution(this.frequency, this.rows[this.position].length);
  }
  take(): Posting {
    return this.rows[this.position++];
  }
  private load(): boolean {
    if (this.done) return false;
    const last = this.rows[this.rows.length - 1];
    this.rows = this.source.postingsAfter(this.term, this.frequency, last, this.batch);
    this.position = 0;
    if (this.rows.length < this.batch) this.done = true;
    this.batch = Math.min(this.batch * 2, LARGEST_BATCH);
    return this.rows.length > 0;
  }
}

/** A document met so far. */
interface Candidate {
  documentId: string;
  /** The known part of its score (exact once `exact`). */
  known: number;
  /** Bit i set: streamed term i has met this document (its contribution is in `known`). */
  met: number;
  /** Scored from its record: `known` is its score. */
  exact: boolean;
  creationTime: number;
  /** Its bound when last filed in the heap (bounds only fall). */
  key: number;
}

/**
 * Heap order: higher key first; at equal keys a candidate not yet scored first (it might still
 * tie and win), then newer, then lower id — Convex's order among equal scores.
 */
function before(a: Candidate, b: Candidate): boolean {
  if (a.key !== b.key) return a.key > b.key;
  if (a.exact !== b.exact) return !a.exact;
  if (a.creationTime !== b.creationTime) return a.creationTime > b.creationTime;
  return a.documentId < b.documentId;
}

class CandidateHeap {
  private readonly items: Candidate[] = [];
  peek(): Candidate | undefined {
    return this.items[0];
  }
  push(candidate: Candidate): void {
    const items = this.items;
    items.push(candidate);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }
  pop(): Candidate | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let best = i;
        if (left < items.length && before(items[left], items[best])) best = left;
        if (right < items.length && before(items[right], items[best])) best = right;
        if (best === i) break;
        [items[i], items[best]] = [items[best], items[i]];
        i = best;
      }
    }
    return top;
  }
}

/** The documents of one search, best first, computed as they are asked for. */
export class RankedTextSearch {
  /** Per streamed term, its frequency streams. */
  private readonly streams: FrequencyStream[][] = [];
  /** Term index (into `terms`) of each streamed term. */
  private readonly streamedTerms: number[] = [];
  private readonly heap = new CandidateHeap();
  private readonly candidates = new Map<string, Candidate>();
  private readonly termTexts: string[];
  /** Postings taken from the streams and records read, to balance the two. */
  private advanced = 0;
  private scored = 0;

  constructor(
    private readonly source: RankingSource,
    private readonly terms: readonly RankedTerm[],
    private readonly filters: readonly RankingFilter[],
    private readonly norm: LengthNorm,
  ) {
    this.termTexts = terms.map((term) => term.bytes.toString("utf8"));
    const driver = this.rarestFilter();
    if (driver !== undefined) {
      // Few documents hold the filter value: score each of them from its record.
      for (const documentId of driver) {
        const candidate = this.candidate(documentId, 0, 0);
        this.score(candidate);
      }
      return;
    }
    // The longest lists (up to MAX_STREAMED_TERMS) are streamed; the others are read whole.
    const long = terms
      .map((term, index) => ({ term, index }))
      .filter(({ term }) => term.documents > WHOLE_LIST_LIMIT)
      .sort((a, b) => b.term.documents - a.term.documents)
      .slice(0, MAX_STREAMED_TERMS);
    const streamed = new Set(long.map(({ index }) => index));
    const known = new Map<string, number>();
    terms.forEach((term, t) => {
      if (streamed.has(t)) return;
      for (const posting of source.allPostings(term.bytes)) {
        known.set(posting.documentId, (known.get(posting.documentId) ?? 0) + this.contribution(t, posting.frequency, posting.length));
      }
    });
    for (const { term, index } of long) {
      this.streamedTerms.push(index);
      this.streams.push(source.frequencies(term.bytes).map((frequency) => new FrequencyStream(source, term.bytes, frequency, (f, length) => this.contribution(index, f, length))));
    }
    const bound = this.unseenBound();
    for (const [documentId, partial] of known) {
      const candidate = this.candidate(documentId, partial, 0);
      candidate.key = (partial + bound) * BOUND_SLACK;
      this.heap.push(candidate);
    }
  }

  /** The next result, or null when there is none. */
  next(): RankedHit | null {
    for (;;) {
      const unseen = this.unseenBound();
      const top = this.heap.peek();
      if (top === undefined) {
        if (unseen === 0) return null;
        this.advance();
        continue;
      }
      if (!top.exact) {
        const bound = this.upperBound(top);
        if (bound < top.key) {
          // Filed under an older, higher bound: file it again.
          this.heap.pop();
          top.key = bound;
          this.heap.push(top);
          continue;
        }
        // Reading the lists on lowers every bound at once; scoring settles one candidate.
        const allMet = top.met === (1 << this.streams.length) - 1;
        if (bound < unseen || (!allMet && unseen > 0 && this.advanced < POSTINGS_PER_RECORD * (this.scored + 1))) {
          this.advance();
          continue;
        }
        this.heap.pop();
        this.score(top);
        continue;
      }
      // The best candidate is scored and nothing filed beats or ties it; a document no list has
      // reached yet could still tie or beat it unless its score is strictly above their bound.
      if (top.key > unseen || unseen === 0) {
        this.heap.pop();
        return { documentId: top.documentId, score: top.known, creationTime: top.creationTime };
      }
      this.advance();
    }
  }

  /** A term's share of a document's score. */
  private contribution(term: number, frequency: number, length: number): number {
    return (this.terms[term].weight * frequency) / (frequency + this.norm.constant + this.norm.perLength * length);
  }

  private candidate(documentId: string, known: number, met: number): Candidate {
    const candidate: Candidate = { documentId, known, met, exact: false, creationTime: 0, key: known };
    this.candidates.set(documentId, candidate);
    return candidate;
  }

  /** The most a document no streamed list has reached can score from the streamed terms. */
  private unseenBound(): number {
    let bound = 0;
    for (const streams of this.streams) bound += bestHead(streams);
    return bound * BOUND_SLACK;
  }

  /** The most `candidate` can score: its known part plus the heads of the streams that have not met it. */
  private upperBound(candidate: Candidate): number {
    let bound = candidate.known;
    for (let s = 0; s < this.streams.length; s++) if ((candidate.met & (1 << s)) === 0) bound += bestHead(this.streams[s]);
    return bound * BOUND_SLACK;
  }

  /** Takes the posting with the largest contribution of all streams and credits its document. */
  private advance(): void {
    let leading: FrequencyStream | undefined;
    let leadingTerm = -1;
    let best = -1;
    this.streams.forEach((streams, s) => {
      for (const stream of streams) {
        const head = stream.head();
        if (head !== undefined && head > best) {
          best = head;
          leading = stream;
          leadingTerm = s;
        }
      }
    });
    if (leading === undefined) return;
    this.advanced++;
    const posting = leading.take();
    const bit = 1 << leadingTerm;
    const existing = this.candidates.get(posting.documentId);
    if (existing !== undefined) {
      if (!existing.exact && (existing.met & bit) === 0) {
        existing.known += best;
        existing.met |= bit;
      }
      return;
    }
    const candidate = this.candidate(posting.documentId, best, bit);
    candidate.key = this.upperBound(candidate);
    this.heap.push(candidate);
  }

  /** Scores a candidate from its record (dropping it when it lacks a filter value or any term) and files it. */
  private score(candidate: Candidate): void {
    this.scored++;
    const record = this.source.record(candidate.documentId);
    if (record === undefined) return;
    for (const filter of this.filters) if (record.filterKeys[filter.field] !== filter.keyHex) return;
    let score = 0;
    let matched = false;
    for (let t = 0; t < this.terms.length; t++) {
      const frequency = record.terms.get(this.termTexts[t]);
      if (frequency === undefined) continue;
      matched = true;
      score += this.contribution(t, frequency, record.length);
    }
    if (!matched) return;
    candidate.known = score;
    candidate.exact = true;
    candidate.creationTime = record.creationTime;
    candidate.key = score;
    this.heap.push(candidate);
  }

  /** The documents of the rarest filter value when it holds at most FILTER_DRIVEN_LIMIT, else undefined. */
  private rarestFilter(): string[] | undefined {
    let rarest: string[] | undefined;
    for (const filter of this.filters) {
      const limit = rarest?.length ?? FILTER_DRIVEN_LIMIT;
      const documents = this.source.filterDocuments(filter, limit + 1);
      if (documents.length <= limit) rarest = documents;
    }
    return rarest;
  }
}

/** The largest head among a term's frequency streams (0 when all are read). */
function bestHead(streams: FrequencyStream[]): number {
  let best = 0;
  for (const stream of streams) {
    const head = stream.head();
    if (head !== undefined && head > best) best = head;
  }
  return best;
}
