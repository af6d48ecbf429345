/**
 * Shared set-up for the KMS simulator tests: a simulator in a temp directory trusting an
 * ephemeral simulated NSM root, SDK clients per principal, an enclave recipient key, attestation
 * documents for chosen PCRs, signed raw requests (for what the SDK would never send), and the
 * audit log.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { KMSClient } from '@aws-sdk/client-kms';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SimulatedNsmPki } from '../../../attestation/index.js';
import { startKmsSimulator, type KmsSimulatorHandle, type KmsSimulatorOptions, type AuditEvent, type SimCredential } from '../../../simulator/kms/index.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const vectorsDir = path.resolve(repoRoot, 'test/vectors');

export const ACCOUNT = '111122223333';
export const ENCLAVE_ROLE = `arn:aws:iam::${ACCOUNT}:role/attested-pack-enclave`;
export const CREDS = {
  admin: { accessKeyId: 'AKIATESTADMIN0000001', secretAccessKey: 'admin-secret-for-tests', principalArn: `arn:aws:iam::${ACCOUNT}:user/admin` },
  enclave: {
    accessKeyId: 'AKIATESTENCLAVE00001',
    secretAccessKey: 'enclave-secret-for-tests',
    principalArn: `arn:aws:sts::${ACCOUNT}:assumed-role/attested-pack-enclave/i-0123456789abcdef0`,
  },
  other: { accessKeyId: 'AKIATESTOTHER0000001', secretAccessKey: 'other-secret-for-tests', principalArn: `arn:aws:iam::${ACCOUNT}:user/someone-else` },
  foreign: { accessKeyId: 'AKIATESTFOREIGN00001', secretAccessKey: 'foreign-secret', principalArn: 'arn:aws:iam::999988887777:user/stranger' },
} satisfies Record<string, SimCredential>;
const asCred = (c: SimCredential): SimCredential => c;

/** A running simulator plus everything a test needs around it. */
export interface TestSim {
  sim: KmsSimulatorHandle;
  pki: SimulatedNsmPki;
  dir: string;
  client(who: keyof typeof CREDS, extra?: Partial<ConstructorParameters<typeof KMSClient>[0]>): KMSClient;
  /** Audit events so far (after flushing). */
  auditEvents(): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

/** Starts a simulator in a fresh temp directory. */
export async function startTestSim(over: Partial<KmsSimulatorOptions> & { pki?: SimulatedNsmPki; dir?: string } = {}): Promise<TestSim> {
  const dir = over.dir ?? (await mkdtemp(path.join(tmpdir(), 'kms-sim-test-')));
  const pki = over.pki ?? (await SimulatedNsmPki.ephemeral());
  const sim = await startKmsSimulator({
    stateDir: path.join(dir, 'state'),
    credentials: Object.values(CREDS),
    trustRoots: [pki.rootPem()],
    ...over,
  });
  const clients: KMSClient[] = [];
  return {
    sim,
    pki,
    dir,
    client(who, extra = {}) {
      const c = CREDS[who];
      const client = new KMSClient({
        endpoint: sim.endpoint,
        region: sim.region,
        credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
        maxAttempts: 1,
        ...extra,
      });
      clients.push(client);
      return client;
    },
    async auditEvents() {
      await sim.audit.flush();
      const text = await readFile(sim.auditLogPath, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as AuditEvent);
    },
    async close() {
      for (const c of clients) c.destroy();
      await sim.close();
      if (!over.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The enclave's ephemeral recipient key (RSA-2048; generate once per file). */
export interface RecipientKey {
  privateKey: KeyObject;
  spki: Buffer;
}

export function newRecipientKey(): RecipientKey {
  const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey: k.privateKey, spki: k.publicKey.export({ format: 'der', type: 'spki' }) };
}

/** Measurements of a made-up image, as in the kms-policies tests. */
export function imagePcrs(label: string): { 0: string; 1: string; 2: string } {
  const h = (s: string) => createHash('sha384').update(`${label}/${s}`).digest('hex');
  return { 0: h('pcr0'), 1: h('pcr1'), 2: h('pcr2') };
}

export function measurementsOf(label: string) {
  const p = imagePcrs(label);
  return { PCR0: p[0], PCR1: p[1], PCR2: p[2], eifSha256: createHash('sha256').update(label).digest('hex'), arch: 'x86_64' as const, buildInputs: {} };
}

/** PCR hex with its last byte flipped: an image one byte different. */
export function oneByteOff(hex: string): string {
  return hex.slice(0, -2) + (parseInt(hex.slice(-2), 16) ^ 1).toString(16).padStart(2, '0');
}

/** The Recipient member for an attested SDK call. */
export function recipientOf(document: Uint8Array) {
  return { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' as const, AttestationDocument: document };
}

/** Sends a raw, correctly signed (unless told otherwise) AWS JSON 1.1 request; returns status and parsed body. */
export async function rawRequest(
  endpoint: string,
  o: {
    target?: string;
    body?: string | Buffer;
    cred?: SimCredential;
    region?: string;
    service?: string;
    signingDate?: Date;
    contentType?: string;
    unsigned?: boolean;
    extraHeaders?: Record<string, string>;
    /** Applied after signing (to tamper with a signed request). */
    mutate?: (r: { headers: Record<string, string>; body: string | Buffer }) => void;
  },
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const url = new URL(endpoint);
  const body = o.body ?? '{}';
  const headers: Record<string, string> = {
    host: url.host,
    'content-type': o.contentType ?? 'application/x-amz-json-1.1',
    ...(o.target === undefined ? {} : { 'x-amz-target': o.target }),
    ...(o.extraHeaders ?? {}),
  };
  let signed = { headers, body };
  if (!o.unsigned) {
    const cred = asCred(o.cred ?? CREDS.admin);
    const signer = new SignatureV4({
      credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, ...(cred.sessionToken ? { sessionToken: cred.sessionToken } : {}) },
      region: o.region ?? 'us-east-1',
      service: o.service ?? 'kms',
      sha256: Sha256,
      applyChecksum: false,
    });
    const req = await signer.sign(
      new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body }),
      { signingDate: o.signingDate ?? new Date() },
    );
    signed = { headers: req.headers as Record<string, string>, body };
  }
  o.mutate?.(signed);
  const { host: _host, ...sendHeaders } = signed.headers;
  const res = await fetch(endpoint + '/', { method: 'POST', headers: sendHeaders, body: signed.body });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
