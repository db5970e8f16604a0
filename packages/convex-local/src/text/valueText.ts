/**
 * Values and text quoted in error messages, cut to a bounded length: a request can make the backend
 * quote what it sent, never echo all of it (an argument of many MiB used to come back whole).
 * The cut follows Convex's `stringifyValueForError` (convex-js src/values/value.ts): the last
 * characters replaced by `[...truncated]`, a surrogate pair never split.
 */
import type { Value } from "convex/values";
import { types } from "node:util";

/**
 * The longest quote, marker included. Convex allows 16384 (MAX_VALUE_FOR_ERROR_LEN); this is
 * shorter on purpose: errors are also printed by `convex-local start`, and one request may make
 * it print a few KB at most.
 */
export const MAX_QUOTED_LENGTH = 4096;

const TRUNCATED_MARKER = "[...truncated]";

/** `text` itself when it has at most `maxLength` characters, else its start with `[...truncated]`, `maxLength` in all. */
export function truncateText(text: string, maxLength = MAX_QUOTED_LENGTH): string {
  if (text.length <= maxLength) return text;
  let cutAt = maxLength - TRUNCATED_MARKER.length;
  // Do not end on the first half of a surrogate pair.
  const last = text.charCodeAt(cutAt - 1);
  if (last >= 0xd800 && last <= 0xdbff) cutAt -= 1;
  return text.slice(0, cutAt) + TRUNCATED_MARKER;
}

/** Thrown by TextBudget once it holds more than its budget: rendering stops there. */
class BudgetSpent extends Error {}

/** Collects text up to one character past the budget, so a huge value is never rendered whole. */
class TextBudget {
  private readonly parts: string[] = [];
  private length = 0;

  constructor(private readonly budget: number) {}

  write(part: string): void {
    const room = this.budget + 1 - this.length;
    if (part.length >= room) {
      this.parts.push(part.slice(0, room));
      this.length += room;
      throw new BudgetSpent();
    }
    this.parts.push(part);
    this.length += part.length;
  }

  text(): string {
    return this.parts.join("");
  }
}

/**
 * Renders a Convex value as Convex's error messages show it (`{a: 1.0, b: "x", c: 3, d: b"AQI="}`:
 * the backend's Display of values, crates/value/src/lib.rs), cut by `truncateText`. Work is bounded
 * by `maxLength`, not by the value's size.
 */
export function quoteValue(value: Value | undefined, maxLength = MAX_QUOTED_LENGTH): string {
  const budget = new TextBudget(maxLength);
  try {
    render(value, budget, maxLength);
  } catch (error) {
    if (!(error instanceof BudgetSpent)) throw error;
  }
  return truncateText(budget.text(), maxLength);
}

function render(value: Value | undefined, out: TextBudget, maxLength: number): void {
  if (value === undefined) return out.write("undefined");
  if (value === null) return out.write("null");
  switch (typeof value) {
    case "bigint":
      return out.write(String(value));
    case "number":
      return out.write(Number.isInteger(value) ? `${value}.0` : String(value));
    case "boolean":
      return out.write(String(value));
    case "string":
      // Escaping a long string costs as much as the string: escape only what can be shown.
      return out.write(JSON.stringify(value.length > maxLength ? value.slice(0, maxLength) : value));
  }
  if (types.isArrayBuffer(value)) {
    // Base64 of only as many bytes as can be shown.
    const shown = new Uint8Array(value as ArrayBuffer, 0, Math.min((value as ArrayBuffer).byteLength, maxLength));
    return out.write(`b"${Buffer.from(shown).toString("base64")}"`);
  }
  if (Array.isArray(value)) {
    out.write("[");
    value.forEach((item, index) => {
      if (index > 0) out.write(", ");
      render(item, out, maxLength);
    });
    return out.write("]");
  }
  out.write("{");
  let first = true;
  for (const key of Object.keys(value)) {
    if (!first) out.write(", ");
    first = false;
    out.write(`${key}: `);
    render((value as Record<string, Value | undefined>)[key], out, maxLength);
  }
  out.write("}");
}
