/**
 * Exact vector search: each vector index a connection searches is held in memory as one float32
 * matrix of unit vectors, caught up with the store's latest commit before every search (only the
 * entries written since, see vectorIndexes.ts), and scanned in full: cosine similarity of every
 * document passing the filter, the best `limit` kept in a heap. Scores and order are Convex's:
 * the dot product of the normalized vectors as float32, highest first, ties by internal id,
 * highest first (convex-backend `crates/vector/src/query.rs`, `VectorSearchQueryResult::cmp`).
 *
 * Cost: memory 4 × dimensions bytes per document; a search reads every vector once
 * (100k × 768 dimensions ≈ 77M multiply-adds). The first search of an index after a start or a
 * push loads all its entries from SQLite.
 *
 * ```ts
 * const engine = new VectorSearchEngine(storage);
 * engine.search({ table: "movies", index: "by_embedding", vector, limit: 10, filter: new Map([["genre", ["comedy"]]]) });
 * ```
 */
import type { Value } from "convex/values";

import { decodeDocumentId } from "./ids.js";
import type { Storage } from "./store.js";
import { MAX_VECTOR_DIMENSIONS, VectorIndexReader, filterKeyOf, type StoredVectorIndex } from "./vectorIndexes.js";

/** At most this many results (`MAX_VECTOR_RESULTS`, convex-backend `crates/vector/src/lib.rs`). */
export const MAX_VECTOR_RESULTS = 256;
/** Results when `limit` is not given (`DEFAULT_VECTOR_LIMIT`). */
export const DEFAULT_VECTOR_LIMIT = 10;
/** At most this many `q.eq` values in one filter (`MAX_FILTER_LENGTH`). */
export const MAX_VECTOR_FILTER_LENGTH = 64;

/** A search, its filter already grouped by field (`q.or` of `q.eq`s: a document matches when any field has any listed value). */
export interface VectorQuery {
  /** The stored table name (a component's tables carry its namespace). */
  table: string;
  index: string;
  /** The name errors print, `table.index` as the caller wrote them. */
  printableName: string;
  vector: number[];
  limit: number;
  /** Field path → accepted values (undefined: field missing); empty map: no filter. */
  filter: Map<string, (Value | undefined)[]>;
}

export interface VectorResult {
  _id: string;
  _score: number;
}

/** A request Convex refuses, with Convex's text. */
export class VectorSearchError extends Error {}

/** One index in memory. */
class MemoryVectorIndex {
  private capacity = 0;
  size = 0;
  private vectors = new Float32Array(0);
  private ids: string[] = [];
  /** Internal ids in hex, for Convex's tie order. */
  private internalIds: string[] = [];
  private readonly slots = new Map<string, number>();
  /** Per filter field: each slot's value code, and the codes of the values seen. */
  private filterCodes: Int32Array[];
  private readonly codeOf: Map<string, number>[];
  /** Entries up to this commit are applied. */
  syncedTs = -1n;

  constructor(
    readonly definition: StoredVectorIndex,
    /** The writer generation this copy was loaded at (vectorIndexes.ts bumps it when it drops tombstones or definitions). */
    readonly generation: number,
  ) {
    this.filterCodes = definition.filterFields.map(() => new Int32Array(0));
    this.codeOf = definition.filterFields.map(() => new Map());
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    const dims = this.definition.dimensions;
    const vectors = new Float32Array(capacity * dims);
    vectors.set(this.vectors.subarray(0, this.size * dims));
    this.vectors = vectors;
    this.filterCodes = this.filterCodes.map((codes) => {
      const grown = new Int32Array(capacity);
      grown.set(codes.subarray(0, this.size));
      return grown;
    });
    this.capacity = capacity;
  }

  upsert(documentId: string, vectorBytes: Buffer, filterKeys: string[]): void {
    let slot = this.slots.get(documentId);
    if (slot === undefined) {
      if (this.size === this.capacity) this.grow();
      slot = this.size++;
      this.slots.set(documentId, slot);
      this.ids[slot] = documentId;
      this.internalIds[slot] = Buffer.from(decodeDocumentId(documentId)?.internalId ?? []).toString("hex");
    }
    const dims = this.definition.dimensions;
    const source = new Float32Array(vectorBytes.buffer.slice(vectorBytes.byteOffset, vectorBytes.byteOffset + dims * 4));
    const target = this.vectors.subarray(slot * dims, (slot + 1) * dims);
    let norm = 0;
    for (let i = 0; i < dims; i++) norm += source[i] * source[i];
    norm = Math.sqrt(norm);
    // Convex (qdrant) leaves a zero vector as is: its similarity to anything is 0.
    const scale = norm > 0 ? 1 / norm : 1;
    for (let i = 0; i < dims; i++) target[i] = source[i] * scale;
    for (let f = 0; f < this.codeOf.length; f++) {
      const codes = this.codeOf[f];
      let code = codes.get(filterKeys[f]);
      if (code === undefined) {
        code = codes.size;
        codes.set(filterKeys[f], code);
      }
      this.filterCodes[f][slot] = code;
    }
  }

  remove(documentId: string): void {
    const slot = this.slots.get(documentId);
    if (slot === undefined) return;
    this.slots.delete(documentId);
    const last = --this.size;
    if (slot !== last) {
      // The last slot fills the hole.
      const dims = this.definition.dimensions;
      this.vectors.copyWithin(slot * dims, last * dims, (last + 1) * dims);
      this.ids[slot] = this.ids[last];
      this.internalIds[slot] = this.internalIds[last];
      for (const codes of this.filterCodes) codes[slot] = codes[last];
      this.slots.set(this.ids[slot], slot);
    }
    this.ids.length = last;
    this.internalIds.length = last;
  }

  /** The per-field accepted codes of a filter (null: no filter; fields in definition order, null where not filtered). */
  private compileFilter(filter: Map<string, (Value | undefined)[]>): (Set<number> | null)[] | null {
    if (filter.size === 0) return null;
    return this.definition.filterFields.map((field, f) => {
      const values = filter.get(field);
      if (values === undefined) return null;
      const accepted = new Set<number>();
      for (const value of values) {
        const code = this.codeOf[f].get(filterKeyOf(value));
        if (code !== undefined) accepted.add(code);
      }
      return accepted;
    });
  }

  search(query: Float32Array, limit: number, filter: Map<string, (Value | undefined)[]>): VectorResult[] {
    const dims = this.definition.dimensions;
    const conditions = this.compileFilter(filter);
    const heap = new TopResults(limit, this.internalIds);
    const vectors = this.vectors;
    const codes = this.filterCodes;
    for (let slot = 0; slot < this.size; slot++) {
      if (conditions !== null && !matches(conditions, codes, slot)) continue;
      const base = slot * dims;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i + 3 < dims; i += 4) {
        s0 += vectors[base + i] * query[i];
        s1 += vectors[base + i + 1] * query[i + 1];
        s2 += vectors[base + i + 2] * query[i + 2];
        s3 += vectors[base + i + 3] * query[i + 3];
      }
      for (; i < dims; i++) s0 += vectors[base + i] * query[i];
      heap.offer(Math.fround(s0 + s1 + s2 + s3), slot);
    }
    return heap.sorted().map(({ slot, score }) => ({ _id: this.ids[slot], _score: score }));
  }
}

function matches(conditions: (Set<number> | null)[], codes: Int32Array[], slot: number): boolean {
  for (let f = 0; f < conditions.length; f++) {
    const accepted = conditions[f];
    if (accepted !== null && accepted.has(codes[f][slot])) return true;
  }
  return false;
}

/** The best `limit` slots seen: a min-heap on (score, internal id). */
class TopResults {
  private readonly scores: Float64Array;
  private readonly slots: Int32Array;
  private count = 0;

  constructor(
    private readonly limit: number,
    private readonly internalIds: string[],
  ) {
    this.scores = new Float64Array(limit);
    this.slots = new Int32Array(limit);
  }

  /** True when (scoreA, slotA) ranks below (scoreB, slotB). */
  private below(scoreA: number, slotA: number, scoreB: number, slotB: number): boolean {
    if (scoreA !== scoreB) return scoreA < scoreB;
    return this.internalIds[slotA] < this.internalIds[slotB];
  }

  offer(score: number, slot: number): void {
    if (this.count < this.limit) {
      let i = this.count++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.below(score, slot, this.scores[parent], this.slots[parent])) break;
        this.scores[i] = this.scores[parent];
        this.slots[i] = this.slots[parent];
        i = parent;
      }
      this.scores[i] = score;
      this.slots[i] = slot;
      return;
    }
    if (this.limit === 0 || !this.below(this.scores[0], this.slots[0], score, slot)) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= this.count) break;
      const right = left + 1;
      const child = right < this.count && this.below(this.scores[right], this.slots[right], this.scores[left], this.slots[left]) ? right : left;
      if (!this.below(this.scores[child], this.slots[child], score, slot)) break;
      this.scores[i] = this.scores[child];
      this.slots[i] = this.slots[child];
      i = child;
    }
    this.scores[i] = score;
    this.slots[i] = slot;
  }

  sorted(): { slot: number; score: number }[] {
    const out: { slot: number; score: number }[] = [];
    for (let i = 0; i < this.count; i++) out.push({ slot: this.slots[i], score: this.scores[i] });
    return out.sort((a, b) => (this.below(a.score, a.slot, b.score, b.slot) ? 1 : this.below(b.score, b.slot, a.score, a.slot) ? -1 : 0));
  }
}

/** Searches the vector indexes of one store, from memory copies kept in step with its commits. */
export class VectorSearchEngine {
  private readonly reader: VectorIndexReader;
  private readonly indexes = new Map<number, MemoryVectorIndex>();

  constructor(private readonly storage: Storage) {
    this.reader = new VectorIndexReader(storage.vectorIndexConnection());
  }

  /**
   * Runs a search as of the store's latest commit. Throws `VectorSearchError` with Convex's text
   * for an unknown index, a filter on a field not in `filterFields`, too many filter values or a
   * vector of the wrong length. A table that does not exist has no results, as on Convex.
   */
  search(query: VectorQuery): VectorResult[] {
    if (query.vector.length > MAX_VECTOR_DIMENSIONS) throw dimensionsError(query.vector.length, MAX_VECTOR_DIMENSIONS);
    if (query.limit > MAX_VECTOR_RESULTS) {
      throw new VectorSearchError(`Vector queries can fetch at most ${MAX_VECTOR_RESULTS} results, requested ${query.limit}.`);
    }
    return this.storage.readSnapshot(() => {
      const tableNumber = this.storage.tableNumber(query.table);
      if (tableNumber === undefined) return [];
      const definition = this.reader.find(tableNumber, query.index);
      if (definition === undefined) {
        const databaseIndex = this.storage.listIndexes(query.table).some((index) => index.name === query.index);
        throw new VectorSearchError(databaseIndex ? `Index ${query.printableName} is not a vector index` : `Index ${query.printableName} not found.`);
      }
      let filterLength = 0;
      for (const [field, values] of query.filter) {
        if (!definition.filterFields.includes(field)) {
          throw new VectorSearchError(
            `Vector query against ${query.printableName} contains a filter on ${JSON.stringify(field)} but that field isn't indexed for filtering in \`filterFields\`.`,
          );
        }
        filterLength += values.length;
      }
      if (filterLength > MAX_VECTOR_FILTER_LENGTH) {
        throw new VectorSearchError(`Vector query against ${query.printableName} has too many conditions. Max: ${MAX_VECTOR_FILTER_LENGTH} Actual: ${filterLength}`);
      }
      if (query.vector.length !== definition.dimensions) throw dimensionsError(query.vector.length, definition.dimensions);
      return this.caughtUp(definition).search(normalized(query.vector), query.limit, query.filter);
    });
  }

  /** The memory copy of an index, loaded or caught up to the snapshot being read. */
  private caughtUp(definition: StoredVectorIndex): MemoryVectorIndex {
    const generation = this.reader.generation();
    let memory = this.indexes.get(definition.id);
    if (
      memory === undefined ||
      memory.generation !== generation ||
      memory.definition.tableNumber !== definition.tableNumber ||
      memory.definition.name !== definition.name ||
      memory.definition.dimensions !== definition.dimensions ||
      JSON.stringify(memory.definition.filterFields) !== JSON.stringify(definition.filterFields)
    ) {
      memory = new MemoryVectorIndex(definition, generation);
      this.indexes.set(definition.id, memory);
    }
    for (const entry of this.reader.entriesAfter(definition.id, memory.syncedTs)) {
      if (entry.vector === null || entry.filterKeys === null) memory.remove(entry.documentId);
      else memory.upsert(entry.documentId, entry.vector, entry.filterKeys);
      if (entry.ts > memory.syncedTs) memory.syncedTs = entry.ts;
    }
    // Nothing newer is visible in this snapshot; later commits get later timestamps.
    const snapshotTs = this.storage.lastCommitTs();
    if (snapshotTs > memory.syncedTs) memory.syncedTs = snapshotTs;
    return memory;
  }

  /** Drops the memory copies (they are rebuilt on the next search). */
  clear(): void {
    this.indexes.clear();
  }
}

function dimensionsError(received: number, expected: number): VectorSearchError {
  return new VectorSearchError(`Expected a vector with dimensions ${expected}, received ${received}.`);
}

/** The query as float32, scaled to unit length (a zero vector stays zero). */
function normalized(vector: number[]): Float32Array {
  const out = Float32Array.from(vector);
  let norm = 0;
  for (let i = 0; i < out.length; i++) norm += out[i] * out[i];
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = out[i] / norm;
  return out;
}
