/**
 * Durability and concurrency: a restart keeps every key, policy, alias and key state; a corrupt
 * state file stops the start-up instead of resetting; 100 parallel requests give consistent
 * results.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GetKeyPolicyCommand,
  GetPublicKeyCommand,
  ListKeysCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { generateKeyPolicy } from '../../../kms-policies/index.js';
import { KmsSimError, STATE_FILE, startKmsSimulator } from '../../../simulator/kms/index.js';
import { SimulatedNsmPki } from '../../../attestation/index.js';
import { ACCOUNT, CREDS, ENCLAVE_ROLE, imagePcrs, measurementsOf, newRecipientKey, oneByteOff, recipientOf, startTestSim } from './helpers.js';
import { decryptCiphertextForRecipient } from '../../../enclave-app/kms/cms.js';

let dir: string;
let pki: SimulatedNsmPki;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kms-state-test-'));
  pki = await SimulatedNsmPki.ephemeral();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('restart', () => {
  it('keeps every key, policy, alias and key state, and old ciphertexts still decrypt', async () => {
    const stateDir = path.join(dir, 'restart');
    const first = await startTestSim({ dir: stateDir, pki });
    const admin = first.client('admin');
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
        { Sid: 'Other', Effect: 'Allow', Principal: { AWS: CREDS.other.principalArn }, Action: 'kms:Encrypt', Resource: '*' },
      ],
    });
    const sym = (await admin.send(new CreateKeyCommand({ Policy: policy, Description: 'kept' }))).KeyMetadata!;
    const sign = (await admin.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
    const disabled = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!;
    const doomed = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!;
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/kept', TargetKeyId: sym.KeyId }));
    await admin.send(new DisableKeyCommand({ KeyId: disabled.KeyId }));
    await admin.send(new ScheduleKeyDeletionCommand({ KeyId: doomed.KeyId, PendingWindowInDays: 10 }));
    const blob = (await admin.send(new EncryptCommand({ KeyId: 'alias/kept', Plaintext: Buffer.from('survives'), EncryptionContext: { k: 'v' } }))).CiphertextBlob!;
    const pub = (await admin.send(new GetPublicKeyCommand({ KeyId: sign.KeyId }))).PublicKey!;
    const sig = (await admin.send(new SignCommand({ KeyId: sign.KeyId, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!;
    await first.close();
    const mode = (await stat(path.join(stateDir, 'state', STATE_FILE))).mode & 0o777;
    expect(mode).toBe(0o600);

    const second = await startTestSim({ dir: stateDir, pki });
    try {
      const a2 = second.client('admin');
      expect((await a2.send(new DescribeKeyCommand({ KeyId: 'alias/kept' }))).KeyMetadata).toMatchObject({ Arn: sym.Arn, Description: 'kept', KeyState: 'Enabled' });
      expect((await a2.send(new GetKeyPolicyCommand({ KeyId: sym.KeyId }))).Policy).toBe(policy);
      expect((await a2.send(new DescribeKeyCommand({ KeyId: disabled.KeyId }))).KeyMetadata!.KeyState).toBe('Disabled');
      const d = (await a2.send(new DescribeKeyCommand({ KeyId: doomed.KeyId }))).KeyMetadata!;
      expect(d.KeyState).toBe('PendingDeletion');
      expect(d.PendingDeletionWindowInDays).toBe(10);
      expect(Buffer.from((await a2.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { k: 'v' } }))).Plaintext!).toString()).toBe('survives');
      expect(Buffer.from((await a2.send(new GetPublicKeyCommand({ KeyId: sign.KeyId }))).PublicKey!).equals(Buffer.from(pub))).toBe(true);
      expect(
        (await a2.send(new VerifyCommand({ KeyId: sign.KeyId, Message: Buffer.from('m'), Signature: sig, SigningAlgorithm: 'ECDSA_SHA_256' }))).SignatureValid,
      ).toBe(true);
      // The reloaded policy is enforced: "other" may Encrypt, not Decrypt.
      await second.client('other').send(new EncryptCommand({ KeyId: sym.Arn, Plaintext: Buffer.from('x') }));
      const denied = await second.client('other').send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { k: 'v' } })).catch((e: unknown) => e);
      expect((denied as Error).name).toBe('AccessDeniedException');
    } finally {
      await second.close();
    }
  });
});

describe('corrupt state is a start-up error, never a reset', () => {
  const corruptions: Array<[string, (valid: Record<string, unknown>) => string]> = [
    ['not JSON', () => '{"format": "attested-pack-kms-simulator-state", '],
    ['an empty file', () => ''],
    ['another format marker', (v) => JSON.stringify({ ...v, format: 'something-else' })],
    ['a future version', (v) => JSON.stringify({ ...v, version: 2 })],
    ['keys not a list', (v) => JSON.stringify({ ...v, keys: {} })],
    ['a key without material', (v) => JSON.stringify({ ...v, keys: (v.keys as Array<Record<string, unknown>>).map(({ material: _m, ...k }) => k) })],
    ['a symmetric key with 16 bytes of material', (v) => JSON.stringify({ ...v, keys: (v.keys as Array<Record<string, unknown>>).map((k) => ({ ...k, material: Buffer.alloc(16).toString('base64') })) })],
    ['a key with an invalid policy', (v) => JSON.stringify({ ...v, keys: (v.keys as Array<Record<string, unknown>>).map((k) => ({ ...k, policy: '{"Statement": 1}' })) })],
    ['an alias to an unknown key', (v) => JSON.stringify({ ...v, aliases: [{ aliasName: 'alias/x', targetKeyId: '00000000-0000-0000-0000-000000000000', creationDate: 1, lastUpdatedDate: 1 }] })],
  ];
  let valid: Record<string, unknown>;

  beforeAll(async () => {
    const s = await startTestSim({ dir: path.join(dir, 'valid'), pki });
    await s.client('admin').send(new CreateKeyCommand({}));
    await s.close();
    valid = JSON.parse(await readFile(path.join(dir, 'valid', 'state', STATE_FILE), 'utf8')) as Record<string, unknown>;
  });

  for (const [name, corrupt] of corruptions) {
    it(`refuses to start on ${name} and leaves the file untouched`, async () => {
      const stateDir = path.join(dir, `corrupt-${name.replace(/\W+/g, '-')}`);
      const text = corrupt(valid);
      await writeFile(path.join(await ensure(stateDir), STATE_FILE), text);
      const err = await startKmsSimulator({ stateDir, credentials: [CREDS.admin], trustRoots: [pki.rootPem()] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KmsSimError);
      expect((err as KmsSimError).code).toBe('KMS_SIM_STATE_CORRUPT');
      expect((err as KmsSimError).message).toContain(STATE_FILE);
      expect((err as KmsSimError).hint).toMatch(/never resets/);
      expect(await readFile(path.join(stateDir, STATE_FILE), 'utf8')).toBe(text);
    });
  }

  it('refuses state written for another account', async () => {
    const stateDir = path.join(dir, 'other-account');
    await writeFile(path.join(await ensure(stateDir), STATE_FILE), JSON.stringify({ ...valid, accountId: '999988887777' }));
    const err = await startKmsSimulator({ stateDir, credentials: [CREDS.admin], trustRoots: [pki.rootPem()] }).catch((e: unknown) => e);
    expect((err as KmsSimError).code).toBe('KMS_SIM_BAD_CONFIG');
  });
});

async function ensure(d: string): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(d, { recursive: true });
  return d;
}

describe('100 parallel requests', () => {
  it('100 parallel CreateKey calls make 100 distinct keys, all still there after a restart', async () => {
    const stateDir = path.join(dir, 'parallel-create');
    const s = await startTestSim({ dir: stateDir, pki });
    const admin = s.client('admin');
    const ids = await Promise.all(Array.from({ length: 100 }, () => admin.send(new CreateKeyCommand({})).then((r) => r.KeyMetadata!.KeyId!)));
    expect(new Set(ids).size).toBe(100);
    await s.close();
    const again = await startTestSim({ dir: stateDir, pki });
    try {
      const listed = await again.client('admin').send(new ListKeysCommand({ Limit: 1000 }));
      expect(new Set(listed.Keys!.map((k) => k.KeyId))).toEqual(new Set(ids));
    } finally {
      await again.close();
    }
  });

  it('100 parallel Encrypt+Decrypt round trips each return their own plaintext', async () => {
    const s = await startTestSim({ dir: path.join(dir, 'parallel-crypto'), pki });
    try {
      const admin = s.client('admin');
      const key = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      const results = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const p = Buffer.from(`plaintext number ${i}`);
          const e = await admin.send(new EncryptCommand({ KeyId: key, Plaintext: p, EncryptionContext: { i: String(i) } }));
          const d = await admin.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionContext: { i: String(i) } }));
          return Buffer.from(d.Plaintext!).toString();
        }),
      );
      expect(results).toEqual(Array.from({ length: 100 }, (_, i) => `plaintext number ${i}`));
      const events = (await s.auditEvents()).filter((e) => e.eventName === 'Encrypt' || e.eventName === 'Decrypt');
      expect(events).toHaveLength(200);
      expect(events.every((e) => e.errorCode === undefined)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('40 parallel attested Decrypts (each verifies a document chain): exactly the 20 from the measured image are allowed', async () => {
    const s = await startTestSim({ dir: path.join(dir, 'parallel-attested'), pki });
    try {
      const admin = s.client('admin');
      const key = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      const blob = (await admin.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('only for image-a') }))).CiphertextBlob!;
      const { PutKeyPolicyCommand } = await import('@aws-sdk/client-kms');
      await admin.send(new PutKeyPolicyCommand({ KeyId: key, Policy: JSON.stringify(generateKeyPolicy({ measurements: measurementsOf('image-a'), roleArn: ENCLAVE_ROLE, admins: 'account-root', purpose: 'source' })) }));
      const recipient = newRecipientKey();
      const good = imagePcrs('image-a');
      const bad = { ...good, 0: oneByteOff(good[0]) };
      const goodDoc = await pki.attest({ pcrs: good, publicKey: recipient.spki });
      const badDoc = await pki.attest({ pcrs: bad, publicKey: recipient.spki });
      const enclave = s.client('enclave');
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const r = await enclave.send(new DecryptCommand({ CiphertextBlob: blob, Recipient: recipientOf(i % 2 === 0 ? goodDoc : badDoc) })).catch((e: unknown) => e as Error);
          if (r instanceof Error) return r.name;
          return Buffer.from(decryptCiphertextForRecipient(r.CiphertextForRecipient!, recipient.privateKey, recipient.spki)).toString();
        }),
      );
      outcomes.forEach((o, i) => expect(o, `request ${i}`).toBe(i % 2 === 0 ? 'only for image-a' : 'AccessDeniedException'));
    } finally {
      await s.close();
    }
  });
});
