// The packed-artifact writer on both paths. A small in-test "KMS" (AES-GCM under a master key,
// alias → key ARN resolution) stands in for the wrap port; the age path is checked with the
// age-encryption library and, when installed, the `age` CLI from Debian.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, describe, expect, it } from 'vitest';
import { AttestedPackError } from '../../../common/errors.js';
import {
  ClefError,
  createEd25519Signer,
  decryptArtifact,
  mergeScopedValues,
  packArtifact,
  parseArtifact,
  parseClefPlaintext,
  parseManifest,
  resolvePackScope,
  startKmsWrap,
  verifyArtifact,
  type PackArtifactOptions,
  type WrapKeyPort,
  type UnwrapKeyPort,
} from '../../../enclave-app/clef/index.js';
import { ENVELOPE_KEY_ALIAS_ARN, ENVELOPE_KEY_ARN, REALISTIC_MANIFEST } from './fixtures.js';
import { missingTool } from '../../tools.js';

/** A toy KMS: Encrypt wraps under a master key and reports the resolved key ARN. */
function toyKms() {
  const master = randomBytes(32);
  const wrapped: Uint8Array[] = [];
  const wrap: WrapKeyPort = async (dek, keyId) => {
    wrapped.push(dek); // keep the reference: the writer must zeroise it afterwards
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', master, iv);
    const ct = Buffer.concat([c.update(dek), c.final()]);
    const resolved = keyId === ENVELOPE_KEY_ALIAS_ARN ? ENVELOPE_KEY_ARN : keyId;
    return { wrappedKey: new Uint8Array(Buffer.concat([iv, ct, c.getAuthTag()])), keyId: resolved };
  };
  const unwrap: UnwrapKeyPort = async ({ keyId, wrappedKey, algorithm, provider }) => {
    expect({ keyId, algorithm, provider }).toEqual({ keyId: ENVELOPE_KEY_ARN, algorithm: 'SYMMETRIC_DEFAULT', provider: 'aws' });
    const b = Buffer.from(wrappedKey);
    const d = createDecipheriv('aes-256-gcm', master, b.subarray(0, 12));
    d.setAuthTag(b.subarray(b.length - 16));
    return new Uint8Array(Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]));
  };
  return { wrap, unwrap, wrapped };
}

const manifest = parseManifest(REALISTIC_MANIFEST);
const plaintextText = '{"payments":{"STRIPE_KEY":"sk_live_abc"},"auth":{"JWT_SECRET":"s3cr3t"}}';
const plaintext = () => new Uint8Array(Buffer.from(plaintextText, 'utf8'));
const signer = createEd25519Signer('MC4CAQAwBQYDK2VwBCIEIEJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC');
const verifyKey = 'MCowBQYDK2VwAyEAIVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AttestedPackError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('packArtifact: KMS envelope path', () => {
  it('packs the merged scope, records the resolved key ARN, zeroises the DEK, and decrypts back', async () => {
    const kms = toyKms();
    const scope = resolvePackScope(manifest, 'api-gateway', 'production');
    const merged = mergeScopedValues(scope, [
      { namespace: 'auth', entries: [['JWT_SECRET', 's3cr3t']] },
      { namespace: 'payments', entries: [['STRIPE_KEY', 'sk_live_abc']] },
    ]);
    const file = await packArtifact({
      identity: scope.identity,
      environment: scope.environment,
      plaintext: merged.plaintext,
      envelope: scope.envelope,
      wrapKey: kms.wrap,
      signer,
      now: () => Date.UTC(2026, 4, 1, 12, 0, 0, 123),
      ttlSeconds: 900,
    });
    const a = file.artifact;
    expect(a.envelope).toMatchObject({ provider: 'aws', keyId: ENVELOPE_KEY_ARN, algorithm: 'SYMMETRIC_DEFAULT' });
    expect(Buffer.from(a.envelope!.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(a.envelope!.authTag, 'base64')).toHaveLength(16);
    // Ciphertext is exactly as long as the plaintext: the tag is not appended.
    expect(Buffer.from(a.ciphertext, 'base64')).toHaveLength(merged.plaintext.byteLength);
    expect(a.ciphertextHash).toBe(createHash('sha256').update(a.ciphertext).digest('hex'));
    expect(a.packedAt).toBe('2026-05-01T12:00:00.123Z');
    expect(a.expiresAt).toBe('2026-05-01T12:15:00.123Z');
    expect(a.revision).toMatch(/^1777636800123-[0-9a-f]{8}$/);
    // The DEK handed to KMS was wiped once the pack finished.
    expect(kms.wrapped).toHaveLength(1);
    expect(kms.wrapped[0]!.every((b) => b === 0)).toBe(true);
    // The file is what a stock runtime reads.
    expect(file.sha256).toBe(createHash('sha256').update(file.bytes).digest('hex'));
    const v = verifyArtifact(file.bytes, { verifyKey, now: Date.UTC(2026, 4, 1, 12, 1) });
    const out = await decryptArtifact(v.artifact, { unwrapKey: kms.unwrap });
    expect(Buffer.from(out).toString('utf8')).toBe(plaintextText);
    expect(Object.keys(parseClefPlaintext(out))).toEqual(['payments', 'auth']);
    // And no plaintext in the file.
    expect(file.json).not.toContain('s3cr3t');
    expect(file.json).not.toContain(Buffer.from('s3cr3t').toString('base64'));
  });

  it('draws DEK, IV and the revision suffix from the injected random source', async () => {
    const sizes: number[] = [];
    let next = 1;
    const file = await packArtifact({
      identity: 'billing-worker',
      environment: 'production',
      plaintext: plaintext(),
      envelope: { kind: 'kms', provider: 'aws', keyId: ENVELOPE_KEY_ARN },
      wrapKey: async (_dek, keyId) => ({ wrappedKey: 'AQID', keyId }),
      now: () => 1_700_000_000_000,
      randomBytes: (n) => {
        sizes.push(n);
        return new Uint8Array(n).fill(next++);
      },
    });
    expect(sizes).toEqual([4, 32, 12]);
    expect(file.artifact.revision).toBe('1700000000000-01010101');
    expect(file.artifact.envelope!.iv).toBe(Buffer.alloc(12, 3).toString('base64'));
    expect(file.artifact.envelope!.wrappedKey).toBe('AQID');
    const out = await decryptArtifact(file.artifact, { unwrapKey: async () => new Uint8Array(32).fill(2) });
    expect(Buffer.from(out).toString('utf8')).toBe(plaintextText);
    // Unsigned: no signature fields, and a verifier that needs a signature says so.
    expect(file.json).not.toContain('signature');
    expect(file.artifact.expiresAt).toBeUndefined();
    expect(() => verifyArtifact(file.bytes, { verifyKey })).toThrow(expect.objectContaining({ code: 'CLEF_SIGNATURE_MISSING' }));
  });

  it('writes the fields in Clef\u2019s order', async () => {
    const file = await packArtifact({
      identity: 'billing-worker',
      environment: 'production',
      plaintext: plaintext(),
      envelope: { kind: 'kms', provider: 'aws', keyId: ENVELOPE_KEY_ARN },
      wrapKey: toyKms().wrap,
      signer,
      ttlSeconds: 60,
    });
    expect(Object.keys(JSON.parse(file.json))).toEqual([
      'version',
      'identity',
      'environment',
      'packedAt',
      'revision',
      'ciphertextHash',
      'ciphertext',
      'envelope',
      'expiresAt',
      'signature',
      'signatureAlgorithm',
    ]);
    expect(Object.keys(JSON.parse(file.json).envelope)).toEqual(['provider', 'keyId', 'wrappedKey', 'algorithm', 'iv', 'authTag']);
    expect(file.json.endsWith('}')).toBe(true);
  });

  it('refuses a wrap answer that records an alias, or no blob, and zeroises the DEK when wrap fails', async () => {
    const base = {
      identity: 'api-gateway',
      environment: 'production',
      plaintext: plaintext(),
      envelope: { kind: 'kms', provider: 'aws', keyId: ENVELOPE_KEY_ALIAS_ARN },
    } as const;
    expect(await codeOf(packArtifact({ ...base, wrapKey: async (_d, keyId) => ({ wrappedKey: 'AQID', keyId }) }))).toBe('CLEF_KEY_WRAP_FAILED');
    expect(await codeOf(packArtifact({ ...base, wrapKey: async () => ({ wrappedKey: '', keyId: ENVELOPE_KEY_ARN }) }))).toBe('CLEF_KEY_WRAP_FAILED');
    expect(await codeOf(packArtifact({ ...base, wrapKey: async () => ({ wrappedKey: 'not base64!', keyId: ENVELOPE_KEY_ARN }) }))).toBe(
      'CLEF_KEY_WRAP_FAILED',
    );
    let seen: Uint8Array | undefined;
    const failing: WrapKeyPort = async (dek) => {
      seen = dek;
      throw new Error('socket hang up');
    };
    const err = await packArtifact({ ...base, wrapKey: failing }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClefError);
    expect((err as ClefError).code).toBe('CLEF_KEY_WRAP_FAILED');
    expect((err as ClefError).category).toBe('unavailable');
    expect(seen!.every((b) => b === 0)).toBe(true);
    // A typed error from the KMS client passes through unchanged.
    class DemoKmsError extends AttestedPackError {}
    const denied = new DemoKmsError('KMS_ACCESS_DENIED', `denied for ${ENVELOPE_KEY_ARN}`);
    expect(await packArtifact({ ...base, wrapKey: async () => Promise.reject(denied) }).catch((e: unknown) => e)).toBe(denied);
  });

  it('refuses unusable inputs', async () => {
    const ok: PackArtifactOptions = {
      identity: 'billing-worker',
      environment: 'production',
      plaintext: plaintext(),
      envelope: { kind: 'kms', provider: 'aws', keyId: ENVELOPE_KEY_ARN },
      wrapKey: toyKms().wrap,
    };
    const bad: Array<Partial<PackArtifactOptions>> = [
      { dek: new Uint8Array(16) },
      { iv: new Uint8Array(16) },
      { revision: '1711101600000-A1B2C3D4' },
      { revision: 'r1' },
      { packedAt: '2026-03-22T10:00:00Z' },
      { expiresAt: 'tomorrow' },
      { ttlSeconds: 0 },
      { ttlSeconds: 1.5 },
      { ttlSeconds: 60, expiresAt: '2026-03-22T11:00:00.000Z' },
      { identity: '' },
      { wrapKey: undefined },
      { randomBytes: (n: number) => new Uint8Array(n - 1) },
      { now: () => Number.NaN },
    ];
    for (const patch of bad) expect(await codeOf(packArtifact({ ...ok, ...patch }))).toBe('CLEF_PACK_INPUT_INVALID');
    expect(await codeOf(packArtifact(ok))).toBe('no error');
  });
});

describe('startKmsWrap: the DEK wrapped before the plaintext exists', () => {
  const base = {
    identity: 'api-gateway',
    environment: 'production',
    envelope: { kind: 'kms', provider: 'aws', keyId: ENVELOPE_KEY_ALIAS_ARN },
  } as const;

  it('starts the wrap at once; packArtifact uses that DEK, waits for the answer and zeroises the DEK', async () => {
    const kms = toyKms();
    const pending = startKmsWrap({ keyId: ENVELOPE_KEY_ALIAS_ARN, wrapKey: kms.wrap });
    // The wrap port was called before any plaintext was handed over.
    expect(kms.wrapped).toHaveLength(1);
    expect(kms.wrapped[0]).toBe(pending.dek);
    const file = await packArtifact({ ...base, plaintext: plaintext(), pendingWrap: pending, signer });
    expect(file.artifact.envelope?.keyId).toBe(ENVELOPE_KEY_ARN);
    expect(pending.dek.every((b) => b === 0)).toBe(true);
    const v = verifyArtifact(file.bytes, { verifyKey });
    expect(Buffer.from(await decryptArtifact(v.artifact, { unwrapKey: kms.unwrap })).toString('utf8')).toBe(plaintextText);
  });

  it('a failed early wrap surfaces as CLEF_KEY_WRAP_FAILED when the artifact is made, and the DEK is zeroised', async () => {
    const pending = startKmsWrap({ keyId: ENVELOPE_KEY_ALIAS_ARN, wrapKey: () => Promise.reject(new Error('socket hang up')) });
    // No unhandled rejection while the plaintext is being prepared.
    await new Promise((r) => setTimeout(r, 10));
    expect(await codeOf(packArtifact({ ...base, plaintext: plaintext(), pendingWrap: pending }))).toBe('CLEF_KEY_WRAP_FAILED');
    expect(pending.dek.every((b) => b === 0)).toBe(true);
  });

  it('refuses a pending wrap for another key, or next to wrapKey/dek, or for an age envelope — and still zeroises its DEK', async () => {
    const kms = toyKms();
    const other = startKmsWrap({ keyId: ENVELOPE_KEY_ARN, wrapKey: kms.wrap });
    expect(await codeOf(packArtifact({ ...base, plaintext: plaintext(), pendingWrap: other }))).toBe('CLEF_PACK_INPUT_INVALID');
    expect(other.dek.every((b) => b === 0)).toBe(true);
    const both = startKmsWrap({ keyId: ENVELOPE_KEY_ALIAS_ARN, wrapKey: kms.wrap });
    expect(await codeOf(packArtifact({ ...base, plaintext: plaintext(), pendingWrap: both, wrapKey: kms.wrap }))).toBe('CLEF_PACK_INPUT_INVALID');
    expect(both.dek.every((b) => b === 0)).toBe(true);
    const age = startKmsWrap({ keyId: ENVELOPE_KEY_ALIAS_ARN, wrapKey: kms.wrap });
    const recipient = await identityToRecipient(await generateX25519Identity());
    expect(await codeOf(packArtifact({ ...base, envelope: { kind: 'age', recipients: [recipient] }, plaintext: plaintext(), pendingWrap: age }))).toBe('CLEF_PACK_INPUT_INVALID');
    expect(age.dek.every((b) => b === 0)).toBe(true);
  });

  it('discard() waits for the wrap to settle before zeroising (the port may still be reading the DEK)', async () => {
    let release!: () => void;
    let seenAtAnswer: number[] = [];
    const pending = startKmsWrap({
      keyId: ENVELOPE_KEY_ARN,
      wrapKey: (dek, keyId) =>
        new Promise((resolve) => {
          release = () => {
            seenAtAnswer = [...dek];
            resolve({ wrappedKey: 'AQID', keyId });
          };
        }),
    });
    const discarded = pending.discard();
    await new Promise((r) => setTimeout(r, 10));
    expect(pending.dek.some((b) => b !== 0)).toBe(true);
    release();
    await discarded;
    expect(seenAtAnswer.some((b) => b !== 0)).toBe(true);
    expect(pending.dek.every((b) => b === 0)).toBe(true);
  });
});

describe('packArtifact: age path', () => {
  it('writes a base64 binary age file, no envelope, that decrypts with the identity', async () => {
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const file = await packArtifact({
      identity: 'api-gateway',
      environment: 'staging',
      plaintext: plaintext(),
      envelope: { kind: 'age', recipients: [recipient] },
      signer,
    });
    expect(file.artifact.envelope).toBeUndefined();
    expect(file.json).not.toContain('envelope');
    const raw = Buffer.from(file.artifact.ciphertext, 'base64');
    expect(raw.subarray(0, 22).toString('ascii')).toBe('age-encryption.org/v1\n');
    expect(raw.toString('latin1')).not.toContain('-----BEGIN AGE'); // binary, not armored
    verifyArtifact(file.bytes, { verifyKey });
    const out = await decryptArtifact(parseArtifact(file.bytes).artifact, { ageIdentities: [identity] });
    expect(Buffer.from(out).toString('utf8')).toBe(plaintextText);
    const other = await generateX25519Identity();
    expect(await codeOf(decryptArtifact(file.artifact, { ageIdentities: [other] }))).toBe('CLEF_DECRYPT_FAILED');
    expect(await codeOf(decryptArtifact(file.artifact, {}))).toBe('CLEF_DECRYPT_FAILED');
  });

  it('a recipient that passes Clef\u2019s manifest check but is not a real key fails at encryption', async () => {
    const code = await codeOf(
      packArtifact({
        identity: 'api-gateway',
        environment: 'staging',
        plaintext: plaintext(),
        envelope: { kind: 'age', recipients: ['age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'] },
      }),
    );
    expect(code).toBe('CLEF_ENCRYPT_FAILED');
  });

  // The Debian `age` CLI is an independent implementation (Go). .ci/run installs it; on a
  // machine without it this one test is skipped rather than failed.
  const noAgeCli = missingTool('age', 'age') ?? missingTool('age-keygen', 'age');
  const dir = mkdtempSync(path.join(tmpdir(), 'clef-age-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(noAgeCli)('decrypts with the `age` CLI (two recipients, either identity works)', async () => {
    const keys = [path.join(dir, 'k1.txt'), path.join(dir, 'k2.txt')];
    for (const k of keys) execFileSync('age-keygen', ['-o', k], { stdio: 'ignore' });
    const recipients = keys.map((k) => execFileSync('age-keygen', ['-y', k]).toString().trim());
    const file = await packArtifact({
      identity: 'api-gateway',
      environment: 'staging',
      plaintext: plaintext(),
      envelope: { kind: 'age', recipients },
    });
    const cipherPath = path.join(dir, 'artifact.age');
    writeFileSync(cipherPath, Buffer.from(file.artifact.ciphertext, 'base64'));
    for (const k of keys) {
      const out = execFileSync('age', ['--decrypt', '-i', k, cipherPath]);
      expect(out.toString('utf8')).toBe(plaintextText);
    }
    // And the identity file format typage reads too.
    const secret = readFileSync(keys[0]!, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
    expect(Buffer.from(await decryptArtifact(file.artifact, { ageIdentities: [secret] })).toString('utf8')).toBe(plaintextText);
  });
});
