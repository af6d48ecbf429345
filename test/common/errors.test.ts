import { describe, expect, it } from 'vitest';
import {
  AttestedPackError,
  EXIT_CODES,
  InternalError,
  UsageError,
  isAttestedPackError,
  toAttestedPackError,
} from '../../common/errors.js';
import { bytesEqual, fromHex, normalizeHex, toHex, zeroize } from '../../common/bytes.js';
import { reportError } from '../../common/cli-output.js';

class DemoError extends AttestedPackError {}

describe('error hierarchy', () => {
  it('keeps code, hint and category, and maps categories to exit codes', () => {
    const e = new DemoError('DEMO_BAD', 'the demo is bad', { hint: 'fix the demo' });
    expect(e.code).toBe('DEMO_BAD');
    expect(e.name).toBe('DemoError');
    expect(e.category).toBe('rejected');
    expect(e.exitCode).toBe(1);
    expect(new UsageError('x').exitCode).toBe(2);
    expect(new DemoError('X', 'y', { category: 'unavailable' }).exitCode).toBe(3);
    expect(new InternalError('z').exitCode).toBe(4);
    expect(EXIT_CODES.ok).toBe(0);
    expect(e.toJSON()).toEqual({ code: 'DEMO_BAD', message: 'the demo is bad', hint: 'fix the demo' });
  });

  it('wraps foreign errors as INTERNAL without copying their message', () => {
    const wrapped = toAttestedPackError(new Error('secret=hunter2'));
    expect(wrapped.code).toBe('INTERNAL');
    expect(wrapped.message).not.toContain('hunter2');
    expect(isAttestedPackError(wrapped)).toBe(true);
    expect(isAttestedPackError(new Error('plain'))).toBe(false);
  });

  it('prints one line of cause and one of hint, or JSON', () => {
    let out = '';
    let err = '';
    const io = { stdout: (t: string) => (out += t), stderr: (t: string) => (err += t), isTty: false };
    expect(reportError(new DemoError('DEMO_BAD', 'bad', { hint: 'do x' }), false, io)).toBe(1);
    expect(err).toBe('error [DEMO_BAD]: bad\nhint: do x\n');
    expect(reportError(new UsageError('no file'), true, io)).toBe(2);
    expect(JSON.parse(out)).toEqual({ ok: false, error: { code: 'USAGE', message: 'no file' } });
  });
});

describe('byte helpers', () => {
  it('hex round-trips and rejects malformed hex', () => {
    expect(toHex(fromHex('00ffA0')!)).toBe('00ffa0');
    expect(fromHex('abc')).toBeUndefined();
    expect(fromHex('zz')).toBeUndefined();
    expect(normalizeHex(' 0xABcd ')).toBe('abcd');
  });
  it('compares and zeroes', () => {
    const a = new Uint8Array([1, 2, 3]);
    expect(bytesEqual(a, new Uint8Array([1, 2, 3]))).toBe(true);
    expect(bytesEqual(a, new Uint8Array([1, 2, 4]))).toBe(false);
    expect(bytesEqual(a, new Uint8Array([1, 2]))).toBe(false);
    zeroize(a, undefined);
    expect([...a]).toEqual([0, 0, 0]);
  });
});
