import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SimulatedNsmPki } from '../../attestation/simulated-nsm.js';
import { awsNitroRootG1 } from '../../attestation/roots.js';
import {
  buildReceipt,
  claimsDigest,
  receiptDocumentTimestamp,
  ReceiptError,
  serializeReceipt,
  verifyReceipt,
  type ReceiptVerifyOptions,
} from '../../attestation/receipt.js';
import type { ReceiptClaims } from '../../attestation/receipt-types.js';
import { AttestationError } from '../../attestation/errors.js';
import { sampleClaims } from '../verify-receipt/helpers/claims.js';
import { awsVectorReceipt } from '../verify-receipt/helpers/aws-vector.js';

const PCRS = { 0: 'a1'.repeat(48), 1: 'b2'.repeat(48), 2: 'c3'.repeat(48) };
let pki: SimulatedNsmPki;

async function receiptFor(claims: ReceiptClaims, o: { userData?: Uint8Array | null; nonce?: Uint8Array | null } = {}) {
  const doc = await pki.attest({
    pcrs: PCRS,
    userData: o.userData === undefined ? claimsDigest(claims) : o.userData,
    nonce: o.nonce === undefined ? Buffer.from(claims.request.nonce, 'hex') : o.nonce,
  });
  return buildReceipt(claims, doc);
}

function opts(extra: Partial<ReceiptVerifyOptions> = {}): ReceiptVerifyOptions {
  return { trustedRoots: [pki.trustedRoot()], at: Date.now(), expectedPcrs: PCRS, ...extra };
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; err: unknown }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code: string }).code, err };
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  pki = await SimulatedNsmPki.ephemeral();
});

describe('verifyReceipt (simulated NSM)', () => {
  it('verifies an honest receipt and reports what it bound', async () => {
    const claims = sampleClaims();
    const receipt = await receiptFor(claims);
    const v = await verifyReceipt(receipt, opts({ expectedNonce: claims.request.nonce }));
    expect(v.claimsDigest).toBe(Buffer.from(claimsDigest(claims)).toString('hex'));
    expect(v.claims).toEqual(claims);
    expect(v.attestation.pcrs.get(0)).toBe(PCRS[0]);
    expect(Buffer.from(v.attestation.userData!).toString('hex')).toBe(v.claimsDigest);
  });

  it('takes the receipt as JSON text too', async () => {
    const receipt = await receiptFor(sampleClaims());
    await expect(verifyReceipt(serializeReceipt(receipt), opts())).resolves.toMatchObject({ receipt });
  });

  it('verifies at the document time when asked', async () => {
    const receipt = await receiptFor(sampleClaims());
    const v = await verifyReceipt(receipt, opts({ at: 'document' }));
    expect(v.verifiedAt).toBe(receiptDocumentTimestamp(receipt));
  });

  it('refuses edited claims (RECEIPT_BINDING_MISMATCH)', async () => {
    const receipt = await receiptFor(sampleClaims());
    receipt.claims.keys.wrap = 'arn:aws:kms:us-east-1:999999999999:key/attacker';
    const r = await rejection(verifyReceipt(receipt, opts()));
    expect(r.err).toBeInstanceOf(ReceiptError);
    expect(r.code).toBe('RECEIPT_BINDING_MISMATCH');
    expect((r.err as ReceiptError).exitCode).toBe(1);
  });

  it('refuses a document without user_data, and one with other user_data', async () => {
    expect((await rejection(verifyReceipt(await receiptFor(sampleClaims(), { userData: null }), opts()))).code).toBe('RECEIPT_BINDING_MISMATCH');
    const other = await receiptFor(sampleClaims(), { userData: new Uint8Array(randomBytes(48)) });
    expect((await rejection(verifyReceipt(other, opts()))).code).toBe('RECEIPT_BINDING_MISMATCH');
  });

  it('refuses a document whose nonce is not the claims nonce', async () => {
    const other = await receiptFor(sampleClaims(), { nonce: new Uint8Array(randomBytes(16)) });
    expect((await rejection(verifyReceipt(other, opts()))).code).toBe('RECEIPT_NONCE_MISMATCH');
    const none = await receiptFor(sampleClaims(), { nonce: null });
    expect((await rejection(verifyReceipt(none, opts()))).code).toBe('RECEIPT_NONCE_MISMATCH');
  });

  it('refuses a receipt for another request (expected nonce)', async () => {
    const receipt = await receiptFor(sampleClaims());
    const r = await rejection(verifyReceipt(receipt, opts({ expectedNonce: 'ff'.repeat(16) })));
    expect(r.code).toBe('RECEIPT_NONCE_MISMATCH');
  });

  it('passes the attestation policy through: PCRs, roots, debug', async () => {
    const receipt = await receiptFor(sampleClaims());
    expect((await rejection(verifyReceipt(receipt, opts({ expectedPcrs: { ...PCRS, 1: 'dd'.repeat(48) } })))).code).toBe('ATTESTATION_PCR_MISMATCH');
    expect((await rejection(verifyReceipt(receipt, opts({ trustedRoots: [awsNitroRootG1()] })))).code).toBe('ATTESTATION_UNTRUSTED_ROOT');
    const debugDoc = await pki.attest({ pcrs: {}, userData: claimsDigest(sampleClaims()), nonce: Buffer.from(sampleClaims().request.nonce, 'hex') });
    const debug = buildReceipt(sampleClaims(), debugDoc);
    expect((await rejection(verifyReceipt(debug, opts({ expectedPcrs: 'skip' })))).code).toBe('ATTESTATION_DEBUG_MODE');
    await expect(verifyReceipt(debug, opts({ expectedPcrs: 'skip', allowDebug: true }))).resolves.toBeDefined();
  });

  it('refuses a malformed receipt before touching the document', async () => {
    const r = await rejection(verifyReceipt('{"receiptVersion":1}', opts()));
    expect(r.code).toBe('RECEIPT_MALFORMED');
    expect((r.err as ReceiptError).exitCode).toBe(2);
  });

  it('refuses an attestation that is not a COSE document', async () => {
    const receipt = buildReceipt(sampleClaims(), Uint8Array.of(1, 2, 3));
    const r = await rejection(verifyReceipt(receipt, opts()));
    expect(r.err).toBeInstanceOf(AttestationError);
    expect(r.code).toBe('ATTESTATION_MALFORMED_CBOR');
  });
});

describe('old receipts (leaf expired long ago)', () => {
  const past = Date.parse('2021-06-01T12:00:00.000Z');
  let oldPki: SimulatedNsmPki;
  beforeAll(async () => {
    oldPki = await SimulatedNsmPki.ephemeral({ now: () => past });
  });

  async function oldReceipt() {
    const claims = sampleClaims();
    const doc = await oldPki.attest({ pcrs: PCRS, userData: claimsDigest(claims), nonce: Buffer.from(claims.request.nonce, 'hex') });
    return buildReceipt(claims, doc);
  }

  it('verify at the document time', async () => {
    const receipt = await oldReceipt();
    expect(receiptDocumentTimestamp(receipt)).toBe(past);
    const v = await verifyReceipt(receipt, { trustedRoots: [oldPki.trustedRoot()], at: 'document', expectedPcrs: PCRS });
    expect(v.attestation.timestamp).toBe(past);
  });

  it('fail at the current time (the 3-hour leaf expired)', async () => {
    const receipt = await oldReceipt();
    const r = await rejection(verifyReceipt(receipt, { trustedRoots: [oldPki.trustedRoot()], at: Date.now(), expectedPcrs: PCRS }));
    expect(r.code).toBe('ATTESTATION_CERT_EXPIRED');
  });

  it('fail a max age measured on the auditor clock', async () => {
    const receipt = await oldReceipt();
    const r = await rejection(
      verifyReceipt(receipt, { trustedRoots: [oldPki.trustedRoot()], at: 'document', now: past + 2 * 3_600_000, maxAgeMs: 3_600_000, expectedPcrs: PCRS }),
    );
    expect(r.code).toBe('ATTESTATION_STALE');
    expect((r.err as Error).message).toContain('2021-06-01T12:00:00.000Z');
    await expect(
      verifyReceipt(receipt, { trustedRoots: [oldPki.trustedRoot()], at: 'document', now: past + 30 * 60_000, maxAgeMs: 3_600_000, expectedPcrs: PCRS }),
    ).resolves.toBeDefined();
  });

  it('refuse a document from the future of the auditor clock', async () => {
    const receipt = await oldReceipt();
    const r = await rejection(verifyReceipt(receipt, { trustedRoots: [oldPki.trustedRoot()], at: 'document', now: past - 3_600_000, expectedPcrs: PCRS }));
    expect(r.code).toBe('ATTESTATION_FUTURE_TIMESTAMP');
  });
});

describe('a receipt around a genuine AWS document', () => {
  let v: ReturnType<typeof awsVectorReceipt>;
  beforeAll(() => {
    v = awsVectorReceipt();
  });
  afterAll(() => undefined);

  it('passes the AWS-root chain at its time, then fails the binding (its user_data cannot match)', async () => {
    const r = await rejection(verifyReceipt(v.receipt, { trustedRoots: [awsNitroRootG1()], at: 'document', expectedPcrs: v.pcrs }));
    // Reaching the binding step means the pinned AWS root, chain, signature and PCRs all passed.
    expect(r.code).toBe('RECEIPT_BINDING_MISMATCH');
  });

  it('fails the chain at the current time (certificates expired in 2023)', async () => {
    const r = await rejection(verifyReceipt(v.receipt, { trustedRoots: [awsNitroRootG1()], at: Date.now(), expectedPcrs: v.pcrs }));
    expect(r.code).toBe('ATTESTATION_CERT_EXPIRED');
  });

  it('fails under a simulated root (only the AWS root can anchor it)', async () => {
    const r = await rejection(verifyReceipt(v.receipt, { trustedRoots: [pki.trustedRoot()], at: 'document', expectedPcrs: v.pcrs }));
    expect(r.code).toBe('ATTESTATION_UNTRUSTED_ROOT');
  });
});
