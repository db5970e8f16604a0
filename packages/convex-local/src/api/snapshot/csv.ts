/**
 * CSV rows as Convex imports them (crates/application/src/snapshot_import/parse.rs
 * `parse_csv_import`, over the `csv` crate's defaults): RFC 4180 — a header row, comma separated,
 * `"` quotes with `""` inside them, CRLF or LF line ends, blank lines skipped — each row an object
 * of header → cell, where a cell that parses as a Rust `f64` is a number (`NaN`/`inf` become null,
 * as serde_json writes them) and anything else a string. Header names are trimmed of spaces.
 *
 * The text arrives in parts (a file read as a stream): each part gives the rows it completes.
 *
 * @example
 * const reader = new CsvReader();
 * reader.push("a,b\n1,x\n2,"); // [{ line: 2, row: 1, value: { a: 1, b: "x" } }]
 * reader.push("y\n", true);     // [{ line: 3, row: 2, value: { a: 2, b: "y" } }]
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

/** Reads a CSV text part by part; throws a `RowError` naming the row and line of the first bad row. */
export class CsvReader {
  private pending = "";
  private line = 1;
  private names: string[] | undefined;
  private row = 0;

  /** The rows completed by `text`, the next part of the file; `last`: it is the file's last part. */
  push(text: string, last = false): CsvRow[] {
    this.pending += text;
    const rows: CsvRow[] = [];
    let at = 0;
    for (let record = readRecord(this.pending, at, this.line, last); record !== null; record = readRecord(this.pending, at, this.line, last)) {
      at = record.end;
      this.line = record.nextLine;
      if (record.cells !== null) {
        const row = this.rowOf(record.cells, record.line);
        if (row !== null) rows.push(row);
      }
    }
    this.pending = this.pending.slice(at);
    return rows;
  }

  private rowOf(cells: string[], line: number): CsvRow | null {
    if (this.names === undefined) {
      this.names = cells.map((cell) => cell.replace(/^ +| +$/g, ""));
      for (const name of this.names) {
        if (name.length === 0 || name.startsWith("$") || /[^\x20-\x7e]/.test(name)) throw new RowError(`CSV header ${JSON.stringify(name)} isn't a valid field name`);
      }
      return null;
    }
    const row = ++this.row;
    if (cells.length !== this.names.length) throw new RowError(`CSV row ${row} (line ${line}) doesn't have all of the fields in the header`);
    const value: Record<string, string | number | null> = {};
    this.names.forEach((name, i) => Object.defineProperty(value, name, { value: csvCell(cells[i]!), enumerable: true, writable: true, configurable: true }));
    return { row, line, value };
  }
}

/** A cell's value: a number when Rust parses it as an f64, else the text. */
export function csvCell(text: string): string | number | null {
  if (!RUST_FLOAT.test(text)) return text;
  const lower = text.toLowerCase().replace(/^[+-]/, "");
  if (lower === "nan" || lower === "inf" || lower === "infinity") return null;
  return Number(text);
}

interface CsvRecord {
  /** The cells; null for a blank line. */
  cells: string[] | null;
  line: number;
  /** Where the next record starts, and its line. */
  end: number;
  nextLine: number;
}

/**
 * The record starting at `start` (on line `line`) of `text`, or null when there is none yet: the
 * text ends there, or (unless `last`) before the record does.
 */
function readRecord(text: string, start: number, line: number, last: boolean): CsvRecord | null {
  if (start >= text.length) return null;
  let i = start;
  let at = line;
  if (text[i] === "\n" || (text[i] === "\r" && text[i + 1] === "\n")) return { cells: null, line, end: i + (text[i] === "\r" ? 2 : 1), nextLine: line + 1 };
  if (text[i] === "\r" && i + 1 === text.length && !last) return null;
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
      } else if (c === '"') {
        // A closing quote at the end of the part may be the first of a doubled one.
        if (i + 1 === text.length && !last) return null;
        quoted = false;
        i++;
      } else {
        if (c === "\n") at++;
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
      if (c === "\r" && i + 1 === text.length && !last) return null;
      cells.push(cell);
      return { cells, line, end: i + (c === "\r" && text[i + 1] === "\n" ? 2 : 1), nextLine: at + 1 };
    } else {
      cell += c;
      i++;
    }
  }
  if (!last) return null;
  if (quoted) throw new RowError(`Failed to parse CSV record starting on line ${line}: a quoted field is never closed`);
  cells.push(cell);
  return { cells, line, end: i, nextLine: at };
}
