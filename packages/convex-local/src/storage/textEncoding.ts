/**
 * The byte encodings of the full-text index (textIndexes.ts): posting blocks and a document's
 * term list, both as unsigned varints (7 bits a byte, low bits first) so that a block of a hundred
 * postings is a few hundred bytes — one row read instead of a hundred, and few pages to cache.
 *
 * - A posting block: postings sorted by (length, document number); each is the length's increase
 *   over the previous posting's, then the document number — its increase over the previous one
 *   when the length is the same, else the number itself.
 * - A term list: (term number, frequency) pairs sorted by term number; each term number as its
 *   increase over the previous one.
 *
 * ```ts
 * const bytes = encodePostings({ lengths: [8, 8, 12], documents: [3, 9, 4] });
 * decodePostings(bytes); // { lengths: [8, 8, 12], documents: [3, 9, 4] }
 * ```
 */

/** Postings as parallel arrays, sorted by (length, document number). */
export interface Postings {
  lengths: number[];
  documents: number[];
}

/** Varints of numbers up to 2^53 need at most 8 bytes. */
const MAX_VARINT_BYTES = 8;
let scratch = new Uint8Array(1024);

function room(bytes: number): Uint8Array {
  if (scratch.length < bytes) scratch = new Uint8Array(Math.max(bytes, 2 * scratch.length));
  return scratch;
}

/** Writes `value` (a non-negative integer) at `position`; returns the position after it. */
function putVarint(out: Uint8Array, position: number, value: number): number {
  while (value >= 0x80) {
    // `& 0x7f` keeps the low 7 bits even above 2^32 (ToInt32 is taken modulo 2^32).
    out[position++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[position++] = value;
  return position;
}

/** Encodes postings `from` (inclusive) to `to` (exclusive). */
export function encodePostings(postings: Postings, from = 0, to = postings.lengths.length): Buffer {
  const out = room((to - from) * 2 * MAX_VARINT_BYTES);
  let position = 0;
  let length = 0;
  let document = 0;
  for (let i = from; i < to; i++) {
    const grew = postings.lengths[i] - length;
    position = putVarint(out, position, grew);
    position = putVarint(out, position, grew === 0 && i > from ? postings.documents[i] - document : postings.documents[i]);
    length = postings.lengths[i];
    document = postings.documents[i];
  }
  return Buffer.from(out.subarray(0, position));
}

/** Reads the varints of `bytes` in order. */
class VarintReader {
  private position = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.position >= this.bytes.length;
  }

  next(): number {
    let byte = this.bytes[this.position++];
    let value = byte & 0x7f;
    for (let scale = 0x80; byte >= 0x80; scale *= 0x80) {
      byte = this.bytes[this.position++];
      value += (byte & 0x7f) * scale;
    }
    return value;
  }
}

/** Decodes a posting block. */
export function decodePostings(bytes: Uint8Array): Postings {
  const lengths: number[] = [];
  const documents: number[] = [];
  const reader = new VarintReader(bytes);
  let length = 0;
  let document = 0;
  while (!reader.done) {
    const grew = reader.next();
    const number = reader.next();
    length += grew;
    document = grew === 0 && lengths.length > 0 ? document + number : number;
    lengths.push(length);
    documents.push(document);
  }
  return { lengths, documents };
}

/** Encodes (term number, frequency) pairs; they must be sorted by term number. */
export function encodeTermList(terms: readonly (readonly [number, number])[]): Buffer {
  const out = room(terms.length * 2 * MAX_VARINT_BYTES);
  let position = 0;
  let previous = 0;
  for (const [term, frequency] of terms) {
    position = putVarint(out, position, term - previous);
    position = putVarint(out, position, frequency);
    previous = term;
  }
  return Buffer.from(out.subarray(0, position));
}

/** Calls `visit` with each (term number, frequency) of an encoded term list, in term order. */
export function forEachTerm(bytes: Uint8Array, visit: (term: number, frequency: number) => void): void {
  const reader = new VarintReader(bytes);
  let term = 0;
  while (!reader.done) {
    term += reader.next();
    visit(term, reader.next());
  }
}
