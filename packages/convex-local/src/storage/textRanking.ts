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
 * being a stream of its own, read a block of postings at a time. A candidate's score is then at
 * most its known part plus, for each long list that has not met it, that term's share at the
 * candidate's own length and the highest frequency whose stream has not gone past the candidate (a
 * stream that has gone past it without meeting it proves the document lacks that frequency); a
 * document no list has reached can score at most the sum of the long lists' heads. The best
 * candidate by that bound is scored exactly from its stored record (all of its terms, its filter
 * values), and handed out once its exact score beats every other bound (strictly, so that a tie
 * is settled by `_creationTime`).
 */
import { decodePostings, forEachTerm } from "./textEncoding.js";

/** A term of the search: its number in the index, how many documents hold it and its weight (boost · idf · (k1 + 1)). */
export interface RankedTerm {
  number: number;
  documents: number;
  weight: number;
}

/** A block of one (term, frequency) list (encoded as textEncoding.ts's `encodePostings`) and the key to read on after it. */
export interface PostingBlock {
  frequency: number;
  postings: Uint8Array;
  key: BlockKey;
}

/** Where a block sits in its (term, frequency) list: blocks run in ascending key order. */
export interface BlockKey {
  length: number;
  document: number;
}

/** What ranking reads: posting blocks and each document's record. */
export interface RankingSource {
  /** Every posting of a term: `visit(frequency, length, document)`. */
  allPostings(term: number, visit: (frequency: number, length: number, document: number) => void): void;
  /** The first block of the term's smallest frequency above `frequency`, or undefined when there is none. */
  nextFrequency(term: number, frequency: number): PostingBlock | undefined;
  /** Up to `limit` blocks of (term, frequency) after the block at `after`, in order. */
  blocksAfter(term: number, frequency: number, after: BlockKey, limit: number): PostingBlock[];
  /** A document's stored record by its number, or undefined when it is not indexed (any more). */
  record(document: number): DocumentRecord | undefined;
  /** Numbers of documents holding a filter value; at most `limit`. */
  filterDocuments(filter: RankingFilter, limit: number): number[];
}

/** What ranking needs of a document: its id, term list (textEncoding.ts), quantized length, creation time and filter keys. */
export interface DocumentRecord {
  documentId: string;
  terms: Uint8Array;
  length: number;
  creationTime: number;
  /** JSON array: per filter field, hex of the value's index key (parsed only when a search filters). */
  filterKeys: string;
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
/** Blocks a stream reads at its second read; each read after doubles, up to the largest. */
const SECOND_READ_BLOCKS = 2;
const LARGEST_READ_BLOCKS = 16;
/** Postings taken per step along the lists before the best candidate is looked at again. */
const ADVANCE_STEP = 8;
/** A filter holding at most this many documents drives the search: only its documents are scored. */
const FILTER_DRIVEN_LIMIT = 256;
/**
 * Bounds are raised by this fraction: a score summed in another order may differ from its bound in
 * the last bits, and a bound must never fall below the score it bounds.
 */
const BOUND_SLACK = 1 + 1e-9;
/**
 * Reading a record costs about as much as taking this many postings from the streams: before
 * scoring a candidate that a list could still rule out, lists are read on while they have cost
 * less than the records so far.
 */
const POSTINGS_PER_RECORD = 32;

/** One (term, frequency) list read in blocks by length: contributions fall as it goes. */
class FrequencyStream {
  private lengths: number[] = [];
  private documents: number[] = [];
  private position = 0;
  /** Blocks read and not yet decoded, from `nextBlock` on. */
  private blocks: PostingBlock[];
  private nextBlock = 0;
  private readSize = SECOND_READ_BLOCKS;
  private done = false;
  /** weight · frequency, and frequency + the norm's constant: contribution = scaled / (shifted + perLength · length). */
  private readonly scaled: number;
  private readonly shifted: number;
  /** The contribution of the next posting; -1 when none is left. */
  head = -1;
  /** The length of the posting taken last. */
  takenLength = 0;

  constructor(
    private readonly source: RankingSource,
    private readonly term: RankedTerm,
    private readonly first: PostingBlock,
    private readonly norm: LengthNorm,
  ) {
    this.blocks = [first];
    this.scaled = term.weight * first.frequency;
    this.shifted = first.frequency + norm.constant;
    this.settleHead();
  }

  /** Takes the next posting (its contribution is `head`): returns its document, sets `takenLength`, moves the head on. */
  take(): number {
    this.takenLength = this.lengths[this.position];
    const document = this.documents[this.position++];
    this.settleHead();
    return document;
  }

  /** The contribution of this list to a document of `length` that holds it. */
  contributionAt(length: number): number {
    return this.scaled / (this.shifted + this.norm.perLength * length);
  }

  /** True when the list has gone past (length, document) — so a document there not met lacks this frequency. */
  passed(length: number, document: number): boolean {
    if (this.head < 0) return true;
    const headLength = this.lengths[this.position];
    return headLength > length || (headLength === length && this.documents[this.position] > document);
  }

  private settleHead(): void {
    while (this.position === this.lengths.length) {
      if (this.nextBlock === this.blocks.length && !this.read()) {
        this.head = -1;
        return;
      }
      ({ lengths: this.lengths, documents: this.documents } = decodePostings(this.blocks[this.nextBlock++].postings));
      this.position = 0;
    }
    this.head = this.scaled / (this.shifted + this.norm.perLength * this.lengths[this.position]);
  }

  /** Reads the next blocks (twice as many as the last time, up to the largest read). */
  private read(): boolean {
    if (this.done) return false;
    const blocks = this.source.blocksAfter(this.term.number, this.first.frequency, this.blocks[this.blocks.length - 1].key, this.readSize);
    if (blocks.length < this.readSize) this.done = true;
    this.readSize = Math.min(this.readSize * 2, LARGEST_READ_BLOCKS);
    if (blocks.length === 0) return false;
    this.blocks = blocks;
    this.nextBlock = 0;
    return true;
  }
}

/** A long list: its frequency streams and the best of their heads (0 when all are read). */
class StreamedTerm {
  best = 0;
  /** The length of the posting taken last. */
  takenLength = 0;
  private leading: FrequencyStream | undefined;
  constructor(private readonly streams: FrequencyStream[]) {
    this.settle();
  }

  /** Takes the posting with the largest contribution (`best`): returns its document, sets `takenLength`. */
  take(): number {
    const document = this.leading!.take();
    this.takenLength = this.leading!.takenLength;
    this.settle();
    return document;
  }

  /**
   * The most this term can add to a document of `length` not met yet: its share at the highest
   * frequency whose list has not gone past the document (lists are by ascending frequency).
   */
  boundFor(length: number, document: number): number {
    for (let i = this.streams.length - 1; i >= 0; i--) if (!this.streams[i].passed(length, document)) return this.streams[i].contributionAt(length);
    return 0;
  }

  private settle(): void {
    this.best = 0;
    this.leading = undefined;
    for (const stream of this.streams) {
      if (stream.head > this.best) {
        this.best = stream.head;
        this.leading = stream;
      }
    }
  }
}

/** A document met so far. */
interface Candidate {
  document: number;
  /** Its quantized length (0 until known: a filter's document is scored at once). */
  length: number;
  /** The known part of its score (exact once `exact`). */
  known: number;
  /** Bit i set: streamed term i has met this document (its contribution is in `known`). */
  met: number;
  /** Scored from its record: `known` is its score. */
  exact: boolean;
  /** Known once scored. */
  documentId: string;
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
  private items: Candidate[] = [];
  /** Files all of `candidates` at once (in linear time). */
  fill(candidates: Candidate[]): void {
    this.items = candidates;
    for (let i = (candidates.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }
  peek(): Candidate | undefined {
    return this.items[0];
  }
  push(candidate: Candidate): void {
    const items = this.items;
    let i = items.length;
    items.push(candidate);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(candidate, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = candidate;
  }
  pop(): void {
    const last = this.items.pop()!;
    if (this.items.length === 0) return;
    this.items[0] = last;
    this.siftDown(0);
  }
  /** Files the top again after its key fell. */
  topFell(): void {
    this.siftDown(0);
  }
  private siftDown(from: number): void {
    const items = this.items;
    const moving = items[from];
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && before(items[right], items[left]) ? right : left;
      if (!before(items[child], moving)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = moving;
  }
}

/** The documents of one search, best first, computed as they are asked for. */
export class RankedTextSearch {
  /** The long lists, read in contribution order; bit i of a candidate's `met` is `streamed[i]`. */
  private readonly streamed: StreamedTerm[] = [];
  private readonly heap = new CandidateHeap();
  private readonly candidates = new Map<number, Candidate>();
  /** Term number → its position in `terms`. */
  private readonly termPositions = new Map<number, number>();
  /** Per term position, the frequency in the record being scored (0: absent). */
  private readonly recordFrequencies: Float64Array;
  /** Postings taken from the streams and records read, to balance the two. */
  private advanced = 0;
  private scored = 0;

  constructor(
    private readonly source: RankingSource,
    private readonly terms: readonly RankedTerm[],
    private readonly filters: readonly RankingFilter[],
    private readonly norm: LengthNorm,
  ) {
    terms.forEach((term, position) => this.termPositions.set(term.number, position));
    this.recordFrequencies = new Float64Array(terms.length);
    const driver = this.rarestFilter();
    if (driver !== undefined) {
      // Few documents hold the filter value: score each of them from its record.
      for (const document of driver) {
        const candidate = this.candidate(document, 0, 0, 0);
        if (this.score(candidate)) this.heap.push(candidate);
      }
      return;
    }
    // The longest lists (up to MAX_STREAMED_TERMS) are streamed; the others are read whole.
    const long = terms
      .map((term, position) => ({ term, position }))
      .filter(({ term }) => term.documents > WHOLE_LIST_LIMIT)
      .sort((a, b) => b.term.documents - a.term.documents)
      .slice(0, MAX_STREAMED_TERMS);
    const streamed = new Set(long.map(({ position }) => position));
    terms.forEach((term, position) => {
      if (streamed.has(position)) return;
      source.allPostings(term.number, (frequency, length, document) => {
        const share = this.contribution(position, frequency, length);
        const candidate = this.candidates.get(document);
        if (candidate === undefined) this.candidate(document, length, share, 0);
        else candidate.known += share;
      });
    });
    for (const { term } of long) {
      const streams: FrequencyStream[] = [];
      for (let block = source.nextFrequency(term.number, 0); block !== undefined; block = source.nextFrequency(term.number, block.frequency)) {
        streams.push(new FrequencyStream(source, term, block, norm));
      }
      this.streamed.push(new StreamedTerm(streams));
    }
    const filed = [...this.candidates.values()];
    for (const candidate of filed) candidate.key = this.upperBound(candidate);
    this.heap.fill(filed);
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
          top.key = bound;
          this.heap.topFell();
          continue;
        }
        // Reading the lists on lowers every bound at once; scoring settles one candidate.
        const allMet = top.met === (1 << this.streamed.length) - 1;
        if (bound < unseen || (!allMet && unseen > 0 && this.advanced < POSTINGS_PER_RECORD * (this.scored + 1))) {
          this.advance();
          continue;
        }
        if (this.score(top)) this.heap.topFell();
        else this.heap.pop();
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
  private contribution(position: number, frequency: number, length: number): number {
    return (this.terms[position].weight * frequency) / (frequency + this.norm.constant + this.norm.perLength * length);
  }

  private candidate(document: number, length: number, known: number, met: number): Candidate {
    const candidate: Candidate = { document, length, known, met, exact: false, documentId: "", creationTime: 0, key: known };
    this.candidates.set(document, candidate);
    return candidate;
  }

  /** The most a document no streamed list has reached can score from the streamed terms. */
  private unseenBound(): number {
    let bound = 0;
    for (const term of this.streamed) bound += term.best;
    return bound * BOUND_SLACK;
  }

  /** The most `candidate` can score: its known part plus what the long lists that have not met it can still add. */
  private upperBound(candidate: Candidate): number {
    let bound = candidate.known;
    for (let s = 0; s < this.streamed.length; s++) if ((candidate.met & (1 << s)) === 0) bound += this.streamed[s].boundFor(candidate.length, candidate.document);
    return bound * BOUND_SLACK;
  }

  /** Takes the next ADVANCE_STEP postings in contribution order (fewer at the lists' end). */
  private advance(): void {
    for (let step = 0; step < ADVANCE_STEP; step++) if (!this.advanceOne()) return;
  }

  /** Takes the posting with the largest contribution of all streams and credits its document; false when all are read. */
  private advanceOne(): boolean {
    let leading = -1;
    let best = 0;
    for (let s = 0; s < this.streamed.length; s++) {
      if (this.streamed[s].best > best) {
        best = this.streamed[s].best;
        leading = s;
      }
    }
    if (leading < 0) return false;
    this.advanced++;
    const term = this.streamed[leading];
    const document = term.take();
    const bit = 1 << leading;
    const existing = this.candidates.get(document);
    if (existing !== undefined) {
      if (!existing.exact && (existing.met & bit) === 0) {
        existing.known += best;
        existing.met |= bit;
      }
      return true;
    }
    const candidate = this.candidate(document, term.takenLength, best, bit);
    candidate.key = this.upperBound(candidate);
    this.heap.push(candidate);
    return true;
  }

  /** Scores a candidate from its record: its key becomes its score. False when it lacks a filter value or any term (it is no result). */
  private score(candidate: Candidate): boolean {
    this.scored++;
    const record = this.source.record(candidate.document);
    if (record === undefined) return false;
    if (this.filters.length > 0) {
      const keys = JSON.parse(record.filterKeys) as string[];
      for (const filter of this.filters) if (keys[filter.field] !== filter.keyHex) return false;
    }
    const frequencies = this.recordFrequencies;
    let matched = false;
    forEachTerm(record.terms, (term, frequency) => {
      const position = this.termPositions.get(term);
      if (position === undefined) return;
      frequencies[position] = frequency;
      matched = true;
    });
    if (!matched) return false;
    // Summed in the terms' order, as the search lists them.
    let score = 0;
    for (let position = 0; position < frequencies.length; position++) {
      if (frequencies[position] === 0) continue;
      score += this.contribution(position, frequencies[position], record.length);
      frequencies[position] = 0;
    }
    candidate.known = score;
    candidate.exact = true;
    candidate.documentId = record.documentId;
    candidate.creationTime = record.creationTime;
    candidate.key = score;
    return true;
  }

  /** The documents of the rarest filter value when it holds at most FILTER_DRIVEN_LIMIT, else undefined. */
  private rarestFilter(): number[] | undefined {
    let rarest: number[] | undefined;
    for (const filter of this.filters) {
      const limit = rarest?.length ?? FILTER_DRIVEN_LIMIT;
      const documents = this.source.filterDocuments(filter, limit + 1);
      if (documents.length <= limit) rarest = documents;
    }
    return rarest;
  }
}
