/**
 * SOPS decryption of 10, 1,000 and 10,000-key JSON files, ours (`decryptSops`, MAC always
 * verified) against `sops-age` on the age-encrypted file and `sops-decoder` on the KMS-encrypted
 * file. The files are made by our encoder from fixed seeds (values, data key, IVs, time); the KMS
 * one wraps its data key under a key of the KMS simulator, which both decoders call for one plain
 * `Decrypt` per decryption — sops-decoder through its own SDK client, pointed at the simulator with
 * the standard `AWS_ENDPOINT_URL_KMS` and credential variables (its API has no endpoint option and
 * no way to inject a data key into `decrypt`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { identityToRecipient } from 'age-encryption';
import { decryptSops as sopsAgeDecrypt } from 'sops-age';
import { decrypt as sopsDecoderDecrypt, type JsonObject } from 'sops-decoder';
import { createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { decryptSops, decryptSopsWithDataKey, encryptSops, gcmBackend, sopsMap, type SopsDecrypted } from '../enclave-app/sops/index.js';
import { DEMO_CREDENTIALS, startKmsSimulator } from '../simulator/kms/index.js';
import { ageIdentityFromSeed, SeededBytes } from './seeded.js';
import { fmt, summarize } from './stats.js';
import type { BenchResult, BenchRow, Comparison, GoalCheck } from './results-types.js';

/** How much work to do. */
export interface SopsBenchOptions {
  /** Key counts of the generated files. */
  sizes: number[];
  /** Timed runs per subject for a size (keyed by size; missing sizes use `defaultRuns`). */
  runs: Record<number, number>;
  defaultRuns: number;
}

const ADMIN = DEMO_CREDENTIALS[0]!;
const FIXED_TIME = new Date(Date.UTC(2030, 0, 15, 12, 0, 0));

/** The plaintext of an n-key file: SECRET_000001 … with 32-character seeded values. */
export function seededSecrets(n: number, seed: string): Array<[string, string]> {
  const bytes = new SeededBytes(`${seed} values ${n}`);
  return Array.from({ length: n }, (_, i) => [`SECRET_${String(i + 1).padStart(6, '0')}`, bytes.next(24).toString('base64')]);
}

/** Issue 20: decryption with a known data key within this factor of node:crypto's AES-GCM alone. */
export const SOPS_FLOOR_GOAL = 1.2;
/** Sizes the floor goal is judged at (smaller files are dominated by fixed costs). */
const FLOOR_GOAL_MIN_KEYS = 1_000;

/** One AES-256-GCM decryption sops does, with its fields already decoded. */
interface GcmOp {
  data: Buffer;
  iv: Buffer;
  tag: Buffer;
  aad: Buffer;
}

/**
 * The AES-GCM operations a decryption of a flat `{KEY: value}` JSON file performs — one per value
 * plus the MAC — taken apart before the timer starts, so the floor is node:crypto alone.
 */
function gcmOps(text: string): GcmOp[] {
  const doc = JSON.parse(text) as Record<string, string> & { sops: { mac: string; lastmodified: string } };
  const split = (enc: string, aad: string): GcmOp => {
    const m = /^ENC\[AES256_GCM,data:([^,]+),iv:([^,]+),tag:([^,]+),type:[a-z]+\]$/.exec(enc);
    if (!m) throw new Error('unexpected ENC value in the generated file');
    return { data: Buffer.from(m[1]!, 'base64'), iv: Buffer.from(m[2]!, 'base64'), tag: Buffer.from(m[3]!, 'base64'), aad: Buffer.from(aad, 'utf8') };
  };
  const ops = Object.entries(doc)
    .filter(([k]) => k !== 'sops')
    .map(([k, v]) => split(v as string, `${k}:`));
  // The MAC's AAD is lastmodified as Go prints it; the generated files use a whole-second UTC time.
  ops.push(split(doc.sops.mac, doc.sops.lastmodified));
  return ops;
}

/** The floor: the same AES-256-GCM decryptions through node:crypto and nothing else. */
function gcmFloor(key: KeyObject, ops: readonly GcmOp[]): void {
  for (const op of ops) {
    const d = createDecipheriv('aes-256-gcm', key, op.iv, { authTagLength: 16 });
    d.setAAD(op.aad);
    d.setAuthTag(op.tag);
    d.update(op.data);
    d.final();
  }
}

interface Inputs {
  n: number;
  dataKey: Buffer;
  expected: Array<[string, string]>;
  ageFile: Uint8Array;
  ageText: string;
  kmsFile: Uint8Array;
  kmsText: string;
}

async function makeInputs(n: number, identity: string, kmsArn: string, admin: KMSClient): Promise<Inputs> {
  const expected = seededSecrets(n, 'sops');
  const tree = [sopsMap(expected)];
  const recipient = await identityToRecipient(identity);
  const common = (tag: string) => {
    const s = new SeededBytes(`sops ${tag} ${n}`);
    return { format: 'json' as const, dataKey: s.next(32), ivs: () => s.next(32), now: FIXED_TIME };
  };
  const ageCommon = common('age');
  const dataKey = Buffer.from(ageCommon.dataKey);
  const ageFile = await encryptSops(tree, { ...ageCommon, keyGroups: [[{ type: 'age', recipient }]] });
  const kmsFile = await encryptSops(tree, {
    ...common('kms'),
    keyGroups: [[{ type: 'kms', arn: kmsArn }]],
    kms: async (req) => {
      const out = await admin.send(new EncryptCommand({ KeyId: req.arn, Plaintext: req.plaintext }));
      return Buffer.from(out.CiphertextBlob!).toString('base64');
    },
  });
  return { n, dataKey, expected, ageFile, ageText: Buffer.from(ageFile).toString('utf8'), kmsFile, kmsText: Buffer.from(kmsFile).toString('utf8') };
}

/** Checks a decoder's output holds every expected value (run after the timer stops). */
function checkPlain(who: string, out: unknown, expected: Array<[string, string]>): void {
  const o = out as Record<string, unknown>;
  const sample = [expected[0]!, expected[Math.floor(expected.length / 2)]!, expected[expected.length - 1]!];
  const count = Object.keys(o).filter((k) => k !== 'sops').length;
  if (count !== expected.length || sample.some(([k, v]) => o[k] !== v)) throw new Error(`${who} returned the wrong plaintext`);
}

function checkOurs(out: SopsDecrypted, expected: Array<[string, string]>): void {
  const entries = out.branches[0]!.entries;
  const last = entries[entries.length - 1] as { key?: string; value?: unknown };
  if (entries.length !== expected.length || last.key !== expected[expected.length - 1]![0] || last.value !== expected[expected.length - 1]![1]) {
    throw new Error('ours returned the wrong plaintext');
  }
}

const ENV_KEYS = ['AWS_ENDPOINT_URL_KMS', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_EC2_METADATA_DISABLED'] as const;

/** Runs the benchmark (starts and stops its own KMS simulator). */
export async function benchSops(o: SopsBenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const dir = await mkdtemp(path.join(tmpdir(), 'ap-bench-sops-'));
  const sim = await startKmsSimulator({ stateDir: path.join(dir, 'kms'), region: 'us-east-1' });
  const admin = new KMSClient({ endpoint: sim.endpoint, region: 'us-east-1', credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey }, maxAttempts: 1 });
  const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  try {
    const kmsArn = await sim.createKey({ keySpec: 'SYMMETRIC_DEFAULT', description: 'bench SOPS key', alias: 'alias/bench/sops' });
    const identity = ageIdentityFromSeed('sops bench');
    // sops-decoder builds `new KMSClient({ region })` per file: the standard variables reach it.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KMS: sim.endpoint,
      AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;

    const oursKms = async (bytes: Uint8Array) =>
      decryptSops(bytes, 'json', {
        kms: async (req) => {
          const out = await admin.send(new DecryptCommand({ CiphertextBlob: req.ciphertextBlob, KeyId: req.arn, ...(req.context ? { EncryptionContext: req.context } : {}) }));
          return out.Plaintext!;
        },
      });

    const backend = gcmBackend() === 'openssl' ? 'OpenSSL via the addon' : 'node:crypto (addon not built)';
    const rows: BenchRow[] = [];
    const comparisons: Comparison[] = [];
    const goals: GoalCheck[] = [];
    for (const n of o.sizes) {
      const input = await makeInputs(n, identity, kmsArn, admin);
      const floorKey = createSecretKey(input.dataKey);
      const floorOps = gcmOps(input.ageText);
      const runs = o.runs[n] ?? o.defaultRuns;
      const subjects = [
        { key: 'ours-age', subject: 'ours: decryptSops (age)', peer: false, fn: async () => checkOurs(await decryptSops(input.ageFile, 'json', { ageIdentities: [identity] }), input.expected) },
        { key: 'sops-age', subject: 'peer: sops-age', peer: true, fn: async () => checkPlain('sops-age', await sopsAgeDecrypt(input.ageText, { secretKey: identity, fileType: 'json' }), input.expected) },
        { key: 'ours-kms', subject: 'ours: decryptSops (KMS)', peer: false, fn: async () => checkOurs(await oursKms(input.kmsFile), input.expected) },
        { key: 'sops-decoder', subject: 'peer: sops-decoder (KMS)', peer: true, fn: async () => checkPlain('sops-decoder', await sopsDecoderDecrypt(JSON.parse(input.kmsText) as JsonObject), input.expected) },
        {
          key: 'ours-known-key',
          subject: 'ours: decryptSopsWithDataKey (age file, data key given)',
          peer: false,
          fn: async () => checkOurs(decryptSopsWithDataKey(input.ageFile, 'json', input.dataKey), input.expected),
        },
        {
          key: 'ours-known-key-node',
          subject: 'ours: decryptSopsWithDataKey, node:crypto backend (no addon)',
          peer: false,
          fn: async () => checkOurs(decryptSopsWithDataKey(input.ageFile, 'json', input.dataKey, { aesGcm: 'node' }), input.expected),
        },
        { key: 'floor', subject: 'floor: node:crypto AES-256-GCM alone (same operations)', peer: true, fn: async () => gcmFloor(floorKey, floorOps) },
      ];
      const samples = new Map<string, number[]>(subjects.map((s) => [s.key, []]));
      // One untimed warm-up each (also checks every decoder accepts the file), then rotate the order.
      for (const s of subjects) await s.fn();
      for (let r = 0; r < runs; r++) {
        for (let i = 0; i < subjects.length; i++) {
          const s = subjects[(i + r) % subjects.length]!;
          const t0 = performance.now();
          await s.fn();
          samples.get(s.key)!.push(performance.now() - t0);
        }
      }
      const sum = (k: string) => summarize(samples.get(k)!);
      const caseName = `${n.toLocaleString('en-US')} keys`;
      for (const s of subjects) rows.push({ case: caseName, subject: s.subject, peer: s.peer, unit: 'ms', summary: sum(s.key), per: 'one whole-file decryption (parse, data key, values, MAC check where done)' });
      const ratioAge = sum('sops-age').median / sum('ours-age').median;
      const ratioKms = sum('sops-decoder').median / sum('ours-kms').median;
      comparisons.push({ case: `${caseName} (age)`, ours: 'decryptSops', against: 'sops-age', ratio: ratioAge });
      comparisons.push({ case: `${caseName} (KMS)`, ours: 'decryptSops', against: 'sops-decoder', ratio: ratioKms });

      // "≥ 2× faster than the faster peer", on the same inputs: ours must be ≥ 2× on each input
      // against the peer that decrypts that input, so it holds whichever peer is faster.
      const fasterPeer = sum('sops-age').median <= sum('sops-decoder').median ? 'sops-age' : 'sops-decoder';
      const pairs = [
        { input: 'age', ratio: ratioAge, ours: sum('ours-age').median, peer: 'sops-age', peerMs: sum('sops-age').median },
        { input: 'KMS', ratio: ratioKms, ours: sum('ours-kms').median, peer: 'sops-decoder', peerMs: sum('sops-decoder').median },
      ];
      // Issue 20: against the limit — node:crypto doing the same AES-GCM operations and nothing else.
      const floorRatio = sum('ours-known-key').median / sum('floor').median;
      comparisons.push({ case: `${caseName} (data key given)`, ours: `decryptSopsWithDataKey (${backend})`, against: 'the AES-GCM floor', ratio: sum('floor').median / sum('ours-known-key').median });
      comparisons.push({ case: `${caseName} (data key given, no addon)`, ours: 'decryptSopsWithDataKey (node:crypto)', against: 'the AES-GCM floor', ratio: sum('floor').median / sum('ours-known-key-node').median });
      if (n >= FLOOR_GOAL_MIN_KEYS) {
        const floorMet = floorRatio <= SOPS_FLOOR_GOAL;
        goals.push({
          goal: `SOPS ${caseName}: decryption ≤ ${SOPS_FLOOR_GOAL}× the node:crypto AES-GCM floor`,
          measured: `${fmt(sum('ours-known-key').median)} vs ${fmt(sum('floor').median)} ms = ${fmt(floorRatio)}× (${n + 1} AES-256-GCM decryptions, MAC verified; backend ${backend}; without the addon ${fmt(sum('ours-known-key-node').median / sum('floor').median)}×)`,
          met: floorMet,
          ...(floorMet
            ? {}
            : {
                shortfall: `${fmt(floorRatio)}× instead of ${SOPS_FLOOR_GOAL}× — ${fmt(sum('ours-known-key').median - SOPS_FLOOR_GOAL * sum('floor').median)} ms more than allowed (backend ${backend}). The floor starts from decoded IVs, tags, ciphertexts and AADs; ours must also parse the JSON (order-preserving, duplicate keys kept), check and base64-decode three fields per value, hash every plaintext into the SHA-512 MAC and build the output tree. ${backend.startsWith('OpenSSL') ? 'With the addon the AES-GCM work itself is ~0.2 µs per value, so what is left is that parsing on a loaded machine' : 'Without the addon every value pays node:crypto\'s ~2–3 µs per Decipheriv, and the parsing comes on top: build the addon (a C compiler, make, python3)'} (bench/README.md, "SOPS against its floor")`,
              }),
        });
      }
      const missed = pairs.filter((p) => p.ratio < 2);
      goals.push({
        goal: `SOPS ${caseName}: ours ≥ 2× faster than the faster peer, MAC verified`,
        measured: `${pairs.map((p) => `${fmt(p.ratio)}× vs ${p.peer} (${fmt(p.ours)} vs ${fmt(p.peerMs)} ms)`).join(', ')}; faster peer ${fasterPeer}`,
        met: missed.length === 0,
        ...(missed.length === 0
          ? {}
          : {
              shortfall: missed
                .map(
                  (p) =>
                    `${p.input}: ${fmt(p.ratio)}× instead of 2× — ours takes ${fmt(p.ours)} ms where ≤ ${fmt(p.peerMs / 2)} ms is needed (${fmt((p.ours / (p.peerMs / 2) - 1) * 100)}% over), of which ~${fmt(Math.max(0, p.ours - sum('ours-known-key').median))} ms recover the data key (${p.input === 'KMS' ? 'one Decrypt through the SDK and the in-process KMS simulator' : 'one age X25519 unwrap'}) and ${fmt(sum('ours-known-key').median)} ms decrypt the values`,
                )
                .join('; ') + sopsWhy(n),
            }),
      });
    }
    return {
      id: 'sops',
      title: 'SOPS decryption (JSON files)',
      rows,
      comparisons,
      goals,
      notes: [
        `Runs per size: ${o.sizes.map((n) => `${n.toLocaleString('en-US')} keys × ${o.runs[n] ?? o.defaultRuns}`).join(', ')} per subject, after one untimed warm-up; the order of the seven subjects rotates every run.`,
        `Floor (issue 20): the file's n + 1 AES-256-GCM decryptions (every value and the MAC) through createDecipheriv/setAAD/setAuthTag/update/final with the fields decoded beforehand, against decryptSopsWithDataKey on the same age file with its data key given (so neither pays the key unwrap); judged from ${FLOOR_GOAL_MIN_KEYS.toLocaleString('en-US')} keys.`,
        `AES-GCM backend of decryptSops in this run: ${backend}. The values are opened in one batch per file (enclave-app/sops/gcm-batch.ts); with the addon that is one call into OpenSSL's EVP (the library node:crypto uses) with one key schedule, without it one node:crypto Decipheriv per value — both are measured, the goal is judged on the default.`,
        'Ours always verifies the MAC. sops-age does not verify it. sops-decoder does (it compares a SHA-512 over the plaintexts with the decrypted MAC), contrary to the issue text.',
        'KMS files: one Decrypt per decryption against the in-process KMS simulator (0 ms injected latency); ours uses one long-lived SDK client, sops-decoder creates a client per call as its API does.',
        'The goal is judged per input against the peer that decrypts the same file (age: sops-age, KMS: sops-decoder) and must hold for both, hence against the faster peer too.',
      ],
      durationMs: performance.now() - started,
    };
  } finally {
    for (const k of ENV_KEYS) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
    admin.destroy();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function sopsWhy(n: number): string {
  return n <= 10
    ? '. At 10 keys most of the time is the data-key unwrap — one X25519 age decryption, or one KMS Decrypt through the SDK — which every decoder pays once; the per-value work is too small to win 2× on'
    : gcmBackend() === 'openssl'
      ? '. With the addon our AES-GCM is one OpenSSL call per file; what is left is parsing the JSON with our order- and type-preserving store (sops-decoder uses the native JSON.parse), the canonical-base64 checks and the MAC, and a loaded machine'
      : '. Without the addon both ours and sops-decoder spend most of their CPU on one node:crypto AES-256-GCM decipher per value (creation, update, final) and garbage collection; on top, ours parses with its own order- and type-preserving JSON store (sops-decoder uses the native JSON.parse) and checks every base64 field is canonical';
}
