/**
 * What the auditor expects of a receipt, as one typed object: the measurements (and where they
 * come from), the pins on the parent (PCR3 role, PCR4 instance), the manifest path, the commit,
 * the nonce, the keys, the artifact signer, the freshness. The CLI fills it from flags; a file
 * of expectations can fill the same object. Every value here is compared by a check; nothing in
 * the receipt decides what is expected.
 *
 * Also here: which bindings a VERIFIED verdict needs (the receipt bound to the auditor's source,
 * artifact and signer, every key checked), so a missing flag is named before any check runs.
 */
import type { Receipt } from '../attestation/receipt-types.js';
import type { ParsedPolicy } from '../kms-policies/policy.js';
import type { PolicyPrincipal } from '../kms-policies/evaluate.js';
import type { PcrConditionSet } from '../kms-policies/pcr-conditions.js';
import type { VerifyKey } from '../enclave-app/clef/verify-key.js';

/** The manifest path a receipt is expected to name when the auditor gives none: Clef's default. */
export const DEFAULT_MANIFEST_PATH = 'clef.yaml';

/** One set of PCR values an image may have (a measurements.json, --pcrN flags). */
export interface PcrAlternative {
  /** e.g. `statement "EnclaveDecrypt"`; empty when there is only one alternative. */
  label: string;
  /** PCR index → accepted lower-case hex values (96 characters each). */
  pcrs: ReadonlyMap<number, readonly string[]>;
}

/**
 * A key policy as the expectation: an image counts only if the KMS evaluator (the one the
 * simulator enforces) allows `kms:Decrypt` for one of `callers` with a Recipient carrying the
 * document's PCRs, through a statement that pins the image, and would not allow it without one.
 */
export interface KeyPolicyExpectation {
  path: string;
  policy: ParsedPolicy;
  /** Who calls Decrypt: the parent role (--parent-role-arn), else every principal an image-pinning Allow names. */
  callers: readonly PolicyPrincipal[];
  /** The Allow statements that pin PCR0 / ImageSha384 exactly, with the PCR values each requires. */
  pinningStatements: ReadonlyMap<number, PcrConditionSet>;
}

/**
 * Expected PCR values and where they came from (named in evidence lines). Either PCR
 * alternatives (the document passes when it satisfies every PCR of at least one) or a key
 * policy judged by the evaluator. `pins` (PCR3, PCR4) must hold in every case.
 */
export interface ExpectedMeasurements {
  /** e.g. `measurements.json`, `--pcr flags`, `key policy policy.json`. */
  source: string;
  /** Never empty unless `keyPolicy` is given: no expectation at all is a usage error, not a pass. */
  alternatives: readonly PcrAlternative[];
  keyPolicy?: KeyPolicyExpectation;
  /** PCR index → { value, from } required on top of the source (PCR3 from a role ARN, PCR4). */
  pins?: ReadonlyMap<number, { value: string; from: string }>;
}

/** Everything a receipt must match, whichever way the auditor supplied it. */
export interface Expectations {
  measurements: ExpectedMeasurements;
  allowDebug: boolean;
  /** The repo-relative path of the manifest the pack must have read (default `clef.yaml`). */
  manifestPath: { path: string; from: 'default' | '--manifest' | '--expect' };
  /** The repository (owner/name) the pack must have been requested for (from --expect). */
  repository?: string;
  /** The commit the receipt must be for (full or abbreviated, lower-case hex). */
  commit?: string;
  /** Lower-case hex nonce the auditor issued. */
  nonce?: string;
  maxAgeMs?: number;
  /** KMS key ARNs and age recipients the pack may use (absent: what the manifest names). */
  keys?: readonly string[];
  /** The artifact signer's public key. */
  signer?: { source: string; key: VerifyKey };
}

/** The inputs beside the expectations that a VERIFIED verdict needs. */
export interface BindingInputs {
  repo: boolean;
  artifact: boolean;
}

/**
 * The flags still missing for a VERIFIED verdict (cosign / slsa-verifier style: bound to the
 * auditor's source, artifact and signer, and every key the pack used checked). Empty when the
 * receipt can be fully verified. The receipt's key list decides which keys need `--expect-key`;
 * if it lies, check 4 fails anyway.
 */
export function missingBindings(expect: Expectations, inputs: BindingInputs, receipt: Receipt): string[] {
  const missing: string[] = [];
  // --commit alone is not a binding: the receipt's commit is what the host claims, and only --repo
  // compares the inputs (clef.yaml and every SOPS file, by git blob id) with that commit.
  if (!inputs.repo) missing.push('--repo DIR: binds the receipt to your source (its inputs are compared with the blobs at the receipt\'s commit; --commit alone checks only the commit the host claims)');
  if (!inputs.artifact) missing.push('--artifact FILE: binds the artifact you deploy');
  if (expect.signer === undefined) missing.push('--verify-key SPKI or --kms-public-key FILE: binds the artifact signer');
  if (expect.keys === undefined) {
    const k = receipt.claims.keys;
    if (!inputs.repo) missing.push('--expect-key (or --repo): binds the keys the pack used');
    else {
      // The manifest names source and wrap keys / age recipients, never the sign or seal key.
      const unnamed = [...(k.sign ? [`sign key ${k.sign}`] : []), ...(k.seal ? [`seal key ${k.seal}`] : [])];
      if (unnamed.length > 0) missing.push(`--expect-key for the ${unnamed.join(' and ')} (clef.yaml does not name them; list every key you expect)`);
    }
  }
  return missing;
}
