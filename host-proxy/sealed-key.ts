/**
 * The sealed signing key the proxy hands to the enclave (`unseal`) on every new connection, so
 * `signing: sealed` keeps working across enclave restarts. Read from the JSON file
 * `attested-pack sealed-key create` writes; the proxy only ever holds KMS ciphertext and the
 * public key — unsealing happens inside the enclave under an attested KMS Decrypt.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../common/errors.js';
import { parseSealedKeyFile, type SealedSigningKey } from '../enclave-app/protocol.js';

/** Reads a sealed-key file; errors name the config path and the file. */
export async function readSealedKeyFile(path: string): Promise<SealedSigningKey> {
  const bad = (why: string): ConfigError =>
    new ConfigError('PROXY_SEALED_KEY_INVALID', `signing.sealedKeyFile: ${path} ${why}`, { hint: 'pass the file written by `attested-pack sealed-key create`' });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw bad(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const parsed = parseSealedKeyFile(text);
  if (!parsed.ok) throw bad(parsed.reason);
  return parsed.key;
}
