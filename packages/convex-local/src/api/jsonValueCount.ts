/**
 * How many values a JSON text holds, counted from its bytes without parsing it: parsing builds
 * every value, and a body of millions of tiny ones (`[{},{},…]`) holds the event loop for seconds.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;

/**
 * Counts the strings (member names included), objects, arrays and commas of `json` — an upper
 * bound, within one, of its values and member names — and stops as soon as the count passes
 * `limit`. Invalid JSON is counted all the same; the parser reports what is wrong with it.
 *
 * @example countJsonValues(Buffer.from('{"a":[1,2]}'), 100) // 4: the object, "a", the array, one comma
 */
export function countJsonValues(json: Uint8Array, limit: number): number {
  let count = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const byte = json[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE || byte === COMMA || byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      inString = byte === QUOTE;
      if (++count > limit) return count;
    }
  }
  return count;
}
