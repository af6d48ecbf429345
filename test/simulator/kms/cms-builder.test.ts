/**
 * The simulator's CiphertextForRecipient builder on its own: round trips through the strict
 * enclave decrypter for any size, KMS's exact outer layout, chunking, and refusal of keys that
 * cannot be recipients.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { buildCiphertextForRecipient, CMS_CONTENT_CHUNK } from '../../../simulator/kms/index.js';
import { decryptCiphertextForRecipient, parseCiphertextForRecipient } from '../../../enclave-app/kms/cms.js';
import { walkBer } from '../../enclave-app/kms/ber-tools.js';
import { newRecipientKey, type RecipientKey } from './helpers.js';

let key: RecipientKey;
beforeAll(() => {
  key = newRecipientKey();
});

describe('buildCiphertextForRecipient', () => {
  it('round-trips random plaintexts of 1..3000 bytes through the strict decrypter', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), (plaintext) => {
        const ber = buildCiphertextForRecipient(plaintext, key.spki);
        expect(Buffer.from(decryptCiphertextForRecipient(ber, key.privateKey, key.spki)).equals(Buffer.from(plaintext))).toBe(true);
      }),
      { seed: 42, numRuns: 25 },
    );
  });

  it('uses rid = SHA-256 of the recipient SPKI, a fresh CEK and IV each time, and a 256-byte OAEP block for RSA-2048', () => {
    const a = parseCiphertextForRecipient(buildCiphertextForRecipient(Buffer.from('same'), key.spki));
    const b = parseCiphertextForRecipient(buildCiphertextForRecipient(Buffer.from('same'), key.spki));
    expect(Buffer.from(a.rid).equals(createHash('sha256').update(key.spki).digest())).toBe(true);
    expect(a.encryptedKey.byteLength).toBe(256);
    expect(Buffer.from(a.iv).equals(Buffer.from(b.iv))).toBe(false);
    expect(Buffer.from(a.encryptedKey).equals(Buffer.from(b.encryptedKey))).toBe(false);
    expect(a.ciphertext.byteLength).toBe(16);
  });

  it('emits indefinite ContentInfo, [0], EnvelopedData, EncryptedContentInfo and [0] content; definite recipientInfos', () => {
    const ber = Buffer.from(buildCiphertextForRecipient(Buffer.alloc(2500, 7), key.spki));
    expect(ber.subarray(0, 2).toString('hex')).toBe('3080');
    const { root, trailing } = walkBer(ber);
    expect(trailing).toBe(0);
    const explicit0 = root.children![1]!;
    const envelopedData = explicit0.children![0]!;
    const [version, recipientInfos, eci] = envelopedData.children!;
    expect([root.form, explicit0.form, envelopedData.form, eci!.form]).toEqual(['indefinite', 'indefinite', 'indefinite', 'indefinite']);
    expect(version).toEqual({ tag: '02', form: 'definite', value: '02' });
    expect(recipientInfos!.form).toBe('definite');
    const content = eci!.children![2]!;
    expect(content.tag).toBe('a0');
    expect(content.form).toBe('indefinite');
    // 2500 bytes pad to 2512: chunks of CMS_CONTENT_CHUNK, the last one shorter.
    expect(content.children!.map((c) => c.length)).toEqual([CMS_CONTENT_CHUNK, CMS_CONTENT_CHUNK, 2512 - 2 * CMS_CONTENT_CHUNK]);
  });

  it('refuses a recipient key that is not RSA', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(() => buildCiphertextForRecipient(Buffer.from('x'), ec)).toThrow();
  });
});
