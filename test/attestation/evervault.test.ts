/**
 * Independent verifier agreement: @evervault/wasm-attestation-bindings (Rust, webpki) must reach
 * the same accept/reject as verifyAttestationDocument on every genuine document and on a set
 * of rejects. Its clock is `Date.now()` inside the WASM, stubbed around each call.
 *
 * Known, deliberate deviations (reference §6.1), each asserted below rather than hidden:
 * - evervault does not check debug mode: to compare cryptographic validity we pass
 *   `allowDebug: true`; without it we reject debug documents (tested in vectors.test.ts).
 * - evervault compares PCR hex case-sensitively; we normalise case (KMS does too).
 * - evervault does not check the document timestamp against the verification time; we reject a
 *   timestamp in the future of the verification time (checklist 24).
 * - evervault rejects 0-length user_data/nonce, which genuine documents can carry; no genuine
 *   vector has one and evervault refuses any non-AWS root, so this one cannot be exercised here.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { initSync, PCRs, validateAttestationDocPcrs } from '@evervault/wasm-attestation-bindings';
import { verifyAttestationDocument } from '../../attestation/verify.js';
import { awsNitroRootG1 } from '../../attestation/roots.js';
import { decodeCoseSign1 } from '../../attestation/cose.js';
import { parseAttestationPayload } from '../../attestation/payload.js';
import { CborMap, encodeCbor } from '../../attestation/cbor.js';
import { docBytes, fixedPki, genuineDocs, manifest, mockDoc, mutatePayload, repoRoot, SIM_PCRS, T0, type ManifestDoc } from './helpers.js';

const ZERO = '0'.repeat(96);
type Four = { 0: string; 1: string; 2: string; 8: string };

const fourPcrs = (d: ManifestDoc): Four => ({ 0: d.pcrs['0'] ?? ZERO, 1: d.pcrs['1'] ?? ZERO, 2: d.pcrs['2'] ?? ZERO, 8: d.pcrs['8'] ?? ZERO });

beforeAll(() => {
  const wasm = readFileSync(path.join(repoRoot, 'node_modules/@evervault/wasm-attestation-bindings/index_bg.wasm'));
  initSync({ module: wasm });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** evervault's verdict with its clock stubbed to `at`; also returns what it logged as the reason. */
function evervault(doc: Uint8Array, at: number, pcrs: Four): { ok: boolean; reason: string } {
  const logs: string[] = [];
  vi.spyOn(Date, 'now').mockReturnValue(at);
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    logs.push(args.map(String).join(' '));
  });
  try {
    const expected = new PCRs(pcrs[0], pcrs[1], pcrs[2], pcrs[8], 'SHA384');
    const ok = validateAttestationDocPcrs(Buffer.from(doc).toString('base64'), [expected]);
    return { ok, reason: logs.join('; ') };
  } catch (err) {
    return { ok: false, reason: String(err) };
  } finally {
    vi.restoreAllMocks();
  }
}

async function ours(doc: Uint8Array, at: number, pcrs: Four): Promise<{ ok: boolean; code: string | null }> {
  try {
    await verifyAttestationDocument(doc, { trustedRoots: [awsNitroRootG1()], at, expectedPcrs: pcrs, allowDebug: true });
    return { ok: true, code: null };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code ?? 'UNKNOWN' };
  }
}

describe('agreement with evervault on genuine documents', () => {
  for (const d of genuineDocs) {
    it(`accept at the suggested time, reject with the real clock and with a wrong PCR0: ${d.file}`, async () => {
      const doc = docBytes(d);
      const at = d.suggested_verification_time_ms;
      const pcrs = fourPcrs(d);

      const ev = evervault(doc, at, pcrs);
      expect(ev.ok, ev.reason).toBe(true);
      expect((await ours(doc, at, pcrs)).ok).toBe(true);

      const now = Date.now();
      const evNow = evervault(doc, now, pcrs);
      expect(evNow.ok).toBe(false);
      expect(evNow.reason).toMatch(/expired|Expired/);
      expect(await ours(doc, now, pcrs)).toEqual({ ok: false, code: 'ATTESTATION_CERT_EXPIRED' });

      const wrong = { ...pcrs, 0: 'ab'.repeat(48) };
      expect(evervault(doc, at, wrong).ok).toBe(false);
      expect(await ours(doc, at, wrong)).toEqual({ ok: false, code: 'ATTESTATION_PCR_MISMATCH' });
    });
  }

  it('covers every genuine document in the manifest', () => {
    expect(genuineDocs.length).toBe(manifest.attestation_docs.length - 1);
  });
});

describe('agreement with evervault on rejects', () => {
  const d = genuineDocs.find((x) => x.pcrs['0'])!;

  it('the mock-root document', async () => {
    const ev = evervault(docBytes(mockDoc), mockDoc.suggested_verification_time_ms, fourPcrs(mockDoc));
    expect(ev.ok).toBe(false);
    expect(ev.reason).toMatch(/UnknownIssuer/);
    expect((await ours(docBytes(mockDoc), mockDoc.suggested_verification_time_ms, fourPcrs(mockDoc))).code).toBe('ATTESTATION_UNTRUSTED_ROOT');
  });

  it('a flipped signature byte and a flipped nonce byte', async () => {
    const doc = docBytes(d);
    for (const offset of [doc.length - 1, doc.length - 99]) {
      const m = new Uint8Array(doc);
      m[offset] ^= 0x01;
      expect(evervault(m, d.suggested_verification_time_ms, fourPcrs(d)).ok).toBe(false);
      expect((await ours(m, d.suggested_verification_time_ms, fourPcrs(d))).code).toBe('ATTESTATION_SIGNATURE_INVALID');
    }
  });

  it('intermediates reordered', async () => {
    const doc = docBytes(d);
    const c = decodeCoseSign1(doc);
    const p = parseAttestationPayload(c.payload);
    const payload = mutatePayload(doc, 'cabundle', [p.cabundle[0], p.cabundle[2], p.cabundle[1], p.cabundle[3]]);
    const m = encodeCbor([c.protectedBytes, new CborMap([]), payload, c.signature]);
    expect(evervault(m, d.suggested_verification_time_ms, fourPcrs(d)).ok).toBe(false);
    expect((await ours(m, d.suggested_verification_time_ms, fourPcrs(d))).code).toBe('ATTESTATION_CHAIN_INVALID');
  });

  it('a simulated document (not the AWS root)', async () => {
    const pki = await fixedPki();
    const doc = await pki.attest({ pcrs: SIM_PCRS });
    const pcrs = { 0: SIM_PCRS[0], 1: SIM_PCRS[1], 2: SIM_PCRS[2], 8: ZERO };
    expect(evervault(doc, T0 + 1000, pcrs).ok).toBe(false);
    expect((await ours(doc, T0 + 1000, pcrs)).code).toBe('ATTESTATION_UNTRUSTED_ROOT');
  });
});

describe('documented deviations', () => {
  const d = genuineDocs.find((x) => x.file.includes('sdks_rs_src_testcases_aws'))!;

  it('upper-case expected PCRs: evervault rejects (case-sensitive), we accept (normalised)', async () => {
    const upper = Object.fromEntries(Object.entries(fourPcrs(d)).map(([k, v]) => [k, v.toUpperCase()])) as unknown as Four;
    expect(evervault(docBytes(d), d.suggested_verification_time_ms, upper).ok).toBe(false);
    expect((await ours(docBytes(d), d.suggested_verification_time_ms, upper)).ok).toBe(true);
  });

  it('verification time before the document timestamp: evervault accepts, we reject', async () => {
    // This leaf was issued 1 h 40 min before the document's timestamp (reference §1.3).
    const leaf = new X509Certificate(parseAttestationPayload(decodeCoseSign1(docBytes(d)).payload).certificate);
    const at = Date.parse(leaf.validFrom) + 60_000;
    expect(at).toBeLessThan(d.timestamp_ms - 60_000);
    expect(evervault(docBytes(d), at, fourPcrs(d)).ok).toBe(true);
    expect((await ours(docBytes(d), at, fourPcrs(d))).code).toBe('ATTESTATION_FUTURE_TIMESTAMP');
  });

  it('debug documents: evervault accepts them with zero PCRs; we do only with allowDebug', async () => {
    const dbg = genuineDocs.find((x) => !x.pcrs['0'])!;
    expect(evervault(docBytes(dbg), dbg.suggested_verification_time_ms, fourPcrs(dbg)).ok).toBe(true);
    await expect(
      verifyAttestationDocument(docBytes(dbg), { trustedRoots: [awsNitroRootG1()], at: dbg.suggested_verification_time_ms, expectedPcrs: fourPcrs(dbg) }),
    ).rejects.toMatchObject({ code: 'ATTESTATION_DEBUG_MODE' });
  });
});
