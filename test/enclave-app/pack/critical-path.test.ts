/**
 * The pack's KMS calls in dependency order, per signing mode and envelope: which call waited for
 * which, read from the KMS simulator's call log (arrival and answer times of every call), with
 * latency injected per operation. No duration is asserted: a call depends on another exactly
 * when it arrived after the other was answered, and the injected latencies are long enough that
 * independent calls always overlap.
 *
 * Target (issue 20): one dependent KMS round trip with a sealed (or no) signature and with an age
 * envelope, two with KMS signing — the artifact's DEK is wrapped (Encrypt) while the SOPS data
 * keys are decrypted, and only KMS Sign waits for the plaintext.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptCommand } from '@aws-sdk/client-kms';
import { runPack, type PackPorts } from '../../../enclave-app/pack/pipeline.js';
import { RecipientKeyRing } from '../../../enclave-app/pack/recipient-keys.js';
import { createSealedKey, parseSealedKeyFile, unsealSigningKey } from '../../../enclave-app/pack/sealed-key.js';
import type { SigningMode } from '../../../enclave-app/protocol.js';
import type { KmsCallRecord } from '../../../simulator/kms/index.js';
import { createWorld, type World } from './world.js';

let world: World;
const keys = new RecipientKeyRing();
const publicKeyCache = new Map<string, Uint8Array>();
let sealed: NonNullable<PackPorts['signing']['sealed']>;

beforeAll(async () => {
  world = await createWorld();
  keys.warmUp();
  const sealedFile = await createSealedKey(world.keys.seal, async (pt) => {
    const out = await world.admin.send(new EncryptCommand({ KeyId: world.keys.seal, Plaintext: pt }));
    return { ciphertextBlob: out.CiphertextBlob!, keyId: out.KeyId! };
  });
  const key = await keys.acquire();
  sealed = await unsealSigningKey(parseSealedKeyFile(JSON.stringify(sealedFile)), world.kmsConnection().forCredentials(world.enclaveCredentials), {
    attestationDocument: await world.nsmFor(world.measurements).attest({ publicKey: key.spkiDer }),
    privateKey: key.privateKey,
    spkiDer: key.spkiDer,
  });
});
afterAll(async () => {
  keys.clear();
  await world?.close();
});

function ports(): PackPorts {
  return {
    kms: world.kmsConnection().forCredentials(world.enclaveCredentials),
    nsm: world.nsmFor(world.measurements),
    recipientKeys: keys,
    signing: { kmsKeyId: world.keys.sign, sealed },
    now: Date.now,
    toolVersion: '0.1.0-test',
    publicKeyCache,
  };
}

/** The KMS calls one pack makes, in arrival order, under the given per-operation latencies. */
async function callsOfOnePack(identity: string, environment: string, signing: SigningMode, latencyByOperation: Record<string, number>): Promise<KmsCallRecord[]> {
  const request = await world.request(identity, environment, { options: { signing } });
  // A first pack outside the log fills the signing public-key cache (GetPublicKey once per key and enclave).
  world.sim.setFaults({});
  await runPack(await world.request(identity, environment, { options: { signing } }), ports());
  const calls: KmsCallRecord[] = [];
  const stop = world.sim.observeCalls((c) => calls.push(c));
  world.sim.setFaults({ latencyByOperation });
  try {
    await runPack(request, ports());
  } finally {
    stop();
    world.sim.setFaults({});
  }
  return calls.sort((a, b) => a.arrivedAt - b.arrivedAt);
}

/**
 * Dependent round trips on the longest chain: a call is one deeper than the deepest call that
 * was answered before it arrived (it may have waited for that one; it cannot have waited for a
 * call still in flight).
 */
function dependentRoundTrips(calls: readonly KmsCallRecord[]): number {
  const depth = new Map<KmsCallRecord, number>();
  for (const c of calls) {
    const before = calls.filter((p) => p !== c && p.answeredAt <= c.arrivedAt).map((p) => depth.get(p) ?? 0);
    depth.set(c, 1 + Math.max(0, ...before));
  }
  return Math.max(0, ...depth.values());
}

const ops = (calls: readonly KmsCallRecord[]): string[] => calls.map((c) => c.operation).sort();
const of = (calls: readonly KmsCallRecord[], op: string): KmsCallRecord[] => calls.filter((c) => c.operation === op);

// Long enough that calls started in the same pack step (the Encrypt goes out just before the
// recipient attestation, the Decrypts just after it) overlap even on a busy machine.
const L = 400;

describe('KMS calls of one pack: dependency order per mode', () => {
  it('KMS envelope, sealed signature: Encrypt runs alongside the Decrypts — one dependent round trip', async () => {
    const calls = await callsOfOnePack('api-gateway', 'production', 'sealed', { Decrypt: L, Encrypt: L });
    expect(ops(calls)).toEqual(['Decrypt', 'Decrypt', 'Encrypt']);
    expect(calls.every((c) => c.status === 200)).toBe(true);
    const [encrypt] = of(calls, 'Encrypt');
    // The wrap went out before any data key came back: it did not wait for the plaintext.
    for (const d of of(calls, 'Decrypt')) expect(encrypt!.arrivedAt).toBeLessThan(d.answeredAt);
    expect(dependentRoundTrips(calls)).toBe(1);
  });

  it('KMS envelope, no signature: one dependent round trip', async () => {
    const calls = await callsOfOnePack('api-gateway', 'production', 'none', { Decrypt: L, Encrypt: L });
    expect(ops(calls)).toEqual(['Decrypt', 'Decrypt', 'Encrypt']);
    expect(dependentRoundTrips(calls)).toBe(1);
  });

  it('KMS envelope, KMS signature: Sign waits for every Decrypt (and the wrap), nothing else does — two', async () => {
    const calls = await callsOfOnePack('api-gateway', 'production', 'kms', { Decrypt: L, Encrypt: L, Sign: L });
    expect(ops(calls)).toEqual(['Decrypt', 'Decrypt', 'Encrypt', 'Sign']);
    const [encrypt] = of(calls, 'Encrypt');
    const [sign] = of(calls, 'Sign');
    for (const d of of(calls, 'Decrypt')) {
      expect(encrypt!.arrivedAt).toBeLessThan(d.answeredAt);
      expect(sign!.arrivedAt).toBeGreaterThanOrEqual(d.answeredAt);
    }
    // The signature covers the wrapped key, so Sign follows Encrypt too — but not a round trip later.
    expect(sign!.arrivedAt).toBeGreaterThanOrEqual(encrypt!.answeredAt);
    expect(dependentRoundTrips(calls)).toBe(2);
  });

  it('a slow Decrypt and a fast Encrypt: the wrap is answered before any data key (it never waited for them)', async () => {
    const calls = await callsOfOnePack('api-gateway', 'production', 'sealed', { Decrypt: 3 * L, Encrypt: 0 });
    const [encrypt] = of(calls, 'Encrypt');
    for (const d of of(calls, 'Decrypt')) expect(encrypt!.answeredAt).toBeLessThan(d.answeredAt);
    // (No chain depth here: an instant Encrypt may be answered before the Decrypts even leave,
    // which timestamps cannot tell from a dependency.)
  });

  it('a fast Decrypt and a slow Encrypt: the pack still ends only after the wrap (the artifact needs it)', async () => {
    const calls = await callsOfOnePack('api-gateway', 'production', 'kms', { Decrypt: 0, Encrypt: 2 * L, Sign: 0 });
    const [encrypt] = of(calls, 'Encrypt');
    const [sign] = of(calls, 'Sign');
    for (const d of of(calls, 'Decrypt')) expect(d.answeredAt).toBeLessThan(encrypt!.answeredAt);
    expect(sign!.arrivedAt).toBeGreaterThanOrEqual(encrypt!.answeredAt);
  });

  it('age envelope, sealed signature: the Decrypt is the only KMS call — one', async () => {
    const calls = await callsOfOnePack('worker', 'dev', 'sealed', { Decrypt: L });
    expect(ops(calls)).toEqual(['Decrypt']);
    expect(dependentRoundTrips(calls)).toBe(1);
  });

  it('age envelope, KMS signature: Decrypt → Sign — two', async () => {
    const calls = await callsOfOnePack('worker', 'dev', 'kms', { Decrypt: L, Sign: L });
    expect(ops(calls)).toEqual(['Decrypt', 'Sign']);
    expect(of(calls, 'Sign')[0]!.arrivedAt).toBeGreaterThanOrEqual(of(calls, 'Decrypt')[0]!.answeredAt);
    expect(dependentRoundTrips(calls)).toBe(2);
  });

  it('a failed Decrypt still lets the early wrap settle before the pack fails (no KMS call outlives it)', async () => {
    const request = await world.request('api-gateway', 'production', { options: { signing: 'sealed' } });
    const tampered = { ...request, files: request.files.map((f) => ({ ...f, content: Buffer.from(Buffer.from(f.content).toString('utf8').replace(/arn:aws:kms:[^"'\s]+/g, world.keys.wrap)) })) };
    const calls: KmsCallRecord[] = [];
    const stop = world.sim.observeCalls((c) => calls.push(c));
    world.sim.setFaults({ latencyByOperation: { Decrypt: 0, Encrypt: L } });
    let settledAt = 0;
    try {
      await expect(runPack(tampered, { ...ports(), sourceKeys: undefined })).rejects.toMatchObject({ code: expect.stringMatching(/^KMS_/) });
      settledAt = performance.now();
    } finally {
      stop();
      world.sim.setFaults({});
    }
    const [encrypt] = of(calls, 'Encrypt');
    expect(encrypt).toBeDefined();
    expect(encrypt!.answeredAt).toBeLessThanOrEqual(settledAt);
  });
});
