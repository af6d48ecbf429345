/**
 * Encrypting a plaintext tree into a file sops would write, as named steps in order:
 *   1. check the tree fits the store                 (one document for JSON/dotenv/INI/binary, no `sops` key)
 *   2. get the data key and wrap it per master key   (Shamir split first when there are several groups)
 *   3. encrypt every value, hashing the plaintext    (encryptBranches)
 *   4. encrypt the MAC under `lastmodified`
 *   5. write the store with the metadata of the chosen sops version
 * The data key, IVs and time can be injected, which makes the output byte-for-byte reproducible.
 */
import { randomBytes } from 'node:crypto';
import { zeroize } from '../../common/bytes.js';
import { DATA_KEY_LENGTH, IV_LENGTH, ValueCipher } from './cipher.js';
import { SopsError, describePath } from './errors.js';
import { formatSopsTimestamp } from './go-format.js';
import { ageWrap } from './keys/age.js';
import type { KmsWrap } from './keys/kms.js';
import { DEFAULT_SOPS_VERSION, layoutForVersion } from './layout.js';
import type { SopsFormat, SopsMasterKey, SopsMetadata } from './metadata.js';
import { DEFAULT_RULE, EncryptionRules, type CryptRule } from './rules.js';
import { shamirSplit } from './shamir.js';
import { emitEncryptedFile, loadPlainFile } from './stores/index.js';
import { SopsComment, SopsMap } from './tree.js';
import { encryptBranches, sealLeaf, type IvSource } from './walk.js';

/** A master key to encrypt the data key for; with `enc` set, the entry is used as is (already wrapped). */
export type SopsMasterKeySpec =
  | { type: 'age'; recipient: string; enc?: string }
  | {
      type: 'kms';
      arn: string;
      context?: Record<string, string>;
      role?: string;
      awsProfile?: string;
      enc?: string;
      createdAt?: string;
    }
  | { type: 'pgp'; fp: string; enc: string; createdAt: string };

/** Options of `encryptSops`. Only `format` and `keyGroups` are required. */
export interface SopsEncryptOptions {
  format: SopsFormat;
  /** One array per key group; a single group means no Shamir. */
  keyGroups: SopsMasterKeySpec[][];
  /** Wraps the data key under a KMS key (needed when a `kms` spec has no `enc`). */
  kms?: KmsWrap;
  /** Groups needed to decrypt; default: all groups. Ignored for one group. */
  shamirThreshold?: number;
  /**
   * The encryption rule. Default: `unencrypted_suffix: _unencrypted` written out (as the sops CLI
   * does), except for binary files, which get no rule. `null`: write no rule.
   */
  rule?: CryptRule | null;
  macOnlyEncrypted?: boolean;
  /** Write the file as this sops version would (layout and `version` field). Default 3.13.2. */
  version?: string;
  /** YAML indent (default 4) or JSON indent (default tab). */
  indent?: number;
  /** Data key to use (32 bytes) instead of a random one; the caller keeps ownership. */
  dataKey?: Uint8Array;
  /** IVs for the values in document order, then the MAC; default random 32-byte IVs. */
  ivs?: IvSource | Iterable<Uint8Array>;
  /** Time for `lastmodified` and KMS `created_at`; default now. */
  now?: Date;
}

function ivSource(ivs: SopsEncryptOptions['ivs']): IvSource {
  if (ivs === undefined) return () => randomBytes(IV_LENGTH);
  if (typeof ivs === 'function') return ivs;
  const it = ivs[Symbol.iterator]();
  return () => {
    const n = it.next();
    if (n.done) throw new SopsError('SOPS_ENCRYPT_FAILED', 'ran out of injected IVs');
    return n.value;
  };
}

function checkTree(branches: readonly SopsMap[], format: SopsFormat): void {
  if (branches.length === 0) throw new SopsError('SOPS_ENCRYPT_FAILED', 'there is no document to encrypt');
  if (format !== 'yaml' && branches.length !== 1) {
    throw new SopsError('SOPS_ENCRYPT_FAILED', `${format} files hold exactly one document, got ${branches.length}`);
  }
  for (const b of branches) {
    if (!(b instanceof SopsMap)) throw new SopsError('SOPS_ENCRYPT_FAILED', 'every document must be a SopsMap');
    for (const e of b.entries) {
      if (e instanceof SopsComment) continue;
      if (format === 'dotenv' ? e.key.startsWith('sops_') : e.key === 'sops') {
        throw new SopsError('SOPS_ENCRYPT_FAILED', `the key ${JSON.stringify(e.key)} is reserved for sops metadata`, {
          hint: 'the file may already be encrypted',
        });
      }
      if (format === 'dotenv' && (e.value instanceof SopsMap || Array.isArray(e.value))) {
        throw new SopsError('SOPS_ENCRYPT_FAILED', `dotenv values must be scalars (${describePath([e.key])})`);
      }
      if (format === 'ini' && !(e.value instanceof SopsMap)) {
        throw new SopsError('SOPS_ENCRYPT_FAILED', `INI top-level entries must be sections (${describePath([e.key])})`);
      }
    }
  }
}

async function wrapKey(spec: SopsMasterKeySpec, part: Uint8Array, opts: SopsEncryptOptions, createdAt: string): Promise<SopsMasterKey> {
  switch (spec.type) {
    case 'age':
      return { type: 'age', recipient: spec.recipient, enc: spec.enc ?? (await ageWrap(spec.recipient, part)) };
    case 'pgp':
      return { type: 'pgp', fp: spec.fp, enc: spec.enc, createdAt: spec.createdAt };
    case 'kms': {
      let enc = spec.enc;
      if (enc === undefined) {
        if (!opts.kms) throw new SopsError('SOPS_ENCRYPT_FAILED', `no KMS wrap function to encrypt the data key under ${spec.arn}`);
        enc = await opts.kms({
          arn: spec.arn,
          plaintext: part,
          ...(spec.context ? { context: { ...spec.context } } : {}),
          ...(spec.role ? { role: spec.role } : {}),
          ...(spec.awsProfile ? { awsProfile: spec.awsProfile } : {}),
        });
      }
      return {
        type: 'kms',
        arn: spec.arn,
        ...(spec.role ? { role: spec.role } : {}),
        ...(spec.context && Object.keys(spec.context).length ? { context: { ...spec.context } } : {}),
        createdAt: spec.createdAt ?? createdAt,
        enc,
        awsProfile: spec.awsProfile ?? '',
      };
    }
  }
}

/** Encrypts plaintext branches (one per YAML document) into the bytes of a sops file. */
export async function encryptSops(branches: readonly SopsMap[], opts: SopsEncryptOptions): Promise<Uint8Array> {
  checkTree(branches, opts.format);
  const groups = opts.keyGroups.filter((g) => g.length > 0);
  if (groups.length === 0) throw new SopsError('SOPS_ENCRYPT_FAILED', 'no master key given (need at least one age recipient or KMS key)');
  if (opts.dataKey !== undefined && opts.dataKey.length !== DATA_KEY_LENGTH) {
    throw new SopsError('SOPS_ENCRYPT_FAILED', `the data key must be ${DATA_KEY_LENGTH} bytes`);
  }
  const layout = layoutForVersion(opts.version ?? DEFAULT_SOPS_VERSION);
  const now = opts.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw new SopsError('SOPS_ENCRYPT_FAILED', 'invalid time for lastmodified');
  const lastModified = formatSopsTimestamp(now);
  const rule: CryptRule | null = opts.rule === undefined ? (opts.format === 'binary' ? null : DEFAULT_RULE) : opts.rule;
  const threshold = groups.length > 1 ? (opts.shamirThreshold ?? groups.length) : 0;

  const dataKey = opts.dataKey ? Buffer.from(opts.dataKey) : randomBytes(DATA_KEY_LENGTH);
  const parts: Uint8Array[] = groups.length > 1 ? shamirSplit(dataKey, groups.length, threshold) : [dataKey];
  const cipher = new ValueCipher(dataKey);
  try {
    const keyGroups: SopsMasterKey[][] = [];
    for (let g = 0; g < groups.length; g++) {
      const wrapped: SopsMasterKey[] = [];
      for (const spec of groups[g]) wrapped.push(await wrapKey(spec, parts[g], opts, lastModified));
      keyGroups.push(wrapped);
    }
    const nextIv = ivSource(opts.ivs);
    const rules = new EncryptionRules(rule ?? DEFAULT_RULE);
    const walked = encryptBranches(branches, cipher, rules, opts.macOnlyEncrypted ?? false, nextIv, layout.encryptComments);
    const mac = sealLeaf(cipher, walked.macHex, lastModified, nextIv);
    const md: SopsMetadata = {
      lastModified,
      mac,
      version: layout.version,
      rule: rule ?? DEFAULT_RULE,
      ruleExplicit: rule !== null,
      macOnlyEncrypted: opts.macOnlyEncrypted ?? false,
      shamirThreshold: threshold,
      keyGroups,
      keyGroupsExplicit: groups.length > 1,
    };
    return emitEncryptedFile(walked.branches, md, opts.format, layout, { ...(opts.indent !== undefined ? { indent: opts.indent } : {}) });
  } catch (err) {
    if (err instanceof SopsError) throw err;
    throw new SopsError('SOPS_INTERNAL', 'unexpected error while encrypting', { cause: err });
  } finally {
    cipher.destroy();
    if (groups.length > 1) zeroize(...parts);
    zeroize(dataKey);
  }
}

/** Parses a plaintext file of the given format and encrypts it (what `sops encrypt FILE` does). */
export async function encryptSopsFile(plain: Uint8Array, opts: SopsEncryptOptions): Promise<Uint8Array> {
  const layout = layoutForVersion(opts.version ?? DEFAULT_SOPS_VERSION);
  const branches = loadPlainFile(plain, opts.format, layout.jsonIntegers ? 'int-or-float' : 'float');
  return encryptSops(branches, opts);
}
