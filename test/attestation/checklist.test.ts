/**
 * The reference's "verifier must reject" checklist, items 1–27 (reference §7). Every test
 * builds the bad input — a mutation of a genuine document or of a simulated one re-signed so
 * that the named defect is the only one — and expects the specific error code. A positive
 * control next to each group shows the unmutated input passes, so a rejection is not an
 * accident of the test setup.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { verifyAttestationDocument, type VerifyAttestationOptions } from '../../attestation/verify.js';
import { AttestationError } from '../../attestation/errors.js';
import { awsNitroRootG1, trustedRootFromDer, type TrustedRoot } from '../../attestation/roots.js';
import { CborMap, CborTagged, CborUint, encodeCbor, encodeHead, type CborValue } from '../../attestation/cbor.js';
import { decodeCoseSign1, NSM_PROTECTED_HEADER } from '../../attestation/cose.js';
import { parseAttestationPayload } from '../../attestation/payload.js';
import { P384_ORDER } from '../../attestation/es384.js';
import { SingleUseNonces } from '../../attestation/nonces.js';
import { signCoseSign1, type SimulatedChain, type SimulatedNsmPki } from '../../attestation/simulated-nsm.js';
import { issueCertificate } from '../../attestation/x509-build.js';
import { KEY_USAGE } from '../../attestation/x509.js';
import {
  customChain,
  docBytes,
  docWithChain,
  encodeEntries,
  expectCode,
  fixedPki,
  manifestPcrs,
  mockDoc,
  mutatePayload,
  p256,
  p384,
  payloadEntries,
  productionDocs,
  resign,
  SIM_PCRS,
  T0,
  type LevelOverrides,
} from './helpers.js';

let pki: SimulatedNsmPki;
let chain: SimulatedChain;
let simRoot: TrustedRoot;
let sim: Uint8Array;
let leafKey: KeyObject;
const SIM_NONCE = new Uint8Array(32).fill(7);
const genuine = productionDocs[0];
let gen: Uint8Array;

const simOptions = (extra: Partial<VerifyAttestationOptions> = {}): VerifyAttestationOptions => ({
  trustedRoots: [simRoot],
  at: T0 + 1000,
  expectedPcrs: SIM_PCRS,
  ...extra,
});
const genOptions = (extra: Partial<VerifyAttestationOptions> = {}): VerifyAttestationOptions => ({
  trustedRoots: [awsNitroRootG1()],
  at: genuine.suggested_verification_time_ms,
  expectedPcrs: manifestPcrs(genuine),
  ...extra,
});
const verifySim = (doc: Uint8Array, extra?: Partial<VerifyAttestationOptions>): Promise<unknown> =>
  verifyAttestationDocument(doc, simOptions(extra));
const verifyGen = (doc: Uint8Array, extra?: Partial<VerifyAttestationOptions>): Promise<unknown> =>
  verifyAttestationDocument(doc, genOptions(extra));

/** Re-signs a mutated sim payload with the real leaf key, so only the payload defect remains. */
const simWith = (key: string, value: CborValue | undefined): Uint8Array => resign(mutatePayload(sim, key, value), leafKey);
/** A COSE array from parts, without touching the payload or signature bytes. */
const cose = (parts: CborValue[]): Uint8Array => encodeCbor(parts);
const parts = (doc: Uint8Array): [Uint8Array, CborMap, Uint8Array, Uint8Array] => {
  const c = decodeCoseSign1(doc);
  return [c.protectedBytes, c.unprotected, c.payload, c.signature];
};
const concat = (...a: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(a));
const bigToBytes = (n: bigint): Uint8Array => new Uint8Array(Buffer.from(n.toString(16).padStart(96, '0'), 'hex'));

beforeAll(async () => {
  pki = await fixedPki();
  chain = await pki.currentChain();
  simRoot = pki.trustedRoot();
  leafKey = chain.leaf.privateKey;
  sim = await pki.attest({ pcrs: SIM_PCRS, nonce: SIM_NONCE });
  gen = docBytes(genuine);
});

describe('positive controls', () => {
  it('the simulated document verifies', async () => {
    await expect(verifySim(sim)).resolves.toMatchObject({ moduleId: pki.moduleId });
  });
  it('the genuine document verifies', async () => {
    await expect(verifyGen(gen)).resolves.toMatchObject({ moduleId: genuine.module_id });
  });
  it('re-signing an unmutated sim payload still verifies (the mutation helper is sound)', async () => {
    await expect(verifySim(resign(decodeCoseSign1(sim).payload, leafKey))).resolves.toBeDefined();
    await expect(verifySim(simWith('nonce', SIM_NONCE))).resolves.toBeDefined();
  });
  it('a custom chain with the default profile verifies (the chain helper is sound)', async () => {
    const c = customChain(chain.levels.root, T0);
    await expect(verifySim(docWithChain(c, c.leafKey))).resolves.toBeDefined();
  });
});

describe('COSE / CBOR layer', () => {
  it('#1 not CBOR, trailing bytes, truncated', async () => {
    await expectCode(verifySim(new Uint8Array(0)), 'ATTESTATION_MALFORMED_CBOR');
    await expectCode(verifySim(new Uint8Array(Buffer.from('hello, not cbor'))), 'ATTESTATION_MALFORMED_CBOR');
    await expectCode(verifySim(Uint8Array.of(0xff)), 'ATTESTATION_MALFORMED_CBOR');
    await expectCode(verifySim(concat(sim, Uint8Array.of(0x00))), 'ATTESTATION_MALFORMED_CBOR');
    await expectCode(verifyGen(concat(gen, Uint8Array.of(0xf6))), 'ATTESTATION_MALFORMED_CBOR');
    for (const cut of [1, 2, 10, 97, sim.length - 500, sim.length - 1]) {
      await expectCode(verifySim(sim.subarray(0, sim.length - cut)), 'ATTESTATION_MALFORMED_CBOR');
    }
    await expectCode(verifyGen(gen.subarray(0, gen.length - 1)), 'ATTESTATION_MALFORMED_CBOR');
  });

  it('#1 every truncation of the genuine document is rejected as malformed (property, seed 42)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: gen.length - 1 }), async (n) => {
        await expectCode(verifyGen(gen.subarray(0, n)), 'ATTESTATION_MALFORMED_CBOR');
      }),
      { seed: 42, numRuns: 150 },
    );
  });

  it('#1 indefinite-length encodings are refused', async () => {
    const [p, , payload, sig] = parts(sim);
    // 0x9f … 0xff: indefinite-length array with the same four items.
    const items = encodeCbor([p, new CborMap([]), payload, sig]).subarray(1);
    await expectCode(verifySim(concat(Uint8Array.of(0x9f), items, Uint8Array.of(0xff))), 'ATTESTATION_MALFORMED_CBOR');
  });

  it('#2 top-level item not a 4-element array', async () => {
    const [p, u, payload, sig] = parts(sim);
    await expectCode(verifySim(cose([p, u, payload])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifySim(cose([p, u, payload, sig, sig])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifySim(encodeCbor(new CborMap([[1n, p]]))), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifySim(encodeCbor(payload)), 'ATTESTATION_BAD_COSE_STRUCTURE');
  });

  it('#2 a tag other than 18 is rejected; tag 18 is accepted', async () => {
    for (const tag of [19n, 16n, 98n, 17n, 0n]) {
      await expectCode(verifySim(concat(encodeHead(6, tag), sim)), 'ATTESTATION_BAD_TAG');
      await expectCode(verifyGen(concat(encodeHead(6, tag), gen)), 'ATTESTATION_BAD_TAG');
    }
    await expectCode(verifySim(encodeCbor(new CborTagged(18n, new CborTagged(18n, 0n)))), 'ATTESTATION_BAD_TAG');
    // Tag 18 is outside the signed bytes, so it may be added to a genuine document.
    await expect(verifyGen(concat(Uint8Array.of(0xd2), gen))).resolves.toBeDefined();
    await expect(verifySim(concat(Uint8Array.of(0xd2), sim))).resolves.toBeDefined();
  });

  it('#3 bad protected headers (each correctly signed, so the header is the only defect)', async () => {
    const payload = decodeCoseSign1(sim).payload;
    const withProtected = (protectedBytes: Uint8Array): Uint8Array => signCoseSign1(payload, leafKey, { protectedBytes });
    await expectCode(verifySim(withProtected(new Uint8Array(0))), 'ATTESTATION_BAD_PROTECTED_HEADER');
    await expectCode(verifySim(withProtected(encodeCbor(new CborMap([[4n, Uint8Array.of(1)]])))), 'ATTESTATION_BAD_PROTECTED_HEADER');
    for (const alg of [-7n, -36n, -37n, 'ES384', 35n]) {
      await expectCode(verifySim(withProtected(encodeCbor(new CborMap([[1n, alg]])))), 'ATTESTATION_BAD_PROTECTED_HEADER');
    }
    await expectCode(verifySim(withProtected(encodeCbor([1n, -35n]))), 'ATTESTATION_BAD_PROTECTED_HEADER');
    await expectCode(verifySim(withProtected(Uint8Array.of(0xa1, 0x01))), 'ATTESTATION_BAD_PROTECTED_HEADER');
    await expectCode(
      verifySim(withProtected(encodeCbor(new CborMap([[1n, -35n], [2n, [1n]]])))),
      'ATTESTATION_BAD_PROTECTED_HEADER',
    );
    // Protected not a bstr (a map in its place).
    const [, u, , sig] = parts(sim);
    await expectCode(verifySim(cose([new CborMap([[1n, -35n]]), u, payload, sig])), 'ATTESTATION_BAD_PROTECTED_HEADER');
    // alg only in the unprotected header (protected = empty map), and alg in both.
    const emptyProtected = Uint8Array.of(0xa0);
    const signedEmpty = decodeCoseSign1(withProtected(emptyProtected)).signature;
    await expectCode(
      verifySim(cose([emptyProtected, new CborMap([[1n, -35n]]), payload, signedEmpty])),
      'ATTESTATION_BAD_PROTECTED_HEADER',
    );
    const [p, , , s] = parts(sim);
    await expectCode(verifySim(cose([p, new CborMap([[1n, -35n]]), payload, s])), 'ATTESTATION_BAD_PROTECTED_HEADER');
  });

  it('#4 unprotected not a map; payload or signature not a bstr; payload empty or nil', async () => {
    const [p, u, payload, sig] = parts(sim);
    await expectCode(verifySim(cose([p, [], payload, sig])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifySim(cose([p, new Uint8Array(0), payload, sig])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifySim(cose([p, u, Buffer.from(payload).toString('latin1'), sig])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifySim(cose([p, u, new Uint8Array(0), sig])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifySim(cose([p, u, null, sig])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifySim(cose([p, u, payload, [sig]])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    const [gp, gu, gpay, gsig] = parts(gen);
    await expectCode(verifyGen(cose([gp, gu, null, gsig])), 'ATTESTATION_BAD_COSE_STRUCTURE');
    await expectCode(verifyGen(cose([gp, gu, [gpay], gsig])), 'ATTESTATION_BAD_COSE_STRUCTURE');
  });

  it('#5 signature not 96 bytes, or DER-encoded', async () => {
    const [p, u, payload, sig] = parts(gen);
    for (const s of [sig.subarray(0, 95), concat(sig, Uint8Array.of(0)), new Uint8Array(0), new Uint8Array(64)]) {
      await expectCode(verifyGen(cose([p, u, payload, s])), 'ATTESTATION_BAD_SIGNATURE_FORMAT');
    }
    // The same signature as DER: SEQUENCE { INTEGER r, INTEGER s }.
    const int = (b: Uint8Array): Uint8Array => {
      let i = 0;
      while (i < b.length - 1 && b[i] === 0) i++;
      const m = b.subarray(i);
      const body = m[0] & 0x80 ? concat(Uint8Array.of(0), m) : m;
      return concat(Uint8Array.of(0x02, body.length), body);
    };
    const body = concat(int(sig.subarray(0, 48)), int(sig.subarray(48)));
    const der = concat(Uint8Array.of(0x30, body.length), body);
    const err = await expectCode(verifyGen(cose([p, u, payload, der])), 'ATTESTATION_BAD_SIGNATURE_FORMAT');
    expect(err.message).toMatch(/DER/);
  });

  it('#6 r or s equal to 0 or ≥ n is rejected; the high-S twin of a valid signature is accepted', async () => {
    const [p, u, payload, sig] = parts(gen);
    const r = sig.subarray(0, 48);
    const s = sig.subarray(48);
    const zero = new Uint8Array(48);
    const n = bigToBytes(P384_ORDER);
    const ff = new Uint8Array(48).fill(0xff);
    for (const bad of [concat(zero, s), concat(r, zero), concat(n, s), concat(r, n), concat(ff, s), concat(r, ff)]) {
      await expectCode(verifyGen(cose([p, u, payload, bad])), 'ATTESTATION_BAD_SIGNATURE_FORMAT');
    }
    // n - s is the other valid S for the same r (ECDSA malleability). Real NSM signatures are
    // plain ECDSA with either S form, so we do not enforce low-S (reference §7 item 6).
    const sBig = BigInt(`0x${Buffer.from(s).toString('hex')}`);
    await expect(verifyGen(cose([p, u, payload, concat(r, bigToBytes(P384_ORDER - sBig))]))).resolves.toBeDefined();
  });

  it('#7 single bit flips in protected bytes, payload and signature (targeted)', async () => {
    const [p, u, payload, sig] = parts(sim);
    for (let bit = 0; bit < p.length * 8; bit++) {
      const q = new Uint8Array(p);
      q[bit >> 3] ^= 1 << (bit & 7);
      await expect(verifySim(cose([q, u, payload, sig])), `protected bit ${bit}`).rejects.toBeInstanceOf(AttestationError);
    }
    // A flip inside the nonce value keeps the payload well-formed: only the signature can catch it.
    const flippedNonce = new Uint8Array(payload);
    flippedNonce[payload.length - 1] ^= 0x01;
    await expectCode(verifySim(cose([p, u, flippedNonce, sig])), 'ATTESTATION_SIGNATURE_INVALID');
    const flippedSig = new Uint8Array(sig);
    flippedSig[95] ^= 0x01;
    await expectCode(verifySim(cose([p, u, payload, flippedSig])), 'ATTESTATION_SIGNATURE_INVALID');
    const [gp, gu, gpay, gsig] = parts(gen);
    const gflip = new Uint8Array(gsig);
    gflip[10] ^= 0x80;
    await expectCode(verifyGen(cose([gp, gu, gpay, gflip])), 'ATTESTATION_SIGNATURE_INVALID');
    const gpayFlip = new Uint8Array(gpay);
    gpayFlip[gpay.length - 1] ^= 0x01; // last nonce byte
    await expectCode(verifyGen(cose([gp, gu, gpayFlip, gsig])), 'ATTESTATION_SIGNATURE_INVALID');
  });

  it('#7 any single bit flip anywhere in a genuine document is rejected (property, seed 42)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: gen.length * 8 - 1 }), async (bit) => {
        const d = new Uint8Array(gen);
        d[bit >> 3] ^= 1 << (bit & 7);
        await expect(verifyGen(d)).rejects.toBeInstanceOf(AttestationError);
      }),
      { seed: 42, numRuns: 250 },
    );
  });

  it('#7 any single bit flip in the signed region or signature of a simulated document is rejected (property, seed 42)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: sim.length * 8 - 1 }), async (bit) => {
        const d = new Uint8Array(sim);
        d[bit >> 3] ^= 1 << (bit & 7);
        await expect(verifySim(d)).rejects.toBeInstanceOf(AttestationError);
      }),
      { seed: 42, numRuns: 150 },
    );
  });

  it('#8 a re-encoded payload (same values, different bytes) fails the signature', async () => {
    const [p, u, payload, sig] = parts(gen);
    const entries = payloadEntries(gen);
    // Canonical (RFC 7049 §3.9) key order: shorter encoded keys first, then bytewise.
    const canonical = [...entries].sort(
      ([a], [b]) => a.length - b.length || Buffer.compare(Buffer.from(a), Buffer.from(b)),
    );
    const reordered = encodeEntries(canonical);
    // PCR keys with non-minimal one-byte heads (18 00 instead of 00).
    const pcrs = entries.find(([k]) => k === 'pcrs')![1] as CborMap;
    const widened = encodeEntries(
      entries.map(([k, v]) => [k, k === 'pcrs' ? new CborMap(pcrs.entries.map(([i, x]) => [new CborUint(i as bigint, 1), x])) : v]),
    );
    for (const re of [reordered, widened]) {
      expect(Buffer.compare(Buffer.from(re), Buffer.from(payload))).not.toBe(0);
      expect(parseAttestationPayload(re)).toEqual(parseAttestationPayload(payload));
      await expectCode(verifyGen(cose([p, u, re, sig])), 'ATTESTATION_SIGNATURE_INVALID');
    }
  });

  it('#8 timestamp re-encoded as a 4-byte uint fails the signature', async () => {
    // A timestamp small enough for 4 bytes, signed in the genuine 8-byte form.
    const doc = await pki.attest({ pcrs: SIM_PCRS, timestamp: 1_000_000 });
    await expect(verifySim(doc)).resolves.toMatchObject({ timestamp: 1_000_000 });
    const [p, u, payload, sig] = parts(doc);
    const narrowed = encodeEntries(payloadEntries(doc).map(([k, v]) => [k, k === 'timestamp' ? new CborUint(1_000_000n, 4) : v]));
    expect(parseAttestationPayload(narrowed).timestamp).toBe(1_000_000);
    expect(narrowed.length).toBe(payload.length - 4);
    await expectCode(verifySim(cose([p, u, narrowed, sig])), 'ATTESTATION_SIGNATURE_INVALID');
  });
});

describe('payload schema', () => {
  it('#9 payload not a map, duplicate keys, integer keys', async () => {
    await expectCode(verifySim(resign(encodeCbor([1n, 2n]), leafKey)), 'ATTESTATION_BAD_PAYLOAD');
    await expectCode(verifySim(resign(Uint8Array.of(0xff, 0x00), leafKey)), 'ATTESTATION_BAD_PAYLOAD');
    const entries = payloadEntries(sim);
    const dupNonce = encodeEntries([...entries, ['nonce', new Uint8Array(32)]]);
    await expectCode(verifySim(resign(dupNonce, leafKey)), 'ATTESTATION_BAD_PAYLOAD');
    const dupModule = encodeEntries([['module_id', 'i-evil-enc00'], ...entries]);
    await expectCode(verifySim(resign(dupModule, leafKey)), 'ATTESTATION_BAD_PAYLOAD');
    const intKeys = encodeEntries(entries.map(([, v], i) => [BigInt(i), v]));
    await expectCode(verifySim(resign(intKeys, leafKey)), 'ATTESTATION_BAD_PAYLOAD');
    const extraIntKey = encodeEntries([...entries, [1n, 'x']]);
    await expectCode(verifySim(resign(extraIntKey, leafKey)), 'ATTESTATION_BAD_PAYLOAD');
    const pcrs = entries.find(([k]) => k === 'pcrs')![1] as CborMap;
    const dupPcr = new CborMap([...pcrs.entries, [0n, new Uint8Array(48)]]);
    await expectCode(verifySim(simWith('pcrs', dupPcr)), 'ATTESTATION_BAD_PAYLOAD');
    // Genuine: the same duplicate-key attack (the signature would fail too, but the schema check names it).
    const [gp, gu, , gsig] = parts(gen);
    await expectCode(verifyGen(cose([gp, gu, encodeEntries([...payloadEntries(gen), ['nonce', null]]), gsig])), 'ATTESTATION_BAD_PAYLOAD');
  });

  it('#10 each required field missing or null', async () => {
    for (const key of ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle']) {
      const e1 = await expectCode(verifySim(simWith(key, undefined)), 'ATTESTATION_BAD_PAYLOAD');
      expect(e1.message).toContain(key);
      await expectCode(verifySim(simWith(key, null)), 'ATTESTATION_BAD_PAYLOAD');
    }
  });

  it('#11 empty module_id; wrong digest; bad timestamps', async () => {
    await expectCode(verifySim(simWith('module_id', '')), 'ATTESTATION_BAD_PAYLOAD');
    await expectCode(verifySim(simWith('module_id', new Uint8Array(4))), 'ATTESTATION_BAD_PAYLOAD');
    for (const digest of ['SHA256', 'sha384', 'SHA512', '']) {
      await expectCode(verifySim(simWith('digest', digest)), 'ATTESTATION_BAD_PAYLOAD');
    }
    for (const ts of [0n, -1n, -1_700_000_000_000n, T0 + 0.0, String(T0), new Uint8Array(8), 2n ** 63n]) {
      await expectCode(verifySim(simWith('timestamp', ts as CborValue)), 'ATTESTATION_BAD_PAYLOAD');
    }
  });

  it('#12 bad pcrs maps', async () => {
    const pcrMap = (entries: Array<[CborValue, CborValue]>): CborMap => new CborMap(entries);
    const v48 = new Uint8Array(48).fill(0xa0);
    const many = Array.from({ length: 33 }, (_, i) => [BigInt(i), v48] as [CborValue, CborValue]);
    for (const bad of [
      pcrMap([]),
      pcrMap(many),
      pcrMap([['0', v48]]),
      pcrMap([[-1n, v48]]),
      pcrMap([[32n, v48]]),
      pcrMap([[0n, 'a0'.repeat(48)]]),
      pcrMap([[0n, new Uint8Array(32)]]),
      pcrMap([[0n, new Uint8Array(64)]]),
      pcrMap([[0n, new Uint8Array(47)]]),
      [v48],
    ]) {
      await expectCode(verifySim(simWith('pcrs', bad as CborValue)), 'ATTESTATION_BAD_PAYLOAD');
    }
  });

  it('#13 bad cabundles', async () => {
    const [root, a, b, c] = chain.cabundle;
    for (const bad of [[], root, [root, 'x', b, c], [root, a, new Uint8Array(0), c], [root, a, b, new Uint8Array(1025)], [root, a, b, c, 5n]]) {
      await expectCode(verifySim(simWith('cabundle', bad as CborValue)), 'ATTESTATION_BAD_PAYLOAD');
    }
  });

  it('#14 optional fields of the wrong type or over the size limit; null and h\'\' are valid', async () => {
    for (const key of ['public_key', 'user_data', 'nonce']) {
      await expectCode(verifySim(simWith(key, 'text instead of bytes')), 'ATTESTATION_BAD_PAYLOAD');
      await expectCode(verifySim(simWith(key, new Uint8Array(1025))), 'ATTESTATION_BAD_PAYLOAD');
      await expectCode(verifySim(simWith(key, 5n)), 'ATTESTATION_BAD_PAYLOAD');
      await expect(verifySim(simWith(key, new Uint8Array(1024)))).resolves.toBeDefined();
      await expect(verifySim(simWith(key, null))).resolves.toBeDefined();
      await expect(verifySim(simWith(key, undefined))).resolves.toBeDefined(); // omitted = absent
    }
    await expectCode(verifySim(simWith('public_key', new Uint8Array(0))), 'ATTESTATION_BAD_PAYLOAD');
    // A 0-length user_data / nonce must be accepted (genuine libnsm behaviour).
    const empty = await verifyAttestationDocument(await pki.attest({ pcrs: SIM_PCRS, userData: new Uint8Array(0), nonce: new Uint8Array(0) }), simOptions());
    expect(empty).toMatchObject({ userData: new Uint8Array(0), nonce: new Uint8Array(0) });
  });
});

describe('certificates', () => {
  it('#15 leaf or intermediate not DER or with trailing bytes', async () => {
    const leaf = chain.leaf.der;
    await expectCode(verifySim(simWith('certificate', Uint8Array.of(1, 2, 3))), 'ATTESTATION_BAD_CERTIFICATE');
    await expectCode(verifySim(simWith('certificate', concat(leaf, Uint8Array.of(0)))), 'ATTESTATION_BAD_CERTIFICATE');
    // BER: the outer length in a non-minimal long form (30 83 00 LL LL instead of 30 82 LL LL).
    expect(leaf[1]).toBe(0x82);
    const ber = concat(Uint8Array.of(0x30, 0x83, 0x00), leaf.subarray(2));
    await expectCode(verifySim(simWith('certificate', ber)), 'ATTESTATION_BAD_CERTIFICATE');
    const [root, a, b, c] = chain.cabundle;
    await expectCode(verifySim(simWith('cabundle', [root, a, concat(b, Uint8Array.of(0)), c])), 'ATTESTATION_BAD_CERTIFICATE');
    await expectCode(verifySim(simWith('cabundle', [root, a, b, c.subarray(0, c.length - 1)])), 'ATTESTATION_BAD_CERTIFICATE');
    // Genuine: a trailing byte on the leaf is caught before the (now broken) signature.
    const gleaf = parseAttestationPayload(decodeCoseSign1(gen).payload).certificate;
    const [gp, gu, , gsig] = parts(gen);
    await expectCode(verifyGen(cose([gp, gu, mutatePayload(gen, 'certificate', concat(gleaf, Uint8Array.of(0))), gsig])), 'ATTESTATION_BAD_CERTIFICATE');
    // A root that is not DER cannot equal the pinned root.
    await expectCode(verifySim(simWith('cabundle', [concat(root, Uint8Array.of(0)), a, b, c])), 'ATTESTATION_UNTRUSTED_ROOT');
  });

  it('#16 chains that do not end in the pinned root', async () => {
    // Marlin's mock document: self-made root.
    await expectCode(
      verifyAttestationDocument(docBytes(mockDoc), { trustedRoots: [awsNitroRootG1()], at: mockDoc.suggested_verification_time_ms, expectedPcrs: 'skip', allowDebug: true }),
      'ATTESTATION_UNTRUSTED_ROOT',
    );
    // A self-generated root with the same DN as the simulated root (different key).
    const impostorKey = p384();
    const impostorDer = issueCertificate({
      subject: chain.levels.root.subject,
      publicKey: impostorKey.publicKey,
      signingKey: impostorKey.privateKey,
      notBefore: T0 - 86_400_000,
      notAfter: T0 + 86_400_000,
      basicConstraints: { ca: true, critical: true },
      keyUsage: { bits: KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign, critical: true },
    });
    const impostorRoot = { ...chain.levels.root, der: impostorDer, privateKey: impostorKey.privateKey, cert: trustedRootFromDer(impostorDer).parsed };
    const c = customChain(impostorRoot, T0);
    await expectCode(verifySim(docWithChain(c, c.leafKey)), 'ATTESTATION_UNTRUSTED_ROOT');
    // Simulated documents under the AWS root, genuine ones under the simulated root.
    await expectCode(verifySim(sim, { trustedRoots: [awsNitroRootG1()] }), 'ATTESTATION_UNTRUSTED_ROOT');
    await expectCode(verifyGen(gen, { trustedRoots: [simRoot] }), 'ATTESTATION_UNTRUSTED_ROOT');
    // cabundle[0] swapped for another root: untrusted under AWS, and when that root is trusted too,
    // the genuine regional certificate does not chain to it.
    const gbundle = parseAttestationPayload(decodeCoseSign1(gen).payload).cabundle;
    const [gp, gu, , gsig] = parts(gen);
    const swapped = cose([gp, gu, mutatePayload(gen, 'cabundle', [pki.rootDer, ...gbundle.slice(1)]), gsig]);
    await expectCode(verifyGen(swapped), 'ATTESTATION_UNTRUSTED_ROOT');
    await expectCode(verifyGen(swapped, { trustedRoots: [awsNitroRootG1(), simRoot] }), 'ATTESTATION_CHAIN_INVALID');
  });

  it('#17 broken links: reordered, missing, duplicated, extra, wrong issuer name, wrong signer', async () => {
    const [root, a, b, c] = chain.cabundle;
    const other = (await (await fixedPki()).currentChain()).levels.zonal.der;
    for (const bundle of [[root, b, a, c], [root, a, c], [root, a, b, b, c], [root, a, other, b, c], [root, root, a, b, c], [root, a, b]]) {
      await expectCode(verifySim(simWith('cabundle', bundle)), 'ATTESTATION_CHAIN_INVALID');
    }
    // Genuine, intermediates reordered (the chain check runs before the document signature).
    const gbundle = parseAttestationPayload(decodeCoseSign1(gen).payload).cabundle;
    const [gp, gu, , gsig] = parts(gen);
    await expectCode(
      verifyGen(cose([gp, gu, mutatePayload(gen, 'cabundle', [gbundle[0], gbundle[2], gbundle[1], gbundle[3]]), gsig])),
      'ATTESTATION_CHAIN_INVALID',
    );
    // Leaf signed by the instance key but naming another issuer.
    const wrongName = customChain(chain.levels.root, T0, { leaf: { issuer: [['CN', 'someone else']] } });
    await expectCode(verifySim(docWithChain(wrongName, wrongName.leafKey)), 'ATTESTATION_CHAIN_INVALID');
    // Leaf naming the instance CA but signed by an unrelated key.
    const wrongSigner = customChain(chain.levels.root, T0, { leaf: { signingKey: p384().privateKey } });
    await expectCode(verifySim(docWithChain(wrongSigner, wrongSigner.leafKey)), 'ATTESTATION_CHAIN_INVALID');
  });

  it('#18 expired or not-yet-valid certificates at the verification time', async () => {
    const H = 3_600_000;
    const expiredInstance = customChain(chain.levels.root, T0, { instance: { notAfter: T0 - 1000 } });
    const e1 = await expectCode(verifySim(docWithChain(expiredInstance, expiredInstance.leafKey)), 'ATTESTATION_CERT_EXPIRED');
    expect(e1.details?.position).toBe('cabundle[3]');
    const expiredRegional = customChain(chain.levels.root, T0, { regional: { notBefore: T0 - 2 * H, notAfter: T0 - H } });
    await expectCode(verifySim(docWithChain(expiredRegional, expiredRegional.leafKey)), 'ATTESTATION_CERT_EXPIRED');
    // The real 3 h leaf: fine at +2 h 59 min, expired at +3 h 1 min (verification time beyond timestamp).
    const leafNotAfter = chain.leaf.cert.notAfter;
    await expect(verifySim(sim, { at: leafNotAfter })).resolves.toBeDefined();
    const e2 = await expectCode(verifySim(sim, { at: leafNotAfter + 1000 }), 'ATTESTATION_CERT_EXPIRED');
    expect(e2.details?.position).toBe('leaf');
    await expectCode(verifySim(sim, { at: chain.leaf.cert.notBefore - 1000, futureSkewMs: H }), 'ATTESTATION_CERT_NOT_YET_VALID');
    // Valid now but not at the document's timestamp, when verifying at document time.
    const early = customChain(chain.levels.root, T0, { leaf: { notBefore: T0 - H, notAfter: T0 + H } });
    const earlyDoc = docWithChain(early, early.leafKey, { timestamp: T0 - 2 * H });
    await expect(verifySim(earlyDoc, { at: T0 })).resolves.toBeDefined();
    const e3 = await expectCode(verifySim(earlyDoc, { at: T0 - 2 * H }), 'ATTESTATION_CERT_NOT_YET_VALID');
    expect(e3.details?.position).toBe('leaf');
    // Verification time before the document's timestamp (beyond the skew).
    const fc2 = customChain(chain.levels.root, T0);
    await expectCode(verifySim(docWithChain(fc2, fc2.leafKey, { timestamp: T0 + 120_000 }), { at: T0 }), 'ATTESTATION_FUTURE_TIMESTAMP');
  });

  it('#19 certificate profile violations', async () => {
    const ku = KEY_USAGE;
    const cases: Array<[string, LevelOverrides]> = [
      ['intermediate CA:FALSE', { zonal: { basicConstraints: { ca: false, critical: true } } }],
      ['intermediate without basicConstraints', { zonal: { basicConstraints: null } }],
      ['intermediate basicConstraints not critical', { regional: { basicConstraints: { ca: true, pathLen: 2, critical: false } } }],
      ['intermediate lacks keyCertSign', { zonal: { keyUsage: { bits: ku.digitalSignature | ku.cRLSign, critical: true } } }],
      ['intermediate without keyUsage', { instance: { keyUsage: null } }],
      ['pathLen 0 with a CA below', { zonal: { basicConstraints: { ca: true, pathLen: 0, critical: true } } }],
      ['pathLen 1 with two CAs below', { regional: { basicConstraints: { ca: true, pathLen: 1, critical: true } } }],
      ['leaf CA:TRUE', { leaf: { basicConstraints: { ca: true, critical: true } } }],
      ['leaf lacks digitalSignature', { leaf: { keyUsage: { bits: ku.nonRepudiation, critical: false } } }],
      ['leaf without keyUsage', { leaf: { keyUsage: null } }],
      ['leaf with keyCertSign', { leaf: { keyUsage: { bits: ku.digitalSignature | ku.keyCertSign, critical: true } } }],
      ['unknown critical extension on the leaf', { leaf: { extraExtensions: [{ oid: '1.3.6.1.4.1.99999.1', critical: true, value: Uint8Array.of(5, 0) }] } }],
      ['unknown critical extension on an intermediate', { instance: { extraExtensions: [{ oid: '1.3.6.1.4.1.99999.1', critical: true, value: Uint8Array.of(5, 0) }] } }],
    ];
    for (const [name, overrides] of cases) {
      const c = customChain(chain.levels.root, T0, overrides);
      const err = await expectCode(verifySim(docWithChain(c, c.leafKey)), 'ATTESTATION_CERT_PROFILE');
      expect(err.message, name).toBeTruthy();
    }
    // The same unknown extension, non-critical, is fine.
    const ok = customChain(chain.levels.root, T0, { leaf: { extraExtensions: [{ oid: '1.3.6.1.4.1.99999.1', critical: false, value: Uint8Array.of(5, 0) }] } });
    await expect(verifySim(docWithChain(ok, ok.leafKey))).resolves.toBeDefined();
    // A trusted root without keyCertSign.
    const rk = p384();
    const rootName = [['C', 'US'], ['CN', 'weak root']] as const;
    const weakRootDer = issueCertificate({
      subject: rootName,
      publicKey: rk.publicKey,
      signingKey: rk.privateKey,
      notBefore: T0 - 86_400_000,
      notAfter: T0 + 86_400_000,
      basicConstraints: { ca: true, critical: true },
      keyUsage: { bits: KEY_USAGE.digitalSignature, critical: true },
    });
    const weakRoot = trustedRootFromDer(weakRootDer);
    const wc = customChain({ name: 'root', der: weakRootDer, cert: weakRoot.parsed, privateKey: rk.privateKey, subject: rootName }, T0);
    await expectCode(verifySim(docWithChain(wc, wc.leafKey), { trustedRoots: [weakRoot] }), 'ATTESTATION_CERT_PROFILE');
  });

  it('#20 keys that are not P-384 ECDSA, signatures that are not ecdsa-with-SHA384', async () => {
    // Documents are signed with some P-384 key so the COSE signature is well-formed (96 bytes);
    // the key check comes before the document signature check.
    const p256Leaf = customChain(chain.levels.root, T0, { leaf: { key: p256() } });
    await expectCode(verifySim(docWithChain(p256Leaf, p384().privateKey)), 'ATTESTATION_BAD_KEY_ALGORITHM');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const rsaLeaf = customChain(chain.levels.root, T0, { leaf: { key: rsa } });
    await expectCode(verifySim(docWithChain(rsaLeaf, p384().privateKey)), 'ATTESTATION_BAD_KEY_ALGORITHM');
    const p256Instance = customChain(chain.levels.root, T0, { instance: { key: p256() } });
    await expectCode(verifySim(docWithChain(p256Instance, p256Instance.leafKey)), 'ATTESTATION_BAD_KEY_ALGORITHM');
    const sha256Leaf = customChain(chain.levels.root, T0, { leaf: { signatureHash: 'sha256' } });
    await expectCode(verifySim(docWithChain(sha256Leaf, sha256Leaf.leafKey)), 'ATTESTATION_BAD_KEY_ALGORITHM');
    const sha256Zonal = customChain(chain.levels.root, T0, { zonal: { signatureHash: 'sha256' } });
    await expectCode(verifySim(docWithChain(sha256Zonal, sha256Zonal.leafKey)), 'ATTESTATION_BAD_KEY_ALGORITHM');
  });

  it('#21 a document signed by a key other than the leaf key', async () => {
    const payload = decodeCoseSign1(sim).payload;
    for (const key of [chain.levels.instance.privateKey, chain.levels.root.privateKey, p384().privateKey]) {
      await expectCode(verifySim(signCoseSign1(payload, key)), 'ATTESTATION_SIGNATURE_INVALID');
    }
  });
});

describe('semantics / policy', () => {
  it('#22 PCR mismatch, missing expected index, no expected PCRs', async () => {
    const e = await expectCode(verifySim(sim, { expectedPcrs: { ...SIM_PCRS, 1: 'b1'.repeat(48) } }), 'ATTESTATION_PCR_MISMATCH');
    expect(e.details?.pcr).toBe(1);
    expect(e.message).toContain('PCR1');
    const missing = await expectCode(verifySim(sim, { expectedPcrs: { 20: 'ab'.repeat(48) } }), 'ATTESTATION_PCR_MISMATCH');
    expect(missing.details?.pcr).toBe(20);
    const g = await expectCode(verifyGen(gen, { expectedPcrs: { ...manifestPcrs(genuine), 8: '00'.repeat(48) } }), 'ATTESTATION_PCR_MISMATCH');
    expect(g.details?.pcr).toBe(8);
    // Case-insensitive comparison (KMS recommends StringEqualsIgnoreCase).
    await expect(verifySim(sim, { expectedPcrs: { 0: SIM_PCRS[0].toUpperCase() } })).resolves.toBeDefined();
    // Not configured: never a pass.
    await expectCode(verifySim(sim, { expectedPcrs: undefined as unknown as 'skip' }), 'ATTESTATION_NO_EXPECTED_PCRS');
    await expectCode(verifySim(sim, { expectedPcrs: {} }), 'ATTESTATION_NO_EXPECTED_PCRS');
    await expectCode(verifySim(sim, { expectedPcrs: null as unknown as 'skip' }), 'ATTESTATION_NO_EXPECTED_PCRS');
    await expectCode(verifySim(sim, { expectedPcrs: { 0: 'zz' } }), 'ATTESTATION_INVALID_OPTIONS');
    await expectCode(verifySim(sim, { expectedPcrs: { 32: SIM_PCRS[0] } }), 'ATTESTATION_INVALID_OPTIONS');
    // 'skip' is an explicit choice: authenticity only.
    await expect(verifySim(sim, { expectedPcrs: 'skip' })).resolves.toBeDefined();
  });

  it('#23 debug mode (PCR0/1/2 all zero) unless explicitly allowed; any one of them zero', async () => {
    const zero = '00'.repeat(48);
    const debugDoc = await pki.attest({ pcrs: { 0: zero, 1: zero, 2: zero } });
    await expectCode(verifySim(debugDoc, { expectedPcrs: { 0: zero } }), 'ATTESTATION_DEBUG_MODE');
    await expectCode(verifySim(debugDoc, { expectedPcrs: 'skip' }), 'ATTESTATION_DEBUG_MODE');
    await expect(verifySim(debugDoc, { expectedPcrs: { 0: zero }, allowDebug: true })).resolves.toMatchObject({ debugMode: true });
    for (const i of [0, 1, 2] as const) {
      const partial = await pki.attest({ pcrs: { ...SIM_PCRS, [i]: zero } });
      const err = await expectCode(verifySim(partial, { expectedPcrs: 'skip' }), 'ATTESTATION_DEBUG_MODE');
      expect(err.details?.pcr).toBe(i);
    }
  });

  it('#24 stale or future timestamps', async () => {
    await expectCode(verifySim(sim, { at: T0 + 10_000, maxAgeMs: 5_000 }), 'ATTESTATION_STALE');
    await expect(verifySim(sim, { at: T0 + 4_000, maxAgeMs: 5_000 })).resolves.toBeDefined();
    // A root made a day earlier and a chain valid from T0 - 1 h, so only the document
    // timestamp (T0) can be in the future.
    const older = await fixedPki(T0 - 86_400_000);
    const c = customChain((await older.currentChain()).levels.root, T0);
    const doc = docWithChain(c, c.leafKey);
    const trustedRoots = [older.trustedRoot()];
    await expectCode(verifySim(doc, { trustedRoots, at: T0 - 61_000 }), 'ATTESTATION_FUTURE_TIMESTAMP');
    await expect(verifySim(doc, { trustedRoots, at: T0 - 59_000 })).resolves.toBeDefined();
    await expectCode(verifySim(doc, { trustedRoots, at: T0 - 1_000, futureSkewMs: 0 }), 'ATTESTATION_FUTURE_TIMESTAMP');
    await expectCode(verifySim(doc, { trustedRoots, at: T0 - 30 * 60_000 }), 'ATTESTATION_FUTURE_TIMESTAMP');
    await expectCode(verifyGen(gen, { maxAgeMs: 60_000, at: genuine.timestamp_ms + 61_000 }), 'ATTESTATION_STALE');
  });

  it('#25 nonce mismatch, missing nonce, replayed nonce', async () => {
    await expectCode(verifySim(sim, { expectedNonce: new Uint8Array(32).fill(8) }), 'ATTESTATION_NONCE_MISMATCH');
    await expect(verifySim(sim, { expectedNonce: SIM_NONCE })).resolves.toBeDefined();
    const noNonce = await pki.attest({ pcrs: SIM_PCRS });
    await expectCode(verifySim(noNonce, { expectedNonce: SIM_NONCE }), 'ATTESTATION_NONCE_MISMATCH');
    const book = new SingleUseNonces({ now: () => T0 });
    const nonce = book.issue();
    const doc = await pki.attest({ pcrs: SIM_PCRS, nonce });
    await expect(verifySim(doc, { nonces: book })).resolves.toBeDefined();
    await expectCode(verifySim(doc, { nonces: book }), 'ATTESTATION_NONCE_REPLAYED');
    await expectCode(verifySim(sim, { nonces: book }), 'ATTESTATION_NONCE_REPLAYED'); // never issued
    await expectCode(verifySim(noNonce, { nonces: book }), 'ATTESTATION_NONCE_MISMATCH');
    let clock = T0;
    const shortBook = new SingleUseNonces({ ttlMs: 1000, now: () => clock });
    const late = shortBook.issue();
    clock += 2000;
    await expectCode(verifySim(await pki.attest({ pcrs: SIM_PCRS, nonce: late }), { nonces: shortBook }), 'ATTESTATION_NONCE_REPLAYED');
    // A rejected document does not burn the nonce.
    const keep = book.issue();
    const keepDoc = await pki.attest({ pcrs: SIM_PCRS, nonce: keep });
    await expectCode(verifySim(keepDoc, { nonces: book, expectedPcrs: { 0: 'ff'.repeat(48) } }), 'ATTESTATION_PCR_MISMATCH');
    await expect(verifySim(keepDoc, { nonces: book })).resolves.toBeDefined();
  });

  it('#26 user_data mismatch; public_key missing, mismatched, not RSA SPKI, RSA < 2048', async () => {
    const ud = new Uint8Array(48).fill(3);
    const withUd = await pki.attest({ pcrs: SIM_PCRS, userData: ud });
    await expect(verifySim(withUd, { expectedUserData: ud })).resolves.toBeDefined();
    await expectCode(verifySim(withUd, { expectedUserData: new Uint8Array(48).fill(4) }), 'ATTESTATION_USER_DATA_MISMATCH');
    await expectCode(verifySim(sim, { expectedUserData: ud }), 'ATTESTATION_USER_DATA_MISMATCH');

    await expectCode(verifySim(sim, { requirePublicKey: true }), 'ATTESTATION_PUBLIC_KEY_MISSING');
    await expectCode(verifySim(sim, { requireRsaPublicKey: true }), 'ATTESTATION_PUBLIC_KEY_MISSING');
    const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
    const rsaDoc = await pki.attest({ pcrs: SIM_PCRS, publicKey: rsa2048 });
    await expect(verifySim(rsaDoc, { requireRsaPublicKey: true, expectedPublicKey: rsa2048 })).resolves.toMatchObject({ publicKey: new Uint8Array(rsa2048) });
    await expectCode(verifySim(rsaDoc, { expectedPublicKey: new Uint8Array(rsa2048).fill(1, 40, 41) }), 'ATTESTATION_PUBLIC_KEY_MISMATCH');
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' });
    const ec = p384().publicKey.export({ format: 'der', type: 'spki' });
    for (const pk of [rsa1024, ec, Buffer.from('my super secret key'), Buffer.concat([rsa2048, Buffer.of(0)])]) {
      const doc = await pki.attest({ pcrs: SIM_PCRS, publicKey: pk });
      await expectCode(verifySim(doc, { requireRsaPublicKey: true }), 'ATTESTATION_PUBLIC_KEY_INVALID');
    }
  });

  it('#27 the chain check is awaited: a broken chain rejects the returned promise', async () => {
    const [root, a, b, c] = chain.cabundle;
    const broken = simWith('cabundle', [root, b, a, c]);
    const result = verifyAttestationDocument(broken, simOptions());
    expect(result).toBeInstanceOf(Promise);
    await expectCode(result, 'ATTESTATION_CHAIN_INVALID');
    // And the result of a passing call is only produced after every check (no early resolve).
    let settled = false;
    const ok = verifyAttestationDocument(sim, simOptions()).then((v) => {
      settled = true;
      return v;
    });
    await expect(ok).resolves.toBeDefined();
    expect(settled).toBe(true);
  });
});

describe('options', () => {
  it('unusable options are refused as input errors', async () => {
    await expectCode(verifySim(sim, { trustedRoots: [] }), 'ATTESTATION_INVALID_OPTIONS');
    await expectCode(verifySim(sim, { at: Number.NaN }), 'ATTESTATION_INVALID_OPTIONS');
    await expectCode(verifySim(sim, { at: new Date('nonsense') }), 'ATTESTATION_INVALID_OPTIONS');
    await expectCode(verifySim(sim, { at: undefined as unknown as number }), 'ATTESTATION_INVALID_OPTIONS');
    await expectCode(verifySim(sim, { maxAgeMs: -1 }), 'ATTESTATION_INVALID_OPTIONS');
    const e = await expectCode(verifySim(sim, { expectedPcrs: {} }), 'ATTESTATION_NO_EXPECTED_PCRS');
    expect(e.category).toBe('input');
    expect(e.exitCode).toBe(2);
  });

  it('roots may be given as DER; anything else is refused', async () => {
    await expect(verifySim(sim, { trustedRoots: [pki.rootDer] })).resolves.toBeDefined();
    await expectCode(verifySim(sim, { trustedRoots: [Uint8Array.of(1, 2, 3)] }), 'ATTESTATION_BAD_TRUSTED_ROOT');
    await expectCode(verifySim(sim, { trustedRoots: [{} as TrustedRoot] }), 'ATTESTATION_INVALID_OPTIONS');
    await expectCode(verifySim(sim, { expectedNonce: 'abc' as unknown as Uint8Array }), 'ATTESTATION_INVALID_OPTIONS');
  });

  it('a Date works as the verification time', async () => {
    await expect(verifySim(sim, { at: new Date(T0 + 1000) })).resolves.toBeDefined();
  });

  it('the default protected header is the genuine one', () => {
    expect(Buffer.from(decodeCoseSign1(sim).protectedBytes)).toEqual(Buffer.from(NSM_PROTECTED_HEADER));
  });
});
