import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../common/duration.js';
import { UsageError } from '../../common/errors.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2w', 1_209_600_000],
    ['PT1H', 3_600_000],
    ['pt15m', 900_000],
    ['P7D', 604_800_000],
    ['P1DT12H', 129_600_000],
    ['PT0.5S', 500],
    ['PT1H30M10S', 5_410_000],
    ['P2W', 1_209_600_000],
    ['60', 60_000],
    ['1', 1000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '0', '-60', '1.5', 'h', '1x', '-1h', '1.5h', 'P', 'PT', 'P1Y', 'P1M', 'P1YT1H', '0s', 'PT0S', '1 h', 'P1H', 'T1H', '1h 30m'])(
    'rejects %j as a usage error',
    (text) => {
      expect(() => parseDuration(text)).toThrow(UsageError);
    },
  );

  it('explains why months are refused', () => {
    expect(() => parseDuration('P1M')).toThrow(/years and months/);
  });

  it('names the flag in the message', () => {
    expect(() => parseDuration('soon', '--max-age')).toThrow(/--max-age "soon"/);
  });
});

describe('formatDuration', () => {
  it.each([
    [850, '850ms'],
    [1000, '1s'],
    [3_600_000, '1h'],
    [90_061_000, '1d 1h 1m'],
    [-5000, '-5s'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
