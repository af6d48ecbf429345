/**
 * Property tests (fast-check, fixed seeds) over receipts built from real parts: simulated-NSM
 * documents over real claims digests, real git repositories, real Clef artifacts. Each property
 * changes exactly one thing and expects exactly the check that guards it to fail, naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseReceipt, ReceiptError, serializeReceipt } from '../../attestation/receipt.js';
import type { Receipt, ReceiptClaims } from '../../attestation/receipt-types.js';
import { verifyAttestationDocument } from '../../attestation/verify.js';
import { SimulatedNsmPki } from '../../attestation/simulated-nsm.js';
import { runChecks, type VerificationPlan } from '../../verify-receipt/checks.js';
import { GitRepo } from '../../verify-receipt/git.js';
import type { VerificationReport } from '../../verify-receipt/report.js';
import { cloneClaims, inputFor, makePackFixture, makeRepo, type PackFixture } from './helpers/pack-fixture.js';
import { runCliJson } from './helpers/run-cli.js';
import { keyPolicy } from './helpers/key-policy.js';

let f: PackFixture;
let repo: GitRepo;
/** The PCRs the fixture's documents carry (0..15), as the verifier reads them. */
let docPcrs: Map<number, string>;

beforeAll(async () => {
  f = await makePackFixture();
  repo = await GitRepo.open(f.repoDir);
  const v = await verifyAttestationDocument(Buffer.from(f.receipt.attestation, 'base64'), {
    trustedRoots: [f.pki.trustedRoot()],
    at: Date.now(),
    expectedPcrs: 'skip',
  });
  docPcrs = v.pcrs;
});
afterAll(async () => {
  repo.close();
  await f.cleanup();
});

/** Runs the checks in-process with the fixture's trust root and measurements. */
function check(receipt: Receipt, extra: Partial<VerificationPlan> = {}, manifestPath = 'clef.yaml'): Promise<VerificationReport> {
  return runChecks({
    receiptPath: 'receipt.json',
    receipt,
    trustedRoots: [f.pki.trustedRoot()],
    expect: {
      measurements: { source: 'measurements.json', alternatives: [{ label: '', pcrs: new Map([[0, [f.pcrs[0]]], [1, [f.pcrs[1]]], [2, [f.pcrs[2]]]]) }] },
      allowDebug: false,
      manifestPath: { path: manifestPath, from: manifestPath === 'clef.yaml' ? 'default' : '--manifest' },
    },
    now: Date.now(),
    clockSource: 'system',
    ...extra,
  });
}

const byId = (r: VerificationReport, id: number) => r.checks.find((c) => c.id === id)!;

// ---------------------------------------------------------------------------------------------
// Any single value at any JSON path of the claims.

type Path = Array<string | number>;
function leafPaths(v: unknown, path: Path = []): Path[] {
  if (Array.isArray(v)) return v.flatMap((e, i) => leafPaths(e, [...path, i]));
  if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, e]) => leafPaths(e, [...path, k]));
  return [path];
}

const HEX = '0123456789abcdef';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A different value of the same kind, chosen by `n`, that the strict schema still accepts where possible. */
function mutate(value: unknown, key: string | number, n: number): unknown {
  if (value === null) return `arn:aws:kms:us-east-1:333333333333:key/k${n}`; // wrap/sign/seal: null → some key
  if (typeof value === 'number') return value + 1 + (n % 5);
  if (typeof value !== 'string') throw new Error('unexpected leaf');
  if (/^[0-9a-f]+$/.test(value) && value.length % 2 === 0 && value.length >= 32) {
    const i = n % value.length;
    const c = HEX[(HEX.indexOf(value[i]!) + 1 + (n % 15)) % 16]!;
    return value.slice(0, i) + c + value.slice(i + 1);
  }
  if (value.startsWith('arn:aws:kms:')) return value + B64[n % B64.length]!;
  if (/^\d{4}-\d\d-\d\dT.*Z$/.test(value)) {
    const moved = new Date(Date.parse(value) + 1000 * (1 + n)).toISOString();
    return value.includes('.') ? moved : moved.replace(/\.\d{3}Z$/, 'Z');
  }
  if (key === 'signingPublicKey') return Buffer.from(randomBytes(44)).toString('base64');
  if (key === 'signatureAlgorithm') return value === 'Ed25519' ? 'ECDSA_SHA256' : 'Ed25519';
  if (key === 'path') return value.replace(/\.enc\.yaml$|\.yaml$/, (ext) => `-${n % 97}${ext}`);
  return value + B64[n % B64.length]!;
}

function setAt(claims: ReceiptClaims, path: Path, value: unknown): void {
  let o = claims as unknown as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  o[path[path.length - 1]!] = value;
}

function getAt(claims: ReceiptClaims, path: Path): unknown {
  let o: unknown = claims;
  for (const k of path) o = (o as Record<string | number, unknown>)[k];
  return o;
}

describe('claims: changing any single value at any JSON path', () => {
  it('fails check 4 (or is refused as malformed), for every path', async () => {
    const paths = leafPaths(f.claims);
    expect(paths.length).toBeGreaterThan(30);
    const acceptedPerPath = new Map<string, number>();
    for (const path of paths) {
      const name = path.join('.');
      await fc.assert(
        fc.asyncProperty(fc.nat(10_000), async (n) => {
          const claims = cloneClaims(f.claims);
          const before = getAt(claims, path);
          setAt(claims, path, mutate(before, path[path.length - 1]!, n));
          expect(getAt(claims, path), name).not.toEqual(before);
          const text = serializeReceipt({ ...f.receipt, claims });
          let receipt: Receipt;
          try {
            receipt = parseReceipt(text);
          } catch (err) {
            // A value the v1 schema cannot hold is refused outright (exit 2): also never a pass.
            expect(err).toBeInstanceOf(ReceiptError);
            expect((err as ReceiptError).code).toBe('RECEIPT_MALFORMED');
            return;
          }
          acceptedPerPath.set(name, (acceptedPerPath.get(name) ?? 0) + 1);
          const report = await check(receipt);
          expect(byId(report, 1).status, name).toBe('pass');
          expect(byId(report, 4), name).toMatchObject({ status: 'fail', code: 'RECEIPT_BINDING_MISMATCH' });
          expect(report.ok).toBe(false);
        }),
        { seed: 42, numRuns: 2 },
      );
    }
    // Only the constants of the format cannot change and stay schema-valid.
    const neverAccepted = paths.map((p) => p.join('.')).filter((p) => !acceptedPerPath.has(p));
    expect(neverAccepted.sort()).toEqual(['inputs.0.role', 'inputs.1.role', 'inputs.2.role', 'tool.name', 'type']);
  });

  it('the honest claims pass check 4 (the property is not vacuous)', async () => {
    const report = await check(f.receipt);
    expect(report.checks.slice(0, 4).map((c) => c.status)).toEqual(['pass', 'pass', 'pass', 'pass']);
  });
});

// ---------------------------------------------------------------------------------------------
// Swapping in the attestation document of another pack.

describe('attestation document of another pack', () => {
  it('fails check 4 (and the nonce binding) under the same enclave PKI', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 16, maxLength: 64 }), fc.constantFrom('api-gateway', 'worker'), async (nonce, identity) => {
        const other = cloneClaims(f.claims);
        other.request.nonce = Buffer.from(nonce).toString('hex');
        other.request.identity = identity;
        const otherReceipt = await f.attestClaims(other);
        const swapped: Receipt = { ...f.receipt, attestation: otherReceipt.attestation };
        const report = await check(swapped);
        expect(byId(report, 1).status).toBe('pass');
        expect(byId(report, 4)).toMatchObject({ status: 'fail', code: 'RECEIPT_BINDING_MISMATCH' });
        expect(byId(report, 5)).toMatchObject({ status: 'fail', code: 'RECEIPT_NONCE_MISMATCH' });
      }),
      { seed: 42, numRuns: 6 },
    );
  });

  it('fails check 1 when the other pack ran under another root', async () => {
    const stranger = await SimulatedNsmPki.ephemeral();
    const doc = await stranger.attest({ pcrs: f.pcrs, userData: new Uint8Array(48), nonce: Buffer.from(f.nonce, 'hex') });
    const report = await check({ ...f.receipt, attestation: Buffer.from(doc).toString('base64') });
    expect(byId(report, 1)).toMatchObject({ status: 'fail', code: 'ATTESTATION_UNTRUSTED_ROOT' });
    expect(report.ok).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// The repository at the commit.

describe('repository at the receipt commit', () => {
  it('a file whose bytes differ from the receipt fails check 7 naming the file', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(2), fc.string({ minLength: 1, maxLength: 20 }), async (index, extra) => {
        const claims = cloneClaims(f.claims);
        const input = claims.inputs[index]!;
        // What the enclave saw is not what the commit holds (e.g. a runner sent other bytes).
        claims.inputs[index] = inputFor(input.path, f.files[input.path]! + `# ${extra}\n`, input.role, input.namespace);
        const report = await check(await f.attestClaims(claims), { repo });
        expect(byId(report, 4).status).toBe('pass');
        const seven = byId(report, 7);
        expect(seven.status).toBe('fail');
        expect(seven.evidence).toContain(`${input.path} differs`);
        expect(seven.details?.files).toContainEqual(expect.objectContaining({ path: input.path, status: 'differs' }));
        const others = claims.inputs.filter((_, i) => i !== index).map((i) => i.path);
        for (const p of others) expect(seven.evidence).not.toContain(`${p} differs`);
      }),
      { seed: 42, numRuns: 4 },
    );
  });

  it('an extra or a missing input fails check 7 naming it', async () => {
    const cases: Array<{ name: string; edit: (c: ReceiptClaims) => void; expect: RegExp }> = [
      {
        name: 'extra file out of scope',
        edit: (c) => c.inputs.push(inputFor('secrets/billing/production.enc.yaml', f.files['secrets/billing/production.enc.yaml']!, 'sops', 'billing')),
        expect: /secrets\/billing\/production\.enc\.yaml is in the receipt but not in the scope/,
      },
      {
        name: 'extra file of another environment',
        edit: (c) => c.inputs.push(inputFor('secrets/payments/dev.enc.yaml', f.files['secrets/payments/dev.enc.yaml']!, 'sops', 'payments')),
        expect: /secrets\/payments\/dev\.enc\.yaml is in the receipt but not in the scope/,
      },
      {
        name: 'extra file that is not in the commit',
        edit: (c) => c.inputs.push(inputFor('secrets/ghost/production.enc.yaml', 'ghost: 1\n', 'sops', 'ghost')),
        expect: /secrets\/ghost\/production\.enc\.yaml is not a file in commit/,
      },
      {
        name: 'missing payments',
        edit: (c) => c.inputs.splice(1, 1),
        expect: /secrets\/payments\/production\.enc\.yaml is in scope at the commit but missing from the receipt/,
      },
      {
        name: 'missing auth',
        edit: (c) => c.inputs.splice(2, 1),
        expect: /secrets\/auth\/production\.enc\.yaml is in scope at the commit but missing from the receipt/,
      },
    ];
    for (const tc of cases) {
      const claims = cloneClaims(f.claims);
      tc.edit(claims);
      const report = await check(await f.attestClaims(claims), { repo });
      expect(byId(report, 4).status, tc.name).toBe('pass');
      expect(byId(report, 7).status, tc.name).toBe('fail');
      expect(byId(report, 7).evidence, tc.name).toMatch(tc.expect);
    }
    // The honest receipt passes the same check.
    expect(byId(await check(f.receipt, { repo }), 7).status).toBe('pass');
  });

  it('a clef.yaml in a subdirectory scopes paths relative to it (inputs stay repo-relative)', async () => {
    const sub = join(f.dir, 'mono');
    const files = Object.fromEntries(Object.entries(f.files).map(([p, c]) => [`config/${p}`, c]));
    const commit = await makeRepo(sub, { ...files, 'README.md': '# monorepo\n' });
    const claims = cloneClaims(f.claims);
    claims.request.commit = commit;
    claims.inputs = claims.inputs.map((i) => ({ ...i, path: `config/${i.path}` }));
    const mono = await GitRepo.open(sub);
    try {
      const seven = byId(await check(await f.attestClaims(claims), { repo: mono }, 'config/clef.yaml'), 7);
      expect(seven.status, seven.evidence).toBe('pass');
      // Paths relative to the manifest (as if the repo root held it) are not the files at the commit.
      const wrong = cloneClaims(f.claims);
      wrong.request.commit = commit;
      wrong.inputs[0] = { ...wrong.inputs[0]!, path: 'config/clef.yaml' };
      const bad = byId(await check(await f.attestClaims(wrong), { repo: mono }, 'config/clef.yaml'), 7);
      expect(bad.status).toBe('fail');
      expect(bad.evidence).toContain('secrets/payments/production.enc.yaml is not a file in commit');
    } finally {
      mono.close();
    }
  });

  it('a commit the repository does not have fails check 7', async () => {
    const claims = cloneClaims(f.claims);
    claims.request.commit = 'c0ffee'.repeat(6) + 'c0ff';
    const seven = byId(await check(await f.attestClaims(claims), { repo }), 7);
    expect(seven).toMatchObject({ status: 'fail', code: 'COMMIT_NOT_FOUND' });
  });
});

// ---------------------------------------------------------------------------------------------
// Measurements: from measurements.json and from a KMS key policy (through the real CLI).

describe('expected measurements', () => {
  it('wrong measurements fail check 2 naming the PCR', async () => {
    await fc.assert(
      fc.asyncProperty(fc.subarray([0, 1, 2], { minLength: 1 }), async (wrong) => {
        const m: Record<string, string> = { PCR0: f.pcrs[0], PCR1: f.pcrs[1], PCR2: f.pcrs[2] };
        for (const i of wrong) m[`PCR${i}`] = randomBytes(48).toString('hex');
        const file = join(f.dir, `m-${wrong.join('')}.json`);
        await writeFile(file, JSON.stringify({ ...m, eifSha256: 'e'.repeat(64), arch: 'x86_64', buildInputs: {} }));
        const { code, report } = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--measurements', file, '--partial']);
        expect(code).toBe(1);
        const two = byId(report, 2);
        expect(two).toMatchObject({ status: 'fail', code: 'ATTESTATION_PCR_MISMATCH' });
        for (const i of [0, 1, 2]) {
          if (wrong.includes(i)) expect(two.evidence).toContain(`PCR${i} differs`);
          else expect(two.evidence).not.toContain(`PCR${i} `);
        }
      }),
      { seed: 42, numRuns: 7 },
    );
  });

  it('a key policy whose conditions name other PCRs fails check 2 naming them', async () => {
    const names: Record<number, string> = { 0: 'kms:RecipientAttestation:ImageSha384', 1: 'kms:RecipientAttestation:PCR1', 2: 'kms:RecipientAttestation:PCR2', 3: 'kms:RecipientAttestation:PCR3', 4: 'kms:RecipientAttestation:PCR4', 8: 'kms:RecipientAttestation:PCR8' };
    await fc.assert(
      fc.asyncProperty(
        fc.subarray([0, 1, 2, 3, 4, 8], { minLength: 1 }),
        fc.subarray([0, 1, 2, 3, 4, 8]),
        async (wrong, alsoRight) => {
          const conditions: Record<string, string> = {};
          // Every policy pins the image (PCR0): one that does not is refused as pinning nothing (fail-open.test.ts).
          for (const i of new Set([0, ...wrong, ...alsoRight])) conditions[names[i]!] = wrong.includes(i) ? randomBytes(48).toString('hex') : docPcrs.get(i)!;
          const policy = keyPolicy('', '', '') as { Statement: Array<{ Condition?: Record<string, unknown> }> };
          policy.Statement[1]!.Condition = { StringEqualsIgnoreCase: conditions };
          const file = join(f.dir, `p-${wrong.join('')}-${alsoRight.join('')}.json`);
          await writeFile(file, JSON.stringify(policy));
          const { code, report } = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--policy', file, '--partial']);
          expect(code).toBe(1);
          const two = byId(report, 2);
          expect(two).toMatchObject({ status: 'fail', code: 'ATTESTATION_PCR_MISMATCH' });
          for (const i of wrong) expect(two.evidence).toContain(`PCR${i} differs`);
          for (const i of [0, ...alsoRight].filter((x) => !wrong.includes(x))) expect(two.evidence).not.toContain(`PCR${i} `);
        },
      ),
      { seed: 42, numRuns: 8 },
    );
  });

  it('a key policy that allows this image among others passes check 2', async () => {
    const policy = keyPolicy(randomBytes(48).toString('hex'), f.pcrs[1], f.pcrs[2]) as { Statement: Array<Record<string, unknown>> };
    policy.Statement.push({
      Sid: 'NextImage',
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::111111111111:role/parent' },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEqualsIgnoreCase: { 'kms:RecipientAttestation:ImageSha384': [f.pcrs[0], randomBytes(48).toString('hex')] } },
    });
    const file = join(f.dir, 'policy-two-images.json');
    await writeFile(file, JSON.stringify(policy));
    const { code, report } = await runCliJson([f.paths.receipt, '--root', f.paths.root, '--policy', file, '--partial']);
    expect(code).toBe(0);
    expect(byId(report, 2).evidence).toContain('by statement #2 "NextImage"');
  });
});
