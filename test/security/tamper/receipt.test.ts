/**
 * Receipt tamper matrix: every claim path of a receipt whose claims use every field of the v1
 * format. Each leaf is replaced by a different value that is still schema-valid (checked with
 * parseReceiptClaims, so the variant exercises the binding and not the parser) and verifyReceipt
 * must fail with RECEIPT_BINDING_MISMATCH. Leaves with no schema-valid alternative (the type tag,
 * the tool name, an input's role) are refused as RECEIPT_MALFORMED. Structural edits (inputs removed, reordered, added;
 * keys list changes), a document borrowed from another receipt, and nonce substitution complete it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildReceipt,
  claimsDigest,
  parseReceiptClaims,
  verifyReceipt,
  type ReceiptVerifyOptions,
  type SimulatedNsmPki,
} from '../../../attestation/index.js';
import type { Receipt, ReceiptClaims } from '../../../attestation/receipt-types.js';
import { SIM_PCRS, T0, fixedPki, fullClaims, receiptFor } from '../fixtures.js';
import { getPath, jsonLeafPaths, setPath } from '../support.js';

let pki: SimulatedNsmPki;
let claims: ReceiptClaims;
let receipt: Receipt;

const options = (): ReceiptVerifyOptions => ({ trustedRoots: [pki.trustedRoot()], at: T0, expectedPcrs: SIM_PCRS });

beforeAll(async () => {
  pki = await fixedPki();
  claims = fullClaims();
  receipt = await receiptFor(pki, claims);
});

async function rejectionCode(r: unknown, o: ReceiptVerifyOptions = options()): Promise<string> {
  try {
    await verifyReceipt(r, o);
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'ACCEPTED';
}

/** Characters to substitute, chosen so that hex stays hex, base64 stays base64 and bech32 stays bech32. */
function substitute(c: string): string {
  if (/[0-8]/.test(c)) return String(Number(c) + 1);
  if (c === '9') return '8';
  if (/[a-e]/.test(c)) return String.fromCharCode(c.charCodeAt(0) + 1);
  if (c === 'f') return 'e';
  if (/[g-y]/.test(c)) return String.fromCharCode(c.charCodeAt(0) + 1);
  if (c === 'z') return 'y';
  if (/[A-Y]/.test(c)) return String.fromCharCode(c.charCodeAt(0) + 1);
  if (c === 'Z') return 'Y';
  return c;
}

/** Different values for a leaf, most conservative first; the first one the schema accepts is used. */
function alternatives(v: unknown): unknown[] {
  if (typeof v === 'number') return [v + 1, v - 1];
  if (v === null) return ['arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-00000000000f'];
  if (typeof v !== 'string') return [];
  const out: string[] = [];
  // Change one character, from the end backwards (skipping base64 padding and the last base64
  // digit, whose low bits must stay zero in canonical form).
  for (let i = v.length - 3; i >= 0 && out.length < 6; i--) {
    const s = substitute(v[i]!);
    if (s !== v[i]) out.push(v.slice(0, i) + s + v.slice(i + 1));
  }
  if (v === 'Ed25519') out.unshift('ECDSA_SHA256');
  return [...out, `${v}x`, `x${v}`];
}

interface Variant {
  label: string;
  claims: unknown;
  /** Expected verifyReceipt code. */
  expect: 'RECEIPT_BINDING_MISMATCH' | 'RECEIPT_MALFORMED' | 'RECEIPT_NONCE_MISMATCH';
}

function leafVariants(): Variant[] {
  const out: Variant[] = [];
  for (const path of jsonLeafPaths(claims)) {
    const label = `claims.${path.join('.')}`;
    const original = getPath(claims, path);
    const valid = alternatives(original).find((alt) => {
      try {
        parseReceiptClaims(setPath(claims, path, alt));
        return true;
      } catch {
        return false;
      }
    });
    if (valid !== undefined) out.push({ label: `${label}: ${JSON.stringify(original)} → ${JSON.stringify(valid)}`, claims: setPath(claims, path, valid), expect: 'RECEIPT_BINDING_MISMATCH' });
    else out.push({ label: `${label}: no schema-valid alternative, replaced`, claims: setPath(claims, path, `${String(original)}x`), expect: 'RECEIPT_MALFORMED' });
  }
  return out;
}

function structuralVariants(): Variant[] {
  const c = claims;
  const variants: Array<[string, (x: ReceiptClaims) => void]> = [
    ['inputs: a SOPS file dropped', (x) => x.inputs.pop()],
    ['inputs: two files reordered', (x) => x.inputs.reverse()],
    ['inputs: a file added', (x) => x.inputs.push({ ...x.inputs[1]!, path: 'secrets/extra/production.enc.yaml', namespace: 'extra' })],
    ['inputs: sopsLastModified removed', (x) => delete x.inputs[1]!.sopsLastModified],
    ['inputs: namespace removed', (x) => delete x.inputs[2]!.namespace],
    ['keys.source: a key dropped', (x) => x.keys.source.pop()],
    ['keys.source: a key added (sorted)', (x) => x.keys.source.push('arn:aws:kms:us-east-1:111122223333:key/ffffffff-0000-4000-8000-000000000001')],
    ['keys.ageRecipients: emptied', (x) => (x.keys.ageRecipients = [])],
    ['keys.wrap: null', (x) => (x.keys.wrap = null)],
    ['keys.sign: null', (x) => (x.keys.sign = null)],
    ['keys.seal: null', (x) => (x.keys.seal = null)],
    ['keys.signingPublicKey: null', (x) => (x.keys.signingPublicKey = null)],
    ['artifact.namespaces: reordered', (x) => x.artifact.namespaces.reverse()],
    ['artifact.namespaces: one dropped', (x) => x.artifact.namespaces.pop()],
    ['artifact.signatureAlgorithm: null', (x) => (x.artifact.signatureAlgorithm = null)],
    ['request.repository: emptied', (x) => (x.request.repository = '')],
    ['request.requestedBy: emptied', (x) => (x.request.requestedBy = '')],
  ];
  return variants.map(([label, edit]) => {
    const x = structuredClone(c);
    edit(x);
    parseReceiptClaims(x); // schema-valid: the binding, not the parser, must refuse it
    return { label, claims: x, expect: 'RECEIPT_BINDING_MISMATCH' as const };
  });
}

describe('receipt tamper matrix', () => {
  it('the untampered receipt verifies (the matrix is not vacuous)', async () => {
    await expect(verifyReceipt(receipt, { ...options(), expectedNonce: claims.request.nonce })).resolves.toMatchObject({ claims });
  });

  it('every claim leaf and every structural edit is refused with the binding code (or as malformed when no valid alternative exists)', async () => {
    const variants = [...leafVariants(), ...structuralVariants()];
    const failures: string[] = [];
    const counts = new Map<string, number>();
    for (const v of variants) {
      const code = await rejectionCode({ ...receipt, claims: v.claims });
      counts.set(code, (counts.get(code) ?? 0) + 1);
      if (code !== v.expect) failures.push(`${v.label}: expected ${v.expect}, got ${code}`);
    }
    // Every leaf of the claims is covered.
    expect(variants.filter((v) => v.label.startsWith('claims.')).length).toBe(jsonLeafPaths(claims).length);
    const malformed = variants.filter((v) => v.expect === 'RECEIPT_MALFORMED').map((v) => v.label.split(':')[0]);
    console.log(
      `receipt tamper matrix: ${variants.length} variants (${jsonLeafPaths(claims).length} claim leaves + ${variants.length - jsonLeafPaths(claims).length} structural), ${failures.length === 0 ? 'all rejected' : `${failures.length} NOT rejected as expected`} — ${[...counts].map(([c, n]) => `${c}×${n}`).join(', ')} (malformed by design: ${malformed.join(', ')})`,
    );
    expect(failures).toEqual([]);
  }, 120_000);

  it('the binding covers the document too: a valid document from another receipt, a document without user_data, and nonce games', async () => {
    const otherClaims = structuredClone(claims);
    otherClaims.request.identity = 'worker';
    const other = await receiptFor(pki, otherClaims);
    const docNoUserData = await pki.attest({ pcrs: SIM_PCRS, userData: null, nonce: Buffer.from(claims.request.nonce, 'hex') });
    const docOtherNonce = await pki.attest({ pcrs: SIM_PCRS, userData: claimsDigest(claims), nonce: Buffer.alloc(24, 1) });
    const docNoNonce = await pki.attest({ pcrs: SIM_PCRS, userData: claimsDigest(claims), nonce: null });
    const cases: Array<[string, unknown, string, ReceiptVerifyOptions?]> = [
      ['attestation from another receipt', { ...receipt, attestation: other.attestation }, 'RECEIPT_BINDING_MISMATCH'],
      ['claims from another receipt', { ...receipt, claims: other.claims }, 'RECEIPT_BINDING_MISMATCH'],
      ['document without user_data', buildReceipt(claims, docNoUserData), 'RECEIPT_BINDING_MISMATCH'],
      ['document with another nonce', buildReceipt(claims, docOtherNonce), 'RECEIPT_NONCE_MISMATCH'],
      ['document without a nonce', buildReceipt(claims, docNoNonce), 'RECEIPT_NONCE_MISMATCH'],
      ['caller expected another nonce', receipt, 'RECEIPT_NONCE_MISMATCH', { ...options(), expectedNonce: 'ab'.repeat(24) }],
      ['receiptVersion 2', { ...receipt, receiptVersion: 2 }, 'RECEIPT_VERSION'],
      ['attestation not base64', { ...receipt, attestation: `${receipt.attestation.slice(0, -4)}!!!!` }, 'RECEIPT_MALFORMED'],
      ['attestation truncated', { ...receipt, attestation: receipt.attestation.slice(0, 400) }, 'ATTESTATION_MALFORMED_CBOR'],
      ['extra top-level field', { ...receipt, note: 'trust me' }, 'RECEIPT_MALFORMED'],
      ['extra claims field', { ...receipt, claims: { ...claims, extra: true } }, 'RECEIPT_MALFORMED'],
      ['wrong PCRs expected', receipt, 'ATTESTATION_PCR_MISMATCH', { ...options(), expectedPcrs: { ...SIM_PCRS, 0: 'c0'.repeat(48) } }],
    ];
    const failures: string[] = [];
    for (const [label, r, want, o] of cases) {
      const got = await rejectionCode(r, o);
      if (got !== want) failures.push(`${label}: expected ${want}, got ${got}`);
    }
    console.log(`receipt document/nonce tamper matrix: ${cases.length} variants, ${failures.length === 0 ? 'all rejected' : `${failures.length} NOT rejected as expected`}`);
    expect(failures).toEqual([]);
  });
});

