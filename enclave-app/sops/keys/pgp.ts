/**
 * The PGP key source (read-only): decrypts the armored OpenPGP message of a `pgp` entry with
 * private keys given as armored text. openpgp.js is loaded only when a PGP entry is tried.
 */
import { SopsError } from '../errors.js';

/** Splits a file holding several armored private-key blocks into single blocks. */
export function splitArmoredKeys(text: string): string[] {
  const re = /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----/g;
  return text.match(re) ?? [];
}

// Parsing (and validating) RSA keys costs far more than decrypting one entry, so parsed keys are
// kept for as long as the caller holds the same key list (a WeakMap: nothing outlives the caller's array).
const parsedKeys = new WeakMap<readonly string[], unknown[]>();

/** Decrypts a sops `pgp` entry's `enc` with any of the armored private keys (unprotected keys only). */
export async function pgpUnwrap(enc: string, armoredKeys: readonly string[]): Promise<Uint8Array> {
  const openpgp = await import('openpgp');
  const config = { ...openpgp.config, minRSABits: 1023 };
  let keys = parsedKeys.get(armoredKeys) as Awaited<ReturnType<typeof openpgp.readPrivateKeys>> | undefined;
  if (!keys) {
    keys = [];
    for (const block of armoredKeys) {
      try {
        keys.push(...(await openpgp.readPrivateKeys({ armoredKeys: block, config })));
      } catch {
        throw new SopsError('SOPS_UNSUPPORTED', 'a PGP private key could not be read (passphrase-protected keys are not supported)');
      }
    }
    parsedKeys.set(armoredKeys, keys);
  }
  let message;
  try {
    message = await openpgp.readMessage({ armoredMessage: enc, config });
  } catch {
    throw new SopsError('SOPS_BAD_METADATA', 'the pgp entry is not a valid armored OpenPGP message');
  }
  try {
    const { data } = await openpgp.decrypt({ message, decryptionKeys: keys, format: 'binary', config });
    return data as Uint8Array;
  } catch {
    throw new SopsError('SOPS_NO_KEY', 'none of the PGP keys could decrypt this entry');
  }
}
