/**
 * CSV rows as Convex imports them (crates/application/src/snapshot_import/parse.rs
 * `parse_csv_import`, over the `csv` crate's defaults): RFC 4180 — a header row, comma separated,
 * `"` quotes with `""` inside them, CRLF or LF line ends, blank lines skipped — each row an object
 * of header → cell, where a cell that parses as a Rust `f64` is a number (`NaN`/`inf` become null,
 * as serde_json writes them) and anything else a string. Header names are trimmed of spaces.
 *
 * @example for (const row of csvRows("a,b\n1,x\n")) row // { line: 2, row: 1, value: { a: 1, b: "x" } }
 */
import { RowError } from "./importValues.js";

export interface CsvRow {
  /** The row's number among data rows, from 1 (Convex's row number). */
  row: number;
  /** The line of the file the row starts on, from 1. */
  line: number;
  value: Record<string, string | number | null>;
}

/** Rust's `f64::from_str` grammar. */
const RUST_FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i;

/** The rows of a CSV text, header first; throws a `RowError` naming the row and line of the first bad one. */
export function* csvRows(text: string): Generator<CsvRow, void, undefined> {
  const records = csvRecords(text);
  const header = records.next();
  if (header.done) return;
  const names = header.value.cells.map((cell) => cell.replace(/^ +| +$/g, ""));
  for (const name of names) {
    if (name.length === 0 || name.startsWith("$") || /[^\x20-\x7e]/.test(name)) {
      throw new RowError(`CSV header ${JSON.stringify(name)} isn't a valid field name`);
    }
  }
  let row = 0;
  for (const { cells, line } of records) {
    row++;
    if (cells.length !== names.length) throw new RowError(`CSV row ${row} (line ${line}) doesn't have all of the fields in the header`);
    const value: Record<string, string | number | null> = {};
    names.forEach((name, i) => Object.defineProperty(value, name, { value: csvCell(cells[i]!), enumerable: true, writable: true, configurable: true }));
    yield { row, line, value };
  }
}

/** A cell's value: a number when Rust parses it as an f64, else the text. */
export function csvCell(text: string): string | number | null {
  if (!RUST_FLOAT.test(text)) return text;
  const lower = text.toLowerCase().replace(/^[+-]/, "");
  if (lower === "nan" || lower === "inf" || lower === "infinity") return null;
  return Number(text);
}

/** The records of a CSV text with the line each starts on; blank lines are skipped. */
function* csvRecords(text: string): Generator<{ cells: string[]; line: number }, void, undefined> {
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const startLine = line;
    const cells: string[] = [];
    let cell = "";
    let quoted = false;
    let ended = false;
    if (text[i] === "\n" || (text[i] === "\r" && text[i + 1] === "\n")) {
      i += text[i] === "\r" ? 2 : 1;
      line++;
      continue;
    }
    while (i < text.length && !ended) {
      const c = text[i]!;
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') {
          cell += '"';
          i += 2;
        } else if (c === '"') {
          quoted = false;
          i++;
        } else {
          if (c === "\n") line++;
          cell += c;
          i++;
        }
      } else if (c === '"' && cell.length === 0) {
        quoted = true;
        i++;
      } else if (c === ",") {
        cells.push(cell);
        cell = "";
        i++;
      } else if (c === "\n" || c === "\r") {
        i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
        line++;
        ended = true;
      } else {
        cell += c;
        i++;
      }
    }
    if (quoted) throw new RowError(`Failed to parse CSV record starting on line ${startLine}: a quoted field is never closed`);
    cells.push(cell);
    yield { cells, line: startLine };
  }
}
