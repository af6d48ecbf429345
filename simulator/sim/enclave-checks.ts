/**
 * Two checks the launcher makes once the enclave and the proxy are up, through the proxy as a
 * CI job's pre-flight would: the enclave is ready and its fresh attestation document carries the
 * measured PCRs (and our nonce) under the simulated root; and the sealed signing key was
 * unsealed — or the enclave said why not.
 */
import { randomBytes } from 'node:crypto';
import type { Measurements } from '../../common/measurements.js';
import { verifyAttestationDocument, type TrustedRoot, type VerifiedAttestation } from '../../attestation/index.js';
import type { SealedSigningKey } from '../../enclave-app/protocol.js';
import type { SimCheck } from './checks.js';
import { SimError } from './errors.js';
import type { UnsealOutcome } from './proxy.js';

/** GET /readyz, then GET /v1/attestation?nonce=…, verified against `root` and `measurements`. */
export async function checkEnclaveAttests(proxy: { url: string; token: string }, root: TrustedRoot, measurements: Measurements): Promise<VerifiedAttestation> {
  const ready = await fetch(new URL('/readyz', proxy.url), { signal: AbortSignal.timeout(30_000) });
  const readyBody = (await ready.json()) as { error?: { code?: string; message?: string } };
  if (ready.status !== 200) {
    throw new SimError('SIM_CHECK_FAILED', `the proxy is not ready: ${readyBody.error?.code ?? ready.status} ${readyBody.error?.message ?? ''}`.trim());
  }
  const nonce = randomBytes(32);
  const res = await fetch(new URL(`/v1/attestation?nonce=${nonce.toString('hex')}`, proxy.url), {
    headers: { authorization: `Bearer ${proxy.token}` },
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { document?: unknown };
  if (res.status !== 200 || typeof body.document !== 'string') throw new SimError('SIM_CHECK_FAILED', `GET /v1/attestation answered HTTP ${res.status}`);
  return verifyAttestationDocument(new Uint8Array(Buffer.from(body.document, 'base64')), {
    trustedRoots: [root],
    at: Date.now(),
    maxAgeMs: 5 * 60_000,
    expectedPcrs: { 0: measurements.PCR0, 1: measurements.PCR1, 2: measurements.PCR2 },
    expectedNonce: new Uint8Array(nonce),
  });
}

/** The sealed-signing check from the enclave's answer to `unseal` (undefined: it was never asked). */
export function sealedKeyCheck(sealed: SealedSigningKey, outcome: UnsealOutcome | undefined, where: string): SimCheck {
  const base = { name: 'sealed-signing-key', title: 'sealed signing key' };
  if (outcome?.ok && Buffer.from(outcome.publicKey).equals(Buffer.from(sealed.publicKey))) {
    return {
      ...base,
      status: 'pass',
      evidence: `unsealed by the enclave with an attested KMS Decrypt under the seal key (${where}; verify key …${Buffer.from(sealed.publicKey).toString('base64').slice(-16)})`,
    };
  }
  if (outcome?.ok) return { ...base, status: 'fail', evidence: 'the enclave unsealed a key whose public half differs from the sealed key file', code: 'SIM_CHECK_FAILED' };
  if (outcome) return { ...base, status: 'fail', evidence: `the enclave refused to start sealed signing: ${outcome.message}`, code: outcome.code };
  return { ...base, status: 'fail', evidence: 'the enclave was never asked to unseal the key', code: 'SIM_CHECK_FAILED' };
}
