/**
 * Convex document ids ("id v6").
 *
 * An id is the lowercase Crockford base32 encoding (alphabet
 * `0123456789abcdefghjkmnpqrstvwxyz`, big-endian bit packing, no padding) of
 *
 *     varint(tableNumber) ++ internalId (16 bytes) ++ footer (2 bytes, little-endian)
 *
 * where the varint is LEB128 (7 bits per byte, low groups first, continuation
 * bit 0x80, at most 5 bytes for a u32) and the footer is the Fletcher-16
 * checksum (mod 256) of everything before it, XOR'd with the format version 0.
 * Ids are therefore 31 to 37 characters long. Decoding rejects anything that
 * is not the canonical encoding of such a byte string: bad length, characters
 * outside the alphabet, a truncated or over-long varint, table number 0, a
 * wrong checksum, trailing bytes, or non-zero padding bits.
 *
 * Mirrors Convex's `crates/value/src/id_v6.rs` and `crates/value/src/base32.rs`.
 */
import { randomFillSync } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Length of an internal id in bytes. */
export const INTERNAL_ID_LENGTH = 16;
const FOOTER_LENGTH = 2;
const VERSION = 0;
const MAX_TABLE_NUMBER = 0xffff_ffff;

/** Number of base32 characters needed for `n` bytes (no padding). */
function base32Length(n: number): number {
  return Math.ceil((n * 8) / 5);
}

const MIN_ID_LENGTH = base32Length(1 + INTERNAL_ID_LENGTH + FOOTER_LENGTH); // 31
const MAX_ID_LENGTH = base32Length(5 + INTERNAL_ID_LENGTH + FOOTER_LENGTH); // 37

/** A decoded document id. */
export interface DecodedDocumentId {
  /** The table number (>= 1). */
  tableNumber: number;
  /** The 16-byte internal id. */
  internalId: Uint8Array;
}

function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = ((acc << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/** Decodes base32; returns null on a bad character or non-zero padding bits. */
function base32Decode(s: string): Uint8Array | null {
  const out = new Uint8Array(Math.floor((s.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    const v = code < 128 ? DECODE[code] : -1;
    if (v < 0) return null;
    acc = ((acc << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[pos++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

function fletcher16(bytes: Uint8Array): number {
  let c0 = 0;
  let c1 = 0;
  for (const byte of bytes) {
    c0 = (c0 + byte) & 0xff;
    c1 = (c1 + c0) & 0xff;
  }
  return (c1 << 8) | c0;
}

/**
 * Encodes a document id. `tableNumber` must be an integer in [1, 2^32-1] and
 * `internalId` exactly 16 bytes; anything else throws.
 */
export function encodeDocumentId(tableNumber: number, internalId: Uint8Array): string {
  if (!Number.isInteger(tableNumber) || tableNumber < 1 || tableNumber > MAX_TABLE_NUMBER) {
    throw new Error(`Invalid table number ${tableNumber}`);
  }
  if (internalId.length !== INTERNAL_ID_LENGTH) {
    throw new Error(`Internal id must be ${INTERNAL_ID_LENGTH} bytes, got ${internalId.length}`);
  }
  const varint: number[] = [];
  let n = tableNumber;
  while (n >= 0x80) {
    varint.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  varint.push(n);
  const bytes = new Uint8Array(varint.length + INTERNAL_ID_LENGTH + FOOTER_LENGTH);
  bytes.set(varint, 0);
  bytes.set(internalId, varint.length);
  const bodyLength = varint.length + INTERNAL_ID_LENGTH;
  const footer = fletcher16(bytes.subarray(0, bodyLength)) ^ VERSION;
  bytes[bodyLength] = footer & 0xff;
  bytes[bodyLength + 1] = footer >> 8;
  return base32Encode(bytes);
}

/** Ids decoded lately, with their answers: a read decodes its document's id several times over (argument checks, table lookup, read set). */
const recentlyDecoded = new Map<string, Readonly<DecodedDocumentId> | null>();
const RECENTLY_DECODED_LIMIT = 1024;

/** Decodes a document id string, or returns null if it is not a valid Convex id. */
export function decodeDocumentId(id: string): Readonly<DecodedDocumentId> | null {
  if (typeof id !== "string" || id.length < MIN_ID_LENGTH || id.length > MAX_ID_LENGTH) return null;
  const known = recentlyDecoded.get(id);
  if (known !== undefined) return known;
  const decoded = decode(id);
  if (recentlyDecoded.size >= RECENTLY_DECODED_LIMIT) recentlyDecoded.clear();
  recentlyDecoded.set(id, decoded);
  return decoded;
}

function decode(id: string): Readonly<DecodedDocumentId> | null {
  const bytes = base32Decode(id);
  if (bytes === null) return null;
  let tableNumber = 0;
  let pos = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= 5 || pos >= bytes.length) return null;
    const byte = bytes[pos++];
    tableNumber += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  if (tableNumber === 0 || tableNumber > MAX_TABLE_NUMBER) return null;
  if (bytes.length !== pos + INTERNAL_ID_LENGTH + FOOTER_LENGTH) return null;
  const bodyLength = pos + INTERNAL_ID_LENGTH;
  const footer = bytes[bodyLength] | (bytes[bodyLength + 1] << 8);
  if (footer !== (fletcher16(bytes.subarray(0, bodyLength)) ^ VERSION)) return null;
  // Like Convex, accept only the canonical encoding: no surplus characters beyond the bytes'
  // (their padding bits were checked to be zero) and no redundant varint continuation byte
  // (e.g. 0x81 0x00 for 1).
  if (id.length !== base32Length(bytes.length) || (pos > 1 && bytes[pos - 1] === 0)) return null;
  return Object.freeze({ tableNumber, internalId: bytes.slice(pos, bodyLength) });
}

/**
 * Makes a fresh internal id laid out like Convex's: 14 random bytes followed
 * by the current day number since the Unix epoch as a big-endian u16.
 */
export function newInternalId(now: number = Date.now()): Uint8Array {
  const id = new Uint8Array(INTERNAL_ID_LENGTH);
  randomFillSync(id, 0, INTERNAL_ID_LENGTH - 2);
  const day = Math.floor(now / 86_400_000) & 0xffff;
  id[INTERNAL_ID_LENGTH - 2] = day >> 8;
  id[INTERNAL_ID_LENGTH - 1] = day & 0xff;
  return id;
}
