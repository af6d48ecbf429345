/**
 * The simulation's sealed Ed25519 signing key: created once (what `attested-pack sealed-key
 * create --kms-key <seal key>` does: the operator encrypts the private half under the seal key)
 * and reused by later runs. Only an enclave whose measurements the seal key's policy names can
 * unseal it, so a good signature by it proves the enclave made the artifact.
 */
import { readFile } from 'node:fs/promises';
import { EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { writeFileAtomic } from '../../common/fs.js';
import { createSealedKey, parseSealedKeyFile } from '../../enclave-app/pack/sealed-key.js';
import type { SealedSigningKey } from '../../enclave-app/protocol.js';

/** Reads the sealed key for `sealKeyArn`, or seals a new one there (the file is 0600). */
export async function ensureSealedKey(path: string, sealKeyArn: string, operator: KMSClient): Promise<{ sealed: SealedSigningKey; reused: boolean }> {
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== undefined) {
    try {
      const sealed = parseSealedKeyFile(existing, path);
      if (sealed.kmsKeyId === sealKeyArn) return { sealed, reused: true };
    } catch {
      // unusable or for another key: seal a new one below
    }
  }
  const file = await createSealedKey(sealKeyArn, async (plaintext) => {
    const out = await operator.send(new EncryptCommand({ KeyId: sealKeyArn, Plaintext: plaintext }));
    return { ciphertextBlob: out.CiphertextBlob!, keyId: out.KeyId ?? sealKeyArn };
  });
  const text = JSON.stringify(file, null, 2) + '\n';
  await writeFileAtomic(path, text, { mode: 0o600 });
  return { sealed: parseSealedKeyFile(text, path), reused: false };
}
