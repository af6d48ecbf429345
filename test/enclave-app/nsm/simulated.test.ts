// SimulatedNsm: documents from the simulated device verify with attestation/'s verifier against the
// simulated root and the PCRs it was configured with; PCR16+ extend/lock behave like the NSM.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNsmPki, verifyAttestationDocument, type VerifyAttestationOptions } from '../../../attestation/index.js';
import { encodeNsmRequest, NsmError, SimulatedNsm, SimulatedNsmDevice, decodeNsmResponse } from '../../../enclave-app/nsm/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha384 = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(createHash('sha384').update(Buffer.concat(parts)).digest());
const randomPcr = (): string => randomBytes(48).toString('hex');

// Reference §2 worked examples (independent of our code).
const ROLE_ARN = 'arn:aws:iam::123456789012:role/Webserver';
const PCR3_FOR_ROLE = '78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6';
const INSTANCE_ID = 'i-1234567890abcdef0';
const PCR4_FOR_INSTANCE = '08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0';

let pki: SimulatedNsmPki;
const measurements = { PCR0: randomPcr(), PCR1: randomPcr(), PCR2: randomPcr(), PCR8: randomPcr() };

beforeAll(async () => {
  pki = await SimulatedNsmPki.ephemeral();
});

function verifyOptions(extra: Partial<VerifyAttestationOptions> = {}): VerifyAttestationOptions {
  return {
    trustedRoots: [pki.trustedRoot()],
    at: Date.now(),
    expectedPcrs: { 0: measurements.PCR0, 1: measurements.PCR1, 2: measurements.PCR2, 8: measurements.PCR8 },
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<NsmError> {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NsmError);
  return err as NsmError;
}

describe('SimulatedNsm attestation', () => {
  it('signs documents that verifyAttestationDocument accepts, with the configured PCRs and bound fields', async () => {
    const nsm = SimulatedNsm.fromMeasurements(pki, measurements, { roleArn: ROLE_ARN, instanceId: INSTANCE_ID });
    const nonce = randomBytes(32);
    const userData = sha384(Buffer.from('claims'));
    const publicKey = new Uint8Array(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' }));
    const document = await nsm.attest({ nonce, userData, publicKey });
    expect(document[0]).toBe(0x84); // untagged COSE_Sign1, like the real NSM
    const verified = await verifyAttestationDocument(
      document,
      verifyOptions({
        expectedPcrs: { 0: measurements.PCR0, 1: measurements.PCR1, 2: measurements.PCR2, 3: PCR3_FOR_ROLE, 4: PCR4_FOR_INSTANCE, 8: measurements.PCR8 },
        expectedNonce: nonce,
        expectedUserData: userData,
        expectedPublicKey: publicKey,
        requireRsaPublicKey: true,
      }),
    );
    expect(verified.pcrs.get(3)).toBe(PCR3_FOR_ROLE);
    expect(verified.pcrs.get(4)).toBe(PCR4_FOR_INSTANCE);
    expect(verified.pcrs.size).toBe(16);
    expect(verified.debugMode).toBe(false);
    expect(verified.moduleId).toBe((await nsm.describe()).moduleId);
  });

  it('by default PCR4 is the PKI\'s simulated instance (consistent with module_id) and absent fields are null', async () => {
    const nsm = SimulatedNsm.fromMeasurements(pki, measurements);
    const verified = await verifyAttestationDocument(await nsm.attest(), verifyOptions());
    expect(verified.moduleId.startsWith(`${pki.instanceId}-enc`)).toBe(true);
    expect(verified.pcrs.get(4)).toBe(hex(sha384(new Uint8Array(48), Buffer.from(pki.instanceId))));
    expect(verified.userData).toBeNull();
    expect(verified.nonce).toBeNull();
    expect(verified.publicKey).toBeNull();
  });

  it('documents do not verify against other measurements or another root', async () => {
    const nsm = SimulatedNsm.fromMeasurements(pki, measurements);
    const document = await nsm.attest({ nonce: randomBytes(16) });
    await expect(verifyAttestationDocument(document, verifyOptions({ expectedPcrs: { 0: randomPcr() } }))).rejects.toMatchObject({ code: expect.stringMatching(/PCR/) });
    const other = await SimulatedNsmPki.ephemeral();
    await expect(verifyAttestationDocument(document, verifyOptions({ trustedRoots: [other.trustedRoot()] }))).rejects.toMatchObject({ code: expect.any(String) });
  });

  it('refuses oversized fields like the NSM: InputTooLarge, or EMSGSIZE beyond the 4096-byte request limit', async () => {
    const nsm = SimulatedNsm.fromMeasurements(pki, measurements);
    expect((await failure(nsm.attest({ userData: new Uint8Array(1025) }))).code).toBe('NSM_INPUT_TOO_LARGE');
    expect((await failure(nsm.attest({ nonce: new Uint8Array(1025) }))).code).toBe('NSM_INPUT_TOO_LARGE');
    expect((await failure(nsm.attest({ userData: new Uint8Array(5000) }))).code).toBe('NSM_INPUT_TOO_LARGE');
    expect((await failure(nsm.attest({ publicKey: new Uint8Array(0) }))).code).toBe('NSM_INVALID_ARGUMENT');
    // Limits are inclusive: 1024 bytes are fine.
    const ok = await nsm.attest({ userData: new Uint8Array(1024), nonce: new Uint8Array(1024) });
    expect((await verifyAttestationDocument(ok, verifyOptions())).userData?.length).toBe(1024);
  });

  it('rejects boot PCRs outside 0..15 or of the wrong size when configured', () => {
    expect(() => new SimulatedNsm({ pki, pcrs: { 16: randomPcr() } })).toThrow(NsmError);
    expect(() => new SimulatedNsm({ pki, pcrs: { 0: 'abcd' } })).toThrow(NsmError);
  });
});

describe('SimulatedNsm describe, random, PCR control', () => {
  it('describes itself like a Nitro NSM', async () => {
    const nsm = SimulatedNsm.fromMeasurements(pki, measurements);
    const d = await nsm.describe();
    expect(d).toMatchObject({ versionMajor: 1, maxPcrs: 32, digest: 'SHA384' });
    expect(d.lockedPcrs).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(d.moduleId).toMatch(/^i-[0-9a-f]{17}-enc[0-9a-f]{16}$/);
  });

  it('getRandom returns 256 fresh bytes', async () => {
    const nsm = SimulatedNsm.fromMeasurements(pki, measurements);
    const [a, b] = await Promise.all([nsm.getRandom(), nsm.getRandom()]);
    expect(a).toHaveLength(256);
    expect(hex(a)).not.toBe(hex(b));
  });

  it('extends PCR16 as SHA384(old ‖ data), shows it in documents, then locks it', async () => {
    const nsm = SimulatedNsm.fromMeasurements(pki, measurements);
    const data = Buffer.from('config digest');
    const once = await nsm.extendPcr(16, data);
    expect(hex(once)).toBe(hex(sha384(new Uint8Array(48), data)));
    const twice = await nsm.extendPcr(16, data);
    expect(hex(twice)).toBe(hex(sha384(once, data)));
    expect(await nsm.describePcr(16)).toEqual({ lock: false, data: twice });
    expect(await nsm.describePcr(0)).toEqual({ lock: true, data: new Uint8Array(Buffer.from(measurements.PCR0, 'hex')) });

    const verified = await verifyAttestationDocument(await nsm.attest(), verifyOptions({ expectedPcrs: { 0: measurements.PCR0, 16: hex(twice) } }));
    expect(verified.pcrs.size).toBe(17);

    await nsm.lockPcr(16);
    expect((await nsm.describePcr(16)).lock).toBe(true);
    expect((await failure(nsm.extendPcr(16, data))).code).toBe('NSM_READ_ONLY_INDEX');
    expect((await nsm.describe()).lockedPcrs).toContain(16);
  });

  it('boot PCRs are read-only and indices beyond 31 are invalid', async () => {
    const nsm = SimulatedNsm.fromMeasurements(pki, measurements);
    const readOnly = await failure(nsm.extendPcr(0, new Uint8Array([1])));
    expect(readOnly.code).toBe('NSM_READ_ONLY_INDEX');
    expect(readOnly.category).toBe('rejected');
    expect((await failure(nsm.extendPcr(32, new Uint8Array([1])))).code).toBe('NSM_INVALID_INDEX');
    expect((await failure(nsm.describePcr(40))).code).toBe('NSM_INVALID_INDEX');
    expect((await failure(nsm.lockPcr(32))).code).toBe('NSM_INVALID_INDEX');
    expect((await failure(nsm.lockPcrs(33))).code).toBe('NSM_INVALID_INDEX');
    await nsm.lockPcrs(20);
    expect((await nsm.describe()).lockedPcrs).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect((await failure(nsm.extendPcr(19, new Uint8Array([1])))).code).toBe('NSM_READ_ONLY_INDEX');
    expect(hex(await nsm.extendPcr(20, new Uint8Array([1])))).toBe(hex(sha384(new Uint8Array(48), new Uint8Array([1]))));
  });

  it('the device answers undecodable requests with Error(InvalidArgument), like the NSM', async () => {
    const device = new SimulatedNsmDevice({ pki });
    expect(decodeNsmResponse(await device.request(new Uint8Array([0xff])))).toEqual({ type: 'Error', error: 'InvalidArgument' });
    expect(decodeNsmResponse(await device.request(encodeNsmRequest({ type: 'GetRandom' })))).toMatchObject({ type: 'GetRandom' });
  });

  it('a closed device reports NSM_UNAVAILABLE', async () => {
    const nsm = new SimulatedNsm({ pki });
    nsm.device.close();
    expect((await failure(nsm.getRandom())).code).toBe('NSM_UNAVAILABLE');
  });
});
