/**
 * What a JSON text holds, read from its bytes without parsing it: how many values, and whether it
 * nests too deeply. Parsing builds every value, and a body or frame of millions of tiny ones
 * (`[{},{},…]`) holds the event loop for seconds; one nested too deeply cannot be serialized back.
 * One pass serves the HTTP API's bodies and the sync socket's frames.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const NEWLINE = 0x0a;

export interface JsonScanLimits {
  /** Counting stops as soon as the count passes this. */
  maxValues: number;
  /** Deepest nesting of arrays and objects allowed (default: no limit). */
  maxDepth?: number;
}

export interface JsonScan {
  /**
   * The strings (member names included), objects, arrays and commas counted — an upper bound,
   * within one, of the values and member names — up to where the scan stopped: past
   * `maxValues` when there are more.
   */
  values: number;
  /**
   * Where an array or object first opened past `maxDepth`, as serde_json reports the position
   * (line from 1; column in bytes, the bracket included); the scan stops there.
   */
  tooDeep?: { line: number; column: number };
}

/**
 * Scans `json` once, stopping at the first limit it breaks. Invalid JSON is scanned all the same;
 * the parser reports what is wrong with it.
 *
 * @example scanJson(Buffer.from('{"a":[1,2]}'), { maxValues: 100 }) // { values: 4 }: the object, "a", the array, one comma
 */
export function scanJson(json: Uint8Array, { maxValues, maxDepth = Infinity }: JsonScanLimits): JsonScan {
  let values = 0;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const byte = json[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
      continue;
    }
    if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) return { values, tooDeep: positionOf(json, i) };
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
      continue;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte !== COMMA) {
      continue;
    }
    if (++values > maxValues) return { values };
  }
  return { values };
}

function positionOf(json: Uint8Array, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    if (json[i] === NEWLINE) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}
