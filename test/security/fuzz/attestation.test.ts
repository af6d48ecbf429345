/**
 * Fuzzing the attestation-document parser and verifier (attestation/): decodeCoseSign1,
 * parseAttestationPayload and verifyAttestationDocument on byte-mutated genuine AWS documents,
 * the mock document and simulated documents, plus structure-aware mutations (one payload field
 * replaced, re-signed with the real leaf key so the verifier gets past the signature) and hostile
 * length fields. Oracle: only AttestationError codes come out; a mutated document that still
 * verifies must attest exactly what the original attested.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ATTESTATION_ERROR_CODES,
  SimulatedNsmPki,
  awsNitroRootG1,
  decodeCoseSign1,
  parseAttestationPayload,
  signCoseSign1,
  verifyAttestationDocument,
  type TrustedRoot,
  type VerifiedAttestation,
  type VerifyAttestationOptions,
} from '../../../attestation/index.js';
import { CborMap, CborSimple, CborTagged, decodeCbor, encodeCbor, type CborValue } from '../../../attestation/cbor.js';
import {
  ALLOCATION_BOUND,
  Tally,
  allocatedBytes,
  classify,
  classifyAsync,
  expectTypedRejection,
  bytesOf,
  mutationsOf,
  params,
  runs,
  timeoutFor,
  vectorsDir,
} from '../support.js';

const CODES: ReadonlySet<string> = new Set(ATTESTATION_ERROR_CODES);
const attestationDir = path.join(vectorsDir, 'attestation');

interface ManifestDoc {
  file: string;
  encoding: 'raw' | 'base64';
  suggested_verification_time_ms: number;
  pcrs: Record<string, string>;
}
const manifest = JSON.parse(readFileSync(path.join(attestationDir, 'manifest.json'), 'utf8')) as { attestation_docs: ManifestDoc[] };

function docBytes(d: ManifestDoc): Uint8Array {
  const raw = readFileSync(path.join(attestationDir, d.file));
  return new Uint8Array(d.encoding === 'base64' ? Buffer.from(raw.toString('utf8').trim(), 'base64') : raw);
}

/** One base document and the options under which the unmutated document verifies (or, for the mock, is refused). */
interface Base {
  label: string;
  bytes: Uint8Array;
  options: VerifyAttestationOptions;
  /** What the original attests (null for the mock, which never verifies). */
  verified: VerifiedAttestation | null;
}

const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
const SIM_PCRS = { 0: 'a0'.repeat(48), 1: 'a1'.repeat(48), 2: 'a2'.repeat(48) };
let bases: Base[] = [];
const simBases: Base[] = [];
let leafKey: KeyObject;

beforeAll(async () => {
  const aws: TrustedRoot = awsNitroRootG1();
  for (const d of manifest.attestation_docs) {
    const isMock = d.file.includes('custom.bin');
    const isDebug = !d.pcrs['0'];
    const options: VerifyAttestationOptions = {
      trustedRoots: [aws],
      at: d.suggested_verification_time_ms,
      expectedPcrs: isDebug ? 'skip' : Object.fromEntries(Object.entries(d.pcrs).map(([k, v]) => [Number(k), v])),
      allowDebug: isDebug,
    };
    const bytes = docBytes(d);
    bases.push({ label: d.file, bytes, options, verified: isMock ? null : await verifyAttestationDocument(bytes, options) });
  }
  const pki = await SimulatedNsmPki.ephemeral({ now: () => T0 });
  leafKey = (await pki.currentChain()).leaf.privateKey;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
  const simOptions: VerifyAttestationOptions = { trustedRoots: [pki.trustedRoot()], at: T0, expectedPcrs: SIM_PCRS, maxAgeMs: 300_000 };
  for (const [i, fields] of [
    { userData: new Uint8Array(48).fill(7), nonce: new Uint8Array(32).fill(9), publicKey: new Uint8Array(rsa) },
    { userData: null, nonce: new Uint8Array(1), publicKey: null },
  ].entries()) {
    const bytes = await pki.attest({ pcrs: SIM_PCRS, ...fields });
    simBases.push({ label: `simulated-${i}`, bytes, options: simOptions, verified: await verifyAttestationDocument(bytes, simOptions) });
  }
  bases = [...bases, ...simBases];
});

/** The attested content of a verification, for "a mutation that verifies changed nothing" checks. */
function attested(v: VerifiedAttestation): unknown {
  const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));
  return {
    moduleId: v.moduleId,
    timestamp: v.timestamp,
    pcrs: [...v.pcrs.entries()],
    publicKey: hex(v.publicKey),
    userData: hex(v.userData),
    nonce: hex(v.nonce),
    certificate: hex(v.certificate),
    rootSha256: v.rootSha256,
  };
}

describe('attestation parser fuzzing (mutated genuine and simulated documents)', () => {
  const nDecode = runs(2000);
  it(`decodeCoseSign1: ${nDecode} mutated documents → a CoseSign1 or an AttestationError`, () => {
    const tally = new Tally('decodeCoseSign1');
    const docs = bases.map((b) => b.bytes);
    fc.assert(
      fc.property(
        mutationsOf(bases.length),
        (m) => classify(tally, () => decodeCoseSign1(bytesOf(docs, m)), CODES),
      ),
      params(nDecode),
    );
    tally.print();
    expect(tally.cases).toBe(nDecode);
  }, timeoutFor(nDecode, 2));

  const nPayload = runs(2000);
  it(`parseAttestationPayload: ${nPayload} mutated payloads → a payload or ATTESTATION_BAD_PAYLOAD`, () => {
    const payloads = bases.map((b) => decodeCoseSign1(b.bytes).payload);
    const tally = new Tally('parseAttestationPayload');
    fc.assert(
      fc.property(
        mutationsOf(payloads.length),
        (m) => classify(tally, () => parseAttestationPayload(bytesOf(payloads, m)), new Set(['ATTESTATION_BAD_PAYLOAD'])),
      ),
      params(nPayload),
    );
    tally.print();
    expect(tally.codes.get('ATTESTATION_BAD_PAYLOAD')).toBeGreaterThan(0);
  }, timeoutFor(nPayload, 2));

  const nVerify = runs(2000);
  it(`verifyAttestationDocument: ${nVerify} mutated documents are refused with a code, or attest exactly what the original did`, async () => {
    const tally = new Tally('verifyAttestationDocument (byte mutations)');
    let acceptedUnchanged = 0;
    const docs = bases.map((b) => b.bytes);
    await fc.assert(
      fc.asyncProperty(
        mutationsOf(bases.length),
        async (m) => {
          const base = bases[m.base]!;
          await classifyAsync(
            tally,
            async () => {
              const v = await verifyAttestationDocument(bytesOf(docs, m), base.options);
              // A mock-root document must never verify against the AWS root, mutated or not.
              expect(base.verified, `${base.label} mutated into a document that verifies`).not.toBeNull();
              expect(attested(v)).toEqual(attested(base.verified!));
              acceptedUnchanged++;
            },
            CODES,
          );
        },
      ),
      params(nVerify),
    );
    tally.print();
    console.log(`fuzz verifyAttestationDocument: ${acceptedUnchanged} accepted mutations (encoding-only: tag 18, non-minimal heads) attest the original content`);
    expect(tally.cases).toBe(nVerify);
  }, timeoutFor(nVerify, 40));
});

// ---------------------------------------------------------------------------------------------
// Structure-aware: one payload field replaced by an arbitrary CBOR item, re-signed with the leaf
// key, so the verifier parses the payload and the chain of a correctly signed document.

const cborLeaf: fc.Arbitrary<CborValue> = fc.oneof(
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
  fc.double(),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 80 }),
  fc.uint8Array({ minLength: 48, maxLength: 48 }),
  fc.constantFrom<CborValue>(true, false, null, new CborSimple(23), new CborSimple(200)),
);
const cborValue: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    cborLeaf,
    fc.array(tie('v'), { maxLength: 5 }),
    fc.uniqueArray(fc.tuple(fc.oneof(fc.bigInt({ min: -5n, max: 40n }), fc.string({ maxLength: 12 })), tie('v')), {
      maxLength: 5,
      selector: ([k]) => (typeof k === 'bigint' ? `i${k}` : `s${k}`),
    }).map((entries) => new CborMap(entries)),
    fc.tuple(fc.bigInt({ min: 0n, max: 300n }), tie('v')).map(([tag, v]) => new CborTagged(tag, v)),
  ),
})).v;

const PAYLOAD_KEYS = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce', 'extra'];

describe('attestation structure-aware fuzzing (re-signed documents)', () => {
  // An extra on top of the 2,000 byte mutations above; each case signs ES384 and walks the chain.
  const n = runs(1000);
  it(`${n} documents with one payload field replaced (or a certificate byte-mutated), re-signed: typed errors only`, async () => {
    const tally = new Tally('verifyAttestationDocument (re-signed field replacement)');
    const base = simBases[0]!;
    const entries = (decodeCbor(decodeCoseSign1(base.bytes).payload) as CborMap).entries;
    const certificateOf = (key: string) => entries.find(([k]) => k === key)![1];
    const certs = [certificateOf('certificate') as Uint8Array, ...(certificateOf('cabundle') as Uint8Array[])];
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('replace' as const), key: fc.constantFrom(...PAYLOAD_KEYS), value: cborValue }),
      fc.record({ kind: fc.constant('drop' as const), key: fc.constantFrom(...PAYLOAD_KEYS) }),
      mutationsOf(certs.length).map((m) => ({ kind: 'cert' as const, index: m.base, mutation: m })),
    );
    await fc.assert(
      fc.asyncProperty(edit, async (e) => {
        let next: Array<readonly [CborValue, CborValue]> = [...entries];
        if (e.kind === 'replace') {
          next = next.some(([k]) => k === e.key) ? next.map(([k, v]) => [k, k === e.key ? e.value : v] as const) : [...next, [e.key, e.value] as const];
        } else if (e.kind === 'drop') {
          next = next.filter(([k]) => k !== e.key);
        } else {
          next = next.map(([k, v]) => {
            const bytes = bytesOf(certs, e.mutation);
            if (e.index === 0 && k === 'certificate') return [k, bytes] as const;
            if (e.index > 0 && k === 'cabundle') return [k, (v as Uint8Array[]).map((c, i) => (i === e.index - 1 ? bytes : c))] as const;
            return [k, v] as const;
          });
        }
        const doc = signCoseSign1(encodeCbor(new CborMap(next)), leafKey);
        await classifyAsync(tally, () => verifyAttestationDocument(doc, base.options), CODES);
      }),
      params(n),
    );
    tally.print();
    expect(tally.codes.size).toBeGreaterThan(3);
  }, timeoutFor(n, 40));
});

// ---------------------------------------------------------------------------------------------
// Hostile length fields: a few bytes announcing gigabytes must be refused without allocating them.

/** CBOR heads announcing 2^32-1 / 2^40 / 2^64-1 units of each major type, followed by a few bytes. */
function hostileCbor(): Array<{ label: string; bytes: Uint8Array }> {
  const out: Array<{ label: string; bytes: Uint8Array }> = [];
  const majors: Array<[string, number]> = [['bstr', 2], ['tstr', 3], ['array', 4], ['map', 5]];
  for (const [name, major] of majors) {
    out.push({ label: `${name} of 2^32-1`, bytes: Uint8Array.of((major << 5) | 26, 0xff, 0xff, 0xff, 0xff, 0, 0, 0) });
    out.push({ label: `${name} of 2^40`, bytes: Uint8Array.of((major << 5) | 27, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3) });
    out.push({ label: `${name} of 2^64-1`, bytes: Uint8Array.of((major << 5) | 27, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) });
    // Inside a COSE array, in the payload position.
    out.push({ label: `COSE payload ${name} of 2^32-1`, bytes: Uint8Array.of(0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, (major << 5) | 26, 0xff, 0xff, 0xff, 0xff) });
  }
  // Deep nesting: 100 000 nested arrays (would overflow a recursive decoder's stack).
  out.push({ label: 'nesting 100000 deep', bytes: new Uint8Array(100_000).fill(0x81) });
  return out;
}

describe('hostile lengths and nesting in attestation CBOR', () => {
  it('every hostile head is refused with a typed error and nothing near the announced size is allocated', async () => {
    let count = 0;
    for (const { label, bytes } of hostileCbor()) {
      const before = allocatedBytes();
      for (const f of [() => decodeCoseSign1(bytes), () => parseAttestationPayload(bytes)]) {
        try {
          f();
          throw new Error(`${label}: accepted`);
        } catch (err) {
          expectTypedRejection(err, CODES);
        }
      }
      await verifyAttestationDocument(bytes, bases[0]!.options).then(
        () => {
          throw new Error(`${label}: verified`);
        },
        (err: unknown) => expectTypedRejection(err, CODES),
      );
      expect(allocatedBytes() - before, label).toBeLessThan(ALLOCATION_BOUND);
      count++;
    }
    console.log(`attestation hostile lengths: ${count} inputs × 3 entry points, all refused with typed errors, no large allocation`);
  });

  it('an oversized document (> 256 KiB) is refused before decoding', () => {
    const big = new Uint8Array(262_145);
    expect(() => decodeCoseSign1(big)).toThrow(expect.objectContaining({ code: 'ATTESTATION_MALFORMED_CBOR' }));
  });

  it('a payload of the maximal size with garbage is a typed refusal', () => {
    const payload = new Uint8Array(16_384).fill(0x41);
    const doc = buildAttestationDocumentLike(payload);
    return verifyAttestationDocument(doc, simBases[0]!.options).then(
      () => {
        throw new Error('verified');
      },
      (err: unknown) => expect(expectTypedRejection(err, CODES).code).toBe('ATTESTATION_BAD_PAYLOAD'),
    );
  });
});

/** A correctly signed COSE_Sign1 around arbitrary payload bytes (the signature is over them). */
function buildAttestationDocumentLike(payload: Uint8Array): Uint8Array {
  return signCoseSign1(payload, leafKey);
}
