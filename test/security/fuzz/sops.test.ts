/**
 * Fuzzing the SOPS codec (enclave-app/sops) with byte-mutated real sops files from
 * test/vectors/sops: metadata reading, decryption with the known data key (every value and
 * the MAC are checked), and decryption through the age key path. Oracle: only SopsError codes
 * other than SOPS_INTERNAL (a wrapped crash) come out.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decryptSops,
  decryptSopsWithDataKey,
  parseAgeIdentities,
  readSopsMetadata,
  type SopsFormat,
} from '../../../enclave-app/sops/index.js';
import { Tally, classify, classifyAsync, bytesOf, mutationsOf, params, runs, timeoutFor, vectorsDir } from '../support.js';

const SOPS_DIR = path.join(vectorsDir, 'sops');
const expected = JSON.parse(readFileSync(path.join(SOPS_DIR, 'expected.json'), 'utf8')) as Record<
  string,
  { format: SopsFormat; decrypt_with: string; data_key_hex: string }
>;

interface Vector {
  name: string;
  format: SopsFormat;
  bytes: Uint8Array;
  dataKey: Uint8Array;
  age: boolean;
}
const vectors: Vector[] = Object.entries(expected).map(([name, e]) => ({
  name,
  format: e.format,
  bytes: new Uint8Array(readFileSync(path.join(SOPS_DIR, name))),
  dataKey: new Uint8Array(Buffer.from(e.data_key_hex, 'hex')),
  age: e.decrypt_with.includes('agekey'),
}));
const ageVectors = vectors.filter((v) => v.age);
const files = vectors.map((v) => v.bytes);
const ageFiles = ageVectors.map((v) => v.bytes);
const ageIdentities = ['flux.agekey.txt', 'flux-global.agekey.txt', 'humphd-sops-age.agekey.txt'].flatMap((f) =>
  parseAgeIdentities(readFileSync(path.join(SOPS_DIR, 'keys', f), 'utf8')),
);

/** Every code but SOPS_INTERNAL: the codec's documented failures. */
const CODES: ReadonlySet<string> = new Set([
  'SOPS_MAC_MISMATCH',
  'SOPS_NO_MAC',
  'SOPS_NOT_SOPS_FILE',
  'SOPS_NO_KEY',
  'SOPS_BAD_VALUE',
  'SOPS_UNSUPPORTED',
  'SOPS_PARSE_ERROR',
  'SOPS_BAD_METADATA',
  'SOPS_BAD_PATH',
]);

describe('SOPS codec fuzzing (mutated real sops files)', () => {
  it(`the vectors themselves decrypt (${vectors.length} files, ${ageVectors.length} via age)`, () => {
    for (const v of vectors) {
      if (v.name.includes('no_mac')) continue;
      expect(() => decryptSopsWithDataKey(v.bytes, v.format, v.dataKey), v.name).not.toThrow();
    }
  });

  const nMeta = runs(2000);
  it(`readSopsMetadata: ${nMeta} mutated files → metadata or a SopsError`, () => {
    const tally = new Tally('readSopsMetadata');
    fc.assert(
      fc.property(
        mutationsOf(vectors.length),
        (m) => classify(tally, () => readSopsMetadata(bytesOf(files, m), vectors[m.base]!.format), CODES),
      ),
      params(nMeta),
    );
    tally.print();
    expect(tally.cases).toBe(nMeta);
  }, timeoutFor(nMeta, 10));

  const nDecrypt = runs(2000);
  it(`decryptSopsWithDataKey: ${nDecrypt} mutated files → plaintext or a SopsError (values and MAC checked)`, () => {
    const tally = new Tally('decryptSopsWithDataKey');
    fc.assert(
      fc.property(
        mutationsOf(vectors.length),
        (m) => {
          const v = vectors[m.base]!;
          classify(tally, () => decryptSopsWithDataKey(bytesOf(files, m), v.format, v.dataKey), CODES);
        },
      ),
      params(nDecrypt),
    );
    tally.print();
    expect(tally.codes.get('SOPS_MAC_MISMATCH') ?? 0).toBeGreaterThan(0);
  }, timeoutFor(nDecrypt, 15));

  // An extra on top of the two 2,000-case targets: the age unwrap path.
  const nAge = runs(500);
  it(`decryptSops via age identities: ${nAge} mutated age-encrypted files → plaintext or a SopsError`, async () => {
    const tally = new Tally('decryptSops (age)');
    await fc.assert(
      fc.asyncProperty(
        mutationsOf(ageVectors.length),
        async (m) => {
          const v = ageVectors[m.base]!;
          await classifyAsync(tally, () => decryptSops(bytesOf(ageFiles, m), v.format, { ageIdentities }), CODES);
        },
      ),
      params(nAge),
    );
    tally.print();
    expect(tally.cases).toBe(nAge);
  }, timeoutFor(nAge, 30));
});
