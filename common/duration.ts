/**
 * Durations for every `--max-age` (`attestation verify`, `verify-receipt`): compact forms
 * (`30s`, `15m`, `1h`, `7d`, also combined as `1h30m`), ISO-8601 durations (`PT1H`, `P7D`,
 * `P1DT12H`, `PT0.5S`), and a bare whole number meaning seconds (`60`; a misread unit can only
 * make the limit stricter). Years and months are refused because their length depends on the
 * calendar, which a freshness limit must not.
 */
import { UsageError } from './errors.js';

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
});

const COMPACT = /^(?:\d+(?:ms|s|m|h|d|w))+$/;
const COMPACT_PART = /(\d+)(ms|s|m|h|d|w)/g;
const ISO = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/;

/** The forms a duration flag accepts, for help texts. */
export const DURATION_FORMS = '30s, 15m, 1h, 7d, PT1H; a bare number is seconds';

/** Parses a duration flag value into milliseconds, or throws a UsageError naming the flag. */
export function parseDuration(value: string, flag = '--max-age'): number {
  const text = value.trim();
  const fail = (why: string): never => {
    throw new UsageError(`${flag} ${JSON.stringify(value)} is not a duration: ${why}`, {
      hint: 'use e.g. 30s, 15m, 1h, 7d, 1h30m, ISO-8601 PT1H, P7D, or a number of seconds',
    });
  };
  let ms = 0;
  if (/^\d+$/.test(text)) {
    ms = Number(text) * UNIT_MS.s!;
  } else if (COMPACT.test(text)) {
    for (const m of text.matchAll(COMPACT_PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  } else if (/^P/i.test(text)) {
    const upper = text.toUpperCase();
    const datePart = upper.slice(1).split('T')[0] ?? '';
    if (/[YM]/.test(datePart)) fail('years and months have no fixed length; use days (e.g. P30D)');
    const m = ISO.exec(upper);
    if (!m || upper === 'P' || upper.endsWith('T')) fail('not an ISO-8601 duration of weeks, days, hours, minutes and seconds');
    const [, w, d, h, min, s] = m!;
    ms =
      Number(w ?? 0) * UNIT_MS.w! +
      Number(d ?? 0) * UNIT_MS.d! +
      Number(h ?? 0) * UNIT_MS.h! +
      Number(min ?? 0) * UNIT_MS.m! +
      Math.round(Number((s ?? '0').replace(',', '.')) * 1000);
  } else {
    fail('unknown format');
  }
  if (!Number.isSafeInteger(ms)) fail('too large');
  if (ms <= 0) fail('must be longer than zero');
  return ms;
}

/** Formats a millisecond span for people, largest units first (e.g. `3d 4h 12m`, `850ms`). */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms));
  if (rest < 1000) return `${sign}${rest}ms`;
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
    if (parts.length === 3) break;
  }
  return sign + parts.join(' ');
}
