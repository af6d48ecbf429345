/**
 * The pack policy the image pins: which envelope each identity × environment may be wrapped for,
 * and which KMS keys its SOPS files may be decrypted under. clef.yaml arrives from the
 * (untrusted) host, so it may *name* an envelope and a scope, but only this policy — parsed from
 * flags in the image's measured `/cmd`, hence part of PCR2 — decides whether the enclave goes
 * along. Everything here runs before any KMS call.
 *
 * Flags (one per line of `/cmd`, machine-friendly: `CELL=TARGET`, CELL = `identity/environment`):
 *   --envelope api-gateway/production=arn:aws:kms:us-east-1:111122223333:key/1234abcd-…
 *   --envelope worker/dev=age1…[,age1…]
 *   --source-key api-gateway/production=arn:aws:kms:us-east-1:111122223333:key/…   (this cell only)
 *   --source-key arn:aws:kms:us-east-1:111122223333:key/…                          (every cell)
 *   --manifest-sha256 <64 hex>        (optional: the only clef.yaml contents accepted, repeatable)
 * Keys are `key/` ARNs only: an alias can be repointed (kms:UpdateAlias) after the image is built.
 */
import { checkAgeRecipient } from '../clef/age-recipient.js';
import { parseAwsKmsArn } from '../clef/aws-arn.js';
import type { PackScope } from '../clef/index.js';
import { UsageError } from '../../common/errors.js';
import { createHash } from 'node:crypto';
import { PackError } from './errors.js';

/** A KMS key named by its `key/` ARN (never an alias), as the policy and receipts record it. */
export const KMS_KEY_ONLY_ARN = /^arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

const CELL_RE = /^([a-z0-9][a-z0-9_-]{0,62})\/([a-z][a-z0-9_-]*)$/;

/** One allowed envelope: a KMS key (by `key/` ARN) or exactly this set of age recipients. */
export type AllowedEnvelope = { kind: 'kms'; keyArn: string } | { kind: 'age'; recipients: readonly string[] };

/** identity/environment → the one envelope its artifacts may have. */
export type EnvelopePolicy = ReadonlyMap<string, AllowedEnvelope>;

/** Source keys: those every cell may use, and those only one cell may use. */
export interface SourceKeyPolicy {
  any: readonly string[];
  byCell: ReadonlyMap<string, readonly string[]>;
}

/** The key of a cell in the maps above. */
export function cellName(identity: string, environment: string): string {
  return `${identity}/${environment}`;
}

/** Checks a flag's KMS key: a full `key/` ARN (aliases are refused: they can be repointed). */
export function requireKeyArn(flag: string, value: string): string {
  const parsed = parseAwsKmsArn(value);
  if (!parsed.ok) throw new UsageError(`${flag} ${JSON.stringify(value.slice(0, 200))}: ${parsed.reason}`);
  if (parsed.arn.resourceType !== 'key' || !KMS_KEY_ONLY_ARN.test(value)) {
    throw new UsageError(`${flag} ${JSON.stringify(value.slice(0, 200))}: name the key by its key/ ARN, not an alias`, {
      hint: 'anyone allowed kms:UpdateAlias could point an alias at another key after the image is measured; use `aws kms describe-key --key-id ALIAS` to find the key ARN',
    });
  }
  return value;
}

function splitCell(flag: string, text: string): { cell: string; target: string } {
  const eq = text.indexOf('=');
  const cell = eq < 0 ? '' : text.slice(0, eq);
  if (!CELL_RE.test(cell)) {
    throw new UsageError(`${flag} ${JSON.stringify(text.slice(0, 200))}: expected IDENTITY/ENVIRONMENT=TARGET`, {
      hint: `e.g. ${flag} api-gateway/production=arn:aws:kms:us-east-1:111122223333:key/…`,
    });
  }
  return { cell, target: text.slice(eq + 1) };
}

/** Parses `--envelope IDENTITY/ENVIRONMENT=TARGET` flags (TARGET: a KMS `key/` ARN, or age recipients joined by commas). */
export function parseEnvelopeFlags(flags: readonly string[]): EnvelopePolicy {
  const out = new Map<string, AllowedEnvelope>();
  for (const text of flags) {
    const { cell, target } = splitCell('--envelope', text);
    if (out.has(cell)) throw new UsageError(`--envelope ${cell} is given twice (a cell has exactly one envelope)`);
    if (target.startsWith('arn:')) {
      out.set(cell, { kind: 'kms', keyArn: requireKeyArn(`--envelope ${cell}`, target) });
      continue;
    }
    const recipients = target.split(',');
    for (const r of recipients) {
      const c = checkAgeRecipient(r);
      if (!c.ok || c.key !== r) {
        throw new UsageError(`--envelope ${cell}: ${c.ok ? 'no spaces around age recipients' : c.reason}`, {
          hint: 'TARGET is a KMS key/ ARN, or age recipients (age1…) separated by commas',
        });
      }
    }
    out.set(cell, { kind: 'age', recipients: [...new Set(recipients)].sort() });
  }
  return out;
}

/** Parses `--source-key [IDENTITY/ENVIRONMENT=]ARN` flags. */
export function parseSourceKeyFlags(flags: readonly string[]): SourceKeyPolicy | undefined {
  if (flags.length === 0) return undefined;
  const any: string[] = [];
  const byCell = new Map<string, string[]>();
  for (const text of flags) {
    if (text.startsWith('arn:')) {
      any.push(requireKeyArn('--source-key', text));
      continue;
    }
    const { cell, target } = splitCell('--source-key', text);
    const list = byCell.get(cell) ?? [];
    list.push(requireKeyArn(`--source-key ${cell}`, target));
    byCell.set(cell, list);
  }
  return { any, byCell };
}

function describeEnvelope(e: PackScope['envelope'] | AllowedEnvelope): string {
  if (e.kind === 'kms') return `KMS key ${'keyArn' in e ? e.keyArn : e.keyId}`;
  return `age recipient(s) ${e.recipients.join(', ')}`;
}

/**
 * Refuses an envelope that is not exactly the one the policy gives this identity × environment
 * (PACK_WRAP_TARGET_REFUSED), before anything is decrypted. 'any' opts out (tests, experiments).
 */
export function checkEnvelope(scope: PackScope, policy: EnvelopePolicy | 'any' | undefined): void {
  if (policy === undefined || policy === 'any') return;
  const cell = cellName(scope.identity, scope.environment);
  const allowed = policy.get(cell);
  const env = scope.envelope;
  const matches =
    allowed !== undefined &&
    (env.kind === 'kms'
      ? allowed.kind === 'kms' && allowed.keyArn === env.keyId
      : allowed.kind === 'age' && env.recipients.length > 0 && sameSet(env.recipients, allowed.recipients));
  if (!matches) {
    throw new PackError(
      'PACK_WRAP_TARGET_REFUSED',
      allowed === undefined
        ? `${cell}: this enclave packs no artifact for this identity and environment (clef.yaml asks for ${describeEnvelope(env)})`
        : `${cell} would be wrapped for ${describeEnvelope(env)}; this enclave wraps ${cell} only for ${describeEnvelope(allowed)}`,
      {
        hint: `the image pins one envelope per identity/environment: rebuild it with --envelope ${cell}=TARGET if this is intended`,
        details: { identity: scope.identity, environment: scope.environment, refused: 'envelope' },
      },
    );
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

/** The source keys this identity × environment may decrypt with (undefined: no restriction). */
export function sourceKeysFor(policy: SourceKeyPolicy | readonly string[] | undefined, identity: string, environment: string): readonly string[] | undefined {
  if (policy === undefined) return undefined;
  if (Array.isArray(policy)) return policy as readonly string[];
  const p = policy as SourceKeyPolicy;
  return [...p.any, ...(p.byCell.get(cellName(identity, environment)) ?? [])];
}

/**
 * Refuses, before any KMS call, a scoped SOPS file none of whose KMS entries is an allowed source
 * key for this cell (PACK_SOURCE_KEY_REFUSED naming the file and its keys). `kmsArnsOf` reads the
 * file's metadata without decrypting anything.
 */
export function checkSourceKeys(
  files: ReadonlyArray<{ path: string; kmsArns: readonly string[] }>,
  allowed: readonly string[] | undefined,
  cell: string,
): void {
  if (allowed === undefined) return;
  for (const f of files) {
    if (!f.kmsArns.some((arn) => allowed.includes(arn))) {
      throw new PackError(
        'PACK_SOURCE_KEY_REFUSED',
        `${f.path} is encrypted under ${f.kmsArns.length ? f.kmsArns.map((a) => a.slice(0, 200)).join(', ') : 'no KMS key'}, which this enclave does not decrypt with for ${cell}`,
        {
          details: { path: f.path, refused: 'source key' },
          hint: `the image pins the source keys: rebuild it with --source-key ${cell}=ARN (or --source-key ARN for every cell)`,
        },
      );
    }
  }
}

/** Parses `--manifest-sha256 HEX` flags (SHA-256 of the exact clef.yaml bytes, lower-case hex). */
export function parseManifestPins(flags: readonly string[]): readonly string[] | undefined {
  if (flags.length === 0) return undefined;
  for (const f of flags) {
    if (!/^[0-9a-f]{64}$/.test(f)) {
      throw new UsageError(`--manifest-sha256 ${JSON.stringify(f.slice(0, 80))}: expected 64 lower-case hex digits`, { hint: 'sha256sum clef.yaml' });
    }
  }
  return [...new Set(flags)];
}

/**
 * Refuses a clef.yaml whose bytes are not one the image pins (PACK_MANIFEST_REFUSED), before it is
 * even parsed. With a pin the host chooses nothing of the scope: not the namespaces an identity
 * reads, not the files a cell points at, not the envelopes. Absent: any clef.yaml (the envelope and
 * source-key pins still hold, and the receipt records the manifest's hash).
 */
export function checkManifest(content: Uint8Array, pins: readonly string[] | undefined): void {
  if (pins === undefined) return;
  const sha256 = createHash('sha256').update(content).digest('hex');
  if (!pins.includes(sha256)) {
    throw new PackError('PACK_MANIFEST_REFUSED', `clef.yaml (sha256 ${sha256}) is not a manifest this enclave packs from`, {
      hint: 'the image pins its clef.yaml by --manifest-sha256: pack from that commit, or rebuild the image with the new hash',
      details: { sha256, refused: 'manifest' },
    });
  }
}
