import { describe, expect, it } from "vitest";
import { CronSyntaxError, nextCronTime, nextScheduleTime, parseCron } from "./cron.js";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe("parseCron", () => {
  it("parses lists, ranges, steps and names", () => {
    const fields = parseCron("*/15 9-17/4 1,15 jan-mar MON-FRI");
    expect([...fields.minutes]).toEqual([0, 15, 30, 45]);
    expect([...fields.hours]).toEqual([9, 13, 17]);
    expect([...fields.daysOfMonth]).toEqual([1, 15]);
    expect([...fields.months]).toEqual([1, 2, 3]);
    expect([...fields.daysOfWeek]).toEqual([1, 2, 3, 4, 5]);
    expect(parseCron("0 0 * * 7").daysOfWeek).toEqual(new Set([0]));
    expect([...parseCron("5/20 * * * *").minutes]).toEqual([5, 25, 45]);
  });

  it("rejects malformed expressions", () => {
    for (const bad of ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *", "5-1 * * * *", "a * * * *"]) {
      expect(() => parseCron(bad), bad).toThrow(CronSyntaxError);
    }
    expect(() => nextCronTime("0 0 30 2 *", 0)).toThrow(/never matches/);
  });
});

describe("nextCronTime", () => {
  it("is strictly after the given time, on a whole minute", () => {
    expect(iso(nextCronTime("* * * * *", at("2024-01-01T00:00:00Z")))).toBe("2024-01-01T00:01:00.000Z");
    expect(iso(nextCronTime("* * * * *", at("2024-01-01T00:00:30.5Z")))).toBe("2024-01-01T00:01:00.000Z");
    expect(iso(nextCronTime("30 * * * *", at("2024-01-01T00:30:00Z")))).toBe("2024-01-01T01:30:00.000Z");
  });

  it("rolls over hours, days, months and years", () => {
    expect(iso(nextCronTime("0 0 * * *", at("2024-12-31T23:59:00Z")))).toBe("2025-01-01T00:00:00.000Z");
    expect(iso(nextCronTime("15 10 1 * *", at("2024-01-31T12:00:00Z")))).toBe("2024-02-01T10:15:00.000Z");
    expect(iso(nextCronTime("0 12 * 6 *", at("2024-07-01T00:00:00Z")))).toBe("2025-06-01T12:00:00.000Z");
  });

  it("handles month lengths and leap years", () => {
    expect(iso(nextCronTime("0 0 31 * *", at("2024-01-31T00:00:00Z")))).toBe("2024-03-31T00:00:00.000Z");
    expect(iso(nextCronTime("0 0 30 * *", at("2024-01-30T00:00:00Z")))).toBe("2024-03-30T00:00:00.000Z");
    expect(iso(nextCronTime("0 0 29 2 *", at("2024-03-01T00:00:00Z")))).toBe("2028-02-29T00:00:00.000Z");
  });

  it("ORs day-of-month and day-of-week when both are restricted", () => {
    // 2024-01-02 is a Tuesday; the next Friday is the 5th, the 10th comes later.
    expect(iso(nextCronTime("0 0 10 * 5", at("2024-01-02T00:00:00Z")))).toBe("2024-01-05T00:00:00.000Z");
    expect(iso(nextCronTime("0 0 10 * 5", at("2024-01-05T00:00:00Z")))).toBe("2024-01-10T00:00:00.000Z");
    // With a `*` day-of-month only the weekday counts.
    expect(iso(nextCronTime("0 0 * * sun", at("2024-01-02T00:00:00Z")))).toBe("2024-01-07T00:00:00.000Z");
  });
});

describe("nextScheduleTime", () => {
  const from = at("2024-01-31T10:20:00Z"); // a Wednesday

  it("interval: seconds, minutes or hours after the given time", () => {
    expect(nextScheduleTime({ type: "interval", seconds: 30 }, from)).toBe(from + 30_000);
    expect(nextScheduleTime({ type: "interval", minutes: 2 } as never, from)).toBe(from + 120_000);
    expect(nextScheduleTime({ type: "interval", hours: 1 } as never, from)).toBe(from + 3_600_000);
    expect(() => nextScheduleTime({ type: "interval" } as never, from)).toThrow(CronSyntaxError);
  });

  it("hourly", () => {
    expect(iso(nextScheduleTime({ type: "hourly", minuteUTC: 45 }, from))).toBe("2024-01-31T10:45:00.000Z");
    expect(iso(nextScheduleTime({ type: "hourly", minuteUTC: 20 }, from))).toBe("2024-01-31T11:20:00.000Z");
  });

  it("daily", () => {
    expect(iso(nextScheduleTime({ type: "daily", hourUTC: 10, minuteUTC: 21 }, from))).toBe("2024-01-31T10:21:00.000Z");
    expect(iso(nextScheduleTime({ type: "daily", hourUTC: 9, minuteUTC: 0 }, from))).toBe("2024-02-01T09:00:00.000Z");
  });

  it("weekly, with Convex's day names", () => {
    const schedule = { type: "weekly", dayOfWeek: "monday", hourUTC: 8, minuteUTC: 0 } as never;
    expect(iso(nextScheduleTime(schedule, from))).toBe("2024-02-05T08:00:00.000Z");
    expect(iso(nextScheduleTime({ type: "weekly", dayOfWeek: 3, hourUTC: 10, minuteUTC: 20 }, from))).toBe("2024-02-07T10:20:00.000Z");
  });

  it("monthly, skipping months that are too short", () => {
    expect(iso(nextScheduleTime({ type: "monthly", day: 31, hourUTC: 0, minuteUTC: 0 }, from))).toBe("2024-03-31T00:00:00.000Z");
    expect(iso(nextScheduleTime({ type: "monthly", day: 1, hourUTC: 0, minuteUTC: 0 }, from))).toBe("2024-02-01T00:00:00.000Z");
    expect(iso(nextScheduleTime({ type: "monthly", day: 29, hourUTC: 0, minuteUTC: 0 }, at("2023-01-30T00:00:00Z")))).toBe(
      "2023-03-29T00:00:00.000Z",
    );
  });

  it("cron", () => {
    expect(iso(nextScheduleTime({ type: "cron", cron: "0 */6 * * *" }, from))).toBe("2024-01-31T12:00:00.000Z");
  });
});
