// The strict artifact parser: every malformed shape is CLEF_ARTIFACT_INVALID naming its field;
// what Clef tolerates (extra fields, unsigned artifacts when skipping) is tolerated.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ClefError, importVerifyKey, parseArtifact, parseClefPlaintext, verifyArtifact } from '../../../enclave-app/clef/index.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const goldenText = readFileSync(path.resolve(repoRoot, 'test/vectors/clef/golden-artifact.json'), 'utf8');
const SPKI = 'MCowBQYDK2VwAyEAIVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=';
type Obj = Record<string, unknown>;
const golden = (): Obj => JSON.parse(goldenText) as Obj;
const env = (o: Obj) => o.envelope as Obj;

function errOf(fn: () => unknown): ClefError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ClefError) return err;
    throw err;
  }
  throw new Error('expected a ClefError');
}

describe('parseArtifact: malformed artifacts', () => {
  const cases: Array<[string, (o: Obj) => void, string]> = [
    ['version missing', (o) => delete o.version, 'version'],
    ['version as a string', (o) => (o.version = '1'), 'version'],
    ['identity missing', (o) => delete o.identity, 'identity'],
    ['identity empty', (o) => (o.identity = ''), 'identity'],
    ['environment a number', (o) => (o.environment = 1), 'environment'],
    ['packedAt not ISO', (o) => (o.packedAt = 'Sun Mar 22 2026'), 'packedAt'],
    ['packedAt without milliseconds', (o) => (o.packedAt = '2026-03-22T10:00:00Z'), 'packedAt'],
    ['packedAt an impossible date', (o) => (o.packedAt = '2026-02-30T10:00:00.000Z'), 'packedAt'],
    ['revision empty', (o) => (o.revision = ''), 'revision'],
    ['ciphertextHash with the whitepaper prefix', (o) => (o.ciphertextHash = `sha256:${String(o.ciphertextHash)}`), 'ciphertextHash'],
    ['ciphertextHash upper case', (o) => (o.ciphertextHash = String(o.ciphertextHash).toUpperCase()), 'ciphertextHash'],
    ['ciphertext empty', (o) => (o.ciphertext = ''), 'ciphertext'],
    ['ciphertext without padding', (o) => (o.ciphertext = 'AAA'), 'ciphertext'],
    ['ciphertext base64url', (o) => (o.ciphertext = 'ab-_'), 'ciphertext'],
    ['ciphertext with whitespace', (o) => (o.ciphertext = 'AAAA\nAAAA'), 'ciphertext'],
    ['envelope an array', (o) => (o.envelope = []), 'envelope'],
    ['envelope null', (o) => (o.envelope = null), 'envelope'],
    ['envelope.provider missing', (o) => delete env(o).provider, 'envelope.provider'],
    ['envelope.keyId empty', (o) => (env(o).keyId = ''), 'envelope.keyId'],
    ['envelope.wrappedKey not base64', (o) => (env(o).wrappedKey = 'FAKE-KMS-CIPHERTEXTBLOB'), 'envelope.wrappedKey'],
    ['envelope.algorithm a number', (o) => (env(o).algorithm = 1), 'envelope.algorithm'],
    ['envelope.iv 16 bytes', (o) => (env(o).iv = Buffer.alloc(16).toString('base64')), 'envelope.iv'],
    ['envelope.authTag missing (pre-5146336 artifact)', (o) => delete env(o).authTag, 'envelope.authTag'],
    ['envelope.authTag 12 bytes', (o) => (env(o).authTag = Buffer.alloc(12).toString('base64')), 'envelope.authTag'],
    ['expiresAt a number', (o) => (o.expiresAt = 1711105200000), 'expiresAt'],
    ['expiresAt not a date', (o) => (o.expiresAt = 'never'), 'expiresAt'],
    ['signature not base64', (o) => (o.signature = 'sig!'), 'signature'],
    ['signature empty', (o) => (o.signature = ''), 'signature'],
    ['signatureAlgorithm unknown', (o) => (o.signatureAlgorithm = 'RSA_PSS'), 'signatureAlgorithm'],
    ['signatureAlgorithm lower case', (o) => (o.signatureAlgorithm = 'ed25519'), 'signatureAlgorithm'],
    ['revokedAt a falsy non-string', (o) => (o.revokedAt = 0), 'revokedAt'],
  ];

  it.each(cases.map(([n, m, f]) => [n, f, m] as const))('%s → CLEF_ARTIFACT_INVALID naming %s', (_name, field, mutate) => {
    const o = golden();
    mutate(o);
    const err = errOf(() => parseArtifact(JSON.stringify(o, null, 2)));
    expect(err.code).toBe('CLEF_ARTIFACT_INVALID');
    expect(err.category).toBe('input');
    expect(err.details?.field).toBe(field);
    expect(err.message).toContain(`'${field}'`);
  });

  it.each([
    ['not JSON', 'nope'],
    ['truncated JSON', goldenText.slice(0, 100)],
    ['a JSON array', '[]'],
    ['a JSON string', '"artifact"'],
    ['null', 'null'],
    ['an empty file', ''],
  ])('%s → CLEF_ARTIFACT_INVALID', (_name, text) => {
    expect(errOf(() => parseArtifact(text)).code).toBe('CLEF_ARTIFACT_INVALID');
  });

  it('invalid UTF-8 bytes and oversized input are refused', () => {
    expect(errOf(() => parseArtifact(new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]))).code).toBe('CLEF_ARTIFACT_INVALID');
    expect(errOf(() => parseArtifact('x'.repeat(16 * 1024 * 1024 + 1))).code).toBe('CLEF_ARTIFACT_INVALID');
  });

  it('a revocation marker is CLEF_ARTIFACT_REVOKED, before any other check', () => {
    const marker = `${JSON.stringify({ version: 1, identity: 'api-gateway', environment: 'production', revokedAt: '2026-03-22T12:00:00.000Z' }, null, 2)}\n`;
    const err = errOf(() => parseArtifact(marker));
    expect(err.code).toBe('CLEF_ARTIFACT_REVOKED');
    expect(err.category).toBe('rejected');
    const junk = errOf(() => parseArtifact(JSON.stringify({ revokedAt: true })));
    expect(junk.code).toBe('CLEF_ARTIFACT_REVOKED');
  });
});

describe('parseArtifact: what Clef tolerates', () => {
  it('unknown extra fields ride along (e.g. an attestation) and stay outside the signature', () => {
    const o = golden();
    o.attestation = { receipt: 'base64…' };
    (o.envelope as Obj).note = 'extra';
    const v = verifyArtifact(JSON.stringify(o), { verifyKey: SPKI });
    expect(v.raw.attestation).toEqual({ receipt: 'base64…' });
    expect(Object.keys(v.artifact)).not.toContain('attestation');
  });

  it('whitespace and key order of the file do not matter to verification', () => {
    const o = golden();
    const reordered = Object.fromEntries(Object.entries(o).reverse());
    expect(verifyArtifact(JSON.stringify(reordered), { verifyKey: SPKI }).signatureAlgorithm).toBe('Ed25519');
  });

  it('accepts a verify key loaded once with importVerifyKey', () => {
    const key = importVerifyKey(SPKI);
    expect(key.algorithm).toBe('Ed25519');
    expect(key.spki).toBe(SPKI);
    expect(verifyArtifact(goldenText, { verifyKey: key }).signatureAlgorithm).toBe('Ed25519');
  });

  it('a signature without signatureAlgorithm verifies (the key decides)', () => {
    const o = golden();
    delete o.signatureAlgorithm;
    expect(verifyArtifact(JSON.stringify(o), { verifyKey: SPKI }).signatureAlgorithm).toBe('Ed25519');
  });

  it('an age artifact has no envelope and an empty-field payload tail', () => {
    const o = golden();
    delete o.envelope;
    delete o.signature;
    delete o.signatureAlgorithm;
    const v = verifyArtifact(JSON.stringify(o), { skipSignature: true });
    expect(Buffer.from(v.payload).toString('utf8').endsWith('\n'.repeat(6))).toBe(true);
  });
});

describe('parseClefPlaintext', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  it('reads the nested map', () => {
    expect(JSON.parse(JSON.stringify(parseClefPlaintext(enc('{"a":{"K":"v"},"b":{}}'))))).toEqual({ a: { K: 'v' }, b: {} });
  });
  it.each([
    ['a flat (pre-5041912) payload', '{"a__K":"v"}'],
    ['a non-string value', '{"a":{"K":1}}'],
    ['an array', '[]'],
    ['not JSON', '{'],
  ])('refuses %s', (_name, text) => {
    expect(errOf(() => parseClefPlaintext(enc(text))).code).toBe('CLEF_PLAINTEXT_INVALID');
  });
  it('does not let a __proto__ namespace touch prototypes', () => {
    const p = parseClefPlaintext(enc('{"__proto__":{"polluted":"yes"}}'));
    expect(p['__proto__']).toEqual({ polluted: 'yes' });
    expect(({} as Obj).polluted).toBeUndefined();
  });
});
