/**
 * A long-lived consistent read of the store, for a snapshot export: its own read-only connection
 * holds one SQLite read transaction open (WAL readers never block the writer, nor it them), so
 * every table is read as of one commit while writes go on, however long the export streams.
 *
 * @example
 * const snapshot = SnapshotRead.open(storage.path);
 * for (const { name } of snapshot.tables()) for (const page of snapshot.documentPages(name)) write(page);
 * snapshot.close(); // ends the read transaction
 */
import Database from "better-sqlite3";

/** Documents read per page: a page is one SQLite query, the caller may yield between pages. */
const PAGE_SIZE = 1000;

export interface SnapshotTable {
  name: string;
  number: number;
  /** Documents in the table at the snapshot. */
  documents: number;
}

export class SnapshotRead {
  private open = true;

  private constructor(
    private readonly db: Database.Database,
    /** The commit timestamp (ns) of the snapshot: every read is as of this commit. */
    readonly snapshotTs: bigint,
  ) {}

  /** Starts a snapshot of the store at `databasePath` (the file `Storage.open` uses). */
  static open(databasePath: string): SnapshotRead {
    const db = new Database(databasePath, { readonly: true, fileMustExist: true });
    try {
      db.pragma("busy_timeout = 5000");
      db.prepare("BEGIN").run();
      // The first read pins the snapshot: the clock and everything after are read as of one commit.
      const clock = db.prepare("SELECT last_commit_ts FROM clock WHERE id = 1").safeIntegers(true).get() as { last_commit_ts: bigint };
      return new SnapshotRead(db, clock.last_commit_ts);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Every table at the snapshot, in table-number order, with its document count. */
  tables(): SnapshotTable[] {
    this.assertOpen();
    return this.db
      .prepare(
        `SELECT t.name AS name, t.number AS number,
                (SELECT COUNT(*) FROM documents d WHERE d.table_number = t.number) AS documents
         FROM tables t ORDER BY t.number`,
      )
      .all() as SnapshotTable[];
  }

  /**
   * The documents of table number `tableNumber` as stored (Convex JSON text), in pages of
   * `PAGE_SIZE` in id order. Each page is one query, so nothing holds a cursor between pages.
   */
  *documentPages(tableNumber: number): Generator<string[], void, undefined> {
    const page = this.db.prepare("SELECT id, json FROM documents WHERE table_number = ? AND id > ? ORDER BY id LIMIT ?");
    let after = "";
    for (;;) {
      this.assertOpen();
      const rows = page.all(tableNumber, after, PAGE_SIZE) as { id: string; json: string }[];
      if (rows.length > 0) yield rows.map((row) => row.json);
      if (rows.length < PAGE_SIZE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  /** Ends the read transaction and closes the connection. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    try {
      if (this.db.inTransaction) this.db.prepare("COMMIT").run();
    } finally {
      this.db.close();
    }
  }

  private assertOpen(): void {
    if (!this.open) throw new Error("The snapshot was closed");
  }
}
