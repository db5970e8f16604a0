/**
 * Which call of a batch a function worker is running, and since when, shared between the worker
 * process, which writes it as each call starts (`started`), and the backend, whose watchdog reads it
 * (`runningCall`) only when a call may have passed its time limit — to end the process then, and to
 * know which call that was. Processes share no memory, so they share a 24-byte file (page cache, no
 * disk sync): a message per call would cost the backend's main thread about 15 µs a query, as much
 * as the rest of its part of the query.
 *
 * The record is [index, startedAt, index]: a read that crosses a write sees two indexes differ and
 * reads again. Index -1: no call runs.
 *
 * @example
 * const progress = CallProgress.create(); // backend; pass progress.path to the worker
 * CallProgress.open(path).started(2); // worker: call 2 of the batch starts now
 * progress.runningCall(); // backend: { index: 2, startedAt }
 * progress.close(); // backend: removes the file
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const RECORD_BYTES = 3 * Float64Array.BYTES_PER_ELEMENT;

/** The backend's directory of progress files, made on first use (owner-only, as mkdtemp makes it) and removed with its last file. */
let directory: string | undefined;
let filesInDirectory = 0;
let nextFile = 0;

export class CallProgress {
  private readonly record = new Float64Array(3);
  private readonly bytes = new Uint8Array(this.record.buffer);
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  /** A new progress file, in the backend, that says no call runs. */
  static create(): CallProgress {
    directory ??= mkdtempSync(path.join(os.tmpdir(), "convex-local-progress-"));
    const file = path.join(directory, `${process.pid}-${nextFile++}`);
    filesInDirectory++;
    const progress = new CallProgress(file, openSync(file, "w+", 0o600));
    progress.idle();
    return progress;
  }

  /** The file `create` made, in the worker. */
  static open(file: string): CallProgress {
    return new CallProgress(file, openSync(file, "r+"));
  }

  /** Call `index` of the batch starts now. */
  started(index: number): void {
    this.write(index, performance.timeOrigin + performance.now());
  }

  /** No call runs (the batch is over, or a new worker starts). */
  idle(): void {
    this.write(-1, 0);
  }

  /** The call running now and when it started (ms since the epoch), or undefined. */
  runningCall(): { index: number; startedAt: number } | undefined {
    for (;;) {
      readSync(this.fd, this.bytes, 0, RECORD_BYTES, 0);
      const [index, startedAt, check] = this.record as unknown as [number, number, number];
      if (index !== check) continue;
      return index < 0 ? undefined : { index, startedAt };
    }
  }

  /** Closes the file (once); the backend's side also removes it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    if (directory === undefined || !this.path.startsWith(directory)) return;
    rmSync(this.path, { force: true });
    if (--filesInDirectory > 0) return;
    rmSync(directory, { recursive: true, force: true });
    directory = undefined;
  }

  private write(index: number, startedAt: number): void {
    this.record[0] = index;
    this.record[1] = startedAt;
    this.record[2] = index;
    writeSync(this.fd, this.bytes, 0, RECORD_BYTES, 0);
  }
}
