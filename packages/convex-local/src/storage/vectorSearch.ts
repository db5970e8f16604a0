/**
 * Vector search: each vector index a connection searches is held in memory (float32 unit vectors
 * and an int8 copy, in WebAssembly memories scanned by the SIMD kernel of vectorKernel.ts), caught
 * up with the store's latest commit before every search (only the entries written since, see
 * vectorIndexes.ts). Up to EXACT_SEARCH_LIMIT documents every vector is scored exactly; above, the
 * int8 copy picks candidates that are rescored exactly (see `MemoryVectorIndex.search`). Scores and
 * order are Convex's: the dot product of the normalized vectors as float32, highest first, ties by
 * internal id, highest first (convex-backend `crates/vector/src/query.rs`, `VectorSearchQueryResult::cmp`).
 *
 * Cost: memory 5 × dimensions bytes per document (rows padded to 8 floats and 16 bytes); the first
 * search of an index after a start or a push loads all its entries from SQLite.
 *
 * ```ts
 * const engine = new VectorSearchEngine(storage);
 * engine.search({ table: "movies", index: "by_embedding", printableName: "movies.by_embedding", vector, limit: 10, filter: new Map([["genre", ["comedy"]]]) });
 * ```
 */
import type { Value } from "convex/values";

import { decodeDocumentId } from "./ids.js";
import type { Storage } from "./store.js";
import { MAX_VECTOR_DIMENSIONS, VectorIndexReader, filterKeyOf, type StoredVectorIndex } from "./vectorIndexes.js";
import { vectorKernel, type VectorKernel } from "./vectorKernel.js";

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

/** Up to this many documents a search scores every vector in float32 (exact); above, see `MemoryVectorIndex.search`. */
export const EXACT_SEARCH_LIMIT = 10_000;
/** Above EXACT_SEARCH_LIMIT, this many candidates per result (at least MIN_CANDIDATES) are rescored exactly. */
const CANDIDATES_PER_RESULT = 4;
const MIN_CANDIDATES = 64;
const PAGE_BYTES = 65536;

/**
 * One WebAssembly memory holding rows of a fixed byte stride, then scratch space (a query and one
 * 4-byte result per row) right after the rows in use, and the kernel over it.
 */
class KernelMemory {
  readonly memory = new WebAssembly.Memory({ initial: 1 });
  readonly kernel: VectorKernel = vectorKernel(this.memory);

  constructor(readonly rowBytes: number) {}

  /** Grows the memory to hold `capacity` rows and the scratch space (its contents are kept). */
  reserve(capacity: number): void {
    const needed = capacity * this.rowBytes + this.rowBytes + capacity * 4;
    const pages = Math.ceil(needed / PAGE_BYTES);
    const current = this.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > current) this.memory.grow(pages - current);
  }

  /** Byte offset of the query, for `capacity` rows. */
  queryOffset(capacity: number): number {
    return capacity * this.rowBytes;
  }

  /** Byte offset of the results, for `capacity` rows. */
  outOffset(capacity: number): number {
    return capacity * this.rowBytes + this.rowBytes;
  }
}

/**
 * One index in memory: its unit vectors as float32 rows (exact scores) and as int8 rows scaled to
 * ±127 each (a quick first pass over large indexes), both zero-padded to the kernel's stride.
 */
class MemoryVectorIndex {
  private capacity = 0;
  size = 0;
  private readonly floatStride: number;
  private readonly byteStride: number;
  private readonly floats: KernelMemory;
  private readonly bytes: KernelMemory;
  /** Per row, the factor that turns its int8 values back into its unit vector's. */
  private unscale = new Float32Array(0);
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
    this.floatStride = Math.ceil(definition.dimensions / 8) * 8;
    this.byteStride = Math.ceil(definition.dimensions / 16) * 16;
    this.floats = new KernelMemory(this.floatStride * 4);
    this.bytes = new KernelMemory(this.byteStride);
    this.floats.reserve(0);
    this.bytes.reserve(0);
  }

  private floatArray = new Float32Array(0);
  private byteArray = new Int8Array(0);

  /** The float rows as one array (remade when the memory grew: growing detaches the old buffer). */
  private floatView(): Float32Array {
    if (this.floatArray.buffer !== this.floats.memory.buffer) this.floatArray = new Float32Array(this.floats.memory.buffer);
    return this.floatArray;
  }

  private byteView(): Int8Array {
    if (this.byteArray.buffer !== this.bytes.memory.buffer) this.byteArray = new Int8Array(this.bytes.memory.buffer);
    return this.byteArray;
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    try {
      this.floats.reserve(capacity);
      this.bytes.reserve(capacity);
    } catch (e) {
      // A WebAssembly memory holds at most 4 GiB.
      if (!(e instanceof RangeError)) throw e;
      const { dimensions, name } = this.definition;
      throw new Error(`Vector index ${name} cannot hold more than ${this.capacity} documents of ${dimensions} dimensions in memory (${e.message})`);
    }
    const unscale = new Float32Array(capacity);
    unscale.set(this.unscale.subarray(0, this.size));
    this.unscale = unscale;
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
    const source =
      vectorBytes.byteOffset % 4 === 0
        ? new Float32Array(vectorBytes.buffer, vectorBytes.byteOffset, dims)
        : new Float32Array(vectorBytes.buffer.slice(vectorBytes.byteOffset, vectorBytes.byteOffset + dims * 4));
    const floats = this.floatView();
    const bytes = this.byteView();
    const floatBase = slot * this.floatStride;
    const byteBase = slot * this.byteStride;
    floats.fill(0, floatBase, floatBase + this.floatStride);
    bytes.fill(0, byteBase, byteBase + this.byteStride);
    let norm = 0;
    for (let i = 0; i < dims; i++) norm += source[i] * source[i];
    norm = Math.sqrt(norm);
    // Convex (qdrant) leaves a zero vector as is: its similarity to anything is 0.
    const scale = norm > 0 ? 1 / norm : 1;
    let largest = 0;
    for (let i = 0; i < dims; i++) {
      const value = Math.fround(source[i] * scale);
      floats[floatBase + i] = value;
      if (Math.abs(value) > largest) largest = Math.abs(value);
    }
    if (largest > 0) {
      const toByte = 127 / largest;
      for (let i = 0; i < dims; i++) bytes[byteBase + i] = Math.round(floats[floatBase + i] * toByte);
    }
    this.unscale[slot] = largest / 127;
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
      const floatRow = this.floatStride * 4;
      new Uint8Array(this.floats.memory.buffer).copyWithin(slot * floatRow, last * floatRow, (last + 1) * floatRow);
      new Uint8Array(this.bytes.memory.buffer).copyWithin(slot * this.byteStride, last * this.byteStride, (last + 1) * this.byteStride);
      this.unscale[slot] = this.unscale[last];
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

  /**
   * The best `limit` documents passing `filter`. Up to EXACT_SEARCH_LIMIT documents, every vector
   * is scored in float32. Above, the int8 copies are scored first and the best
   * max(4 × limit, 64) of them rescored in float32: approximate, measured recall@10 1.0 on
   * uniformly random 768-dimension vectors at 100k (scripts/bench/vectorSearch.mjs).
   */
  search(query: Float32Array, limit: number, filter: Map<string, (Value | undefined)[]>): VectorResult[] {
    const conditions = this.compileFilter(filter);
    const codes = this.filterCodes;
    const passes = (slot: number) => conditions === null || matches(conditions, codes, slot);
    const dims = this.definition.dimensions;
    const floatQuery = this.floats.queryOffset(this.capacity);
    const floatOut = this.floats.outOffset(this.capacity);
    const padded = new Float32Array(this.floats.memory.buffer, floatQuery, this.floatStride);
    padded.fill(0);
    padded.set(query.subarray(0, dims));
    let largest = 0;
    for (let i = 0; i < dims; i++) largest = Math.max(largest, Math.abs(query[i]));
    const exact = new TopResults(limit, this.internalIds);
    if (this.size <= EXACT_SEARCH_LIMIT || largest === 0) {
      this.floats.kernel.dotsF32(0, this.size, this.floatStride, floatQuery, floatOut);
      const scores = new Float32Array(this.floats.memory.buffer, floatOut, this.size);
      for (let slot = 0; slot < this.size; slot++) if (passes(slot)) exact.offer(scores[slot], slot);
    } else {
      const byteQuery = this.bytes.queryOffset(this.capacity);
      const byteOut = this.bytes.outOffset(this.capacity);
      const quantized = new Int8Array(this.bytes.memory.buffer, byteQuery, this.byteStride);
      quantized.fill(0);
      for (let i = 0; i < dims; i++) quantized[i] = Math.round((query[i] * 127) / largest);
      this.bytes.kernel.dotsI8(0, this.size, this.byteStride, byteQuery, byteOut);
      const dots = new Int32Array(this.bytes.memory.buffer, byteOut, this.size);
      const candidates = new TopResults(Math.max(limit * CANDIDATES_PER_RESULT, MIN_CANDIDATES), this.internalIds);
      for (let slot = 0; slot < this.size; slot++) if (passes(slot)) candidates.offer(dots[slot] * this.unscale[slot], slot);
      const rowBytes = this.floatStride * 4;
      const score = new Float32Array(this.floats.memory.buffer, floatOut, 1);
      for (const { slot } of candidates.sorted()) {
        this.floats.kernel.dotsF32(slot * rowBytes, 1, this.floatStride, floatQuery, floatOut);
        exact.offer(score[0], slot);
      }
    }
    return exact.sorted().map(({ slot, score }) => ({ _id: this.ids[slot], _score: score }));
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
    // Indexes were dropped, rebuilt or pruned since the copies were loaded: free them all (each reloads on its next search).
    for (const [id, loaded] of this.indexes) if (loaded.generation !== generation) this.indexes.delete(id);
    let memory = this.indexes.get(definition.id);
    if (
      memory === undefined ||
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
