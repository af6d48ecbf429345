/**
 * Property tests (fast-check, fixed seeds): random ordered trees — every leaf type, unicode and
 * integer-like keys, comments, nested lists — survive encrypt → decrypt unchanged and in order,
 * under every rule; and a single changed byte in any ENC value, the MAC or lastmodified is caught.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  SopsBytes,
  SopsComment,
  SopsFloat,
  SopsInt,
  SopsMap,
  SopsTime,
  decryptSopsWithDataKey,
  encryptSops,
  goFormatFloatF,
  isSopsError,
  type CryptRule,
  type SopsFormat,
  type SopsValue,
} from '../../../enclave-app/sops/index.js';

const DATA_KEY = Buffer.alloc(32, 0x42);
const RECIPIENT = { type: 'age' as const, recipient: 'age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29', enc: '-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n' };

/** A canonical, order-preserving view of a tree (floats by Go text so -0 and NaN compare exactly). */
function canon(v: SopsValue): unknown {
  if (v instanceof SopsMap) return ['map', v.entries.map((e) => (e instanceof SopsComment ? ['#', e.text] : [e.key, canon(e.value)]))];
  if (Array.isArray(v)) return ['seq', v.map(canon)];
  if (v instanceof SopsInt) return ['int', v.value.toString()];
  if (v instanceof SopsFloat) return ['float', goFormatFloatF(v.value)];
  if (v instanceof SopsBytes) return ['bytes', v.type, Buffer.from(v.bytes).toString('hex')];
  if (v instanceof SopsTime) return ['time', v.text];
  if (v instanceof SopsComment) return ['#', v.text];
  return v;
}

const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const key = fc.oneof(
  text,
  fc.nat({ max: 100000 }).map(String), // integer-like keys: JS objects would reorder these
  fc.constantFrom('0', '10', '9', 'a_unencrypted', 'pub_x', 'sec_y', 'k_enc', 'sops_x', '<<', 'true', '- x', '#', ''),
);

/** Leaves whose YAML/JSON text form reads back as the same type (also when left unencrypted). */
function leaf(format: SopsFormat): fc.Arbitrary<SopsValue> {
  const floats = fc
    .double({ noDefaultInfinity: format === 'json', noNaN: format === 'json' })
    .filter((d) => !Number.isInteger(d))
    .map((d) => new SopsFloat(d));
  return fc.oneof(
    { weight: 4, arbitrary: text },
    { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b) => new SopsInt(b)) },
    { weight: 1, arbitrary: floats },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.constant(null) },
  );
}

/** Maps and lists; comments only where there is an item to hang them on, never first in a list item map. */
function tree(format: SopsFormat, withComments: boolean): fc.Arbitrary<SopsMap> {
  // Non-empty: sops stores an empty comment as "" (in a list that is an empty string item), and a
  // clear "# " reads back as "" through the yaml package; both are documented limits, not tested here.
  const comment = withComments
    ? text.filter((t) => t !== '' && t !== ' ').map((t) => new SopsComment(t.replace(/[\r\n\u0085\u2028\u2029]/g, '_')))
    : fc.constant(undefined);
  const { node } = fc.letrec<{ node: SopsValue; map: SopsMap; seq: SopsValue[] }>((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf(format), tie('map'), tie('seq')),
    map: fc
      .tuple(
        fc.uniqueArray(fc.tuple(key, tie('node')), { selector: (e) => e[0], minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(5), comment), { maxLength: withComments ? 3 : 0 }),
      )
      .map(([items, comments]) => {
        const entries: Array<{ key: string; value: SopsValue } | SopsComment> = items.map(([k, value]) => ({ key: k, value }));
        for (const [at, c] of comments) if (c) entries.splice(1 + (at % entries.length), 0, c);
        return new SopsMap(entries);
      }),
    seq: fc
      .tuple(fc.array(tie('node'), { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(5), comment), { maxLength: withComments ? 2 : 0 }))
      .map(([items, comments]) => {
        const out = [...items];
        for (const [at, c] of comments) if (c) out.splice(at % (out.length + 1), 0, c);
        return out;
      }),
  }));
  return fc
    .uniqueArray(fc.tuple(key.filter((k) => k !== 'sops' && !k.startsWith('sops_')), node), { selector: (e) => e[0], minLength: 1, maxLength: 6 })
    .chain((items) =>
      fc.array(fc.tuple(fc.nat(6), comment), { maxLength: withComments ? 3 : 0 }).map((comments) => {
        const entries: Array<{ key: string; value: SopsValue } | SopsComment> = items.map(([k, value]) => ({ key: k, value }));
        for (const [at, c] of comments) if (c) entries.splice(at % (entries.length + 1), 0, c);
        return new SopsMap(entries);
      }),
    );
}

const rules: fc.Arbitrary<CryptRule | undefined> = fc.constantFrom<CryptRule | undefined>(
  undefined,
  { kind: 'encrypted_suffix', value: '_enc' },
  { kind: 'unencrypted_regex', value: '^pub' },
  { kind: 'encrypted_regex', value: '^(sec|[0-9])' },
);

/** Encrypted-only leaves (types no store produces on load): time, bytes, any float. */
const exotic = fc.oneof(
  // Go MarshalText form: fractional seconds without trailing zeros.
  fc
    .date({ min: new Date(0), max: new Date(Date.UTC(9999, 0)), noInvalidDate: true })
    .map((d) => new SopsTime(d.toISOString().replace(/(\.\d*?)0+Z$/, '$1Z').replace(/\.Z$/, 'Z'))),
  fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => new SopsBytes(b, 'bytes')),
  fc.double().map((d) => new SopsFloat(d)),
);

async function roundTrip(branches: SopsMap[], format: SopsFormat, rule: CryptRule | undefined, macOnlyEncrypted: boolean): Promise<SopsMap[]> {
  const file = await encryptSops(branches, { format, keyGroups: [[RECIPIENT]], dataKey: DATA_KEY, ...(rule ? { rule } : {}), macOnlyEncrypted });
  const out = decryptSopsWithDataKey(file, format, DATA_KEY).branches;
  // node:crypto (the backend where the addon is not built) reads every file the same way, in both value readings.
  expect(decryptSopsWithDataKey(file, format, DATA_KEY, { aesGcm: 'node' }).branches.map(canon)).toEqual(out.map(canon));
  const asText = (aesGcm: 'auto' | 'node') => decryptSopsWithDataKey(file, format, DATA_KEY, { aesGcm, values: 'text' }).branches.map(canon);
  expect(asText('node')).toEqual(asText('auto'));
  return out;
}

describe('property: encrypt → decrypt preserves the tree and its order', () => {
  it('YAML, with comments, all rules, mac_only_encrypted on and off', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tree('yaml', true), { minLength: 1, maxLength: 2 }), rules, fc.boolean(), async (branches, rule, macOnly) => {
        const out = await roundTrip(branches, 'yaml', rule, macOnly);
        expect(out.map(canon)).toEqual(branches.map(canon));
      }),
      { seed: 42, numRuns: 80 },
    );
  });

  it('JSON (comments are not part of JSON)', async () => {
    await fc.assert(
      fc.asyncProperty(tree('json', false), rules, async (t, rule) => {
        const out = await roundTrip([t], 'json', rule, false);
        expect(canon(out[0])).toEqual(canon(t));
      }),
      { seed: 42, numRuns: 80 },
    );
  });

  it('encrypted-only leaf types (time, bytes, every float incl. NaN, ±Inf, -0) in YAML and JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(text.filter((k) => k !== 'sops'), exotic), { selector: (e) => e[0], minLength: 1, maxLength: 5 }), async (items) => {
        const t = new SopsMap(items.map(([k, value]) => ({ key: k + 'x', value })));
        for (const format of ['yaml', 'json'] as const) {
          const out = await roundTrip([t], format, undefined, false);
          expect(canon(out[0])).toEqual(canon(t));
        }
      }),
      { seed: 7, numRuns: 60 },
    );
  });

  it('dotenv (flat strings; keys without = or a leading #)', async () => {
    const k = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).filter((s) => !s.includes('=') && !s.includes('\n') && s[0] !== '#' && !s.startsWith('sops_'));
    const v = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\\n') && !s.includes('\r'));
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(k, v), { selector: (e) => e[0], minLength: 1, maxLength: 6 }), async (items) => {
        const t = new SopsMap(items.map(([key, value]) => ({ key, value })));
        const out = await roundTrip([t], 'dotenv', undefined, false);
        expect(canon(out[0])).toEqual(canon(t));
      }),
      { seed: 42, numRuns: 80 },
    );
  });
});

/** Replaces the character at `pos` with a different one from a set that keeps most edits parseable. */
function flip(s: string, pos: number, pick: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=,:[]';
  let c = alphabet[pick % alphabet.length];
  if (c === s[pos]) c = alphabet[(pick + 1) % alphabet.length];
  return s.slice(0, pos) + c + s.slice(pos + 1);
}

async function encryptedYaml(t: SopsMap): Promise<string> {
  return Buffer.from(await encryptSops([t], { format: 'yaml', keyGroups: [[RECIPIENT]], dataKey: DATA_KEY })).toString('utf8');
}

/** Whether decryption fails with a SopsError — the same one (code and message) with either AES-GCM backend. */
function decryptFails(file: string): boolean {
  const attempt = (aesGcm: 'auto' | 'node'): string => {
    try {
      decryptSopsWithDataKey(Buffer.from(file), 'yaml', DATA_KEY, { aesGcm });
      return 'ok';
    } catch (err) {
      if (!isSopsError(err)) throw err;
      return `${err.code}: ${err.message}`;
    }
  };
  const answer = attempt('auto');
  expect(attempt('node')).toBe(answer);
  return answer !== 'ok';
}

describe('property: tampering is detected', () => {
  it('changing any single character of any encrypted value fails decryption', async () => {
    await fc.assert(
      fc.asyncProperty(tree('yaml', false), fc.nat(), fc.nat(), fc.nat(), async (t, which, where, pick) => {
        const file = await encryptedYaml(t);
        const values = [...file.matchAll(/^(?![ ]*#).*?(ENC\[AES256_GCM,[^\]\n]*\])/gm)]
          .map((m) => ({ start: (m.index as number) + m[0].length - m[1].length, len: m[1].length }))
          .filter((v) => !file.slice(v.start - 5, v.start).includes('mac: '));
        fc.pre(values.length > 0);
        const v = values[which % values.length];
        expect(decryptFails(flip(file, v.start + (where % v.len), pick))).toBe(true);
      }),
      { seed: 42, numRuns: 80 },
    );
  });

  it('changing any single character of the MAC fails (SOPS_MAC_MISMATCH when the YAML still parses)', async () => {
    await fc.assert(
      fc.asyncProperty(tree('yaml', false), fc.nat(), fc.nat(), async (t, where, pick) => {
        const file = await encryptedYaml(t);
        const m = /mac: (ENC\[[^\n]*\])/.exec(file) as RegExpExecArray;
        const start = m.index + 5;
        const tampered = flip(file, start + (where % m[1].length), pick);
        try {
          decryptSopsWithDataKey(Buffer.from(tampered), 'yaml', DATA_KEY);
          expect.unreachable('tampered MAC accepted');
        } catch (err) {
          // Mostly MAC_MISMATCH; a YAML-significant character at the start of the value can make the
          // metadata itself unreadable instead, which is rejected too.
          expect(isSopsError(err) && ['SOPS_MAC_MISMATCH', 'SOPS_PARSE_ERROR', 'SOPS_BAD_METADATA'].includes(err.code)).toBe(true);
          if (/^[A-Za-z0-9+/=]$/.test(tampered[start + (where % m[1].length)]) && where % m[1].length > 0) {
            expect(isSopsError(err, 'SOPS_MAC_MISMATCH')).toBe(true);
          }
        }
      }),
      { seed: 42, numRuns: 80 },
    );
  });

  it('changing lastmodified fails (the MAC is bound to it)', async () => {
    await fc.assert(
      fc.asyncProperty(tree('yaml', false), fc.integer({ min: 1, max: 10 ** 9 }), async (t, delta) => {
        const file = await encryptedYaml(t);
        const m = /lastmodified: "([^"]+)"/.exec(file) as RegExpExecArray;
        const moved = new Date(Date.parse(m[1]) + delta * 1000).toISOString().replace('.000Z', 'Z');
        const tampered = file.replace(m[0], `lastmodified: "${moved}"`);
        expect(() => decryptSopsWithDataKey(Buffer.from(tampered), 'yaml', DATA_KEY)).toThrow(expect.objectContaining({ code: 'SOPS_MAC_MISMATCH' }));
      }),
      { seed: 42, numRuns: 80 },
    );
  });

  it('renaming the key of an encrypted value fails (the path is the AAD)', async () => {
    const file = await encryptedYaml(new SopsMap([{ key: 'password', value: 'hunter2' }, { key: 'user', value: 'eve' }]));
    const swapped = file.replace('password:', 'passwore:');
    expect(() => decryptSopsWithDataKey(Buffer.from(swapped), 'yaml', DATA_KEY)).toThrow(expect.objectContaining({ code: 'SOPS_BAD_VALUE' }));
  });

  it('moving values between keys fails even with the MAC intact', async () => {
    const file = await encryptedYaml(new SopsMap([{ key: 'a', value: 'one' }, { key: 'b', value: 'two' }]));
    const a = /\na: (ENC\[[^\n]*)/.exec('\n' + file) as RegExpExecArray;
    const b = /\nb: (ENC\[[^\n]*)/.exec(file) as RegExpExecArray;
    const swapped = file.replace(a[1], 'X').replace(b[1], a[1]).replace('a: X', `a: ${b[1]}`);
    expect(() => decryptSopsWithDataKey(Buffer.from(swapped), 'yaml', DATA_KEY)).toThrow(expect.objectContaining({ code: 'SOPS_BAD_VALUE' }));
  });

  it('encrypted comments are outside the MAC (as in sops): a tampered one is kept undecrypted, values still verify', async () => {
    const t = new SopsMap([new SopsComment(' note'), { key: 'a', value: 'one' }]);
    const file = await encryptedYaml(t);
    const m = /#(ENC\[AES256_GCM,data:)([A-Za-z0-9+/])/.exec(file) as RegExpExecArray;
    const tampered = file.replace(m[0], '#' + m[1] + (m[2] === 'A' ? 'B' : 'A'));
    const out = decryptSopsWithDataKey(Buffer.from(tampered), 'yaml', DATA_KEY).branches[0];
    expect(out.entries[0]).toBeInstanceOf(SopsComment);
    expect((out.entries[0] as SopsComment).text.startsWith('ENC[AES256_GCM,')).toBe(true);
    expect(out.get('a')).toBe('one');
  });
});
