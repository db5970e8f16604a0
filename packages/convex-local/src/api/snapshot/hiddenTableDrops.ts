/**
 * Deletes hidden tables (storage/hiddenTables.ts) in the background, a short step at a time, each
 * in a turn of its own between mutation batches: the tables an import replaced, the staged tables
 * of an import that failed, and after a restart every hidden table (all garbage then). Deleting a
 * large table in one commit would hold every writer up for as long as it takes.
 *
 * @example
 * const drops = new HiddenTableDrops(storage, runner);
 * drops.drop([{ table: "_hidden/abc/messages", removeBlobs: false }]);
 * await drops.idle();
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { BY_ID_INDEX, type Storage } from "../../storage/index.js";
import type { FunctionRunner } from "../../runtime/runner.js";
import type { StorageEntry } from "../../runtime/fileStorage.js";
import type { HiddenTableDrop } from "./importActivation.js";

/** Index entries or documents deleted per step. */
const STEP_ROWS = 2000;

export class HiddenTableDrops {
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly storage: Storage,
    private readonly runner: FunctionRunner,
  ) {}

  /** Deletes `tables` after those queued before (each table's files first, if asked). */
  drop(tables: readonly HiddenTableDrop[]): void {
    for (const table of tables) {
      this.queue = this.queue.then(() => this.dropTable(table)).catch((error: unknown) => {
        // Left for the next start, which deletes every hidden table.
        console.error(`convex-local: could not delete ${table.table}: ${(error as Error).stack ?? String(error)}`);
      });
    }
  }

  /** Resolves once every table queued so far is gone (or `stop` was called). */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Stops after the current step (shutdown); what is left goes at the next start. */
  stop(): void {
    this.stopped = true;
  }

  private async dropTable({ table, removeBlobs }: HiddenTableDrop): Promise<void> {
    if (removeBlobs) {
      const blobs = this.runner.fileStorage().blobs;
      let seen = 0;
      for (const row of this.storage.scanIndex(table, BY_ID_INDEX, { lowerInclusive: true, upperInclusive: false }, "asc", { batchSize: STEP_ROWS })) {
        blobs.remove((JSON.parse(row.json) as StorageEntry).blobKey);
        if (++seen % STEP_ROWS === 0) await nextTurn();
      }
    }
    while (!this.stopped && !(await this.runner.systemWrite(() => this.storage.deleteTableStep(table, STEP_ROWS)))) await nextTurn();
  }
}
