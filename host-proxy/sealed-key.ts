/**
 * The sealed signing key the proxy hands to the enclave (`unseal`) on every new connection, so
 * `signing: sealed` keeps working across enclave restarts. Read from the JSON file
 * `attested-pack sealed-key create` writes; the proxy only ever holds KMS ciphertext and the
 * public key — unsealing happens inside the enclave under an attested KMS Decrypt.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../common/errors.js';
import type { SealedSigningKey } from '../enclave-app/protocol.js';

const TYPE = 'attested-pack/sealed-ed25519/v1';

/** Reads and strictly parses a sealed-key file (`{type, kmsKeyId, ciphertextBlob, publicKey}`, blobs base64). */
export async function readSealedKeyFile(path: string): Promise<SealedSigningKey> {
  const bad = (why: string): ConfigError =>
    new ConfigError('PROXY_SEALED_KEY_INVALID', `signing.sealedKeyFile: ${path} ${why}`, { hint: 'pass the file written by `attested-pack sealed-key create`' });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw bad(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('is not JSON');
  }
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  if (o.type !== TYPE) throw bad(`has no "type": "${TYPE}"`);
  const b64 = (field: 'ciphertextBlob' | 'publicKey'): Uint8Array => {
    const s = o[field];
    if (typeof s !== 'string' || s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) throw bad(`has no base64 "${field}"`);
    return new Uint8Array(Buffer.from(s, 'base64'));
  };
  if (typeof o.kmsKeyId !== 'string' || !o.kmsKeyId.startsWith('arn:')) throw bad('has no "kmsKeyId" ARN');
  return { kmsKeyId: o.kmsKeyId, ciphertextBlob: b64('ciphertextBlob'), publicKey: b64('publicKey') };
}
