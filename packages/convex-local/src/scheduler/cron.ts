/**
 * Next-run times of Convex cron schedules (`convex/crons.ts`), all in UTC: the 5-field cron syntax
 * (minute hour day-of-month month day-of-week, with `*`, lists, ranges, steps and month/day names;
 * when both day fields are restricted a day matching either runs, as in Vixie cron) and the
 * `interval` / `hourly` / `daily` / `weekly` / `monthly` helpers, which Convex defines in terms of it.
 */
import type { CronSchedule } from "../runtime/functions.js";

export class CronSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CronSyntaxError";
  }
}

export interface CronFields {
  minutes: Set<number>;
  hours: Set<number>;
  daysOfMonth: Set<number>;
  months: Set<number>;
  /** 0 = Sunday … 6 = Saturday. */
  daysOfWeek: Set<number>;
  /** Whether the day-of-month / day-of-week field was `*` (unrestricted). */
  anyDayOfMonth: boolean;
  anyDayOfWeek: boolean;
}

const MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

function parseField(text: string, min: number, max: number, what: string, names?: string[], nameBase = 0): Set<number> {
  const values = new Set<number>();
  const value = (token: string): number => {
    const lower = token.toLowerCase();
    const named = names?.indexOf(lower) ?? -1;
    if (named !== -1) return named + nameBase;
    if (!/^\d+$/.test(token)) throw new CronSyntaxError(`Invalid ${what} value "${token}"`);
    const n = Number(token);
    if (n < min || n > max) throw new CronSyntaxError(`${what} value ${n} is out of range ${min}-${max}`);
    return n;
  };
  for (const part of text.split(",")) {
    const [rangeText, stepText, ...extra] = part.split("/");
    if (extra.length > 0 || rangeText === "") throw new CronSyntaxError(`Invalid ${what} field "${text}"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronSyntaxError(`Invalid ${what} step "${stepText}"`);
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (rangeText === "*") {
      low = min;
      high = max;
    } else if (rangeText.includes("-")) {
      const [a, b, ...rest] = rangeText.split("-");
      if (rest.length > 0) throw new CronSyntaxError(`Invalid ${what} range "${rangeText}"`);
      low = value(a);
      high = value(b);
      if (low > high) throw new CronSyntaxError(`Invalid ${what} range "${rangeText}"`);
    } else {
      low = value(rangeText);
      high = stepText === undefined ? low : max;
    }
    for (let n = low; n <= high; n += step) values.add(n);
  }
  return values;
}

/** Parses a 5-field cron expression; throws CronSyntaxError when it is malformed. */
export function parseCron(expression: string): CronFields {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) throw new CronSyntaxError(`A cron expression needs 5 fields, got ${fields.length}: "${expression}"`);
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields;
  const daysOfWeek = parseField(dayOfWeek, 0, 7, "day-of-week", DAY_NAMES);
  if (daysOfWeek.delete(7)) daysOfWeek.add(0);
  return {
    minutes: parseField(minute, 0, 59, "minute"),
    hours: parseField(hour, 0, 23, "hour"),
    daysOfMonth: parseField(dayOfMonth, 1, 31, "day-of-month"),
    months: parseField(month, 1, 12, "month", MONTH_NAMES, 1),
    daysOfWeek,
    anyDayOfMonth: dayOfMonth.startsWith("*"),
    anyDayOfWeek: dayOfWeek.startsWith("*"),
  };
}

function dayMatches(fields: CronFields, date: Date): boolean {
  const dom = fields.daysOfMonth.has(date.getUTCDate());
  const dow = fields.daysOfWeek.has(date.getUTCDay());
  if (fields.anyDayOfMonth || fields.anyDayOfWeek) return dom && dow;
  return dom || dow;
}

const MINUTE = 60_000;

/** The first time (ms, on a whole UTC minute) strictly after `afterMs` that `expression` matches. */
export function nextCronTime(expression: string | CronFields, afterMs: number): number {
  const fields = typeof expression === "string" ? parseCron(expression) : expression;
  const date = new Date(Math.floor(afterMs / MINUTE) * MINUTE + MINUTE);
  // Each step skips a whole non-matching month, day, hour or minute; 8 years bounds every valid
  // expression (Feb 29 on a given weekday can take a while) and stops impossible ones (Feb 30).
  const limit = afterMs + 8 * 366 * 24 * 60 * MINUTE;
  while (date.getTime() <= limit) {
    if (!fields.months.has(date.getUTCMonth() + 1)) {
      date.setUTCMonth(date.getUTCMonth() + 1, 1);
      date.setUTCHours(0, 0, 0, 0);
    } else if (!dayMatches(fields, date)) {
      date.setUTCDate(date.getUTCDate() + 1);
      date.setUTCHours(0, 0, 0, 0);
    } else if (!fields.hours.has(date.getUTCHours())) {
      date.setUTCHours(date.getUTCHours() + 1, 0, 0, 0);
    } else if (!fields.minutes.has(date.getUTCMinutes())) {
      date.setUTCMinutes(date.getUTCMinutes() + 1, 0, 0);
    } else {
      return date.getTime();
    }
  }
  throw new CronSyntaxError(`The cron expression "${typeof expression === "string" ? expression : "(parsed)"}" never matches`);
}

function dayOfWeekNumber(day: number | string): number {
  if (typeof day === "number") return day;
  const index = DAY_NAMES.indexOf(day.toLowerCase().slice(0, 3));
  if (index === -1) throw new CronSyntaxError(`Invalid day of week "${day}"`);
  return index;
}

/** The cron expression equivalent of a schedule, or null for `interval`. */
export function scheduleCronExpression(schedule: CronSchedule): string | null {
  const minute = "minuteUTC" in schedule ? schedule.minuteUTC ?? 0 : 0;
  const hour = "hourUTC" in schedule ? schedule.hourUTC ?? 0 : 0;
  switch (schedule.type) {
    case "interval":
      return null;
    case "hourly":
      return `${minute} * * * *`;
    case "daily":
      return `${minute} ${hour} * * *`;
    case "weekly":
      return `${minute} ${hour} * * ${dayOfWeekNumber(schedule.dayOfWeek as number | string)}`;
    case "monthly":
      return `${minute} ${hour} ${schedule.day} * *`;
    case "cron":
      return schedule.cron;
    default:
      throw new CronSyntaxError(`Unknown cron schedule ${JSON.stringify(schedule)}`);
  }
}

/** The period of an `interval` schedule: `crons.interval` stores one of seconds, minutes or hours. */
export function intervalMs(schedule: CronSchedule & { type: "interval" }): number {
  const { seconds, minutes, hours } = schedule as { seconds?: number; minutes?: number; hours?: number };
  const ms = ((seconds ?? 0) + (minutes ?? 0) * 60 + (hours ?? 0) * 3600) * 1000;
  if (!(ms > 0) || !Number.isFinite(ms)) throw new CronSyntaxError(`Invalid interval ${JSON.stringify(schedule)}`);
  return ms;
}

/**
 * The next run of `schedule` strictly after `afterMs`. Intervals run every `seconds` from
 * `afterMs` (the previous run, or the push that registered the cron); the others at the next
 * matching UTC minute. A `monthly` day beyond a month's length skips that month, as cron does.
 */
export function nextScheduleTime(schedule: CronSchedule, afterMs: number): number {
  if (schedule.type === "interval") return afterMs + intervalMs(schedule);
  return nextCronTime(scheduleCronExpression(schedule)!, afterMs);
}
