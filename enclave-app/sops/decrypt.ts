/**
 * Decrypting a SOPS file, as named steps in order:
 *   1. load the store and take out the metadata      (loadEncryptedFile, parseMetadata)
 *   2. refuse files without a MAC                    (SOPS_NO_MAC — before any key is used)
 *   3. recover the data key from the master keys     (recoverDataKey)
 *   4. decrypt every value, recomputing the MAC      (decryptBranches: all values in one batch,
 *                                                     gcm-batch.ts; the MAC over the authenticated
 *                                                     bytes, before any `type:` tag is trusted)
 *   5. decrypt the stored MAC and compare            (verifyMac — always; there is no opt-out),
 *      and only then report a value whose tag did not fit its bytes
 * The data key lives in one Buffer that is zeroed in `finally`.
 */
import { timingSafeEqual } from 'node:crypto';
import { zeroize } from '../../common/bytes.js';
import { ValueCipher } from './cipher.js';
import { recoverDataKey, type SopsKeySources } from './data-key.js';
import { SopsError } from './errors.js';
import { goFormatRfc3339, goParseRfc3339 } from './go-format.js';
import {
  parseMetadata,
  type AgeMasterKey,
  type KmsMasterKey,
  type PgpMasterKey,
  type SopsFormat,
  type SopsMetadata,
} from './metadata.js';
import type { GcmBackend } from './gcm-batch.js';
import { EncryptionRules } from './rules.js';
import { loadEncryptedFile } from './stores/index.js';
import { type SopsMap } from './tree.js';
import { decryptBranches, type ValueReading } from './walk.js';

/** A decrypted file: the ordered plaintext branches (one per YAML document) and the verified metadata. */
export interface SopsDecrypted {
  format: SopsFormat;
  branches: SopsMap[];
  metadata: SopsMetadata;
}

/** Metadata of an encrypted file, read without any key (what the pipeline needs before calling KMS). */
export interface SopsFileMetadata extends SopsMetadata {
  format: SopsFormat;
  /** False when `mac` is missing or empty (such a file will fail to decrypt with SOPS_NO_MAC). */
  macPresent: boolean;
  /** Every KMS entry of every group, in file order. */
  kms: KmsMasterKey[];
  /** Every age entry of every group. */
  age: AgeMasterKey[];
  /** Every PGP entry of every group. */
  pgp: PgpMasterKey[];
}

function wrapUnexpected(err: unknown): never {
  if (err instanceof SopsError) throw err;
  throw new SopsError('SOPS_INTERNAL', 'unexpected error while reading the sops file', {
    cause: err,
    hint: 'this is a bug in attested-pack; re-run with ATTESTED_PACK_DEBUG=1 and report it',
  });
}

function load(bytes: Uint8Array, format: SopsFormat): { branches: SopsMap[]; metadata: SopsMetadata } {
  try {
    const file = loadEncryptedFile(bytes, format);
    return { branches: file.branches, metadata: parseMetadata(file.metadata) };
  } catch (err) {
    return wrapUnexpected(err);
  }
}

/**
 * A SOPS file parsed once (store and metadata), so a caller that needs its metadata first and
 * then decrypts it does not parse it twice. Neither `sopsFileMetadata` nor `decryptSopsFile`
 * modifies it; it holds ciphertext and metadata only.
 */
export interface LoadedSopsFile {
  readonly format: SopsFormat;
  readonly branches: SopsMap[];
  readonly metadata: SopsMetadata;
}

/** Parses a SOPS file without decrypting anything (the errors of readSopsMetadata / decryptSops). */
export function loadSopsFile(bytes: Uint8Array, format: SopsFormat): LoadedSopsFile {
  return { format, ...load(bytes, format) };
}

/** Reads the metadata of an encrypted file without decrypting anything. */
export function readSopsMetadata(bytes: Uint8Array, format: SopsFormat): SopsFileMetadata {
  return sopsFileMetadata(loadSopsFile(bytes, format));
}

/** The metadata of a loaded file (see readSopsMetadata). */
export function sopsFileMetadata(file: LoadedSopsFile): SopsFileMetadata {
  const { metadata, format } = file;
  const all = metadata.keyGroups.flat();
  return {
    ...metadata,
    format,
    macPresent: metadata.mac !== '',
    kms: all.filter((k): k is KmsMasterKey => k.type === 'kms'),
    age: all.filter((k): k is AgeMasterKey => k.type === 'age'),
    pgp: all.filter((k): k is PgpMasterKey => k.type === 'pgp'),
  };
}

/** The AAD of the MAC: `lastmodified` re-formatted the way Go prints RFC 3339. */
export function macAad(lastModified: string): string {
  const t = goParseRfc3339(lastModified);
  if (!t) throw new SopsError('SOPS_BAD_METADATA', 'lastmodified is not an RFC 3339 time');
  return goFormatRfc3339(t);
}

function requireMac(md: SopsMetadata): void {
  if (md.mac === '') {
    throw new SopsError('SOPS_NO_MAC', 'the file has no MAC, so its integrity cannot be checked', {
      hint: 'sops refuses such files too; re-encrypt the file with sops to add a MAC',
    });
  }
}

function verifyMac(cipher: ValueCipher, md: SopsMetadata, computedHex: string): void {
  let stored: unknown;
  try {
    stored = cipher.decrypt(md.mac, macAad(md.lastModified), ['sops', 'mac']);
  } catch {
    throw new SopsError('SOPS_MAC_MISMATCH', 'the MAC could not be decrypted (lastmodified or the MAC was changed, or the data key is wrong)');
  }
  const a = Buffer.from(typeof stored === 'string' ? stored : '', 'utf8');
  const b = Buffer.from(computedHex, 'utf8');
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new SopsError('SOPS_MAC_MISMATCH', 'MAC mismatch: the file was modified after it was encrypted', {
      hint: 'a value, key name, comment position or lastmodified was changed; restore the file from version control',
    });
  }
}

/** Options of decryptSops. */
export interface SopsDecryptOptions {
  /**
   * `typed` (default, like `sops decrypt`): values read by their `type:` tag; a tag that does not
   * fit is SOPS_BAD_VALUE, reported only after the MAC matched. `text` (the pack path): values
   * read by their bytes alone, so the unauthenticated tag never decides success.
   */
  values?: ValueReading;
  /**
   * Which AES-256-GCM implementation opens the values (gcm-batch.ts): `auto` (default) takes
   * OpenSSL through the addon when it is loaded, else node:crypto; `node` forces node:crypto
   * (the benchmark and the tests compare the two); `openssl` fails where the addon is missing.
   */
  aesGcm?: GcmBackend;
}

function decryptLoaded(branches: SopsMap[], metadata: SopsMetadata, dataKey: Uint8Array, format: SopsFormat, options: SopsDecryptOptions = {}): SopsDecrypted {
  const cipher = new ValueCipher(dataKey);
  try {
    const rules = new EncryptionRules(metadata.rule);
    const walked = decryptBranches(branches, cipher, rules, metadata.macOnlyEncrypted, options.values ?? 'typed', dataKey, options.aesGcm);
    // 5. The MAC first: whatever the tags say, a modified file fails here with one answer.
    verifyMac(cipher, metadata, walked.macHex);
    if (walked.misfit) throw walked.misfit;
    return { format, branches: walked.branches, metadata };
  } catch (err) {
    return wrapUnexpected(err);
  } finally {
    cipher.destroy();
  }
}

/** Decrypts a SOPS file with the given key sources; the MAC is always verified. */
export async function decryptSops(bytes: Uint8Array, format: SopsFormat, keys: SopsKeySources, options: SopsDecryptOptions = {}): Promise<SopsDecrypted> {
  return decryptSopsFile(loadSopsFile(bytes, format), keys, options);
}

/** decryptSops of a file already parsed by loadSopsFile. */
export async function decryptSopsFile(file: LoadedSopsFile, keys: SopsKeySources, options: SopsDecryptOptions = {}): Promise<SopsDecrypted> {
  const { branches, metadata, format } = file;
  requireMac(metadata);
  let dataKey: Uint8Array | undefined;
  try {
    dataKey = await recoverDataKey(metadata, keys);
    return decryptLoaded(branches, metadata, dataKey, format, options);
  } finally {
    zeroize(dataKey);
  }
}

/** Decrypts with an already known data key (32 bytes; not zeroed here, the caller owns it). */
export function decryptSopsWithDataKey(bytes: Uint8Array, format: SopsFormat, dataKey: Uint8Array, options: SopsDecryptOptions = {}): SopsDecrypted {
  const { branches, metadata } = load(bytes, format);
  requireMac(metadata);
  return decryptLoaded(branches, metadata, dataKey, format, options);
}
