/**
 * Recovering the data key of a file from its master keys (sops.go GetDataKeyWithKeyServices):
 * inside a group keys are tried in decryption order until one works; one group yields the key
 * itself, several groups yield Shamir shares combined once `shamir_threshold` are in hand.
 * Every failure is recorded (without secrets) so SOPS_NO_KEY can say what was tried and why.
 */
import { zeroize } from '../../common/bytes.js';
import { isAttestedPackError } from '../../common/errors.js';
import { DATA_KEY_LENGTH } from './cipher.js';
import { SopsError } from './errors.js';
import { ageUnwrap } from './keys/age.js';
import type { KmsUnwrap } from './keys/kms.js';
import { pgpUnwrap } from './keys/pgp.js';
import type { SopsKeyType, SopsMasterKey, SopsMetadata } from './metadata.js';
import { shamirCombine } from './shamir.js';

/** The key material and callbacks a decryption may use. Everything is optional; absent sources are skipped. */
export interface SopsKeySources {
  /** age identities (`AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`). */
  ageIdentities?: readonly string[];
  /** Unwraps a KMS entry (the enclave's attested KMS call, or the SDK in the CLI). */
  kms?: KmsUnwrap;
  /** Armored, unprotected PGP private keys (one block per entry). */
  pgpPrivateKeys?: readonly string[];
  /** Order of key types within a group; default sops' `[age, pgp]`, other types after in file order. */
  decryptionOrder?: readonly SopsKeyType[];
}

/** One failed attempt, as reported in SOPS_NO_KEY's details. */
export interface KeyAttempt {
  group: number;
  type: SopsKeyType;
  /** Recipient, ARN or fingerprint (public identifiers only). */
  key: string;
  reason: string;
  code?: string;
}

/** Public identifier of a master key for messages. */
export function describeMasterKey(k: SopsMasterKey): string {
  switch (k.type) {
    case 'age':
      return k.recipient;
    case 'kms':
      return k.arn;
    case 'pgp':
      return k.fp;
    default:
      return Object.values(k.fields).join('/');
  }
}

function reasonOf(err: unknown): { reason: string; code?: string; unavailable: boolean } {
  if (isAttestedPackError(err)) return { reason: err.message.slice(0, 300), code: err.code, unavailable: err.category === 'unavailable' };
  if (err instanceof Error) return { reason: `${err.name}: ${err.message}`.slice(0, 300), unavailable: false };
  return { reason: 'unknown failure', unavailable: false };
}

async function unwrapOne(k: SopsMasterKey, keys: SopsKeySources): Promise<Uint8Array> {
  switch (k.type) {
    case 'age':
      if (!keys.ageIdentities?.length) throw new SopsError('SOPS_NO_KEY', 'no age identity was provided');
      return ageUnwrap(k.enc, keys.ageIdentities);
    case 'pgp':
      if (!keys.pgpPrivateKeys?.length) throw new SopsError('SOPS_NO_KEY', 'no PGP private key was provided');
      return pgpUnwrap(k.enc, keys.pgpPrivateKeys);
    case 'kms': {
      if (!keys.kms) throw new SopsError('SOPS_NO_KEY', 'no KMS key source is configured');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(k.enc) || k.enc.length % 4 !== 0) {
        throw new SopsError('SOPS_BAD_METADATA', 'the kms entry enc is not base64');
      }
      return keys.kms({
        arn: k.arn,
        ...(k.role ? { role: k.role } : {}),
        ...(k.context ? { context: { ...k.context } } : {}),
        enc: k.enc,
        ciphertextBlob: new Uint8Array(Buffer.from(k.enc, 'base64')),
        ...(k.awsProfile ? { awsProfile: k.awsProfile } : {}),
      });
    }
    default:
      throw new SopsError('SOPS_UNSUPPORTED', `key source ${k.type} is not supported by this codec`);
  }
}

function ordered(group: readonly SopsMasterKey[], order: readonly SopsKeyType[]): SopsMasterKey[] {
  const prio = (k: SopsMasterKey): number => {
    const i = order.indexOf(k.type);
    return i === -1 ? order.length : i;
  };
  return group
    .map((k, i) => ({ k, i }))
    .sort((a, b) => prio(a.k) - prio(b.k) || a.i - b.i)
    .map((x) => x.k);
}

/**
 * Recovers the 32-byte data key. The caller owns the returned buffer and must zero it.
 * Throws SOPS_NO_KEY listing every attempt when not enough groups could be opened.
 */
export async function recoverDataKey(md: SopsMetadata, keys: SopsKeySources): Promise<Uint8Array> {
  const order = keys.decryptionOrder ?? ['age', 'pgp'];
  const multi = md.keyGroups.length > 1;
  const needed = multi ? md.shamirThreshold || md.keyGroups.length : 1;
  const partLength = multi ? DATA_KEY_LENGTH + 1 : DATA_KEY_LENGTH;
  const attempts: KeyAttempt[] = [];
  let allUnavailable = true;
  const parts: Uint8Array[] = [];
  try {
    for (let g = 0; g < md.keyGroups.length && parts.length < needed; g++) {
      for (const k of ordered(md.keyGroups[g], order)) {
        try {
          const part = await unwrapOne(k, keys);
          if (part.length !== partLength) {
            zeroize(part);
            throw new SopsError('SOPS_NO_KEY', `the key source returned ${part.length} bytes, expected ${partLength}`);
          }
          parts.push(part);
          break;
        } catch (err) {
          const r = reasonOf(err);
          if (!r.unavailable) allUnavailable = false;
          attempts.push({ group: g + 1, type: k.type, key: describeMasterKey(k), reason: r.reason, ...(r.code ? { code: r.code } : {}) });
        }
      }
    }
    if (parts.length < needed) {
      const list = attempts.map((a) => `group ${a.group} ${a.type} ${a.key}: ${a.reason}`).join('; ');
      throw new SopsError(
        'SOPS_NO_KEY',
        multi
          ? `could not recover the data key: ${parts.length} of ${needed} required key groups opened (${list || 'no keys tried'})`
          : `could not recover the data key (${list || 'no keys tried'})`,
        {
          hint: 'provide a matching age identity (--age-key-file / SOPS_AGE_KEY_FILE) or credentials for one of the KMS keys',
          details: { attempts, groups: md.keyGroups.length, required: needed },
          ...(allUnavailable && attempts.length > 0 ? { category: 'unavailable' as const } : {}),
        },
      );
    }
    if (!multi) return parts[0];
    const key = shamirCombine(parts);
    if (key.length !== DATA_KEY_LENGTH) {
      zeroize(key);
      throw new SopsError('SOPS_NO_KEY', 'the Shamir shares did not combine to a 32-byte data key');
    }
    return key;
  } finally {
    if (multi) zeroize(...parts);
  }
}
