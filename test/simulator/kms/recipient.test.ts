/**
 * Attested calls: Recipient on Decrypt, GenerateDataKey, GenerateDataKeyPair and GenerateRandom
 * returns CiphertextForRecipient in KMS's layout (checked against the real KMS vectors, OpenSSL
 * and our enclave decrypter); bad documents are denials; Recipient elsewhere is refused.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateRandomCommand,
  KMSServiceException,
  PutKeyPolicyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { SimulatedNsmPki } from '../../../attestation/index.js';
import { generateKeyPolicy } from '../../../kms-policies/index.js';
import { decryptCiphertextForRecipient, CmsError } from '../../../enclave-app/kms/cms.js';
import { walkBer, shape, type BerNode } from '../../enclave-app/kms/ber-tools.js';
import {
  CREDS,
  ENCLAVE_ROLE,
  imagePcrs,
  measurementsOf,
  newRecipientKey,
  rawRequest,
  recipientOf,
  startTestSim,
  vectorsDir,
  type RecipientKey,
  type TestSim,
} from './helpers.js';

const run = promisify(execFile);
let t: TestSim;
let admin: KMSClient;
let enclave: KMSClient;
let recipient: RecipientKey;
let sourceKey: string;
let genKey: string;
let work: string;
const pcrs = imagePcrs('image-a');

beforeAll(async () => {
  t = await startTestSim();
  admin = t.client('admin');
  enclave = t.client('enclave');
  recipient = newRecipientKey();
  work = await mkdtemp(path.join(tmpdir(), 'kms-recipient-'));
  await writeFile(path.join(work, 'recipient.pem'), recipient.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  // A source key with the generated least-privilege policy for image-a.
  sourceKey = (await admin.send(new CreateKeyCommand({ Description: 'source' }))).KeyMetadata!.Arn!;
  const policy = generateKeyPolicy({ measurements: measurementsOf('image-a'), roleArn: ENCLAVE_ROLE, admins: 'account-root', purpose: 'source' });
  await admin.send(new PutKeyPolicyCommand({ KeyId: sourceKey, Policy: JSON.stringify(policy) }));
  // A key on which the enclave may also generate data keys and key pairs, attested.
  genKey = (await admin.send(new CreateKeyCommand({ Description: 'generate' }))).KeyMetadata!.Arn!;
  await admin.send(
    new PutKeyPolicyCommand({
      KeyId: genKey,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${CREDS.admin.principalArn.split(':')[4]}:root` }, Action: 'kms:*', Resource: '*' },
          {
            Effect: 'Allow',
            Principal: { AWS: ENCLAVE_ROLE },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateDataKeyPair'],
            Resource: '*',
            Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': pcrs[0] } },
          },
        ],
      }),
    }),
  );
});
afterAll(async () => {
  await t.close();
  await rm(work, { recursive: true, force: true });
});

const attest = (o: { publicKey?: Uint8Array | null; timestamp?: number; pki?: SimulatedNsmPki; pcrs?: Record<number, string> } = {}) =>
  (o.pki ?? t.pki).attest({
    pcrs: o.pcrs ?? pcrs,
    publicKey: o.publicKey === undefined ? recipient.spki : o.publicKey,
    ...(o.timestamp === undefined ? {} : { timestamp: o.timestamp }),
  });

async function encryptForSource(plaintext: Buffer): Promise<Uint8Array> {
  // The admin cannot encrypt under the generated source policy (no crypto for admins), so use a
  // key whose ciphertext we can make: encrypt with a temporary allowance on genKey instead.
  return (await admin.send(new EncryptCommand({ KeyId: genKey, Plaintext: plaintext }))).CiphertextBlob!;
}

async function opensslDecrypt(ber: Uint8Array, name: string): Promise<Buffer> {
  const inFile = path.join(work, `${name}.ber`);
  const outFile = path.join(work, `${name}.out`);
  await writeFile(inFile, ber);
  await run('openssl', ['cms', '-decrypt', '-inform', 'DER', '-in', inFile, '-inkey', path.join(work, 'recipient.pem'), '-binary', '-out', outFile]);
  return readFile(outFile);
}

describe('CiphertextForRecipient from attested calls', () => {
  it('Decrypt with Recipient omits Plaintext and returns what OpenSSL and our decrypter both open', async () => {
    const secret = randomBytes(40);
    const blob = await encryptForSource(secret);
    const r = await enclave.send(new DecryptCommand({ CiphertextBlob: blob, Recipient: recipientOf(await attest()) }));
    expect(r.Plaintext).toBeUndefined();
    expect(r.KeyId).toBe(genKey);
    const cfr = r.CiphertextForRecipient!;
    expect(Buffer.from(decryptCiphertextForRecipient(cfr, recipient.privateKey, recipient.spki)).equals(secret)).toBe(true);
    expect((await opensslDecrypt(cfr, 'decrypt')).equals(secret)).toBe(true);
  });

  it('the JSON answer has no Plaintext member at all (not even null)', async () => {
    const blob = await encryptForSource(Buffer.from('x'));
    const r = await rawRequest(t.sim.endpoint, {
      target: 'TrentService.Decrypt',
      cred: CREDS.enclave,
      body: JSON.stringify({
        CiphertextBlob: Buffer.from(blob).toString('base64'),
        Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: Buffer.from(await attest()).toString('base64') },
      }),
    });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['CiphertextForRecipient', 'EncryptionAlgorithm', 'KeyId']);
  });

  it('GenerateDataKey with Recipient: the data key only inside CiphertextForRecipient, and its blob decrypts to it', async () => {
    const g = await enclave.send(new GenerateDataKeyCommand({ KeyId: genKey, KeySpec: 'AES_256', Recipient: recipientOf(await attest()) }));
    expect(g.Plaintext).toBeUndefined();
    const dataKey = Buffer.from(decryptCiphertextForRecipient(g.CiphertextForRecipient!, recipient.privateKey, recipient.spki));
    expect(dataKey.byteLength).toBe(32);
    const again = await enclave.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, Recipient: recipientOf(await attest()) }));
    expect(Buffer.from(decryptCiphertextForRecipient(again.CiphertextForRecipient!, recipient.privateKey, recipient.spki)).equals(dataKey)).toBe(true);
    expect((await opensslDecrypt(g.CiphertextForRecipient!, 'gdk')).equals(dataKey)).toBe(true);
  });

  it('GenerateDataKeyPair with Recipient: the private key (over 1 KiB, several CMS chunks) opens with OpenSSL and matches PublicKey', async () => {
    const g = await enclave.send(new GenerateDataKeyPairCommand({ KeyId: genKey, KeyPairSpec: 'RSA_2048', Recipient: recipientOf(await attest()) }));
    expect(g.PrivateKeyPlaintext).toBeUndefined();
    expect(g.PrivateKeyCiphertextBlob!.byteLength).toBeGreaterThan(0);
    const der = Buffer.from(decryptCiphertextForRecipient(g.CiphertextForRecipient!, recipient.privateKey, recipient.spki));
    expect(der.byteLength).toBeGreaterThan(1024);
    const pub = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    expect(pub.equals(Buffer.from(g.PublicKey!))).toBe(true);
    expect((await opensslDecrypt(g.CiphertextForRecipient!, 'gdkp')).equals(der)).toBe(true);
    const chunks = findEncryptedContent(walkBer(g.CiphertextForRecipient!).root).children!;
    expect(chunks.length).toBeGreaterThan(1);
  });

  it('GenerateRandom with Recipient', async () => {
    const g = await enclave.send(new GenerateRandomCommand({ NumberOfBytes: 64, Recipient: recipientOf(await attest()) }));
    expect(g.Plaintext).toBeUndefined();
    expect(decryptCiphertextForRecipient(g.CiphertextForRecipient!, recipient.privateKey, recipient.spki).byteLength).toBe(64);
  });

  it('another key cannot open it (uniform CmsError)', async () => {
    const g = await enclave.send(new GenerateRandomCommand({ NumberOfBytes: 16, Recipient: recipientOf(await attest()) }));
    // The enclaver vector's published RSA key stands in for "some other enclave's key".
    const otherPrivate = createPrivateKey(await readFile(path.join(vectorsDir, 'kms-recipient/enclaver/recipient_private_key.pem')));
    const other = { privateKey: otherPrivate, spki: createPublicKey(otherPrivate).export({ format: 'der', type: 'spki' }) };
    expect(() => decryptCiphertextForRecipient(g.CiphertextForRecipient!, other.privateKey, other.spki)).toThrow(CmsError);
    expect(() => decryptCiphertextForRecipient(g.CiphertextForRecipient!, other.privateKey, recipient.spki)).toThrow(CmsError);
  });

  it('has the element structure of the real KMS responses (same tags, same indefinite/definite choices)', async () => {
    const g = await enclave.send(new GenerateRandomCommand({ NumberOfBytes: 32, Recipient: recipientOf(await attest()) }));
    const ours = walkBer(g.CiphertextForRecipient!);
    expect(ours.trailing).toBe(0);
    for (const vector of ['kms-recipient/sdk-c-cms/input_ber.ber', 'kms-recipient/enclaver/ciphertext_for_recipient.ber']) {
      const real = walkBer(await readFile(path.join(vectorsDir, vector)));
      expect(real.trailing).toBe(0);
      expect(shape(ours.root)).toEqual(shape(real.root));
    }
    // Five end-of-contents pairs close the indefinite elements, as in KMS output.
    expect(Buffer.from(g.CiphertextForRecipient!).subarray(-10).equals(Buffer.alloc(10))).toBe(true);
    const ktri = ours.root.children![1]!.children![0]!.children![1]!.children![0]!;
    expect(ktri.children![1]).toEqual({ tag: '80', form: 'definite', length: 32 });
  });
});

function findEncryptedContent(root: BerNode): BerNode {
  const eci = root.children![1]!.children![0]!.children![2]!;
  return eci.children![2]!;
}

describe('Recipient where KMS does not take it', () => {
  const doc = async () => Buffer.from(await attest()).toString('base64');
  for (const [op, body] of [
    ['Encrypt', (d: string) => ({ KeyId: 'alias/x', Plaintext: 'AQID', Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: d } })],
    ['ReEncrypt', (d: string) => ({ CiphertextBlob: 'AQID', DestinationKeyId: 'alias/x', Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: d } })],
    ['Sign', (d: string) => ({ KeyId: 'alias/x', Message: 'AQID', SigningAlgorithm: 'ECDSA_SHA_256', Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: d } })],
    ['Verify', (d: string) => ({ KeyId: 'alias/x', Message: 'AQID', Signature: 'AQID', SigningAlgorithm: 'ECDSA_SHA_256', Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: d } })],
    ['GetPublicKey', (d: string) => ({ KeyId: 'alias/x', Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: d } })],
    ['GenerateDataKeyWithoutPlaintext', (d: string) => ({ KeyId: 'alias/x', KeySpec: 'AES_256', Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: d } })],
  ] as const) {
    it(`${op} with Recipient is a ValidationException`, async () => {
      const r = await rawRequest(t.sim.endpoint, { target: `TrentService.${op}`, cred: CREDS.enclave, body: JSON.stringify(body(await doc())) });
      expect(r.status).toBe(400);
      expect(r.body.__type).toBe('ValidationException');
      expect(String(r.body.message)).toContain('Recipient is not supported');
    });
  }
});

describe('malformed Recipient members', () => {
  const send = async (recipientJson: unknown) =>
    rawRequest(t.sim.endpoint, {
      target: 'TrentService.GenerateRandom',
      cred: CREDS.enclave,
      body: JSON.stringify({ NumberOfBytes: 8, Recipient: recipientJson }),
    });

  it('refuses an unknown KeyEncryptionAlgorithm, a missing or empty document, and bad base64', async () => {
    const d = Buffer.from(await attest()).toString('base64');
    expect((await send({ KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_1', AttestationDocument: d })).body.__type).toBe('ValidationException');
    expect((await send({ AttestationDocument: d })).body.__type).toBe('ValidationException');
    expect((await send({ KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })).body.__type).toBe('ValidationException');
    expect((await send({ KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: '' })).body.__type).toBe('ValidationException');
    expect((await send({ KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: '!!notbase64' })).body.__type).toBe('SerializationException');
    expect((await send('a string')).body.__type).toBe('SerializationException');
    expect((await send({ KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: Buffer.alloc(262145).toString('base64') })).body.__type).toBe(
      'ValidationException',
    );
  });
});

describe('bad attestation documents are denials, never plaintext', () => {
  async function deniedWith(document: Uint8Array): Promise<string> {
    const blob = await encryptForSource(Buffer.from('never'));
    const before = (await t.auditEvents()).length;
    let caught: unknown;
    try {
      await enclave.send(new DecryptCommand({ CiphertextBlob: blob, Recipient: recipientOf(document) }));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KMSServiceException);
    expect((caught as Error).name).toBe('AccessDeniedException');
    expect((caught as Error).message).toContain('because the attestation document in the Recipient parameter could not be verified');
    const events = (await t.auditEvents()).slice(before);
    const e = events.find((x) => x.eventName === 'Decrypt')!;
    expect(e.errorCode).toBe('AccessDeniedException');
    expect(e.additionalEventData?.policyDecision).toBeUndefined(); // denied before any policy evaluation
    return e.additionalEventData!.attestationError!.code;
  }

  it('garbage bytes', async () => {
    expect(await deniedWith(Buffer.from('not an attestation document'))).toMatch(/^ATTESTATION_/);
  });

  it('a document from an untrusted (other simulated) root', async () => {
    const stranger = await SimulatedNsmPki.ephemeral();
    expect(await deniedWith(await attest({ pki: stranger }))).toBe('ATTESTATION_UNTRUSTED_ROOT');
  });

  it('a document with one flipped signature bit', async () => {
    const d = Buffer.from(await attest());
    d[d.length - 1]! ^= 1;
    expect(await deniedWith(d)).toBe('ATTESTATION_SIGNATURE_INVALID');
  });

  it('a document without public_key, with an EC key, or with RSA-1024', async () => {
    expect(await deniedWith(await attest({ publicKey: null }))).toBe('ATTESTATION_PUBLIC_KEY_MISSING');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(await deniedWith(await attest({ publicKey: ec }))).toBe('ATTESTATION_PUBLIC_KEY_INVALID');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' });
    expect(await deniedWith(await attest({ publicKey: small }))).toBe('ATTESTATION_PUBLIC_KEY_INVALID');
  });

  it('a stale document (older than 5 minutes) and one from the future; a 4-minute-old one still works', async () => {
    expect(await deniedWith(await attest({ timestamp: Date.now() - 6 * 60_000 }))).toBe('ATTESTATION_STALE');
    expect(await deniedWith(await attest({ timestamp: Date.now() + 5 * 60_000 }))).toBe('ATTESTATION_FUTURE_TIMESTAMP');
    const ok = await enclave.send(new DecryptCommand({ CiphertextBlob: await encryptForSource(Buffer.from('y')), Recipient: recipientOf(await attest({ timestamp: Date.now() - 4 * 60_000 })) }));
    expect(ok.CiphertextForRecipient).toBeDefined();
  });
});

describe('audit log of attested calls', () => {
  it('records module ID, image digest and PCRs, never the plaintext or the document', async () => {
    const secret = randomBytes(24);
    const blob = await encryptForSource(secret);
    const document = await attest();
    await enclave.send(new DecryptCommand({ CiphertextBlob: blob, Recipient: recipientOf(document) }));
    const events = await t.auditEvents();
    const e = events.filter((x) => x.eventName === 'Decrypt' && !x.errorCode).at(-1)!;
    expect(e.eventSource).toBe('kms.amazonaws.com');
    expect(e.userIdentity).toMatchObject({ type: 'AssumedRole', arn: CREDS.enclave.principalArn, accessKeyId: CREDS.enclave.accessKeyId });
    expect(e.additionalEventData!.recipient).toMatchObject({
      attestationDocumentModuleId: t.pki.moduleId,
      attestationDocumentEnclaveImageDigest: pcrs[0],
      attestationDocumentEnclavePCR1: pcrs[1],
      attestationDocumentEnclavePCR2: pcrs[2],
    });
    expect(e.requestParameters).toMatchObject({ recipient: { keyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }, keyId: genKey });
    expect(e.responseElements).toBeNull();
    expect(e.additionalEventData!.policyDecision!.decision).toBe('allow');
    const log = await readFile(t.sim.auditLogPath, 'utf8');
    for (const needle of [secret.toString('base64'), secret.toString('hex'), Buffer.from(document).toString('base64').slice(0, 64)]) {
      expect(log.includes(needle)).toBe(false);
    }
  });
});

describe('trust roots', () => {
  const manifestDoc = async (file: string) => {
    const manifest = JSON.parse(await readFile(path.join(vectorsDir, 'attestation/manifest.json'), 'utf8')) as {
      attestation_docs: Array<{ file: string; suggested_verification_time_ms: number; encoding: string }>;
    };
    const entry = manifest.attestation_docs.find((d) => d.file === file)!;
    const raw = await readFile(path.join(vectorsDir, 'attestation', entry.file));
    return { bytes: entry.encoding === 'raw' ? raw : Buffer.from(raw.toString('utf8').trim(), 'base64'), at: entry.suggested_verification_time_ms };
  };

  async function codeFor(doc: { bytes: Uint8Array; at: number }, acceptAwsRoot: boolean): Promise<string> {
    const s = await startTestSim({ now: () => doc.at, acceptAwsRoot, trustRoots: [t.pki.rootPem()] });
    try {
      const c = s.client('enclave', { systemClockOffset: doc.at - Date.now() });
      const err = await c.send(new GenerateRandomCommand({ NumberOfBytes: 8, Recipient: recipientOf(doc.bytes) })).catch((e: unknown) => e);
      expect((err as Error).name).toBe('AccessDeniedException');
      return (await s.auditEvents()).at(-1)!.additionalEventData!.attestationError!.code;
    } finally {
      await s.close();
    }
  }

  it('accepts the AWS Nitro root: a genuine AWS document passes the chain and fails only for lacking an RSA public_key', async () => {
    const doc = await manifestDoc('evervault/test-data/beta/valid-attestation-doc-bytes');
    expect(await codeFor(doc, true)).toBe('ATTESTATION_PUBLIC_KEY_MISSING');
    expect(await codeFor(doc, false)).toBe('ATTESTATION_UNTRUSTED_ROOT');
  });

  it('refuses the Marlin mock document (self-made root with AWS-like names)', async () => {
    expect(await codeFor(await manifestDoc('marlin-oyster/sdks_rs_src_testcases_custom.bin'), true)).toBe('ATTESTATION_UNTRUSTED_ROOT');
  });
});
