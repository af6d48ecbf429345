/**
 * Real parts for receipt tests, assembled the way the pack step assembles them: a git repository
 * made with `git init`/`commit` holding clef.yaml and SOPS-shaped files, an artifact from the
 * Clef writer (KMS envelope, Ed25519 clef-sig-v3), receipt claims over those bytes, and an
 * attestation document signed by the simulated NSM with user_data = claimsDigest(claims).
 *
 * `attestClaims` turns any claims into a receipt with a real document, so tests can build
 * receipts that differ from the honest one in exactly one way. When the pack pipeline lands,
 * the end-to-end test writes its receipt, artifact and repository to disk and verifies them
 * with `verifyArgs(...)` — the same argument list the honest fixture uses.
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SimulatedNsmPki } from '../../../attestation/simulated-nsm.js';
import { buildReceipt, claimsDigest, serializeReceipt } from '../../../attestation/receipt.js';
import type { Receipt, ReceiptClaims, ReceiptInput } from '../../../attestation/receipt-types.js';
import { packArtifact, type PackedArtifactFile } from '../../../enclave-app/clef/writer.js';
import { createEd25519Signer } from '../../../enclave-app/clef/signer.js';

export const SOURCE_KEY = 'arn:aws:kms:us-east-1:111111111111:key/src-key';
export const WRAP_KEY = 'arn:aws:kms:us-east-1:222222222222:key/env-key';
export const SEAL_KEY = 'arn:aws:kms:us-east-1:222222222222:key/seal-key';
export const IDENTITY = 'api-gateway';
export const ENVIRONMENT = 'production';

export const CLEF_YAML = `version: 1
environments:
  - name: dev
    description: Dev
  - name: production
    description: Prod
    protected: true
    sops:
      backend: awskms
      aws_kms_arn: "${SOURCE_KEY}"
namespaces:
  - name: payments
    description: Payments
  - name: auth
    description: Auth
  - name: billing
    description: Billing
sops:
  default_backend: awskms
  aws_kms_arn: "${SOURCE_KEY}"
file_pattern: "secrets/{namespace}/{environment}.enc.yaml"
service_identities:
  - name: ${IDENTITY}
    description: API gateway
    namespaces: [payments, auth]
    pack_only: true
    environments:
      production:
        kms:
          provider: aws
          keyId: "${WRAP_KEY}"
`;

/** A SOPS-shaped file (the bytes matter to the receipt, not their decryptability here). */
function sopsFile(namespace: string, environment: string, lastmodified: string): string {
  return `STRIPE_KEY: ENC[AES256_GCM,data:${createHash('sha256').update(namespace + environment).digest('base64')},iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
sops:
    kms:
        - arn: ${SOURCE_KEY}
          created_at: "2026-03-01T00:00:00Z"
          enc: AQICAHh${namespace}${environment}
          aws_profile: ""
    lastmodified: "${lastmodified}"
    mac: ENC[AES256_GCM,data:mac-${namespace},iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
    version: 3.9.0
`;
}

/** The repository files of the fixture: path → content. */
export function repoFiles(): Record<string, string> {
  return {
    'clef.yaml': CLEF_YAML,
    'secrets/payments/production.enc.yaml': sopsFile('payments', 'production', '2026-03-20T09:00:00Z'),
    'secrets/auth/production.enc.yaml': sopsFile('auth', 'production', '2026-03-21T09:00:00Z'),
    'secrets/billing/production.enc.yaml': sopsFile('billing', 'production', '2026-03-19T09:00:00Z'),
    'secrets/payments/dev.enc.yaml': sopsFile('payments', 'dev', '2026-03-18T09:00:00Z'),
    'README.md': '# config repo\n',
  };
}

/** `git hash-object` of some bytes, computed the way the enclave does. */
export function gitBlobId(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  return createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The receipt input for one file's bytes. */
export function inputFor(path: string, content: string, role: 'manifest' | 'sops', namespace?: string): ReceiptInput {
  const input: ReceiptInput = { path, role, sha256: sha256Hex(content), gitBlobId: gitBlobId(content) };
  if (role === 'sops') {
    const m = /lastmodified: "([^"]+)"/.exec(content);
    if (m) input.sopsLastModified = m[1]!;
    if (namespace) input.namespace = namespace;
  }
  return input;
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'fixture',
      GIT_AUTHOR_EMAIL: 'fixture@example.com',
      GIT_COMMITTER_NAME: 'fixture',
      GIT_COMMITTER_EMAIL: 'fixture@example.com',
      GIT_AUTHOR_DATE: '2026-03-22T09:00:00Z',
      GIT_COMMITTER_DATE: '2026-03-22T09:00:00Z',
    },
  }).trim();
}

/** Makes a git repository with `files` committed; returns the commit id. */
export async function makeRepo(dir: string, files: Record<string, string>): Promise<string> {
  await mkdir(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'config');
  return git(dir, 'rev-parse', 'HEAD');
}

/** Random 48-byte PCR values (hex) standing in for eif-build measurements. */
export function randomPcrs(): { 0: string; 1: string; 2: string } {
  return { 0: randomBytes(48).toString('hex'), 1: randomBytes(48).toString('hex'), 2: randomBytes(48).toString('hex') };
}

export interface PackFixture {
  dir: string;
  repoDir: string;
  commit: string;
  files: Record<string, string>;
  pki: SimulatedNsmPki;
  pcrs: { 0: string; 1: string; 2: string };
  nonce: string;
  artifact: PackedArtifactFile;
  verifyKey: string;
  claims: ReceiptClaims;
  receipt: Receipt;
  paths: { receipt: string; artifact: string; measurements: string; root: string };
  /** Attests any claims with the fixture's PKI and PCRs (user_data = claimsDigest, nonce = claims nonce). */
  attestClaims(claims: ReceiptClaims, opts?: { pcrs?: Record<number, string>; timestamp?: number; nonce?: Uint8Array | null }): Promise<Receipt>;
  /** Writes a receipt next to the others and returns its path. */
  writeReceipt(receipt: Receipt | string, name?: string): Promise<string>;
  /** verify-receipt arguments that should fully verify the honest receipt (pass extra flags after). */
  cliArgs(receiptPath?: string, extra?: string[]): string[];
  cleanup(): Promise<void>;
}

export interface PackFixtureOptions {
  /** Clock of the simulated NSM (and the document timestamp). */
  now?: () => number;
  /** Reuse a PKI (faster when a test makes many fixtures). */
  pki?: SimulatedNsmPki;
}

/** Builds an honest receipt from real parts, written to a temp directory. */
export async function makePackFixture(opts: PackFixtureOptions = {}): Promise<PackFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'vr-fixture-'));
  const repoDir = join(dir, 'repo');
  const files = repoFiles();
  const commit = await makeRepo(repoDir, files);
  const pki = opts.pki ?? (await SimulatedNsmPki.ephemeral(opts.now ? { now: opts.now } : {}));
  const pcrs = randomPcrs();
  const nonce = randomBytes(32).toString('hex');

  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const verifyKey = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const plaintext = new Uint8Array(Buffer.from(JSON.stringify({ auth: { JWT_SECRET: 'x' }, payments: { STRIPE_KEY: 'y' } })));
  const artifact = await packArtifact({
    identity: IDENTITY,
    environment: ENVIRONMENT,
    plaintext,
    envelope: { kind: 'kms', provider: 'aws', keyId: WRAP_KEY, region: 'us-east-1' },
    wrapKey: async (_dek, keyId) => ({ wrappedKey: new Uint8Array(randomBytes(184)), keyId }),
    signer: createEd25519Signer(privateKey),
    ...(opts.now ? { now: opts.now } : {}),
  });

  const claims: ReceiptClaims = {
    type: 'attested-pack/receipt-claims/v1',
    request: { identity: IDENTITY, environment: ENVIRONMENT, commit, repository: 'org/config', nonce, requestedBy: 'ci-token' },
    inputs: [
      inputFor('clef.yaml', files['clef.yaml']!, 'manifest'),
      inputFor('secrets/payments/production.enc.yaml', files['secrets/payments/production.enc.yaml']!, 'sops', 'payments'),
      inputFor('secrets/auth/production.enc.yaml', files['secrets/auth/production.enc.yaml']!, 'sops', 'auth'),
    ],
    keys: {
      source: [SOURCE_KEY],
      wrap: artifact.artifact.envelope!.keyId,
      ageRecipients: [],
      sign: null,
      seal: SEAL_KEY,
      signingPublicKey: verifyKey,
    },
    artifact: {
      sha256: artifact.sha256,
      revision: artifact.artifact.revision,
      ciphertextHash: artifact.artifact.ciphertextHash,
      keyCount: 2,
      namespaces: ['auth', 'payments'],
      signatureAlgorithm: 'Ed25519',
    },
    tool: { name: 'attested-pack', version: '0.1.0' },
    time: new Date(opts.now ? opts.now() : Date.now()).toISOString(),
  };

  const attestClaims: PackFixture['attestClaims'] = async (c, o = {}) => {
    const doc = await pki.attest({
      pcrs: o.pcrs ?? pcrs,
      userData: claimsDigest(c),
      nonce: o.nonce === undefined ? Buffer.from(c.request.nonce, 'hex') : o.nonce,
      ...(o.timestamp === undefined ? {} : { timestamp: o.timestamp }),
    });
    return buildReceipt(c, doc);
  };
  const receipt = await attestClaims(claims);

  const paths = {
    receipt: join(dir, 'receipt.json'),
    artifact: join(dir, 'artifact.json'),
    measurements: join(dir, 'measurements.json'),
    root: join(dir, 'sim-root.pem'),
  };
  await writeFile(paths.receipt, serializeReceipt(receipt));
  await writeFile(paths.artifact, artifact.bytes);
  await writeFile(
    paths.measurements,
    JSON.stringify({ PCR0: pcrs[0], PCR1: pcrs[1], PCR2: pcrs[2], eifSha256: sha256Hex('eif'), arch: 'x86_64', buildInputs: {} }, null, 2),
  );
  await writeFile(paths.root, pki.rootPem());

  let n = 0;
  return {
    dir,
    repoDir,
    commit,
    files,
    pki,
    pcrs,
    nonce,
    artifact,
    verifyKey,
    claims,
    receipt,
    paths,
    attestClaims,
    async writeReceipt(r, name) {
      const p = join(dir, name ?? `receipt-${++n}.json`);
      await writeFile(p, typeof r === 'string' ? r : serializeReceipt(r));
      return p;
    },
    cliArgs(receiptPath = paths.receipt, extra = []) {
      return [
        ...verifyArgs({
          receipt: receiptPath,
          root: paths.root,
          measurements: paths.measurements,
          artifact: paths.artifact,
          verifyKey,
          repo: repoDir,
          nonce,
          expectKeys: [SOURCE_KEY, WRAP_KEY, SEAL_KEY],
        }),
        ...extra,
      ];
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The parts of a pack an auditor verifies, as files (from this fixture or, later, the real pack pipeline). */
export interface PackOutputFiles {
  receipt: string;
  /** Simulated NSM root PEM file (omit for receipts from real AWS enclaves). */
  root?: string;
  measurements: string;
  artifact?: string;
  /** base64 SPKI for --verify-key ... */
  verifyKey?: string;
  /** ... or a public key file for --kms-public-key. */
  kmsPublicKey?: string;
  repo?: string;
  nonce?: string;
  expectKeys?: string[];
}

/** verify-receipt arguments that check every part of a pack output. */
export function verifyArgs(p: PackOutputFiles): string[] {
  return [
    p.receipt,
    ...(p.root ? ['--root', p.root] : []),
    '--measurements', p.measurements,
    ...(p.artifact ? ['--artifact', p.artifact] : []),
    ...(p.verifyKey ? ['--verify-key', p.verifyKey] : []),
    ...(p.kmsPublicKey ? ['--kms-public-key', p.kmsPublicKey] : []),
    ...(p.repo ? ['--repo', p.repo] : []),
    ...(p.nonce ? ['--nonce', p.nonce] : []),
    ...(p.expectKeys ?? []).flatMap((k) => ['--expect-key', k]),
  ];
}

/** Deep copy of claims for mutation. */
export function cloneClaims(c: ReceiptClaims): ReceiptClaims {
  return JSON.parse(JSON.stringify(c)) as ReceiptClaims;
}
