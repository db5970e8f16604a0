/**
 * Text cut to a number of UTF-8 bytes: for limits that count bytes (log lines, error messages, a
 * WebSocket close reason), in one pass whatever the text's length.
 */

/** The longest prefix of `text` that is at most `maxBytes` in UTF-8, cut at a character boundary. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text) <= maxBytes) return text;
  // Every UTF-16 unit takes at least one byte, so this prefix holds at least maxBytes bytes.
  const bytes = Buffer.from(text.slice(0, maxBytes));
  let end = maxBytes;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}
