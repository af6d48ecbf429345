/**
 * The policy matrix through the simulator and the real SDK: each case allowed or denied as AWS
 * documents it, and the audit log saying why (which statement, which condition).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { generateKeyPolicy } from '../../../kms-policies/index.js';
import type { AuditEvent } from '../../../simulator/kms/index.js';
import { ACCOUNT, CREDS, ENCLAVE_ROLE, imagePcrs, measurementsOf, newRecipientKey, oneByteOff, recipientOf, startTestSim, type RecipientKey, type TestSim } from './helpers.js';

let t: TestSim;
let admin: KMSClient;
let enclave: KMSClient;
let other: KMSClient;
let recipient: RecipientKey;
let key: string;
let debugKey: string;
let generatedKey: string;
const image = imagePcrs('image-a');
const zero = '0'.repeat(96);

const matrixPolicy = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
    {
      Sid: 'EnclaveDecrypt',
      Effect: 'Allow',
      Principal: { AWS: ENCLAVE_ROLE },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: {
        StringEqualsIgnoreCase: {
          'kms:RecipientAttestation:ImageSha384': image[0],
          'kms:RecipientAttestation:PCR1': image[1],
          'kms:RecipientAttestation:PCR2': image[2],
        },
      },
    },
    {
      Sid: 'ApiContextOnly',
      Effect: 'Allow',
      Principal: { AWS: CREDS.other.principalArn },
      Action: ['kms:Encrypt', 'kms:Decrypt'],
      Resource: '*',
      Condition: { StringEquals: { 'kms:EncryptionContext:identity': 'api' } },
    },
    { Sid: 'GenerateWildcard', Effect: 'Allow', Principal: { AWS: CREDS.other.principalArn }, Action: 'kms:Gen*', Resource: '*' },
    { Sid: 'DenyForbidden', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:environment': 'forbidden' } } },
  ],
};

beforeAll(async () => {
  t = await startTestSim();
  admin = t.client('admin');
  enclave = t.client('enclave');
  other = t.client('other');
  recipient = newRecipientKey();
  key = (await admin.send(new CreateKeyCommand({ Policy: JSON.stringify(matrixPolicy) }))).KeyMetadata!.Arn!;
  debugKey = (
    await admin.send(
      new CreateKeyCommand({
        Policy: JSON.stringify({
          Statement: [
            matrixPolicy.Statement[0],
            {
              Sid: 'DebugEnclave',
              Effect: 'Allow',
              Principal: { AWS: ENCLAVE_ROLE },
              Action: 'kms:Decrypt',
              Resource: '*',
              Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': zero } },
            },
          ],
        }),
      }),
    )
  ).KeyMetadata!.Arn!;
  generatedKey = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
});
afterAll(async () => {
  await t.close();
});

const blobUnder = async (k: string, ec?: Record<string, string>) =>
  (await admin.send(new EncryptCommand({ KeyId: k, Plaintext: Buffer.from('matrix'), ...(ec ? { EncryptionContext: ec } : {}) }))).CiphertextBlob!;
const doc = (pcrs: Record<number, string> = image, timestamp?: number) =>
  t.pki.attest({ pcrs, publicKey: recipient.spki, ...(timestamp === undefined ? {} : { timestamp }) });

/** Runs a call and returns the outcome plus the audit event it produced. */
async function outcome(call: () => Promise<unknown>): Promise<{ allowed: boolean; error?: Error; event: AuditEvent }> {
  const before = (await t.auditEvents()).length;
  let error: Error | undefined;
  try {
    await call();
  } catch (err) {
    error = err as Error;
  }
  // The last event is the call under test (set-up calls such as Encrypt may precede it).
  const events = (await t.auditEvents()).slice(before);
  expect(events.length).toBeGreaterThanOrEqual(1);
  return { allowed: error === undefined, ...(error ? { error } : {}), event: events.at(-1)! };
}

function expectDenied(o: Awaited<ReturnType<typeof outcome>>, decision: 'implicit-deny' | 'explicit-deny'): string {
  expect(o.allowed).toBe(false);
  expect(o.error!.name).toBe('AccessDeniedException');
  expect(o.event.errorCode).toBe('AccessDeniedException');
  expect(o.event.additionalEventData!.policyDecision!.decision).toBe(decision);
  return o.event.additionalEventData!.policyDecision!.reason;
}

describe('policy matrix', () => {
  it('attested Decrypt from the pinned image: allowed by "EnclaveDecrypt"', async () => {
    const o = await outcome(async () => enclave.send(new DecryptCommand({ CiphertextBlob: await blobUnder(key), Recipient: recipientOf(await doc()) })));
    expect(o.allowed).toBe(true);
    expect(o.event.additionalEventData!.policyDecision).toMatchObject({ decision: 'allow', statements: ['statement #1 "EnclaveDecrypt"'] });
  });

  it('PCR0 mismatch: implicit deny naming ImageSha384', async () => {
    const o = await outcome(async () =>
      enclave.send(new DecryptCommand({ CiphertextBlob: await blobUnder(key), Recipient: recipientOf(await doc({ ...image, 0: oneByteOff(image[0]) })) })),
    );
    const reason = expectDenied(o, 'implicit-deny');
    expect(reason).toContain('"EnclaveDecrypt"');
    expect(reason).toContain('kms:RecipientAttestation:ImageSha384');
    expect(reason).toContain('does not satisfy StringEqualsIgnoreCase');
    expect(o.event.additionalEventData!.recipient!.attestationDocumentEnclaveImageDigest).toBe(oneByteOff(image[0]));
  });

  it('PCR2 mismatch alone is enough to deny', async () => {
    const o = await outcome(async () =>
      enclave.send(new DecryptCommand({ CiphertextBlob: await blobUnder(key), Recipient: recipientOf(await doc({ ...image, 2: oneByteOff(image[2]) })) })),
    );
    expect(expectDenied(o, 'implicit-deny')).toContain('kms:RecipientAttestation:PCR2');
  });

  it('missing Recipient: the attestation conditions cannot match', async () => {
    const o = await outcome(async () => enclave.send(new DecryptCommand({ CiphertextBlob: await blobUnder(key) })));
    expect(expectDenied(o, 'implicit-deny')).toContain('no valid attestation document');
    expect(o.event.additionalEventData!.recipient).toBeUndefined();
  });

  it('debug-mode document (zero PCRs): verified, then denied by a policy pinning a real image, allowed by one pinning zeros', async () => {
    const debugDoc = await t.pki.attest({ publicKey: recipient.spki }); // PCR0/1/2 all zero
    const denied = await outcome(async () => enclave.send(new DecryptCommand({ CiphertextBlob: await blobUnder(key), Recipient: recipientOf(debugDoc) })));
    expect(expectDenied(denied, 'implicit-deny')).toContain('kms:RecipientAttestation:ImageSha384');
    expect(denied.event.additionalEventData!.recipient!.attestationDocumentEnclaveImageDigest).toBe(zero);
    const allowed = await outcome(async () => enclave.send(new DecryptCommand({ CiphertextBlob: await blobUnder(debugKey), Recipient: recipientOf(debugDoc) })));
    expect(allowed.allowed).toBe(true);
  });

  it('stale document: denied before the policy is consulted, with the attestation error in the log', async () => {
    const o = await outcome(async () =>
      enclave.send(new DecryptCommand({ CiphertextBlob: await blobUnder(key), Recipient: recipientOf(await doc(image, Date.now() - 10 * 60_000)) })),
    );
    expect(o.error!.name).toBe('AccessDeniedException');
    expect(o.event.additionalEventData!.attestationError!.code).toBe('ATTESTATION_STALE');
    expect(o.event.additionalEventData!.policyDecision).toBeUndefined();
  });

  it('wrong principal with a valid attestation: the attestation grants nothing by itself', async () => {
    const o = await outcome(async () => other.send(new DecryptCommand({ CiphertextBlob: await blobUnder(key), Recipient: recipientOf(await doc()) })));
    const reason = expectDenied(o, 'implicit-deny');
    expect(reason).toContain(CREDS.other.principalArn);
    expect(o.error!.message).toContain(`User: ${CREDS.other.principalArn} is not authorized to perform: kms:Decrypt on resource: ${key}`);
  });

  it('explicit deny wins over the admin kms:* allow', async () => {
    const o = await outcome(() => admin.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x'), EncryptionContext: { environment: 'forbidden' } })));
    const reason = expectDenied(o, 'explicit-deny');
    expect(reason).toContain('"DenyForbidden"');
    expect(o.error!.message).toContain('with an explicit deny in a resource-based policy');
    expect(o.event.additionalEventData!.policyDecision!.statements).toEqual(['statement #4 "DenyForbidden"']);
  });

  it('wildcard actions: kms:Gen* covers GenerateDataKey but not ReEncrypt', async () => {
    const ok = await outcome(() => other.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })));
    expect(ok.allowed).toBe(true);
    expect(ok.event.additionalEventData!.policyDecision!.statements).toEqual(['statement #3 "GenerateWildcard"']);
    const blob = await blobUnder(key, { identity: 'api' });
    const no = await outcome(() => other.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { identity: 'api' }, DestinationKeyId: key })));
    expect(expectDenied(no, 'implicit-deny')).toContain('kms:ReEncryptFrom');
  });

  it('encryption-context conditions: only identity=api', async () => {
    expect((await outcome(() => other.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x'), EncryptionContext: { identity: 'api' } })))).allowed).toBe(true);
    const wrong = await outcome(() => other.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x'), EncryptionContext: { identity: 'web' } })));
    expect(expectDenied(wrong, 'implicit-deny')).toContain('kms:EncryptionContext:identity = "web" does not satisfy StringEquals "api"');
    const none = await outcome(() => other.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })));
    expect(expectDenied(none, 'implicit-deny')).toContain('kms:EncryptionContext:identity is absent');
  });
});

describe('a generated policy in the simulator', () => {
  it('lets the measured image decrypt and refuses an image one byte different, and any unattested Decrypt', async () => {
    const blob = await blobUnder(generatedKey);
    await admin.send(
      new PutKeyPolicyCommand({
        KeyId: generatedKey,
        Policy: JSON.stringify(generateKeyPolicy({ measurements: measurementsOf('image-a'), roleArn: ENCLAVE_ROLE, admins: 'account-root', purpose: 'source' })),
      }),
    );
    const ok = await outcome(async () => enclave.send(new DecryptCommand({ CiphertextBlob: blob, Recipient: recipientOf(await doc()) })));
    expect(ok.allowed).toBe(true);
    for (const i of [0, 1, 2] as const) {
      const off = await outcome(async () => enclave.send(new DecryptCommand({ CiphertextBlob: blob, Recipient: recipientOf(await doc({ ...image, [i]: oneByteOff(image[i]) })) })));
      const reason = expectDenied(off, 'explicit-deny');
      expect(reason).toContain(i === 0 ? 'DenyEnclaveRoleDecryptUnlessImageSha384Matches' : `DenyEnclaveRoleDecryptUnlessPCR${i}Matches`);
    }
    const plain = await outcome(() => enclave.send(new DecryptCommand({ CiphertextBlob: blob })));
    expectDenied(plain, 'explicit-deny');
    // The administrator cannot decrypt either: the generated admin statement has no cryptographic use.
    expectDenied(await outcome(() => admin.send(new DecryptCommand({ CiphertextBlob: blob }))), 'implicit-deny');
  });
});
