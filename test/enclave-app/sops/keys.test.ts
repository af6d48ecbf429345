/**
 * Key sources and key groups: Shamir over GF(2^8), key groups with a threshold, KMS through an
 * injected function (here a stand-in for AWS KMS that checks ARN and encryption context), age
 * including the post-quantum hybrid, decryption order, and the encryption rules.
 */
import { describe, expect, it } from 'vitest';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { generateHybridIdentity, generateX25519Identity, identityToRecipient } from 'age-encryption';
import {
  SopsComment,
  SopsMap,
  compileRe2,
  decryptSops,
  decryptSopsWithDataKey,
  encryptSops,
  isSopsError,
  readSopsMetadata,
  recoverDataKey,
  shamirCombine,
  shamirSplit,
  sopsMap,
  type KmsUnwrap,
  type KmsWrap,
} from '../../../enclave-app/sops/index.js';
import { gfMul } from '../../../enclave-app/sops/shamir.js';
import { EncryptionRules } from '../../../enclave-app/sops/rules.js';

/** A stand-in for AWS KMS: AES-GCM under a per-ARN key, the encryption context bound as AAD. */
function fakeKms() {
  const keys = new Map<string, Buffer>();
  const calls: Array<{ op: string; arn: string; context?: Record<string, string>; role?: string; awsProfile?: string }> = [];
  const aad = (ctx?: Record<string, string>) => Buffer.from(JSON.stringify(Object.entries(ctx ?? {}).sort()));
  const wrap: KmsWrap = async (req) => {
    calls.push({ op: 'Encrypt', arn: req.arn, ...(req.context ? { context: req.context } : {}) });
    if (!keys.has(req.arn)) keys.set(req.arn, randomBytes(32));
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', keys.get(req.arn) as Buffer, iv).setAAD(aad(req.context));
    const ct = Buffer.concat([c.update(req.plaintext), c.final()]);
    return Buffer.concat([createHash('sha256').update(req.arn).digest(), iv, c.getAuthTag(), ct]).toString('base64');
  };
  const unwrap: KmsUnwrap = async (req) => {
    calls.push({ op: 'Decrypt', arn: req.arn, ...(req.context ? { context: req.context } : {}), ...(req.role ? { role: req.role } : {}), ...(req.awsProfile ? { awsProfile: req.awsProfile } : {}) });
    const blob = Buffer.from(req.ciphertextBlob);
    if (!blob.subarray(0, 32).equals(createHash('sha256').update(req.arn).digest())) throw new Error('IncorrectKeyException');
    const key = keys.get(req.arn);
    if (!key) throw new Error('NotFoundException');
    const d = createDecipheriv('aes-256-gcm', key, blob.subarray(32, 44)).setAAD(aad(req.context));
    d.setAuthTag(blob.subarray(44, 60));
    try {
      return Buffer.concat([d.update(blob.subarray(60)), d.final()]);
    } catch {
      throw new Error('InvalidCiphertextException');
    }
  };
  return { wrap, unwrap, calls };
}

const ARN_A = 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-0000-0000-0000-000000000001';
const ARN_B = 'arn:aws:kms:us-east-1:111122223333:key/bbbbbbbb-0000-0000-0000-000000000002';
const plainDoc = () => new SopsMap([{ key: 'db', value: new SopsMap([{ key: 'password', value: 's3cr3t' }, { key: 'user', value: 'app' }]) }]);

describe('Shamir secret sharing (GF(2^8), AES polynomial)', () => {
  it('field check from the reference: mult(3, 7) = 9', () => {
    expect(gfMul(3, 7)).toBe(9);
    expect(gfMul(0x57, 0x83)).toBe(0xc1); // FIPS-197 §4.2 example
  });

  it('any threshold-sized subset recovers the secret; shares are 33 bytes with x last', () => {
    const secret = randomBytes(32);
    const shares = shamirSplit(secret, 5, 3);
    expect(shares.every((s) => s.length === 33)).toBe(true);
    expect(shares.map((s) => s[32])).toEqual([1, 2, 3, 4, 5]);
    for (const pick of [[0, 1, 2], [1, 3, 4], [0, 2, 4], [0, 1, 2, 3, 4]]) {
      expect(Buffer.from(shamirCombine(pick.map((i) => shares[i])))).toEqual(secret);
    }
    expect(Buffer.from(shamirCombine([shares[0], shares[1]]))).not.toEqual(secret);
  });

  it('refuses too few, duplicate or inconsistent shares', () => {
    const shares = shamirSplit(randomBytes(32), 3, 2);
    for (const bad of [[shares[0]], [shares[0], shares[0]], [shares[0], shares[1].subarray(0, 20)]]) {
      expect(() => shamirCombine(bad)).toThrow(expect.objectContaining({ code: 'SOPS_NO_KEY' }));
    }
    expect(() => shamirSplit(randomBytes(32), 2, 3)).toThrow(expect.objectContaining({ code: 'SOPS_ENCRYPT_FAILED' }));
  });
});

describe('KMS key source (injected function)', () => {
  it('encrypt wraps the data key under the ARN with the context; decrypt sends ARN, blob and context', async () => {
    const kms = fakeKms();
    const file = await encryptSops([plainDoc()], {
      format: 'yaml',
      keyGroups: [[{ type: 'kms', arn: ARN_A, context: { repo: 'acme', env: 'prod' }, role: 'arn:aws:iam::111122223333:role/r' }]],
      kms: kms.wrap,
    });
    const md = readSopsMetadata(file, 'yaml');
    expect(md.kms).toHaveLength(1);
    expect(md.kms[0]).toMatchObject({ arn: ARN_A, context: { env: 'prod', repo: 'acme' }, role: 'arn:aws:iam::111122223333:role/r' });
    const text = Buffer.from(file).toString();
    expect(text).toMatch(/ {8}- arn: arn:aws:kms:eu-west-1.*\n {10}aws_profile: ""\n {10}context:\n {12}env: prod\n {12}repo: acme\n {10}created_at: /);
    const r = await decryptSops(file, 'yaml', { kms: kms.unwrap });
    expect(r.branches[0]).toEqual(plainDoc());
    expect(kms.calls[1]).toEqual({ op: 'Decrypt', arn: ARN_A, context: { env: 'prod', repo: 'acme' }, role: 'arn:aws:iam::111122223333:role/r' });
  });

  it('a KMS answer for the wrong context fails, and the failure is listed without secrets', async () => {
    const kms = fakeKms();
    const file = Buffer.from(await encryptSops([plainDoc()], { format: 'json', keyGroups: [[{ type: 'kms', arn: ARN_A, context: { a: '1' } }]], kms: kms.wrap }));
    const tampered = Buffer.from(file.toString().replace('"a": "1"', '"a": "2"'));
    try {
      await decryptSops(tampered, 'json', { kms: kms.unwrap });
      expect.unreachable();
    } catch (err) {
      expect(isSopsError(err, 'SOPS_NO_KEY')).toBe(true);
      expect((err as Error).message).toContain(ARN_A);
      expect((err as Error).message).toContain('InvalidCiphertextException');
      expect((err as Error).message).not.toContain('s3cr3t');
    }
  });
});

describe('key groups with a Shamir threshold', () => {
  it('2 of 3 groups (age, KMS, KMS) open the file; 1 of 3 does not; the MAC still guards the data', async () => {
    const kms = fakeKms();
    const id = await generateX25519Identity();
    const file = await encryptSops([plainDoc()], {
      format: 'yaml',
      keyGroups: [[{ type: 'age', recipient: await identityToRecipient(id) }], [{ type: 'kms', arn: ARN_A }], [{ type: 'kms', arn: ARN_B }]],
      shamirThreshold: 2,
      kms: kms.wrap,
    });
    const md = readSopsMetadata(file, 'yaml');
    expect(md.shamirThreshold).toBe(2);
    expect(md.keyGroups.map((g) => g.map((k) => k.type))).toEqual([['age'], ['kms'], ['kms']]);

    expect((await decryptSops(file, 'yaml', { ageIdentities: [id], kms: kms.unwrap })).branches[0]).toEqual(plainDoc());
    const onlyKms = await decryptSops(file, 'yaml', { kms: kms.unwrap });
    expect(onlyKms.branches[0]).toEqual(plainDoc());

    const failingB: KmsUnwrap = async (req) => (req.arn === ARN_B ? Promise.reject(new Error('AccessDeniedException')) : kms.unwrap(req));
    try {
      await decryptSops(file, 'yaml', { kms: failingB });
      expect.unreachable();
    } catch (err) {
      expect(isSopsError(err, 'SOPS_NO_KEY')).toBe(true);
      const d = (err as { details: { attempts: Array<{ group: number; type: string }>; required: number } }).details;
      expect(d.required).toBe(2);
      expect(d.attempts.map((a) => [a.group, a.type])).toEqual([[1, 'age'], [3, 'kms']]);
    }
  });

  it('stops asking key sources once the threshold is met', async () => {
    const kms = fakeKms();
    const file = await encryptSops([plainDoc()], {
      format: 'json',
      keyGroups: [[{ type: 'kms', arn: ARN_A }], [{ type: 'kms', arn: ARN_B }], [{ type: 'kms', arn: ARN_A }]],
      shamirThreshold: 2,
      kms: kms.wrap,
    });
    kms.calls.length = 0;
    await decryptSops(file, 'json', { kms: kms.unwrap });
    expect(kms.calls.map((c) => c.arn)).toEqual([ARN_A, ARN_B]);
  });

  it('within a group, age is tried before KMS (sops decryption order), and KMS is not called when age works', async () => {
    const kms = fakeKms();
    const id = await generateX25519Identity();
    const file = await encryptSops([plainDoc()], {
      format: 'yaml',
      keyGroups: [[{ type: 'kms', arn: ARN_A }, { type: 'age', recipient: await identityToRecipient(id) }]],
      kms: kms.wrap,
    });
    kms.calls.length = 0;
    await decryptSops(file, 'yaml', { ageIdentities: [id], kms: kms.unwrap });
    expect(kms.calls).toEqual([]);
    const key = await recoverDataKey(readSopsMetadata(file, 'yaml'), { ageIdentities: [id], kms: kms.unwrap, decryptionOrder: ['kms'] });
    expect(key).toHaveLength(32);
    expect(kms.calls.map((c) => c.op)).toEqual(['Decrypt']);
  });
});

describe('age key source', () => {
  it('post-quantum hybrid recipients (age1pq1…) encrypt and decrypt', async () => {
    const id = await generateHybridIdentity();
    const recipient = await identityToRecipient(id);
    expect(recipient.startsWith('age1pq1')).toBe(true);
    const file = await encryptSops([plainDoc()], { format: 'yaml', keyGroups: [[{ type: 'age', recipient }]] });
    expect((await decryptSops(file, 'yaml', { ageIdentities: [id] })).branches[0]).toEqual(plainDoc());
  });

  it('several recipients each get their own stanza; any one identity opens the file', async () => {
    const ids = [await generateX25519Identity(), await generateX25519Identity()];
    const flat = sopsMap([['A', 'x'], ['B', 'y']]);
    const file = await encryptSops([flat], {
      format: 'dotenv',
      keyGroups: [await Promise.all(ids.map(async (i) => ({ type: 'age' as const, recipient: await identityToRecipient(i) })))],
    });
    expect(readSopsMetadata(file, 'dotenv').age).toHaveLength(2);
    for (const id of ids) expect((await decryptSops(file, 'dotenv', { ageIdentities: [id] })).branches[0]).toEqual(flat);
  });
});

describe('encryption rules (shouldBeEncrypted)', () => {
  const K = Buffer.alloc(32, 3);
  const AGE = { type: 'age' as const, recipient: 'age1x', enc: 'x\n' };
  async function encrypted(tree: SopsMap, rule?: Parameters<typeof encryptSops>[1]['rule'], macOnlyEncrypted = false): Promise<string> {
    return Buffer.from(await encryptSops([tree], { format: 'yaml', keyGroups: [[AGE]], dataKey: K, ...(rule !== undefined ? { rule } : {}), macOnlyEncrypted })).toString();
  }

  it('the default _unencrypted suffix covers the whole subtree of a matching key', async () => {
    const t = sopsMap([['nested_unencrypted', sopsMap([['deep', 'clear']])], ['secret', 'x']]);
    const text = await encrypted(t);
    expect(text).toContain('deep: clear');
    expect(text).toMatch(/secret: ENC\[/);
    expect(text).toContain('unencrypted_suffix: _unencrypted');
  });

  it('encrypted_regex (flux style) encrypts only matching subtrees, and comments outside stay clear', async () => {
    const t = new SopsMap([new SopsComment(' top'), { key: 'kind', value: 'Secret' }, { key: 'stringData', value: new SopsMap([new SopsComment(' in'), { key: 'k', value: 'v' }]) }]);
    const text = await encrypted(t, { kind: 'encrypted_regex', value: '^(data|stringData)$' });
    expect(text).toContain('# top\nkind: Secret\n');
    expect(text).toMatch(/stringData:\n {4}#ENC\[.*type:comment\]\n {4}k: ENC\[/);
    expect(decryptSopsWithDataKey(Buffer.from(text), 'yaml', K).branches[0]).toEqual(t);
  });

  it('encrypted_comment_regex: the marker comment stays clear, the next value is encrypted', async () => {
    const t = new SopsMap([new SopsComment(' sops:enc'), { key: 'a', value: 'secret' }, { key: 'b', value: 'public' }]);
    const text = await encrypted(t, { kind: 'encrypted_comment_regex', value: 'sops:enc' });
    expect(text).toMatch(/^# sops:enc\na: ENC\[[^\n]*\nb: public\n/);
    expect(decryptSopsWithDataKey(Buffer.from(text), 'yaml', K).branches[0]).toEqual(t);
  });

  it('unencrypted_comment_regex leaves the annotated value in clear', async () => {
    const t = new SopsMap([new SopsComment(' nocrypt'), { key: 'a', value: 'public' }, { key: 'b', value: 'secret' }]);
    const text = await encrypted(t, { kind: 'unencrypted_comment_regex', value: '^ nocrypt$' });
    expect(text).toMatch(/^# nocrypt\na: public\nb: ENC\[/);
  });

  it('mac_only_encrypted: clear values are outside the MAC (and can change), encrypted ones are not', async () => {
    const t = sopsMap([['a_unencrypted', 'clear'], ['b', 'secret']]);
    const strict = await encrypted(t);
    const loose = await encrypted(t, undefined, true);
    expect(loose).toContain('mac_only_encrypted: true');
    const edit = (s: string) => Buffer.from(s.replace('a_unencrypted: clear', 'a_unencrypted: changed'));
    expect(decryptSopsWithDataKey(edit(loose), 'yaml', K).branches[0].get('a_unencrypted')).toBe('changed');
    expect(() => decryptSopsWithDataKey(edit(strict), 'yaml', K)).toThrow(expect.objectContaining({ code: 'SOPS_MAC_MISMATCH' }));
  });

  it('shouldEncrypt checks every path component and the comment stack', () => {
    const r = new EncryptionRules({ kind: 'encrypted_suffix', value: '_enc' });
    expect(r.componentMatches('x_enc')).toBe(true);
    expect(r.shouldEncrypt(false, [], false)).toBe(false);
    const c = new EncryptionRules({ kind: 'encrypted_comment_regex', value: 'x' });
    expect(c.shouldEncrypt(false, [['x']], true)).toBe(false);
    expect(c.shouldEncrypt(false, [['x', 'y']], true)).toBe(true);
    expect(c.shouldEncrypt(false, [['x'], []], false)).toBe(true);
  });

  it('RE2 → JS translation keeps RE2 meaning', () => {
    expect(compileRe2('(?i)^PASS').test('password')).toBe(true);
    expect(compileRe2('\\Akey\\z').test('key\n')).toBe(false);
    expect(compileRe2('^[[:digit:]]+$').test('123')).toBe(true);
    expect(compileRe2('a\\sb').test('a\u00a0b')).toBe(false);
    expect(compileRe2('a.b').test('a\nb')).toBe(false);
    expect(compileRe2('(?s)a.b').test('a\nb')).toBe(true);
    expect(compileRe2('(?P<n>x)_').test('x_')).toBe(true);
    expect(compileRe2('\\_x').test('_x')).toBe(true);
  });
});

