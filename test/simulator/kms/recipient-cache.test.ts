/** The simulator's Recipient verifier reuses a verified chain, but never skips freshness or a changed byte. */
import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { SimulatedNsmPki } from '../../../attestation/index.js';
import { attestationRecipientVerifier } from '../../../simulator/kms/index.js';

describe('Recipient document verification cache', () => {
  it('accepts the same document again, refuses it once stale, and re-verifies any changed byte', async () => {
    const pki = await SimulatedNsmPki.ephemeral();
    const spki = new Uint8Array(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' }));
    const doc = await pki.attest({ publicKey: spki });
    const t0 = Date.now();
    const verifier = attestationRecipientVerifier({ trustedRoots: [pki.trustedRoot()], maxAgeMs: 10_000 });
    const first = await verifier.verify(doc, t0);
    const again = await verifier.verify(doc, t0 + 1_000);
    expect(again).toEqual(first);
    // Within the reuse window but past the freshness limit: refused.
    await expect(verifier.verify(doc, first.timestamp + 10_001)).rejects.toMatchObject({ code: 'ATTESTATION_STALE' });
    // One flipped signature byte is a different document: verified from scratch, and refused.
    const bad = new Uint8Array(doc);
    bad[bad.length - 1] ^= 1;
    await expect(verifier.verify(bad, t0 + 2_000)).rejects.toMatchObject({ code: 'ATTESTATION_SIGNATURE_INVALID' });
    // Outside the reuse window the chain is verified again (here: still valid).
    expect((await verifier.verify(doc, t0 + 5_000)).timestamp).toBe(first.timestamp);
  });
});
