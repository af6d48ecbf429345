/**
 * Fuzzing the text formats auditors and runtimes read: receipts (attestation/receipt.ts
 * parseReceipt), Clef artifacts (enclave-app/clef parseArtifact / verifyArtifact, from the golden
 * vector), clef.yaml (parseManifest) and measurements.json (common/measurements.ts). Each gets
 * byte mutations of the genuine text and structure-aware JSON edits (replaced values, deleted and
 * added keys — `__proto__` included — and edited strings). Oracle: only the documented codes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseReceipt, serializeReceipt } from '../../../attestation/index.js';
import type { Receipt } from '../../../attestation/receipt-types.js';
import { parseArtifact, parseManifest, verifyArtifact } from '../../../enclave-app/clef/index.js';
import { parseMeasurements } from '../../../common/measurements.js';
import { fixedPki, fullClaims, receiptFor, sampleManifest } from '../fixtures.js';
import { Tally, applyJsonEdits, bytesOf, classify, jsonEditArb, mutationsOf, params, runs, timeoutFor, vectorsDir } from '../support.js';

const RECEIPT_CODES: ReadonlySet<string> = new Set(['RECEIPT_MALFORMED', 'RECEIPT_VERSION']);
const ARTIFACT_CODES: ReadonlySet<string> = new Set([
  'CLEF_ARTIFACT_INVALID',
  'CLEF_ARTIFACT_REVOKED',
  'CLEF_ARTIFACT_EXPIRED',
  'CLEF_CIPHERTEXT_HASH_MISMATCH',
  'CLEF_SIGNATURE_MISSING',
  'CLEF_SIGNATURE_INVALID',
]);
const MANIFEST_CODES: ReadonlySet<string> = new Set(['CLEF_MANIFEST_INVALID']);
const MEASUREMENTS_CODES: ReadonlySet<string> = new Set(['MEASUREMENTS_INVALID']);

const utf8 = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const edits = fc.array(jsonEditArb, { minLength: 1, maxLength: 3 });

let receipt: Receipt;
let receiptText: Uint8Array;
beforeAll(async () => {
  receipt = await receiptFor(await fixedPki(), fullClaims());
  receiptText = new Uint8Array(Buffer.from(serializeReceipt(receipt)));
});

describe('receipt parser fuzzing', () => {
  it('the seed receipt parses', () => {
    expect(parseReceipt(utf8(receiptText))).toEqual(receipt);
  });

  const n = runs(2000);
  it(`parseReceipt(text): ${n} byte-mutated receipts → a receipt or RECEIPT_MALFORMED / RECEIPT_VERSION`, () => {
    const tally = new Tally('parseReceipt (bytes)');
    fc.assert(fc.property(mutationsOf(1), (m) => classify(tally, () => parseReceipt(utf8(bytesOf([receiptText], m))), RECEIPT_CODES)), params(n));
    tally.print();
  }, timeoutFor(n, 5));

  const nJson = runs(2000);
  it(`parseReceipt: ${nJson} structurally edited receipts (as text and as values) → a receipt or a receipt code`, () => {
    const tally = new Tally('parseReceipt (JSON edits)');
    fc.assert(
      fc.property(edits, fc.boolean(), (e, asText) => {
        const edited = applyJsonEdits(receipt, e);
        classify(tally, () => parseReceipt(asText ? JSON.stringify(edited) : edited), RECEIPT_CODES);
      }),
      params(nJson),
    );
    tally.print();
    expect(tally.codes.get('RECEIPT_MALFORMED')).toBeGreaterThan(nJson / 2);
  }, timeoutFor(nJson, 5));
});

const golden = new Uint8Array(readFileSync(path.join(vectorsDir, 'clef', 'golden-artifact.json')));
const GOLDEN_KEY = 'MCowBQYDK2VwAyEAIVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=';
const SIGNED_FIELDS = ['version', 'identity', 'environment', 'packedAt', 'revision', 'ciphertextHash', 'ciphertext', 'expiresAt'] as const;
const SIGNED_ENVELOPE_FIELDS = ['provider', 'keyId', 'wrappedKey', 'algorithm', 'iv', 'authTag'] as const;

/**
 * What clef-sig-v3 (plus ciphertextHash) protects: a verified mutation must leave all of it as
 * the golden file has it. Unknown extra fields are tolerated by design (as Clef does).
 */
function signedPart(a: Record<string, unknown>): unknown {
  const envelope = (a.envelope ?? {}) as Record<string, unknown>;
  return { ...Object.fromEntries(SIGNED_FIELDS.map((k) => [k, a[k]])), envelope: Object.fromEntries(SIGNED_ENVELOPE_FIELDS.map((k) => [k, envelope[k]])) };
}
const BEFORE_EXPIRY = Date.parse('2026-03-22T10:30:00.000Z');

describe('artifact parser fuzzing (golden Clef artifact)', () => {
  const goldenSigned = signedPart(JSON.parse(utf8(golden)) as Record<string, unknown>);

  it('the golden artifact verifies', () => {
    expect(verifyArtifact(golden, { verifyKey: GOLDEN_KEY, now: BEFORE_EXPIRY }).signatureAlgorithm).toBe('Ed25519');
  });

  const n = runs(2000);
  it(`parseArtifact + verifyArtifact: ${n} byte-mutated artifacts → verified or a Clef artifact code`, () => {
    const tally = new Tally('verifyArtifact (bytes)');
    let verified = 0;
    fc.assert(
      fc.property(mutationsOf(1), fc.boolean(), (m, asBytes) => {
        const bytes = bytesOf([golden], m);
        classify(
          tally,
          () => {
            parseArtifact(asBytes ? bytes : utf8(bytes));
            const v = verifyArtifact(asBytes ? bytes : utf8(bytes), { verifyKey: GOLDEN_KEY, now: BEFORE_EXPIRY });
            expect(signedPart(v.raw)).toEqual(goldenSigned);
            verified++;
          },
          ARTIFACT_CODES,
        );
      }),
      params(n),
    );
    tally.print();
    console.log(`fuzz verifyArtifact: ${verified} byte mutations still verified, all with the signed fields unchanged (whitespace, unknown or unsigned fields such as signatureAlgorithm)`);
  }, timeoutFor(n, 5));

  const nJson = runs(2000);
  it(`verifyArtifact: ${nJson} structurally edited artifacts → verified or a Clef artifact code`, () => {
    const tally = new Tally('verifyArtifact (JSON edits)');
    const value: unknown = JSON.parse(utf8(golden));
    fc.assert(
      fc.property(edits, (e) =>
        classify(
          tally,
          () => {
            const v = verifyArtifact(JSON.stringify(applyJsonEdits(value, e)), { verifyKey: GOLDEN_KEY, now: BEFORE_EXPIRY });
            expect(signedPart(v.raw)).toEqual(goldenSigned);
          },
          ARTIFACT_CODES,
        ),
      ),
      params(nJson),
    );
    tally.print();
    expect(tally.codes.get('CLEF_SIGNATURE_INVALID')).toBeGreaterThan(0);
  }, timeoutFor(nJson, 5));
});

describe('clef.yaml and measurements.json fuzzing', () => {
  const manifest = new Uint8Array(Buffer.from(sampleManifest()));

  it('the seeds parse', () => {
    expect(parseManifest(manifest).service_identities?.length).toBe(2);
  });

  const n = runs(2000);
  it(`parseManifest: ${n} byte-mutated clef.yaml files → a manifest or CLEF_MANIFEST_INVALID`, () => {
    const tally = new Tally('parseManifest');
    fc.assert(
      fc.property(mutationsOf(1), fc.boolean(), (m, asBytes) => {
        const bytes = bytesOf([manifest], m);
        classify(tally, () => parseManifest(asBytes ? bytes : utf8(bytes)), MANIFEST_CODES);
      }),
      params(n),
    );
    tally.print();
  }, timeoutFor(n, 10));

  const measurements = {
    PCR0: 'a0'.repeat(48),
    PCR1: 'a1'.repeat(48),
    PCR2: 'a2'.repeat(48),
    PCR8: 'a8'.repeat(48),
    eifSha256: 'e0'.repeat(32),
    arch: 'x86_64',
    buildInputs: { bundle: 'f0'.repeat(32), bootBlobs: 'synthetic' },
  };
  const nMeasure = runs(2000);
  it(`parseMeasurements: ${nMeasure} edited measurements.json files → measurements or MEASUREMENTS_INVALID`, () => {
    const tally = new Tally('parseMeasurements');
    const text = new Uint8Array(Buffer.from(JSON.stringify(measurements, null, 2)));
    fc.assert(
      fc.property(fc.oneof(mutationsOf(1).map((m) => utf8(bytesOf([text], m))), edits.map((e) => JSON.stringify(applyJsonEdits(measurements, e)))), (t) =>
        classify(
          tally,
          () => {
            const m = parseMeasurements(t);
            // Whatever parses is well-formed: three 96-hex PCRs, a 64-hex digest, a known arch.
            for (const p of [m.PCR0, m.PCR1, m.PCR2]) expect(p).toMatch(/^[0-9a-f]{96}$/);
            expect(m.eifSha256).toMatch(/^[0-9a-f]{64}$/);
          },
          MEASUREMENTS_CODES,
        ),
      ),
      params(nMeasure),
    );
    tally.print();
  }, timeoutFor(nMeasure, 3));
});
