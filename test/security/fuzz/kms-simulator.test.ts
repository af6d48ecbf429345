/**
 * Fuzzing the KMS simulator's request bodies (simulator/kms): for every TrentService operation
 * it implements, correctly SigV4-signed requests over loopback whose JSON bodies are built from
 * the KMS model's member names with values drawn from real and hostile pools (real key ARNs and
 * ciphertexts, attestation documents real and broken, wrong JSON types, bad base64, huge
 * numbers), from three principals. Oracle: a 200, or a 4xx carrying a typed AWS error
 * (`__type` from KMS's error set) — never a 5xx while no fault knob is set — and the simulator
 * keeps serving afterwards.
 */
import { createHash, createHmac, generateKeyPairSync, randomBytes, type Hash, type Hmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNsmPki } from '../../../attestation/index.js';
import { OPERATIONS, startKmsSimulator, type KmsSimulatorHandle, type SimCredential } from '../../../simulator/kms/index.js';
import { Tally, params, runs, timeoutFor } from '../support.js';

/** KMS's documented error names (AWS JSON 1.1 `__type`), written from the KMS API reference. */
const KMS_ERROR_TYPES = new Set([
  'AccessDeniedException',
  'AlreadyExistsException',
  'DisabledException',
  'IncompleteSignatureException',
  'IncorrectKeyException',
  'InvalidAliasNameException',
  'InvalidCiphertextException',
  'InvalidKeyUsageException',
  'InvalidMarkerException',
  'InvalidSignatureException',
  'KMSInvalidSignatureException',
  'KMSInvalidStateException',
  'LimitExceededException',
  'MalformedPolicyDocumentException',
  'MissingAuthenticationTokenException',
  'NotFoundException',
  'SerializationException',
  'ThrottlingException',
  'UnknownOperationException',
  'UnrecognizedClientException',
  'UnsupportedOperationException',
  'ValidationException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
]);

const ACCOUNT = '111122223333';
const CREDS: SimCredential[] = [
  { accessKeyId: 'AKIASECURITYADMIN001', secretAccessKey: 'security-admin-secret', principalArn: `arn:aws:iam::${ACCOUNT}:user/admin` },
  { accessKeyId: 'AKIASECURITYENCLAVE1', secretAccessKey: 'security-enclave-secret', principalArn: `arn:aws:sts::${ACCOUNT}:assumed-role/attested-pack-enclave/i-0123456789abcdef0` },
  { accessKeyId: 'AKIASECURITYOTHER001', secretAccessKey: 'security-other-secret', principalArn: `arn:aws:iam::${ACCOUNT}:user/someone` },
];

/** node:crypto behind smithy's Checksum interface (the pure-JS default is slow for thousands of requests). */
class NodeSha256 {
  private h: Hash | Hmac;
  private readonly secret: string | Uint8Array | undefined;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret = secret === undefined || typeof secret === 'string' ? secret : ArrayBuffer.isView(secret) ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength) : new Uint8Array(secret);
    this.h = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(typeof data === 'string' ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {
    this.h = this.fresh();
  }
}

const signers = CREDS.map(
  (c) =>
    new SignatureV4({
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
      region: 'us-east-1',
      service: 'kms',
      sha256: NodeSha256,
      applyChecksum: false,
    }),
);

let dir: string;
let sim: KmsSimulatorHandle;
let pki: SimulatedNsmPki;
const pool = { keyIds: [] as string[], blobs: [] as string[], documents: [] as string[], policies: [] as string[] };

async function send(target: string, body: string, who: number): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(sim.endpoint);
  const headers = { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
  const signed = await signers[who]!.sign(new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body }));
  const { host: _host, ...sendHeaders } = signed.headers as Record<string, string>;
  const res = await fetch(`${sim.endpoint}/`, { method: 'POST', headers: sendHeaders, body });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ap-security-kms-'));
  pki = await SimulatedNsmPki.ephemeral();
  sim = await startKmsSimulator({ stateDir: path.join(dir, 'state'), credentials: CREDS, trustRoots: [pki.rootPem()] });
  const enclaveRole = `arn:aws:iam::${ACCOUNT}:role/attested-pack-enclave`;
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'admin', Effect: 'Allow', Principal: { AWS: CREDS[0]!.principalArn }, Action: 'kms:*', Resource: '*' },
      {
        Sid: 'enclave',
        Effect: 'Allow',
        Principal: { AWS: enclaveRole },
        Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:Sign', 'kms:GetPublicKey', 'kms:DescribeKey'],
        Resource: '*',
        Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': 'a0'.repeat(48) } },
      },
    ],
  });
  pool.policies.push(policy);
  const sym = await sim.createKey({ policy, alias: 'alias/security/sym' });
  const sign = await sim.createKey({ keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY', policy });
  const rsa = await sim.createKey({ keySpec: 'RSA_2048', keyUsage: 'ENCRYPT_DECRYPT', policy });
  pool.keyIds.push(sym, sign, rsa, 'alias/security/sym', sym.split('/').pop()!, 'alias/aws/unknown', `arn:aws:kms:us-east-1:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`);
  for (const plaintext of [Buffer.from('secret data key!'), randomBytes(32)]) {
    const r = await send('TrentService.Encrypt', JSON.stringify({ KeyId: sym, Plaintext: plaintext.toString('base64') }), 0);
    pool.blobs.push(String(r.json.CiphertextBlob));
  }
  const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
  const good = await pki.attest({ pcrs: { 0: 'a0'.repeat(48), 1: 'a1'.repeat(48), 2: 'a2'.repeat(48) }, publicKey: new Uint8Array(rsaKey) });
  const noKey = await pki.attest({ pcrs: { 0: 'a0'.repeat(48) } });
  const broken = Buffer.from(good);
  broken[broken.length - 5] ^= 0xff;
  pool.documents.push(...[good, noKey, broken, Buffer.from('not a document')].map((d) => Buffer.from(d).toString('base64')));
});

afterAll(async () => {
  await sim?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The simulator generates RSA keys for these specs; map them to a cheap one to keep the suite fast. */
const SLOW_SPECS = new Set(['RSA_3072', 'RSA_4096', 'RSA_2048']);

function memberValue(name: string): fc.Arbitrary<unknown> {
  const hostile = fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constantFrom(null, '', -1, 1e308, 2 ** 53, '%%%', '=='.repeat(3), 'A'.repeat(7000)));
  const b64 = fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')) },
    { weight: 1, arbitrary: fc.constantFrom('!!', 'AAA', 'AA=A', '') },
  );
  const typed: Record<string, fc.Arbitrary<unknown>> = {
    KeyId: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...pool.keyIds) }, { weight: 1, arbitrary: fc.string({ maxLength: 30 }) }),
    TargetKeyId: fc.constantFrom(...pool.keyIds),
    SourceKeyId: fc.constantFrom(...pool.keyIds),
    DestinationKeyId: fc.constantFrom(...pool.keyIds),
    AliasName: fc.oneof(fc.constantFrom('alias/security/new', 'alias/aws/x', 'alias/', 'not-an-alias'), fc.string({ maxLength: 20 }).map((s) => `alias/${s}`)),
    CiphertextBlob: fc.oneof(fc.constantFrom(...pool.blobs), b64),
    Plaintext: b64,
    Message: b64,
    Signature: b64,
    Recipient: fc.oneof(
      fc.record({ KeyEncryptionAlgorithm: fc.constantFrom('RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', ''), AttestationDocument: fc.oneof(fc.constantFrom(...pool.documents), b64) }, { requiredKeys: [] }),
      hostile,
    ),
    EncryptionContext: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }), hostile),
    Policy: fc.oneof(fc.constantFrom(...pool.policies, '{}', '{"Version":"2012-10-17","Statement":[]}', 'not json'), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))),
    KeySpec: fc.constantFrom('SYMMETRIC_DEFAULT', 'ECC_NIST_P256', 'ECC_NIST_P384', 'AES_256', 'AES_128', 'HMAC_256', 'bogus'),
    KeyPairSpec: fc.constantFrom('ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_SECG_P256K1', 'bogus'),
    KeyUsage: fc.constantFrom('ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'x'),
    SigningAlgorithm: fc.constantFrom('ECDSA_SHA_256', 'ECDSA_SHA_384', 'RSASSA_PSS_SHA_256', 'x'),
    MessageType: fc.constantFrom('RAW', 'DIGEST', 'x'),
    EncryptionAlgorithm: fc.constantFrom('SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'x'),
    NumberOfBytes: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -5, max: 2000 }) }, { weight: 1, arbitrary: fc.double() }),
    PendingWindowInDays: fc.integer({ min: -1, max: 40 }),
    Limit: fc.integer({ min: -1, max: 2000 }),
    Marker: fc.string({ maxLength: 20 }),
    GrantTokens: fc.array(fc.string({ maxLength: 10 }), { maxLength: 12 }),
    PolicyName: fc.constantFrom('default', 'other'),
    Description: fc.string({ maxLength: 30 }),
    Origin: fc.constantFrom('AWS_KMS', 'EXTERNAL', 'x'),
    MultiRegion: fc.boolean(),
    BypassPolicyLockoutSafetyCheck: fc.boolean(),
    DryRun: fc.boolean(),
    CustomKeyStoreId: fc.string({ maxLength: 70 }),
  };
  typed.CustomerMasterKeySpec = typed.KeySpec!;
  typed.SourceEncryptionContext = typed.EncryptionContext!;
  typed.DestinationEncryptionContext = typed.EncryptionContext!;
  typed.SourceEncryptionAlgorithm = typed.EncryptionAlgorithm!;
  typed.DestinationEncryptionAlgorithm = typed.EncryptionAlgorithm!;
  return fc.oneof({ weight: 9, arbitrary: typed[name] ?? hostile }, { weight: 1, arbitrary: hostile });
}

/** The members each operation reads (KMS API reference), so most bodies reach past validation. */
const OP_MEMBERS: Record<string, readonly string[]> = {
  CreateKey: ['Policy', 'Description', 'KeySpec', 'CustomerMasterKeySpec', 'KeyUsage', 'Origin', 'MultiRegion', 'BypassPolicyLockoutSafetyCheck'],
  DescribeKey: ['KeyId', 'GrantTokens'],
  ListKeys: ['Limit', 'Marker'],
  CreateAlias: ['AliasName', 'TargetKeyId'],
  ListAliases: ['KeyId', 'Limit', 'Marker'],
  PutKeyPolicy: ['KeyId', 'Policy', 'PolicyName', 'BypassPolicyLockoutSafetyCheck'],
  GetKeyPolicy: ['KeyId', 'PolicyName'],
  EnableKey: ['KeyId'],
  DisableKey: ['KeyId'],
  CancelKeyDeletion: ['KeyId'],
  ScheduleKeyDeletion: ['KeyId', 'PendingWindowInDays'],
  Encrypt: ['KeyId', 'Plaintext', 'EncryptionContext', 'EncryptionAlgorithm', 'GrantTokens', 'DryRun'],
  Decrypt: ['CiphertextBlob', 'KeyId', 'EncryptionContext', 'EncryptionAlgorithm', 'Recipient', 'GrantTokens', 'DryRun'],
  ReEncrypt: ['CiphertextBlob', 'SourceKeyId', 'DestinationKeyId', 'SourceEncryptionContext', 'DestinationEncryptionContext', 'SourceEncryptionAlgorithm', 'DestinationEncryptionAlgorithm'],
  GenerateDataKey: ['KeyId', 'KeySpec', 'NumberOfBytes', 'EncryptionContext', 'Recipient'],
  GenerateDataKeyWithoutPlaintext: ['KeyId', 'KeySpec', 'NumberOfBytes', 'EncryptionContext'],
  GenerateDataKeyPair: ['KeyId', 'KeyPairSpec', 'EncryptionContext', 'Recipient'],
  GenerateRandom: ['NumberOfBytes', 'CustomKeyStoreId', 'Recipient'],
  Sign: ['KeyId', 'Message', 'MessageType', 'SigningAlgorithm', 'GrantTokens'],
  Verify: ['KeyId', 'Message', 'MessageType', 'Signature', 'SigningAlgorithm'],
  GetPublicKey: ['KeyId', 'GrantTokens'],
};
const ALL_MEMBERS = [...new Set([...Object.values(OP_MEMBERS).flat(), 'Unknown', 'keyid'])];

function bodyArb(op: string): fc.Arbitrary<string> {
  const own = OP_MEMBERS[op] ?? ALL_MEMBERS;
  const structured = fc
    .tuple(fc.subarray([...own]), fc.subarray(ALL_MEMBERS, { maxLength: 1 }))
    .chain(([names, extra]) => fc.tuple(...[...new Set([...names, ...extra])].map((n) => memberValue(n).map((v) => [n, v] as const))))
    .map((entries) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of entries) o[k] = k.endsWith('Spec') && typeof v === 'string' && SLOW_SPECS.has(v) ? 'ECC_NIST_P256' : v;
      return JSON.stringify(o);
    });
  return fc.oneof(
    { weight: 8, arbitrary: structured },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  );
}

describe('KMS simulator request fuzzing (signed requests, every operation)', () => {
  const operations = Object.keys(OPERATIONS).sort();

  it(`implements ${operations.length} operations and answers a plain ListKeys (the oracle is not vacuous)`, async () => {
    expect(operations.length).toBeGreaterThan(15);
    expect((await send('TrentService.ListKeys', '{}', 0)).status).toBe(200);
  });

  const n = runs(2000);
  it(`${n} random bodies across every operation and principal → 200 or a typed 4xx AWS error, never 5xx`, async () => {
    const tally = new Tally('KMS simulator');
    const perOp = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...operations, 'Bogus').chain((op) => bodyArb(op).map((body) => [op, body] as const)), fc.nat({ max: CREDS.length - 1 }), async ([op, body], who) => {
        const { status, json } = await send(`TrentService.${op}`, body, who);
        perOp.set(op, (perOp.get(op) ?? 0) + 1);
        expect(status, `${op} ${body} → ${JSON.stringify(json)}`).toBeLessThan(500);
        if (status === 200) {
          tally.ok();
          return;
        }
        expect(status).toBeGreaterThanOrEqual(400);
        expect(KMS_ERROR_TYPES.has(String(json.__type)), `${op}: untyped error ${JSON.stringify(json)}`).toBe(true);
        expect(typeof (json.message ?? json.Message)).toBe('string');
        tally.rejected(String(json.__type));
      }),
      params(n),
    );
    tally.print();
    console.log(`fuzz KMS simulator: operations covered ${perOp.size}/${operations.length + 1} (min ${Math.min(...perOp.values())} cases each)`);
    expect(perOp.size).toBe(operations.length + 1);
    // Still serving.
    expect((await send('TrentService.ListKeys', '{}', 0)).status).toBe(200);
  }, timeoutFor(n, 40));
});
