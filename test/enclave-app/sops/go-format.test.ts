/**
 * Go's text forms, checked against outputs documented in reference/sops-format.md and Go's
 * strconv/time documentation (independent of this code): these bytes are what sops encrypts,
 * hashes and prints.
 */
import { describe, expect, it } from 'vitest';
import {
  goAtoi,
  goFormatFloatF,
  goFormatFloatJson,
  goFormatFloatValToString,
  goFormatFloatYaml,
  goFormatRfc3339,
  goFormatRfc3339Nano,
  goParseBool,
  goParseFloat,
  goParseIntBase0,
  goParseRfc3339,
  isYamlTimestamp,
} from '../../../enclave-app/sops/go-format.js';
import { resolvePlain, v3NeedsQuoting } from '../../../enclave-app/sops/stores/yaml-resolve.js';

describe("strconv.FormatFloat(f, 'f', -1, 64) — the float bytes sops encrypts and hashes", () => {
  it.each([
    [1e21, '1000000000000000000000'],
    [0.1, '0.1'],
    [25.4, '25.4'],
    [1234568000, '1234568000'],
    [7, '7'],
    [-0, '-0'],
    [0, '0'],
    [1e-7, '0.0000001'],
    [-1.5, '-1.5'],
    [123456789.125, '123456789.125'],
    [NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
  ])('%d → %s', (n, s) => {
    expect(goFormatFloatF(n)).toBe(s);
  });

  it('the smallest subnormal prints all its digits', () => {
    expect(goFormatFloatF(5e-324)).toBe('0.' + '0'.repeat(323) + '5');
  });
});

describe("go-yaml's float text (FormatFloat 'g' -1)", () => {
  it.each([
    [1e6, '1e+06'],
    [1234568000, '1.234568e+09'],
    [123456, '123456'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [3.14, '3.14'],
    [1e100, '1e+100'],
    [Infinity, '.inf'],
    [-Infinity, '-.inf'],
    [NaN, '.nan'],
  ])('%d → %s', (n, s) => {
    expect(goFormatFloatYaml(n)).toBe(s);
  });
});

describe('encoding/json float text', () => {
  it.each([
    [1e21, '1e+21'],
    [1e20, '100000000000000000000'],
    [1e-7, '1e-7'],
    [0.000001, '0.000001'],
    [25.4, '25.4'],
    [-0, '-0'],
  ])('%d → %s', (n, s) => {
    expect(goFormatFloatJson(n)).toBe(s);
  });
  it('has no text for NaN or infinities', () => {
    expect(goFormatFloatJson(NaN)).toBeUndefined();
    expect(goFormatFloatJson(Infinity)).toBeUndefined();
  });
});

describe("dotenv/INI ValueToString ('G' plus '.0')", () => {
  it.each([
    [5, '5.0'],
    [2.5, '2.5'],
    [1e6, '1E+06'],
    [0.00001, '1E-05'],
  ])('%d → %s', (n, s) => {
    expect(goFormatFloatValToString(n)).toBe(s);
  });
});

describe('parsers', () => {
  it('strconv.ParseBool accepts exactly Go’s spellings', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(goParseBool(t)).toBe(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(goParseBool(f)).toBe(false);
    for (const x of ['yes', 'on', 'tRUE', ' true', '']) expect(goParseBool(x)).toBeUndefined();
  });

  it('strconv.Atoi: int64 range, decimal only', () => {
    expect(goAtoi('-9223372036854775808')).toBe(-(2n ** 63n));
    expect(goAtoi('9223372036854775807')).toBe(2n ** 63n - 1n);
    expect(goAtoi('9223372036854775808')).toBeUndefined();
    expect(goAtoi('+7')).toBe(7n);
    for (const x of ['0x10', '1_000', '1.0', '', ' 1']) expect(goAtoi(x)).toBeUndefined();
  });

  it('strconv.ParseInt(s, 0, 64): prefixes and YAML 1.1 octal', () => {
    expect(goParseIntBase0('0755')).toEqual({ value: 493n, unsigned: false });
    expect(goParseIntBase0('0x1F')?.value).toBe(31n);
    expect(goParseIntBase0('0o17')?.value).toBe(15n);
    expect(goParseIntBase0('-0b101')?.value).toBe(-5n);
    expect(goParseIntBase0('18446744073709551615')).toEqual({ value: 2n ** 64n - 1n, unsigned: true });
    expect(goParseIntBase0('08')).toBeUndefined();
  });

  it('strconv.ParseFloat: decimal, hex, inf/nan; out of range is an error', () => {
    expect(goParseFloat('1.5e3')).toBe(1500);
    expect(goParseFloat('.5')).toBe(0.5);
    expect(goParseFloat('0x1p-2')).toBe(0.25);
    expect(goParseFloat('+Inf')).toBe(Infinity);
    expect(goParseFloat('-infinity')).toBe(-Infinity);
    expect(goParseFloat('NaN')).toBeNaN();
    expect(goParseFloat('1e400')).toBeUndefined();
    expect(goParseFloat('1_0')).toBeUndefined();
    expect(goParseFloat('')).toBeUndefined();
  });

  it('RFC 3339 → the MAC AAD form: fraction dropped, zero offset printed as Z, other offsets kept', () => {
    const t = goParseRfc3339('2024-01-01T10:00:00.5+00:00');
    expect(t && goFormatRfc3339(t)).toBe('2024-01-01T10:00:00Z');
    const u = goParseRfc3339('2019-12-10T22:45:53+01:30');
    expect(u && goFormatRfc3339(u)).toBe('2019-12-10T22:45:53+01:30');
    const v = goParseRfc3339('2024-02-29T23:59:59.120000Z');
    expect(v && goFormatRfc3339Nano(v)).toBe('2024-02-29T23:59:59.12Z');
    for (const bad of ['2023-02-29T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01 10:00:00Z', '2024-1-01T10:00:00Z', '2024-01-01T10:00:00z']) {
      expect(goParseRfc3339(bad)).toBeUndefined();
    }
  });
});

describe("go-yaml v3's implicit typing (resolve.go)", () => {
  it.each([
    ['7', 'int'],
    ['0755', 'int'],
    ['1_000', 'int'],
    ['08', 'float'],
    ['1e3', 'float'],
    ['.5', 'float'],
    ['-.inf', 'float'],
    ['true', 'bool'],
    ['False', 'bool'],
    ['yes', 'str'],
    ['on', 'str'],
    ['~', 'null'],
    ['', 'null'],
    ['NULL', 'null'],
    ['2024-01-01', 'timestamp'],
    ['2001-12-14t21:59:43.10-05:00', 'timestamp'],
    ['2001-12-14 21:59:43.10 -5', 'str'],
    ['<<', 'str'],
    ['+Inf', 'str'],
    ['1e400', 'str'],
    ['3.10.2', 'str'],
    ['ENC[AES256_GCM,data:x]', 'str'],
  ])('%j is %s', (s, tag) => {
    expect(resolvePlain(s).tag).toBe(tag);
  });

  it('quotes what would read back differently, including YAML 1.1 booleans and base-60 floats', () => {
    for (const s of ['123', 'true', '', 'null', '2024-01-01', 'n', 'Yes', 'off', '1:20', '0x1F']) expect(v3NeedsQuoting(s)).toBe(true);
    for (const s of ['hello', 'ENC[AES256_GCM,data:x]', '3.10.2', '_unencrypted', '^(data|stringData)$']) expect(v3NeedsQuoting(s)).toBe(false);
  });

  it('recognises only real dates as timestamps', () => {
    expect(isYamlTimestamp('2023-02-29')).toBe(false);
    expect(isYamlTimestamp('2024-2-29')).toBe(true);
  });
});
