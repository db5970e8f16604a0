/**
 * Which call of a batch a function worker is running, and since when, shared with the main thread
 * through a SharedArrayBuffer: the worker marks each call as it starts (`CallProgress.started`),
 * and the main thread's watchdog reads it (`runningCall`) to end the thread when one call passes
 * its time limit — and to know which call that was.
 *
 * @example
 * const progress = new CallProgress(); // main thread; pass progress.buffer to the worker
 * new CallProgress(buffer).started(2); // worker: call 2 of the batch starts now
 * progress.runningCall(); // main thread: { index: 2, startedAt }
 */
export class CallProgress {
  /** [index of the running call, or -1; when it started, ms since the epoch]. */
  private readonly slots: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(2 * Float64Array.BYTES_PER_ELEMENT)) {
    this.slots = new Float64Array(buffer);
    this.slots[0] = -1;
  }

  /** Call `index` of the batch starts now. */
  started(index: number): void {
    this.slots[1] = performance.timeOrigin + performance.now();
    this.slots[0] = index;
  }

  /** The batch is over (or between calls). */
  idle(): void {
    this.slots[0] = -1;
  }

  /** The call running now and when it started, or undefined. */
  runningCall(): { index: number; startedAt: number } | undefined {
    const index = this.slots[0]!;
    return index < 0 ? undefined : { index, startedAt: this.slots[1]! };
  }
}
