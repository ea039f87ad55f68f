import type { BusinessHours, Weekday } from './gateway-config.js';

const WEEKDAY_BY_SHORT_NAME: Record<string, Weekday> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

/** Weekday and "HH:MM" wall-clock time of `at` in `timeZone` (IANA name). */
export function wallClock(at: Date, timeZone: string): { day: Weekday; time: string } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = WEEKDAY_BY_SHORT_NAME[get('weekday')];
  if (!day) throw new Error(`cannot read the weekday in ${timeZone}`);
  return { day, time: `${get('hour')}:${get('minute')}` };
}

/**
 * Whether `at` falls in one of the opening windows, read in the hours' own time zone (so
 * daylight-saving changes follow the business's clock). Windows are `[from, to)`.
 */
export function isWithinBusinessHours(hours: BusinessHours, at: Date): boolean {
  const { day, time } = wallClock(at, hours.timezone);
  return hours.open.some((w) => w.days.includes(day) && time >= w.from && time < w.to);
}
