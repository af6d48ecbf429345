/**
 * Shared test helpers for attestation/: the genuine vectors (manifest.json), a fixed-clock
 * simulated PKI, custom chains for mis-built documents, and payload mutation tools.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { AttestationError, type AttestationErrorCode } from '../../attestation/errors.js';
import { CborMap, decodeCbor, encodeCbor, type CborValue } from '../../attestation/cbor.js';
import { decodeCoseSign1 } from '../../attestation/cose.js';
import { buildAttestationDocument, signCoseSign1, SimulatedNsmPki, type PkiLevel } from '../../attestation/simulated-nsm.js';
import type { AttestationPayload } from '../../attestation/payload.js';
import { issueCertificate, keyIdentifier, type CertificateSpec, type NameSpec } from '../../attestation/x509-build.js';
import { KEY_USAGE } from '../../attestation/x509.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const vectorsDir = path.resolve(repoRoot, 'test/vectors');
export const attestationVectors = path.join(vectorsDir, 'attestation');

export interface ManifestDoc {
  file: string;
  encoding: 'raw' | 'base64';
  expected: string;
  timestamp_ms: number;
  module_id: string;
  suggested_verification_time_ms: number;
  pcrs: Record<string, string>;
  public_key_len: number | null;
  user_data_len: number | null;
  nonce_len: number | null;
  sha256_of_decoded_bytes: string;
}

export const manifest = JSON.parse(readFileSync(path.join(attestationVectors, 'manifest.json'), 'utf8')) as {
  attestation_docs: ManifestDoc[];
};

/** The bytes of a manifest document (base64 files decoded). */
export function docBytes(d: ManifestDoc): Uint8Array {
  const raw = readFileSync(path.join(attestationVectors, d.file));
  return new Uint8Array(d.encoding === 'base64' ? Buffer.from(raw.toString('utf8').trim(), 'base64') : raw);
}

export const isMock = (d: ManifestDoc): boolean => d.file.includes('custom.bin');
export const isDebugDoc = (d: ManifestDoc): boolean => !d.pcrs['0'];
export const genuineDocs = manifest.attestation_docs.filter((d) => !isMock(d));
export const productionDocs = genuineDocs.filter((d) => !isDebugDoc(d));
export const debugDocs = genuineDocs.filter(isDebugDoc);
export const mockDoc = manifest.attestation_docs.find(isMock)!;
export const byFile = (fragment: string): ManifestDoc => manifest.attestation_docs.find((d) => d.file.includes(fragment))!;

/** Expected PCRs of a manifest doc: its listed non-zero PCRs (the manifest is the independent source). */
export const manifestPcrs = (d: ManifestDoc): Record<number, string> =>
  Object.fromEntries(Object.entries(d.pcrs).map(([k, v]) => [Number(k), v]));

/** Asserts that a promise rejects with an AttestationError of the given code; returns the error. */
export async function expectCode(p: Promise<unknown>, code: AttestationErrorCode): Promise<AttestationError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected rejection with ${code}`).toBeInstanceOf(AttestationError);
  expect((caught as AttestationError).code).toBe(code);
  return caught as AttestationError;
}

/** A fixed instant for simulated documents (tests never depend on the real clock). */
export const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);

/** PCR values that look like a real production image. */
export const SIM_PCRS = { 0: 'a0'.repeat(48), 1: 'a1'.repeat(48), 2: 'a2'.repeat(48) } as const;

/** An ephemeral PKI on a fixed clock. */
export async function fixedPki(t = T0): Promise<SimulatedNsmPki> {
  return SimulatedNsmPki.ephemeral({ now: () => t });
}

// ---------------------------------------------------------------------------------------------
// Payload mutation

/** The payload map of a document, as entries (wire order). */
export function payloadEntries(doc: Uint8Array): Array<[string, CborValue]> {
  const map = decodeCbor(decodeCoseSign1(doc).payload) as CborMap;
  return map.entries.map(([k, v]) => [k as string, v]);
}

/** Encodes entries as a payload map (any order, duplicates allowed). */
export function encodeEntries(entries: ReadonlyArray<readonly [CborValue, CborValue]>): Uint8Array {
  return encodeCbor(new CborMap(entries));
}

/** Replaces (or with `undefined` removes) one field of a document's payload; returns payload bytes. */
export function mutatePayload(doc: Uint8Array, key: string, value: CborValue | undefined): Uint8Array {
  const entries = payloadEntries(doc)
    .map(([k, v]) => [k, k === key ? value : v] as [string, CborValue | undefined])
    .filter((e): e is [string, CborValue] => e[1] !== undefined);
  return encodeEntries(entries);
}

/** Re-signs payload bytes with a key in the genuine COSE layout. */
export const resign = (payload: Uint8Array, key: KeyObject): Uint8Array => signCoseSign1(payload, key);

// ---------------------------------------------------------------------------------------------
// Custom chains (for mis-built certificates)

export type Level = 'regional' | 'zonal' | 'instance' | 'leaf';
type KeyPair = { privateKey: KeyObject; publicKey: KeyObject };

export const p384 = (): KeyPair => generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
export const p256 = (): KeyPair => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

const NAMES: Record<'root' | Level, NameSpec> = {
  root: [['C', 'US'], ['O', 'test'], ['CN', 'root']],
  regional: [['C', 'US'], ['O', 'test'], ['CN', 'regional.test.nitro-enclaves']],
  zonal: [['CN', 'zonal.test.nitro-enclaves'], ['O', 'test'], ['C', 'US']],
  instance: [['C', 'US'], ['O', 'test'], ['CN', 'i-0123.test.nitro-enclaves']],
  leaf: [['C', 'US'], ['O', 'test'], ['CN', 'i-0123-enc0123.test']],
};

/** Per-level changes to the default (valid, AWS-shaped) profile; `key` replaces the generated key. */
export type LevelOverrides = Partial<Record<Level, Partial<Omit<CertificateSpec, 'publicKey'>> & { key?: KeyPair }>>;

export interface CustomChain {
  certificate: Uint8Array;
  /** Root first, like genuine documents. */
  cabundle: Uint8Array[];
  leafKey: KeyObject;
  keys: Record<Level, KeyPair>;
  ders: Record<Level, Uint8Array>;
}

/**
 * Issues regional → zonal → instance → leaf under `root` with the AWS profile, applying
 * overrides. Lifetimes are centred on `t`.
 */
export function customChain(root: PkiLevel, t: number, overrides: LevelOverrides = {}): CustomChain {
  const order: Level[] = ['regional', 'zonal', 'instance', 'leaf'];
  const pathLens: Record<Level, number | undefined> = { regional: 2, zonal: 1, instance: 0, leaf: undefined };
  let parentName: NameSpec = root.subject;
  let parentKey: KeyObject = root.privateKey;
  let parentPublic: KeyObject = root.cert.publicKey;
  const keys = {} as Record<Level, KeyPair>;
  const ders = {} as Record<Level, Uint8Array>;
  for (const level of order) {
    const o = overrides[level] ?? {};
    const key = o.key ?? p384();
    const isLeaf = level === 'leaf';
    const spec: CertificateSpec = {
      subject: NAMES[level],
      issuer: parentName,
      publicKey: key.publicKey,
      signingKey: parentKey,
      notBefore: t - 3_600_000,
      notAfter: t + 3_600_000,
      basicConstraints: isLeaf ? { ca: false, critical: true } : { ca: true, pathLen: pathLens[level], critical: true },
      keyUsage: isLeaf
        ? { bits: KEY_USAGE.digitalSignature | KEY_USAGE.nonRepudiation, critical: false }
        : { bits: KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign, critical: true },
      authorityKeyIdentifier: isLeaf ? null : keyIdentifier(parentPublic),
      ...o,
    };
    delete (spec as { key?: unknown }).key;
    ders[level] = issueCertificate(spec);
    keys[level] = key;
    parentName = spec.subject;
    parentKey = key.privateKey;
    parentPublic = key.publicKey;
  }
  return {
    certificate: ders.leaf,
    cabundle: [root.der, ders.regional, ders.zonal, ders.instance],
    leafKey: keys.leaf.privateKey,
    keys,
    ders,
  };
}

/** PCR map 0..15 with SIM_PCRS for 0..2 and zeros elsewhere. */
export function simPcrMap(): Map<number, Uint8Array> {
  const pcrs = new Map<number, Uint8Array>();
  for (let i = 0; i < 16; i++) pcrs.set(i, new Uint8Array(48));
  for (const [i, hex] of Object.entries(SIM_PCRS)) pcrs.set(Number(i), new Uint8Array(Buffer.from(hex, 'hex')));
  return pcrs;
}

/** A genuine-layout document over a given chain, signed with `signingKey`. */
export function docWithChain(
  chain: { certificate: Uint8Array; cabundle: Uint8Array[] },
  signingKey: KeyObject,
  fields: Partial<AttestationPayload> = {},
): Uint8Array {
  return buildAttestationDocument(
    {
      moduleId: 'i-0123-enc0123',
      digest: 'SHA384',
      timestamp: T0,
      pcrs: simPcrMap(),
      certificate: chain.certificate,
      cabundle: chain.cabundle,
      publicKey: null,
      userData: null,
      nonce: null,
      ...fields,
    },
    signingKey,
  );
}
