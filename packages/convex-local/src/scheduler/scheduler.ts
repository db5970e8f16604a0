/**
 * Runs scheduled functions and crons. A single timer sleeps until the earliest pending job or
 * cron run (and is woken early by commits that touch `_scheduled_functions` and by pushes).
 *
 * - A scheduled mutation is `inProgress` inside its own transaction and moves to `success` in it,
 *   with the mutation's own writes, so it runs exactly once even across crashes; if it throws it is
 *   marked `failed` with its error (nothing of it committed).
 * - A scheduled action is marked `inProgress` before it starts and `success`/`failed` after, so it
 *   runs at most once; an action still `inProgress` when the backend starts was interrupted and is
 *   marked `failed` with Convex's "Transient error while executing action".
 * - A job canceled meanwhile stays canceled: a canceled action keeps running, but its result is not
 *   recorded. The texts and transitions are Convex's (convex-backend
 *   crates/application/src/scheduled_jobs/mod.rs, crates/model/src/scheduled_jobs/mod.rs).
 * - Crons keep their next run time in storage meta (`scheduler/cron/<name>`), advanced in the same
 *   transaction as a cron mutation (before a cron action), so a restart neither repeats nor loses
 *   a run; a run that came due while the backend was down happens once on start.
 *
 * - Each component instance has its own `_scheduled_functions` (runtime/components.ts): the scheduler
 *   reads due jobs from every namespace's table and runs a component's job as the component's
 *   function (its name in the table is the path inside the component, as on Convex).
 *
 * This layer sits above `runtime/`, whose `FunctionRunner` it runs jobs with. The `_scheduled_functions`
 * document helpers stay in `runtime/scheduledFunctionsTable.ts`, since `ctx.scheduler` syscalls write jobs too.
 */
import type { JSONValue } from "convex/values";
import type { Storage } from "../storage/index.js";
import { rangeForIndexExpression, rangeForPrefix } from "../storage/keys.js";
import type { DocumentWrite } from "../transactions/transaction.js";
import type { CronJob } from "../runtime/functions.js";
import type { Caller, FunctionRunner } from "../runtime/runner.js";
import {
  SCHEDULED_BY_STATE_FIELDS,
  SCHEDULED_BY_STATE_INDEX,
  SCHEDULED_FUNCTIONS_TABLE,
  completeJob,
  isJobTable,
  jobFunctionPath,
  startJob,
  type JobState,
  type ScheduledJob,
} from "../runtime/scheduledFunctionsTable.js";
import { printableError } from "../text/terminalText.js";
import { nextScheduleTime } from "./cron.js";
import { outcomeState, scheduledTarget } from "./jobOutcome.js";

/** Scheduled functions and crons run without a user identity, and may call internal functions. */
const SYSTEM_CALLER: Caller = { identity: null, admin: true };
const CRON_META_PREFIX = "scheduler/cron/";
/** Jobs run per timer turn before yielding to the event loop. */
const BATCH = 64;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Convex's error of an action that was in progress when the backend stopped (it runs at most once). */
const INTERRUPTED_ACTION_ERROR = "Transient error while executing action";

/** A job with the stored name of the table it is in (its namespace's `_scheduled_functions`). */
interface TableJob {
  table: string;
  job: ScheduledJob;
}

interface CronState {
  /** JSON of the schedule this state was computed for. */
  schedule: string;
  nextRun: number;
  lastRun?: number;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;
  private readonly running = new Set<Promise<void>>();
  /** A tick is under way; `tickAgain`: a wake-up came meanwhile. */
  private ticking = false;
  private tickAgain = false;

  constructor(
    private readonly storage: Storage,
    private readonly runner: FunctionRunner,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Prepares the app's job table (components' are made as they are pushed: runtime/namespaceSystemTables.ts),
   * fails actions interrupted by the last shutdown, reads crons and arms the timer.
   */
  async start(): Promise<void> {
    this.storage.ensureTable(SCHEDULED_FUNCTIONS_TABLE);
    if (!this.storage.listIndexes(SCHEDULED_FUNCTIONS_TABLE).some((i) => i.name === SCHEDULED_BY_STATE_INDEX)) {
      this.storage.setIndexes(SCHEDULED_FUNCTIONS_TABLE, [{ name: SCHEDULED_BY_STATE_INDEX, fields: SCHEDULED_BY_STATE_FIELDS }]);
    }
    const interrupted = this.jobsInState("inProgress", Infinity, Infinity);
    if (interrupted.length > 0) {
      await this.runner.systemWrite((transaction) => {
        for (const { job } of interrupted) completeJob(transaction, job._id, { kind: "failed", error: INTERRUPTED_ACTION_ERROR }, this.now());
      });
    }
    await this.syncCrons();
    this.wake();
  }

  /**
   * Stops the timer. Actions still running are not waited for and record nothing: they stay
   * `inProgress` and are marked failed at the next start, like actions cut off by a crash.
   */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Actions started by the scheduler that are still running. */
  get runningActions(): number {
    return this.running.size;
  }

  /** A commit listener: new or changed jobs may move the next wake-up earlier. */
  onCommit(writes: DocumentWrite[]): void {
    if (writes.some((write) => isJobTable(write.table))) this.wake();
  }

  /** After a push: reconcile cron state with the pushed `crons.ts` and re-arm. */
  onInstall(): void {
    if (this.closed) return;
    this.track(this.syncCrons().then(() => this.wake()));
  }

  /** Runs whatever is due soon (on the next turn of the event loop). */
  wake(): void {
    this.arm(this.now());
  }

  private arm(at: number): void {
    if (this.closed) return;
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      void this.tick();
    }, Math.min(Math.max(at - this.now(), 0), MAX_TIMER_MS));
    this.timer.unref();
  }

  /** Runs the due jobs (their mutations together, in one batch) and crons, then re-arms; one tick at a time. */
  private async tick(): Promise<void> {
    if (this.closed) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = true;
    let ran = 0;
    try {
      const jobs = this.jobsInState("pending", this.now(), BATCH);
      ran = jobs.length;
      await Promise.all(jobs.map((job) => this.runJob(job)));
      ran += await this.runDueCrons();
    } catch (error) {
      console.error(`convex-local scheduler: ${printableError(error)}`);
    } finally {
      this.ticking = false;
    }
    if (this.closed) return;
    if (ran >= BATCH || this.tickAgain) {
      this.tickAgain = false;
      return this.wake();
    }
    const next = Math.min(this.jobsInState("pending", Infinity, 1)[0]?.job.scheduledTime ?? Infinity, this.nextCronRun());
    if (next !== Infinity) this.arm(next);
  }

  /** Jobs in `kind` with scheduledTime <= `until`, earliest first, from every namespace's job table. */
  private jobsInState(kind: string, until: number, limit: number): TableJob[] {
    const range = until === Infinity ? rangeForPrefix([kind]) : rangeForIndexExpression([kind], undefined, { op: "lte", value: until });
    const jobs: TableJob[] = [];
    for (const { name: table } of this.storage.listTables()) {
      if (!isJobTable(table) || !this.storage.listIndexes(table).some((index) => index.name === SCHEDULED_BY_STATE_INDEX)) continue;
      for (const row of this.storage.scanIndex(table, SCHEDULED_BY_STATE_INDEX, range, "asc", { limit: limit === Infinity ? undefined : limit })) {
        jobs.push({ table, job: JSON.parse(row.json) as ScheduledJob });
      }
    }
    jobs.sort((a, b) => a.job.scheduledTime - b.job.scheduledTime);
    return limit === Infinity ? jobs : jobs.slice(0, limit);
  }

  private async runJob({ table, job }: TableJob): Promise<void> {
    const path = jobFunctionPath(table, job);
    const target = scheduledTarget(this.runner.analysis, path);
    if ("error" in target) return await this.finish(job._id, { kind: "failed", error: target.error });
    // What the job's function calls and schedules belongs to the job (Convex's parent_scheduled_job).
    const caller: Caller = { ...SYSTEM_CALLER, scheduledJob: job._id };
    const args = (job.args[0] ?? {}) as JSONValue;
    if (target.udfType === "Mutation") {
      // The job becomes `success` in the mutation's own commit: it runs exactly once.
      const { result } = await this.runner.mutation(path, args, caller, { completesJob: { id: job._id, at: this.now() } });
      if (result.status === "error") await this.finish(job._id, outcomeState(result));
      return;
    }
    // A job canceled since it was read does not run.
    if (!(await this.runner.systemWrite((transaction) => startJob(transaction, job._id)))) return;
    this.track(this.runner.action(path, args, caller).then((result) => this.finish(job._id, outcomeState(result))));
  }

  /** Records how a job that is still pending or in progress ended (a canceled job stays canceled). */
  private async finish(id: string, state: JobState): Promise<void> {
    if (this.closed) return;
    await this.runner.systemWrite((transaction) => completeJob(transaction, id, state, this.now()));
  }

  private track(promise: Promise<void>): void {
    const tracked = promise.catch((error: unknown) => {
      if (!this.closed) console.error(`convex-local scheduler: ${printableError(error)}`);
    });
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }

  // ---- crons ---------------------------------------------------------------------------

  private crons(): CronJob[] | undefined {
    return this.runner.analysis?.crons;
  }

  /** Keeps the next run of crons whose schedule is unchanged; starts new ones from now; drops removed ones. */
  private async syncCrons(): Promise<void> {
    const crons = this.crons();
    if (crons === undefined) return;
    await this.runner.systemWrite(() => {
      const now = this.now();
      const wanted = new Set<string>();
      for (const cron of crons) {
        const key = CRON_META_PREFIX + cron.name;
        wanted.add(key);
        const schedule = JSON.stringify(cron.schedule);
        const state = this.storage.getMeta<CronState>(key);
        if (state?.schedule === schedule) continue;
        try {
          this.storage.setMeta(key, { schedule, nextRun: nextScheduleTime(cron.schedule, now) } satisfies CronState);
        } catch (error) {
          console.error(`convex-local scheduler: cron "${cron.name}": ${printableError(error)}`);
        }
      }
      for (const [key] of this.storage.listMeta(CRON_META_PREFIX)) if (!wanted.has(key)) this.storage.deleteMeta(key);
    });
  }

  private nextCronRun(): number {
    let next = Infinity;
    for (const cron of this.crons() ?? []) {
      const state = this.storage.getMeta<CronState>(CRON_META_PREFIX + cron.name);
      if (state !== undefined) next = Math.min(next, state.nextRun);
    }
    return next;
  }

  private async runDueCrons(): Promise<number> {
    let ran = 0;
    const advance = (key: string, state: CronState) => this.runner.systemWrite(() => this.storage.setMeta(key, state));
    for (const cron of this.crons() ?? []) {
      const key = CRON_META_PREFIX + cron.name;
      const state = this.storage.getMeta<CronState>(key);
      const now = this.now();
      if (state === undefined || state.nextRun > now) continue;
      const advanced: CronState = { ...state, lastRun: now, nextRun: nextScheduleTime(cron.schedule, Math.max(now, state.nextRun)) };
      const args = (cron.args[0] ?? {}) as JSONValue;
      ran++;
      let udfType: string;
      try {
        udfType = this.runner.resolve(cron.udfPath, SYSTEM_CALLER).udfType;
      } catch (error) {
        console.error(`convex-local scheduler: cron "${cron.name}": ${printableError(error)}`);
        await advance(key, advanced);
        continue;
      }
      if (udfType === "Mutation") {
        // The next run is stored in the mutation's own commit: a restart neither repeats nor loses it.
        const { result } = await this.runner.mutation(cron.udfPath, args, SYSTEM_CALLER, { setsMeta: { key, value: advanced } });
        if (result.status === "error") await advance(key, advanced);
      } else {
        await advance(key, advanced);
        if (udfType === "Action") this.track(this.runner.action(cron.udfPath, args, SYSTEM_CALLER).then(() => undefined));
      }
    }
    return ran;
  }
}

