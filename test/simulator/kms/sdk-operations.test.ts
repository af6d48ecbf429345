/**
 * The real @aws-sdk/client-kms against the simulator: every implemented operation, and the
 * errors as the SDK types them.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, createPublicKey, verify as nodeVerify, constants, createPrivateKey } from 'node:crypto';
import {
  AlreadyExistsException,
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisabledException,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  GetKeyPolicyCommand,
  GetPublicKeyCommand,
  IncorrectKeyException,
  InvalidAliasNameException,
  InvalidCiphertextException,
  InvalidKeyUsageException,
  InvalidMarkerException,
  KMSInvalidSignatureException,
  KMSInvalidStateException,
  KMSServiceException,
  ListAliasesCommand,
  ListKeysCommand,
  MalformedPolicyDocumentException,
  NotFoundException,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  UnsupportedOperationException,
  VerifyCommand,
  type KMSClient,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { ACCOUNT, CREDS, startTestSim, type TestSim } from './helpers.js';

let t: TestSim;
let admin: KMSClient;
let symmetricArn: string;

/** One key per spec/usage, created concurrently up front (key generation runs off the event loop). */
const SPECS = [
  { KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', enc: ['SYMMETRIC_DEFAULT'] },
  { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', sig: ['ECDSA_SHA_256'] },
  { KeySpec: 'ECC_NIST_P384', KeyUsage: 'SIGN_VERIFY', sig: ['ECDSA_SHA_384'] },
  { KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT', enc: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] },
  { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', sig: ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'] },
  // RSA_3072 / RSA_4096 take the same path with a larger modulus (seconds of key generation each), so they are not run here.
] as const;
const created = new Map<string, KeyMetadata>();
const keyOf = (spec: string, usage: string) => created.get(`${spec}/${usage}`)!.Arn!;

beforeAll(async () => {
  t = await startTestSim();
  admin = t.client('admin');
  const mds = await Promise.all(
    SPECS.map((c) => admin.send(new CreateKeyCommand({ KeySpec: c.KeySpec, KeyUsage: c.KeyUsage, Description: c.KeySpec })).then((r) => r.KeyMetadata!)),
  );
  SPECS.forEach((c, i) => created.set(`${c.KeySpec}/${c.KeyUsage}`, mds[i]!));
  symmetricArn = keyOf('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
});
afterAll(async () => {
  await t.close();
});

/** Runs a call that must fail; returns the error for inspection. */
async function failure(p: Promise<unknown>): Promise<KMSServiceException> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KMSServiceException);
    return err as KMSServiceException;
  }
  throw new Error('expected the call to fail');
}

describe('key management through the SDK', () => {
  it('CreateKey returns KeyMetadata for every key spec and usage', async () => {
    for (const c of SPECS) {
      const md = created.get(`${c.KeySpec}/${c.KeyUsage}`)!;
      expect(md).toMatchObject({ KeySpec: c.KeySpec, CustomerMasterKeySpec: c.KeySpec, KeyUsage: c.KeyUsage, KeyState: 'Enabled', Enabled: true, AWSAccountId: ACCOUNT, KeyManager: 'CUSTOMER', Origin: 'AWS_KMS', Description: c.KeySpec });
      expect(md.Arn).toBe(`arn:aws:kms:us-east-1:${ACCOUNT}:key/${md.KeyId}`);
      expect(md.CreationDate).toBeInstanceOf(Date);
      expect(md.EncryptionAlgorithms).toEqual('enc' in c ? c.enc : undefined);
      expect(md.SigningAlgorithms).toEqual('sig' in c ? c.sig : undefined);
    }
  });

  it('CreateKey refuses a key usage that does not fit the spec, and non-administrators', async () => {
    const e = await failure(admin.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'ENCRYPT_DECRYPT' })));
    expect(e.name).toBe('ValidationException');
    const denied = await failure(t.client('other').send(new CreateKeyCommand({})));
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toBe(
      `User: ${CREDS.other.principalArn} is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action`,
    );
  });

  it('DescribeKey accepts key ID, key ARN, alias name and alias ARN', async () => {
    const keyId = symmetricArn.split('/')[1]!;
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/describe-me', TargetKeyId: keyId }));
    for (const KeyId of [keyId, symmetricArn, 'alias/describe-me', `arn:aws:kms:us-east-1:${ACCOUNT}:alias/describe-me`]) {
      expect((await admin.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!.Arn).toBe(symmetricArn);
    }
  });

  it('unknown keys and aliases are NotFoundException', async () => {
    for (const KeyId of ['alias/none', '00000000-0000-0000-0000-000000000000', 'not-a-key', `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${symmetricArn.split('/')[1]}`]) {
      const e = await failure(admin.send(new DescribeKeyCommand({ KeyId })));
      expect(e).toBeInstanceOf(NotFoundException);
    }
  });

  it('CreateAlias refuses duplicates and reserved names', async () => {
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/dup', TargetKeyId: symmetricArn }));
    expect(await failure(admin.send(new CreateAliasCommand({ AliasName: 'alias/dup', TargetKeyId: symmetricArn })))).toBeInstanceOf(AlreadyExistsException);
    expect(await failure(admin.send(new CreateAliasCommand({ AliasName: 'alias/aws/mine', TargetKeyId: symmetricArn })))).toBeInstanceOf(InvalidAliasNameException);
    expect((await failure(admin.send(new CreateAliasCommand({ AliasName: 'nope', TargetKeyId: symmetricArn })))).name).toBe('ValidationException');
  });

  it('ListKeys and ListAliases page with markers', async () => {
    const all = await admin.send(new ListKeysCommand({}));
    expect(all.Keys!.length).toBeGreaterThanOrEqual(SPECS.length);
    expect(all.Keys!.some((k) => k.KeyArn === symmetricArn)).toBe(true);
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const page = await admin.send(new ListKeysCommand({ Limit: 2, ...(marker ? { Marker: marker } : {}) }));
      expect(page.Keys!.length).toBeLessThanOrEqual(2);
      seen.push(...page.Keys!.map((k) => k.KeyId!));
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    expect(seen).toEqual(all.Keys!.map((k) => k.KeyId));
    expect(await failure(admin.send(new ListKeysCommand({ Marker: 'bogus' })))).toBeInstanceOf(InvalidMarkerException);
    const aliases = await admin.send(new ListAliasesCommand({ KeyId: symmetricArn.split('/')[1] }));
    expect(aliases.Aliases!.map((a) => a.AliasName).sort()).toEqual(['alias/describe-me', 'alias/dup']);
    expect(aliases.Aliases![0]!.AliasArn).toMatch(/^arn:aws:kms:us-east-1:111122223333:alias\//);
  });

  it('PutKeyPolicy / GetKeyPolicy round-trip, refusing malformed and locking-out policies', async () => {
    const key = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const dflt = JSON.parse((await admin.send(new GetKeyPolicyCommand({ KeyId: key, PolicyName: 'default' }))).Policy!);
    expect(dflt.Statement[0].Principal).toEqual({ AWS: `arn:aws:iam::${ACCOUNT}:root` });
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
        { Sid: 'Other', Effect: 'Allow', Principal: { AWS: CREDS.other.principalArn }, Action: 'kms:Encrypt', Resource: '*' },
      ],
    });
    await admin.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: policy }));
    expect((await admin.send(new GetKeyPolicyCommand({ KeyId: key }))).Policy).toBe(policy);
    expect(await failure(admin.send(new PutKeyPolicyCommand({ KeyId: key, Policy: '{"Statement": [}' })))).toBeInstanceOf(MalformedPolicyDocumentException);
    const lockout = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { AWS: CREDS.other.principalArn }, Action: 'kms:*', Resource: '*' }] });
    const e = await failure(admin.send(new PutKeyPolicyCommand({ KeyId: key, Policy: lockout })));
    expect(e).toBeInstanceOf(MalformedPolicyDocumentException);
    expect(e.message).toContain('will not allow you to update the key policy');
    await admin.send(new PutKeyPolicyCommand({ KeyId: key, Policy: lockout, BypassPolicyLockoutSafetyCheck: true }));
    expect((await failure(admin.send(new GetKeyPolicyCommand({ KeyId: key })))).name).toBe('AccessDeniedException');
  });

  it('DisableKey / EnableKey, and ScheduleKeyDeletion / CancelKeyDeletion change what the key may do', async () => {
    const key = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await admin.send(new DisableKeyCommand({ KeyId: key }));
    expect((await admin.send(new DescribeKeyCommand({ KeyId: key }))).KeyMetadata).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    expect(await failure(admin.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })))).toBeInstanceOf(DisabledException);
    await admin.send(new EnableKeyCommand({ KeyId: key }));
    await admin.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') }));

    const sched = await admin.send(new ScheduleKeyDeletionCommand({ KeyId: key, PendingWindowInDays: 7 }));
    expect(sched).toMatchObject({ KeyState: 'PendingDeletion', PendingWindowInDays: 7 });
    expect(sched.DeletionDate!.getTime()).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    expect(await failure(admin.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })))).toBeInstanceOf(KMSInvalidStateException);
    expect(await failure(admin.send(new ScheduleKeyDeletionCommand({ KeyId: key })))).toBeInstanceOf(KMSInvalidStateException);
    expect((await failure(admin.send(new ScheduleKeyDeletionCommand({ KeyId: symmetricArn, PendingWindowInDays: 3 })))).name).toBe('ValidationException');
    await admin.send(new CancelKeyDeletionCommand({ KeyId: key }));
    expect((await admin.send(new DescribeKeyCommand({ KeyId: key }))).KeyMetadata!.KeyState).toBe('Disabled');
  });
});

describe('symmetric encryption through the SDK', () => {
  it('Encrypt / Decrypt bind the encryption context; Decrypt needs no KeyId', async () => {
    const ec = { identity: 'api', environment: 'production' };
    const e = await admin.send(new EncryptCommand({ KeyId: symmetricArn, Plaintext: Buffer.from('secret value'), EncryptionContext: ec }));
    expect(e.KeyId).toBe(symmetricArn);
    expect(e.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
    expect(Buffer.from(e.CiphertextBlob!).includes(Buffer.from('secret value'))).toBe(false);
    const d = await admin.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionContext: { environment: 'production', identity: 'api' } }));
    expect(Buffer.from(d.Plaintext!).toString()).toBe('secret value');
    expect(d.KeyId).toBe(symmetricArn);
    expect(d.CiphertextForRecipient).toBeUndefined();
    for (const wrong of [undefined, { identity: 'api' }, { identity: 'api', environment: 'staging' }] as Array<Record<string, string> | undefined>) {
      const err = await failure(admin.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, ...(wrong ? { EncryptionContext: wrong } : {}) })));
      expect(err).toBeInstanceOf(InvalidCiphertextException);
    }
  });

  it('Decrypt refuses a tampered blob, a foreign blob and the wrong KeyId', async () => {
    const e = await admin.send(new EncryptCommand({ KeyId: symmetricArn, Plaintext: Buffer.from('v') }));
    const tampered = Buffer.from(e.CiphertextBlob!);
    tampered[tampered.length - 1]! ^= 1;
    expect(await failure(admin.send(new DecryptCommand({ CiphertextBlob: tampered })))).toBeInstanceOf(InvalidCiphertextException);
    expect(await failure(admin.send(new DecryptCommand({ CiphertextBlob: Buffer.from('not a blob at all') })))).toBeInstanceOf(InvalidCiphertextException);
    const other = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    expect(await failure(admin.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: other })))).toBeInstanceOf(IncorrectKeyException);
    expect(Buffer.from((await admin.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: symmetricArn }))).Plaintext!).toString()).toBe('v');
  });

  it('Encrypt refuses more than 4096 bytes', async () => {
    expect((await failure(admin.send(new EncryptCommand({ KeyId: symmetricArn, Plaintext: Buffer.alloc(4097) })))).name).toBe('ValidationException');
  });

  it('ReEncrypt moves a ciphertext to another key and context', async () => {
    const dest = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const e = await admin.send(new EncryptCommand({ KeyId: symmetricArn, Plaintext: Buffer.from('move me'), EncryptionContext: { a: '1' } }));
    const r = await admin.send(
      new ReEncryptCommand({ CiphertextBlob: e.CiphertextBlob, SourceEncryptionContext: { a: '1' }, DestinationKeyId: dest, DestinationEncryptionContext: { b: '2' } }),
    );
    expect(r).toMatchObject({ SourceKeyId: symmetricArn, KeyId: dest });
    const d = await admin.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext: { b: '2' } }));
    expect(Buffer.from(d.Plaintext!).toString()).toBe('move me');
    expect(d.KeyId).toBe(dest);
  });

  it('GenerateDataKey returns a data key and its blob; exactly one of KeySpec / NumberOfBytes', async () => {
    const g = await admin.send(new GenerateDataKeyCommand({ KeyId: symmetricArn, KeySpec: 'AES_256', EncryptionContext: { f: 'x' } }));
    expect(g.Plaintext!.byteLength).toBe(32);
    const d = await admin.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext: { f: 'x' } }));
    expect(Buffer.from(d.Plaintext!).equals(Buffer.from(g.Plaintext!))).toBe(true);
    expect((await admin.send(new GenerateDataKeyCommand({ KeyId: symmetricArn, KeySpec: 'AES_128' }))).Plaintext!.byteLength).toBe(16);
    expect((await admin.send(new GenerateDataKeyCommand({ KeyId: symmetricArn, NumberOfBytes: 64 }))).Plaintext!.byteLength).toBe(64);
    expect((await failure(admin.send(new GenerateDataKeyCommand({ KeyId: symmetricArn })))).name).toBe('ValidationException');
    expect((await failure(admin.send(new GenerateDataKeyCommand({ KeyId: symmetricArn, KeySpec: 'AES_256', NumberOfBytes: 32 })))).name).toBe('ValidationException');
    expect((await failure(admin.send(new GenerateDataKeyCommand({ KeyId: symmetricArn, NumberOfBytes: 1025 })))).name).toBe('ValidationException');
  });

  it('GenerateDataKeyWithoutPlaintext returns only the blob', async () => {
    const g = await admin.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: symmetricArn, KeySpec: 'AES_256' }));
    expect((g as { Plaintext?: unknown }).Plaintext).toBeUndefined();
    expect((await admin.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob }))).Plaintext!.byteLength).toBe(32);
  });

  it('GenerateDataKeyPair returns a matching key pair and a decryptable private-key blob', async () => {
    const g = await admin.send(new GenerateDataKeyPairCommand({ KeyId: symmetricArn, KeyPairSpec: 'ECC_NIST_P256' }));
    const priv = createPrivateKey({ key: Buffer.from(g.PrivateKeyPlaintext!), format: 'der', type: 'pkcs8' });
    expect(createPublicKey(priv).export({ format: 'der', type: 'spki' }).equals(Buffer.from(g.PublicKey!))).toBe(true);
    const d = await admin.send(new DecryptCommand({ CiphertextBlob: g.PrivateKeyCiphertextBlob }));
    expect(Buffer.from(d.Plaintext!).equals(Buffer.from(g.PrivateKeyPlaintext!))).toBe(true);
    expect(g.KeyPairSpec).toBe('ECC_NIST_P256');
  });

  it('GenerateRandom returns the requested number of bytes', async () => {
    const a = await admin.send(new GenerateRandomCommand({ NumberOfBytes: 32 }));
    const b = await admin.send(new GenerateRandomCommand({ NumberOfBytes: 32 }));
    expect(a.Plaintext!.byteLength).toBe(32);
    expect(Buffer.from(a.Plaintext!).equals(Buffer.from(b.Plaintext!))).toBe(false);
    expect((await failure(admin.send(new GenerateRandomCommand({ NumberOfBytes: 0 })))).name).toBe('ValidationException');
    expect((await failure(admin.send(new GenerateRandomCommand({})))).name).toBe('ValidationException');
  });

  it('asymmetric RSA keys encrypt with OAEP and need KeyId to decrypt', async () => {
    const key = keyOf('RSA_2048', 'ENCRYPT_DECRYPT');
    const e = await admin.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('rsa'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    const pub = createPublicKey({ key: Buffer.from((await admin.send(new GetPublicKeyCommand({ KeyId: key }))).PublicKey!), format: 'der', type: 'spki' });
    expect(e.CiphertextBlob!.byteLength).toBe(256);
    const d = await admin.send(new DecryptCommand({ KeyId: key, CiphertextBlob: e.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    expect(Buffer.from(d.Plaintext!).toString()).toBe('rsa');
    expect(pub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(await failure(admin.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })))).toBeInstanceOf(
      InvalidCiphertextException,
    );
    expect(await failure(admin.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })))).toBeInstanceOf(InvalidKeyUsageException);
  });
});

describe('signing through the SDK', () => {
  it('ECDSA_SHA_256 over RAW and DIGEST verifies with node:crypto and with Verify', async () => {
    const key = keyOf('ECC_NIST_P256', 'SIGN_VERIFY');
    const pubRes = await admin.send(new GetPublicKeyCommand({ KeyId: key }));
    expect(pubRes).toMatchObject({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: ['ECDSA_SHA_256'] });
    const pub = createPublicKey({ key: Buffer.from(pubRes.PublicKey!), format: 'der', type: 'spki' });
    const payload = Buffer.from('clef artifact payload');
    const digest = createHash('sha256').update(payload).digest();
    for (const [Message, MessageType] of [
      [payload, 'RAW'],
      [digest, 'DIGEST'],
    ] as const) {
      const s = await admin.send(new SignCommand({ KeyId: key, Message, MessageType, SigningAlgorithm: 'ECDSA_SHA_256' }));
      expect(Buffer.from(s.Signature!)[0]).toBe(0x30); // DER, as KMS returns
      expect(nodeVerify('sha256', payload, pub, Buffer.from(s.Signature!))).toBe(true);
      const v = await admin.send(new VerifyCommand({ KeyId: key, Message, MessageType, Signature: s.Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
      expect(v.SignatureValid).toBe(true);
      const bad = Buffer.from(s.Signature!);
      bad[bad.length - 1]! ^= 1;
      expect(
        await failure(admin.send(new VerifyCommand({ KeyId: key, Message, MessageType, Signature: bad, SigningAlgorithm: 'ECDSA_SHA_256' }))),
      ).toBeInstanceOf(KMSInvalidSignatureException);
    }
    expect((await failure(admin.send(new SignCommand({ KeyId: key, Message: Buffer.alloc(31), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })))).name).toBe(
      'ValidationException',
    );
    expect(
      await failure(admin.send(new SignCommand({ KeyId: key, Message: payload, SigningAlgorithm: 'ECDSA_SHA_384' }))),
    ).toBeInstanceOf(InvalidKeyUsageException);
  });

  it('RSA PSS and PKCS#1 v1.5 signatures verify with node:crypto', async () => {
    const key = keyOf('RSA_2048', 'SIGN_VERIFY');
    const pub = createPublicKey({ key: Buffer.from((await admin.send(new GetPublicKeyCommand({ KeyId: key }))).PublicKey!), format: 'der', type: 'spki' });
    const msg = Buffer.from('message');
    const pss = await admin.send(new SignCommand({ KeyId: key, Message: createHash('sha384').update(msg).digest(), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PSS_SHA_384' }));
    expect(nodeVerify('sha384', msg, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, Buffer.from(pss.Signature!))).toBe(true);
    const v15 = await admin.send(new SignCommand({ KeyId: key, Message: msg, SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' }));
    expect(nodeVerify('sha256', msg, { key: pub, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(v15.Signature!))).toBe(true);
  });

  it('signing with an encryption key, and GetPublicKey of a symmetric key, are refused', async () => {
    expect(await failure(admin.send(new SignCommand({ KeyId: symmetricArn, Message: Buffer.from('x'), SigningAlgorithm: 'ECDSA_SHA_256' })))).toBeInstanceOf(
      InvalidKeyUsageException,
    );
    expect(await failure(admin.send(new GetPublicKeyCommand({ KeyId: symmetricArn })))).toBeInstanceOf(UnsupportedOperationException);
  });
});

describe('authorization errors as the SDK sees them', () => {
  it('AccessDeniedException is unmodelled: name AccessDeniedException, client fault, KMS message shape', async () => {
    const e = await failure(t.client('other').send(new DecryptCommand({ CiphertextBlob: (await admin.send(new EncryptCommand({ KeyId: symmetricArn, Plaintext: Buffer.from('x') }))).CiphertextBlob })));
    expect(e.name).toBe('AccessDeniedException');
    expect(e.$fault).toBe('client');
    expect(e.$metadata.httpStatusCode).toBe(400);
    expect(e.message).toBe(
      `User: ${CREDS.other.principalArn} is not authorized to perform: kms:Decrypt on resource: ${symmetricArn} because no resource-based policy allows the kms:Decrypt action`,
    );
  });

  it('a principal of another account is denied on a key addressed by ARN', async () => {
    const e = await failure(t.client('foreign').send(new DescribeKeyCommand({ KeyId: symmetricArn })));
    expect(e.name).toBe('AccessDeniedException');
  });

  it('the request ID reaches $metadata', async () => {
    const r = await admin.send(new DescribeKeyCommand({ KeyId: symmetricArn }));
    expect(r.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('aliases are accepted where AWS accepts them', () => {
  // AWS KMS API reference, `KeyId`: the cryptographic operations and DescribeKey/GetPublicKey take a
  // key ID, key ARN, alias name or alias ARN; key-management calls take a key ID or key ARN only.
  const aliasForms = (name: string): string[] => [name, `arn:aws:kms:us-east-1:${ACCOUNT}:${name}`];

  beforeAll(async () => {
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/enc-forms', TargetKeyId: symmetricArn }));
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/sign-forms', TargetKeyId: keyOf('ECC_NIST_P256', 'SIGN_VERIFY') }));
  });

  it.each(aliasForms('alias/enc-forms'))('Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext) and DescribeKey with %s', async (KeyId) => {
    const enc = await admin.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('alias forms') }));
    expect(enc.KeyId).toBe(symmetricArn);
    const dec = await admin.send(new DecryptCommand({ KeyId, CiphertextBlob: enc.CiphertextBlob }));
    expect(Buffer.from(dec.Plaintext!).toString()).toBe('alias forms');
    expect(dec.KeyId).toBe(symmetricArn);
    const re = await admin.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, SourceKeyId: KeyId, DestinationKeyId: KeyId }));
    expect(re.KeyId).toBe(symmetricArn);
    expect((await admin.send(new GenerateDataKeyCommand({ KeyId, KeySpec: 'AES_256' }))).KeyId).toBe(symmetricArn);
    expect((await admin.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId, KeySpec: 'AES_256' }))).KeyId).toBe(symmetricArn);
    expect((await admin.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!.Arn).toBe(symmetricArn);
  });

  it.each(aliasForms('alias/sign-forms'))('Sign, Verify and GetPublicKey with %s', async (KeyId) => {
    const signArn = keyOf('ECC_NIST_P256', 'SIGN_VERIFY');
    const sig = await admin.send(new SignCommand({ KeyId, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(sig.KeyId).toBe(signArn);
    const ok = await admin.send(new VerifyCommand({ KeyId, Message: Buffer.from('m'), Signature: sig.Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(ok.SignatureValid).toBe(true);
    expect((await admin.send(new GetPublicKeyCommand({ KeyId }))).KeyId).toBe(signArn);
  });

  it.each(aliasForms('alias/enc-forms'))('GetKeyPolicy, PutKeyPolicy and ScheduleKeyDeletion refuse %s (key ID or ARN only, as AWS)', async (KeyId) => {
    expect((await failure(admin.send(new GetKeyPolicyCommand({ KeyId, PolicyName: 'default' })))).name).toBe('NotFoundException');
    const policy = (await admin.send(new GetKeyPolicyCommand({ KeyId: symmetricArn, PolicyName: 'default' }))).Policy!;
    expect((await failure(admin.send(new PutKeyPolicyCommand({ KeyId, PolicyName: 'default', Policy: policy })))).name).toBe('NotFoundException');
    expect((await failure(admin.send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 })))).name).toBe('NotFoundException');
    expect((await admin.send(new DescribeKeyCommand({ KeyId: symmetricArn }))).KeyMetadata!.KeyState).toBe('Enabled');
  });
});
