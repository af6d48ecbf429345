/**
 * Negative paths: malformed stores, broken metadata, bad ENC strings, wrong keys, bad options.
 * Every failure is a SopsError with a stable code, and no message or detail contains plaintext.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  SopsMap,
  decryptSops,
  decryptSopsWithDataKey,
  encryptSops,
  extractValue,
  isSopsError,
  parseExtractPath,
  readSopsMetadata,
  type SopsErrorCode,
  type SopsFormat,
} from '../../../enclave-app/sops/index.js';
import { ValueCipher } from '../../../enclave-app/sops/cipher.js';
import { AGE_IDENTITIES, expected, vector } from './helpers.js';

const KEY = Buffer.alloc(32, 9);
const AGE = { type: 'age' as const, recipient: 'age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29', enc: 'x\n' };
const SECRET = 'hunter2-very-secret';

function codeOf(fn: () => unknown): SopsErrorCode | 'no error' | 'raw' {
  try {
    fn();
    return 'no error';
  } catch (err) {
    if (!isSopsError(err)) return 'raw';
    expect(JSON.stringify({ m: err.message, h: err.hint, d: err.details })).not.toContain(SECRET);
    return err.code;
  }
}

async function codeOfAsync(fn: () => Promise<unknown>): Promise<SopsErrorCode | 'no error' | 'raw'> {
  try {
    await fn();
    return 'no error';
  } catch (err) {
    if (!isSopsError(err)) return 'raw';
    expect(JSON.stringify({ m: err.message, h: err.hint, d: err.details })).not.toContain(SECRET);
    return err.code;
  }
}

async function encryptedFile(format: SopsFormat, tree?: SopsMap): Promise<string> {
  const t = tree ?? new SopsMap([{ key: 'password', value: SECRET }, { key: 'user', value: 'eve' }]);
  return Buffer.from(await encryptSops([t], { format, keyGroups: [[AGE]], dataKey: KEY })).toString('utf8');
}

const dec = (text: string, format: SopsFormat = 'yaml') => () => decryptSopsWithDataKey(Buffer.from(text), format, KEY);

describe('malformed stores → SOPS_PARSE_ERROR / SOPS_UNSUPPORTED / SOPS_NOT_SOPS_FILE', () => {
  it.each([
    ['bad indentation', 'a:\n  b: 1\n c: 2\n', 'SOPS_PARSE_ERROR'],
    ['unclosed quote', 'a: "unclosed\n', 'SOPS_PARSE_ERROR'],
    ['duplicate key', 'a: 1\na: 2\nsops: {}\n', 'SOPS_PARSE_ERROR'],
    ['tab indentation', 'a:\n\tb: 1\n', 'SOPS_PARSE_ERROR'],
    ['top-level sequence', '- a\n- b\n', 'SOPS_UNSUPPORTED'],
    ['top-level scalar', 'just text\n', 'SOPS_UNSUPPORTED'],
    ['integer key', '1: a\nsops: {}\n', 'SOPS_UNSUPPORTED'],
    ['mapping key', '? {a: 1}\n: b\n', 'SOPS_UNSUPPORTED'],
    ['uint64 value', 'a: 18446744073709551615\n', 'SOPS_UNSUPPORTED'],
    ['bad !!int', 'a: !!int abc\n', 'SOPS_PARSE_ERROR'],
    ['no sops key', 'a: 1\n', 'SOPS_NOT_SOPS_FILE'],
    ['empty file', '', 'SOPS_NOT_SOPS_FILE'],
    ['sops is not a mapping', 'a: 1\nsops: 3\n', 'SOPS_BAD_METADATA'],
  ])('YAML: %s', (_name, text, code) => {
    expect(codeOf(dec(text, 'yaml'))).toBe(code);
  });

  it('YAML parse errors carry line and column, not the offending text', () => {
    try {
      decryptSopsWithDataKey(Buffer.from(`a: 1\nb: "${SECRET}\n`), 'yaml', KEY);
      expect.unreachable();
    } catch (err) {
      expect(isSopsError(err, 'SOPS_PARSE_ERROR')).toBe(true);
      const e = err as { details?: { line?: number; col?: number }; message: string };
      expect(e.details?.line).toBeGreaterThanOrEqual(1);
      expect(e.message).not.toContain(SECRET);
    }
  });

  it('YAML alias expansion bombs are refused', () => {
    let doc = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 9; i++) doc += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    expect(codeOf(dec(doc + 'sops: {}\n'))).toBe('SOPS_PARSE_ERROR');
  });

  it.each([
    ['trailing comma', '{"a": 1,}', 'SOPS_PARSE_ERROR'],
    ['unterminated string', '{"a": "x', 'SOPS_PARSE_ERROR'],
    ['control character in a string', '{"a": "x\u0001"}', 'SOPS_PARSE_ERROR'],
    ['bad escape', '{"a": "\\q"}', 'SOPS_PARSE_ERROR'],
    ['bad \\u escape', '{"a": "\\u12G4"}', 'SOPS_PARSE_ERROR'],
    ['single quotes', "{'a': 1}", 'SOPS_PARSE_ERROR'],
    ['comment', '{"a": 1 // c\n}', 'SOPS_PARSE_ERROR'],
    ['leading zero', '{"a": 01}', 'SOPS_PARSE_ERROR'],
    ['number out of range', '{"a": 1e400}', 'SOPS_PARSE_ERROR'],
    ['trailing data', '{"a": 1} {}', 'SOPS_PARSE_ERROR'],
    ['top-level array', '[1, 2]', 'SOPS_UNSUPPORTED'],
    ['top-level string', '"x"', 'SOPS_UNSUPPORTED'],
    ['deep nesting', '{"a": ' + '['.repeat(2000) + ']'.repeat(2000) + '}', 'SOPS_PARSE_ERROR'],
    ['no sops key', '{"a": 1}', 'SOPS_NOT_SOPS_FILE'],
    ['two sops keys', '{"sops": {}, "sops": {}}', 'SOPS_BAD_METADATA'],
    ['sops is a list', '{"sops": []}', 'SOPS_BAD_METADATA'],
  ])('JSON: %s', (_name, text, code) => {
    expect(codeOf(dec(text, 'json'))).toBe(code);
  });

  it('binary store files that are not the JSON envelope are not sops files', () => {
    expect(codeOf(dec('Welcome to SOPS', 'binary'))).toBe('SOPS_NOT_SOPS_FILE');
    expect(codeOf(dec('[1]', 'binary'))).toBe('SOPS_NOT_SOPS_FILE');
  });

  it.each([
    ['a line without =', 'a=1\nnot a pair\n', 'SOPS_PARSE_ERROR'],
    ['no sops_ keys', 'a=1\n', 'SOPS_NOT_SOPS_FILE'],
    ['sops keys without lastmodified', 'a=1\nsops_version=3.9.0\n', 'SOPS_BAD_METADATA'],
    ['non-integer shamir threshold', 'sops_shamir_threshold=two\n', 'SOPS_BAD_METADATA'],
  ])('dotenv: %s', (_name, text, code) => {
    expect(codeOf(dec(text, 'dotenv'))).toBe(code);
  });

  it('dotenv parse errors name the line', () => {
    try {
      decryptSopsWithDataKey(Buffer.from('a=1\n\nb\n'), 'dotenv', KEY);
      expect.unreachable();
    } catch (err) {
      expect((err as { details: { line: number } }).details.line).toBe(3);
    }
  });

  it.each([
    ['unclosed section', '[foo\nbar = 1\n', 'SOPS_PARSE_ERROR'],
    ['empty section name', '[]\n', 'SOPS_PARSE_ERROR'],
    ['key without =', '[foo]\nbar\n', 'SOPS_PARSE_ERROR'],
    ['duplicate key', '[foo]\na = 1\na = 2\n', 'SOPS_PARSE_ERROR'],
    ['duplicate section', '[foo]\na = 1\n[foo]\nb = 2\n', 'SOPS_PARSE_ERROR'],
    ['unclosed """', '[foo]\na = """x\ny\n', 'SOPS_PARSE_ERROR'],
    ['no [sops] section', '[foo]\na = 1\n', 'SOPS_NOT_SOPS_FILE'],
  ])('INI: %s', (_name, text, code) => {
    expect(codeOf(dec(text, 'ini'))).toBe(code);
  });

  it('invalid UTF-8 in a text store', () => {
    const bytes = Buffer.concat([Buffer.from('a: '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
    expect(codeOf(() => decryptSopsWithDataKey(bytes, 'yaml', KEY))).toBe('SOPS_PARSE_ERROR');
  });
});

describe('broken metadata → SOPS_BAD_METADATA / SOPS_NO_MAC / SOPS_UNSUPPORTED', () => {
  const base = (extra: string) => `a: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops:\n    age:\n        - recipient: age1x\n          enc: x\n${extra}`;
  it.each([
    ['missing lastmodified', base('    mac: x\n'), 'SOPS_BAD_METADATA'],
    ['lastmodified not RFC 3339', base('    lastmodified: "yesterday"\n    mac: x\n'), 'SOPS_BAD_METADATA'],
    ['lastmodified hour 24', base('    lastmodified: "2024-01-01T24:00:00Z"\n    mac: x\n'), 'SOPS_BAD_METADATA'],
    ['two rules', base('    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n    encrypted_regex: a\n    unencrypted_suffix: b\n'), 'SOPS_BAD_METADATA'],
    ['rule is a list', base('    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n    encrypted_regex: [a]\n'), 'SOPS_BAD_METADATA'],
    ['look-ahead regex', base('    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n    encrypted_regex: ^(?=a)\n'), 'SOPS_UNSUPPORTED'],
    ['backreference regex', base('    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n    unencrypted_regex: (a)\\1\n'), 'SOPS_UNSUPPORTED'],
    ['empty mac', base('    lastmodified: "2024-01-01T00:00:00Z"\n    mac: ""\n'), 'SOPS_NO_MAC'],
    ['mac_only_encrypted not a bool', base('    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n    mac_only_encrypted: maybe\n'), 'SOPS_BAD_METADATA'],
  ])('%s', (_name, text, code) => {
    expect(codeOf(dec(text))).toBe(code);
  });

  it.each([
    ['no master keys at all', 'a: 1\nsops:\n    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n'],
    ['kms created_at invalid', 'a: 1\nsops:\n    kms:\n        - arn: arn:aws:kms:us-east-1:111122223333:key/k\n          created_at: never\n          enc: AA==\n    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n'],
    ['enc is not a string', 'a: 1\nsops:\n    age:\n        - recipient: age1x\n          enc: [1]\n    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n'],
    [
      'impossible shamir threshold',
      'a: 1\nsops:\n    key_groups:\n        - age: [{recipient: a, enc: x}]\n        - age: [{recipient: b, enc: y}]\n    shamir_threshold: 5\n    lastmodified: "2024-01-01T00:00:00Z"\n    mac: x\n',
    ],
  ])('readSopsMetadata: %s', (_name, text) => {
    expect(codeOf(() => readSopsMetadata(Buffer.from(text), 'yaml'))).toBe('SOPS_BAD_METADATA');
  });
});

describe('bad ENC strings → SOPS_BAD_VALUE with the path, never the value', () => {
  async function withValue(mutate: (enc: string) => string): Promise<ReturnType<typeof codeOf> | { path: unknown }> {
    const file = await encryptedFile('yaml');
    const m = /password: (ENC\[[^\n]*\])/.exec(file) as RegExpExecArray;
    const text = file.replace(m[1], mutate(m[1]));
    try {
      decryptSopsWithDataKey(Buffer.from(text), 'yaml', KEY);
      return 'no error';
    } catch (err) {
      if (!isSopsError(err)) return 'raw';
      expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain(SECRET);
      if (err.code === 'SOPS_BAD_VALUE') return { path: err.details?.path };
      return err.code;
    }
  }

  it.each([
    ['bad base64 in data', (e: string) => e.replace('data:', 'data:!')],
    ['bad base64 in iv', (e: string) => e.replace(',iv:', ',iv:*')],
    ['bad base64 in tag', (e: string) => e.replace(',tag:', ',tag:%')],
    ['missing padding in the tag', (e: string) => e.replace(/==,type:/, ',type:')],
    ['non-canonical base64', (e: string) => e.replace(/,tag:([^,]*?)(.)==/, (_x, a: string, b: string) => `,tag:${a}${String.fromCharCode(b.charCodeAt(0) ^ 1)}==`)],
    ['12-byte IV', (e: string) => e.replace(/iv:[^,]+/, 'iv:' + Buffer.alloc(12).toString('base64'))],
    ['empty IV', (e: string) => e.replace(/iv:[^,]+/, 'iv:')],
    ['8-byte tag', (e: string) => e.replace(/tag:[^,]+/, 'tag:' + Buffer.alloc(8).toString('base64'))],
    ['unknown type', (e: string) => e.replace('type:str', 'type:blob')],
    ['wrong type (str → int)', (e: string) => e.replace('type:str', 'type:int')],
    ['wrong cipher name', (e: string) => e.replace('AES256_GCM', 'AES128_GCM')],
    ['not an ENC string at all', () => 'plain-text'],
    ['a number instead of a string', () => '42'],
    ['data of another value', (e: string) => e.replace(/data:[^,]+/, 'data:' + Buffer.from('eve').toString('base64'))],
  ])('%s', async (_name, mutate) => {
    expect(await withValue(mutate)).toEqual({ path: ['password'] });
  });

  it('a payload that does not parse as its type (authenticated, but type:int holds "abc"): the MAC answers first', () => {
    const c = new ValueCipher(KEY);
    const enc = c.seal('int', Buffer.from('abc'), 'n:', Buffer.alloc(32, 1));
    const fileWith = (macHex: string): string =>
      `n: ${enc}\nsops:\n    age:\n        - recipient: age1x\n          enc: x\n    lastmodified: "2024-01-01T00:00:00Z"\n    mac: ${c.seal('str', Buffer.from(macHex), '2024-01-01T00:00:00Z', Buffer.alloc(32, 2))}\n`;
    // A wrong MAC: the integrity answer, whatever the tag says (the tag is no oracle).
    expect(codeOf(dec(fileWith('X'.repeat(128))))).toBe('SOPS_MAC_MISMATCH');
    // The genuine MAC over the value's bytes: only then does the misfit tag surface.
    expect(codeOf(dec(fileWith(createHash('sha512').update('abc').digest('hex').toUpperCase())))).toBe('SOPS_BAD_VALUE');
  });

  it('a wrong data key fails; a right key with a wrong MAC fails with SOPS_MAC_MISMATCH', async () => {
    const file = await encryptedFile('json');
    expect(codeOf(() => decryptSopsWithDataKey(Buffer.from(file), 'json', Buffer.alloc(32, 1)))).toBe('SOPS_BAD_VALUE');
    const other = await encryptedFile('json', new SopsMap([{ key: 'password', value: 'other' }, { key: 'user', value: 'eve' }]));
    const macOf = (t: string) => (/"mac": "([^"]+)"/.exec(t) as RegExpExecArray)[1];
    const lmOf = (t: string) => (/"lastmodified": "([^"]+)"/.exec(t) as RegExpExecArray)[1];
    const franken = file.replace(macOf(file), macOf(other)).replace(lmOf(file), lmOf(other));
    expect(codeOf(() => decryptSopsWithDataKey(Buffer.from(franken), 'json', KEY))).toBe('SOPS_MAC_MISMATCH');
  });

  it('errors come in document order: the first bad value answers, whether it is tampered or malformed (both backends)', async () => {
    const t = new SopsMap(['a', 'b', 'c', 'd', 'e'].map((k) => ({ key: k, value: `${SECRET}-${k}` })));
    const file = await encryptedFile('json', t);
    const valueOf = (k: string) => (new RegExp(`"${k}": "(ENC\\[[^"]*\\])"`).exec(file) as RegExpExecArray)[1]!;
    const tamper = (text: string, k: string) => text.replace(valueOf(k), valueOf(k).replace(/data:(.)/, (_m, c: string) => `data:${c === 'A' ? 'B' : 'A'}`));
    const malform = (text: string, k: string) => text.replace(valueOf(k), valueOf(k).replace('type:str', 'type:blob'));
    const answer = (text: string, aesGcm: 'auto' | 'node') => {
      try {
        decryptSopsWithDataKey(Buffer.from(text), 'json', KEY, { aesGcm });
        return 'no error';
      } catch (err) {
        if (!isSopsError(err)) throw err;
        return `${err.code} ${JSON.stringify(err.details?.path)} ${err.message.includes('authentication') ? 'auth' : 'format'}`;
      }
    };
    for (const aesGcm of ['auto', 'node'] as const) {
      expect(answer(malform(tamper(file, 'b'), 'd'), aesGcm)).toBe('SOPS_BAD_VALUE ["b"] auth');
      expect(answer(tamper(malform(file, 'b'), 'd'), aesGcm)).toBe('SOPS_BAD_VALUE ["b"] format');
      expect(answer(tamper(file, 'e'), aesGcm)).toBe('SOPS_BAD_VALUE ["e"] auth');
      // A wrong key: the first value fails, before the malformed fourth is reached.
      expect(answer(malform(file, 'd'), aesGcm)).toBe('SOPS_BAD_VALUE ["d"] format');
      expect(
        (() => {
          try {
            decryptSopsWithDataKey(Buffer.from(malform(file, 'd')), 'json', Buffer.alloc(32, 1), { aesGcm });
            return 'no error';
          } catch (err) {
            return isSopsError(err) ? `${JSON.stringify(err.details?.path)} ${err.message.includes('authentication') ? 'auth' : 'format'}` : 'raw';
          }
        })(),
      ).toBe('["a"] auth');
    }
  });

  it('a data key of the wrong length is refused', async () => {
    const file = await encryptedFile('yaml');
    expect(codeOf(() => decryptSopsWithDataKey(Buffer.from(file), 'yaml', Buffer.alloc(16)))).toBe('SOPS_NO_KEY');
  });
});

describe('key sources → SOPS_NO_KEY listing what was tried', () => {
  const flux = 'fluxcd-kustomize-controller/algorithms-age.yaml';

  it('a wrong age key: the attempt names the recipient and the reason, not the identity', async () => {
    const humphd = AGE_IDENTITIES[2]; // a real identity, but for another recipient
    try {
      await decryptSops(vector(flux), 'yaml', { ageIdentities: [humphd] });
      expect.unreachable();
    } catch (err) {
      expect(isSopsError(err, 'SOPS_NO_KEY')).toBe(true);
      const e = err as { message: string; details: { attempts: Array<{ type: string; key: string; reason: string }> } };
      expect(e.details.attempts).toEqual([{ group: 1, type: 'age', key: 'age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29', reason: 'no age identity matched this recipient', code: 'SOPS_NO_KEY' }]);
      expect(JSON.stringify({ m: e.message, d: e.details })).not.toContain(humphd);
    }
  });

  it('no key sources at all', async () => {
    expect(await codeOfAsync(() => decryptSops(vector(flux), 'yaml', {}))).toBe('SOPS_NO_KEY');
  });

  it('an identity that is not an age secret key', async () => {
    const r = await codeOfAsync(() => decryptSops(vector(flux), 'yaml', { ageIdentities: ['ssh-ed25519 AAAA'] }));
    expect(r).toBe('SOPS_NO_KEY');
  });

  it('PGP entries with no PGP key, and unsupported key types, are reported per attempt', async () => {
    try {
      await decryptSops(vector('getsops-sops/ft-multiple_keys.yaml'), 'yaml', { ageIdentities: AGE_IDENTITIES });
      expect.unreachable();
    } catch (err) {
      const e = err as { details: { attempts: Array<{ type: string; reason: string }> } };
      expect(e.details.attempts.map((a) => a.type)).toEqual(['pgp', 'pgp']);
      expect(e.details.attempts[0].reason).toContain('no PGP private key');
    }
  });

  it('a KMS function that is unreachable makes SOPS_NO_KEY "unavailable" (exit 3)', async () => {
    const kmsFile = await encryptSops([new SopsMap([{ key: 'a', value: 'b' }])], {
      format: 'yaml',
      keyGroups: [[{ type: 'kms', arn: 'arn:aws:kms:eu-west-1:111122223333:key/k', enc: Buffer.alloc(40, 1).toString('base64') }]],
      dataKey: KEY,
    });
    const { SopsError } = await import('../../../enclave-app/sops/index.js');
    try {
      await decryptSops(kmsFile, 'yaml', {
        kms: async () => {
          throw new SopsError('SOPS_NO_KEY', 'connection refused', { category: 'unavailable' });
        },
      });
      expect.unreachable();
    } catch (err) {
      expect(isSopsError(err, 'SOPS_NO_KEY')).toBe(true);
      expect((err as { category: string; exitCode: number }).exitCode).toBe(3);
    }
    expect(await codeOfAsync(() => decryptSops(kmsFile, 'yaml', { kms: async () => new Uint8Array(16) }))).toBe('SOPS_NO_KEY');
    expect(await codeOfAsync(() => decryptSops(kmsFile, 'yaml', { kms: async () => Buffer.alloc(32, 3) }))).toBe('SOPS_BAD_VALUE');
  });

  it('the MAC is checked before any key source is asked (no KMS call for a file without MAC)', async () => {
    let calls = 0;
    const e = expected['getsops-sops/ft-no_mac.yaml'];
    expect(e.mac_matches).toBe(false);
    await expect(
      decryptSops(vector('getsops-sops/ft-no_mac.yaml'), 'yaml', {
        kms: async () => {
          calls++;
          return new Uint8Array(32);
        },
        pgpPrivateKeys: ['not used'],
      }),
    ).rejects.toSatisfy((err) => isSopsError(err, 'SOPS_NO_MAC'));
    expect(calls).toBe(0);
  });
});

describe('extract paths → SOPS_BAD_PATH', () => {
  const doc = new SopsMap([{ key: 'a', value: [new SopsMap([{ key: 'b', value: 'x' }])] }]);
  it.each(['', 'a', '["a"', '["a"]b', '[-1]', '[a]', '["a"]["b"]'])('%j', (p) => {
    expect(codeOf(() => extractValue(doc, parseExtractPath(p)))).toBe('SOPS_BAD_PATH');
  });
  it('a valid path extracts', () => {
    expect(extractValue(doc, parseExtractPath(`["a"][0]['b']`))).toBe('x');
  });
});

describe('encrypt refuses what sops refuses → SOPS_ENCRYPT_FAILED', () => {
  const t = new SopsMap([{ key: 'a', value: 'b' }]);
  it.each([
    ['a top-level sops key', { tree: new SopsMap([{ key: 'sops', value: 'x' }]) }],
    ['a sops_ key in dotenv', { tree: new SopsMap([{ key: 'sops_x', value: 'x' }]), format: 'dotenv' as const }],
    ['a nested dotenv value', { tree: new SopsMap([{ key: 'a', value: new SopsMap([]) }]), format: 'dotenv' as const }],
    ['an INI entry that is not a section', { format: 'ini' as const }],
    ['no master key', { keyGroups: [] }],
    ['a bad age recipient', { keyGroups: [[{ type: 'age' as const, recipient: 'age1notvalid' }]] }],
    ['a KMS key without a wrap function', { keyGroups: [[{ type: 'kms' as const, arn: 'arn:aws:kms:us-east-1:1:key/k' }]] }],
    ['a 16-byte data key', { dataKey: new Uint8Array(16) }],
    ['too few injected IVs', { ivs: [] as Uint8Array[] }],
    ['a 12-byte injected IV', { ivs: [new Uint8Array(12)] }],
    ['an impossible Shamir threshold', { keyGroups: [[AGE], [AGE]], shamirThreshold: 3 }],
    ['two documents in JSON', { branches: [t, t], format: 'json' as const }],
    ['no document', { branches: [] as SopsMap[] }],
  ])('%s', async (_name, o: { tree?: SopsMap; format?: SopsFormat; branches?: SopsMap[]; [k: string]: unknown }) => {
    const { tree, branches, format, ...rest } = o;
    const r = await codeOfAsync(() =>
      encryptSops(branches ?? [tree ?? t], { format: format ?? 'yaml', keyGroups: [[AGE]], dataKey: KEY, ...(rest as object) }),
    );
    expect(r).toBe('SOPS_ENCRYPT_FAILED');
  });
});

describe('robustness: mutated files only ever fail with SopsError', () => {
  it.each(['yaml', 'json', 'dotenv', 'ini'] as const)('%s', async (format) => {
    const tree =
      format === 'ini'
        ? new SopsMap([{ key: 's', value: new SopsMap([{ key: 'password', value: SECRET }]) }])
        : new SopsMap([{ key: 'password', value: SECRET }, { key: 'n_unencrypted', value: 'x' }]);
    const file = Buffer.from(await encryptSops([tree], { format, keyGroups: [[AGE]], dataKey: KEY }));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'del', 'ins')), { minLength: 1, maxLength: 4 }), (edits) => {
        let b = Buffer.from(file);
        for (const [pos, byte, op] of edits) {
          const i = pos % (b.length + 1);
          if (op === 'set' && i < b.length) b[i] = byte;
          else if (op === 'del') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
          else b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
        }
        const r = codeOf(() => decryptSopsWithDataKey(b, format, KEY));
        expect(r).not.toBe('raw');
      }),
      { seed: 42, numRuns: 200 },
    );
  });
});
