/**
 * `attested-pack audit` as an auditor runs it: the simulation packs from a fresh clone (its
 * receipt names the clone's commit), and the audit rebuilds that image from *another* fresh clone
 * at the receipt's commit and reproduces PCR0/1/2, then verify-receipt passes. Negative half: an
 * image that claims the commit but carries a one-byte change to the enclave source (PCR2 named),
 * a checkout at another commit, a dirty checkout, a receipt from a dirty build, a receipt
 * without a source, a release receipt without blobs, and lock drift.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNsmPki, buildReceipt, claimsDigest, serializeReceipt } from '../../attestation/index.js';
import type { Receipt } from '../../attestation/receipt-types.js';
import { ATTESTED_PACK_BIN, repoRoot, runBin, tempDir } from '../e2e/helpers.js';
import { missingTool } from '../tools.js';

const noGit = missingTool('git', 'git');
const git = (dir: string, ...args: string[]): string => {
  const r = spawnSync('git', ['-C', dir, '-c', 'user.name=audit-test', '-c', 'user.email=audit@test.invalid', '-c', 'commit.gpgsign=false', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
};

/** A fresh clone of this repository's HEAD, sharing node_modules, with its CLI built (as `npm ci` would). */
function freshClone(base: string, name: string): string {
  const dir = join(base, name);
  git(repoRoot, 'clone', '-q', '--shared', repoRoot, dir);
  appendFileSync(join(dir, '.git/info/exclude'), 'node_modules\n');
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build in ${dir} failed: ${r.stderr}`);
  return dir;
}

interface AuditJson {
  ok: boolean;
  kind: string;
  kindNote: string;
  source: { commit: string };
  mismatched: string[];
  problems: string[];
  pcrs: Record<string, { receipt: string; rebuilt: string; match: boolean }>;
  verify?: { ok: boolean; counts: { pass: number; fail: number } };
  error?: { code: string; message: string; hint?: string; details?: Record<string, unknown> };
}

const audit = async (receipt: string, source: string, extra: string[] = []): Promise<{ code: number; json: AuditJson; stderr: string }> => {
  const r = await runBin(ATTESTED_PACK_BIN, ['audit', receipt, '--source', source, '--json', ...extra], { timeoutMs: 60_000 });
  return { code: r.code ?? -1, json: JSON.parse(r.stdout) as AuditJson, stderr: r.stderr };
};

let base: string;
let builder: string;
let auditor: string;
let state: string;
let receiptPath: string;
let commit: string;
/** The verify-receipt flags the simulation printed, without the receipt and its --measurements (the audit supplies rebuilt ones). */
let verifyArgs: string[];

/** Runs the simulation from `checkout` in a new state directory; returns its receipt path and verify-receipt flags. */
async function simulate(checkout: string, name: string): Promise<{ receipt: string; verifyArgs: string[] }> {
  const s = join(base, name);
  const r = await runBin(join(checkout, 'bin/attested-pack.mjs'), ['sim', '--state', s, '--json'], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`sim from ${checkout} failed (${r.code}): ${r.stderr}`);
  // The flag form of the sim's auditor step (its --expect form names the PCRs the audit rebuilds itself).
  const summary = JSON.parse(r.stdout) as { receipt: string; verifyReceiptFlags: string[] };
  const args = summary.verifyReceiptFlags.slice(1).filter((a, i, all) => a !== '--measurements' && all[i - 1] !== '--measurements');
  return { receipt: summary.receipt, verifyArgs: args };
}

describe.skipIf(noGit !== undefined)('attested-pack audit', () => {
  beforeAll(async () => {
    base = await tempDir('ap-audit-');
    builder = freshClone(base, 'builder');
    auditor = freshClone(base, 'auditor');
    commit = git(builder, 'rev-parse', 'HEAD');
    ({ receipt: receiptPath, verifyArgs } = await simulate(builder, 'state'));
    state = join(base, 'state');
  }, 90_000);
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it("reproduces a simulation receipt's PCRs from another fresh clone at the receipt's commit, then verify-receipt passes", async () => {
    const receipt = JSON.parse(readFileSync(receiptPath, 'utf8')) as Receipt;
    expect(receipt.claims.tool.source).toBe(commit);
    const started = Date.now();
    expect(verifyArgs).toContain('--root');
    const r = await audit(receiptPath, auditor, ['--cmd-from', join(state, 'enclave/measurements.json'), '--', ...verifyArgs]);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(r.code).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.source.commit).toBe(commit);
    expect(r.json.kind).toBe('simulation');
    expect(r.json.kindNote).toContain('NOT BOOTABLE');
    expect(r.json.mismatched).toEqual([]);
    const measured = JSON.parse(readFileSync(join(state, 'enclave/measurements.json'), 'utf8')) as Record<string, string>;
    for (const k of ['PCR0', 'PCR1', 'PCR2']) expect(r.json.pcrs[k]).toEqual({ receipt: measured[k], rebuilt: measured[k], match: true });
    expect(r.json.verify?.ok).toBe(true);
    expect(r.json.verify?.counts.fail).toBe(0);
  });

  it('a PARTIAL verify-receipt verdict (--partial, artifact and signer bindings left out) is not a passing audit', async () => {
    const dropped = new Set(['--artifact', '--verify-key', '--kms-public-key']);
    const withoutArtifact = verifyArgs.filter((a, i, all) => !dropped.has(a) && !dropped.has(all[i - 1]!));
    expect(withoutArtifact.length).toBeLessThan(verifyArgs.length);
    const r = await audit(receiptPath, auditor, ['--cmd-from', join(state, 'enclave/measurements.json'), '--', ...withoutArtifact, '--partial']);
    expect(r.json.error, JSON.stringify(r.json)).toBeUndefined();
    expect(Object.values(r.json.pcrs).every((p) => p.match)).toBe(true);
    expect(r.json.ok).toBe(false);
    expect(r.code).not.toBe(0);
  });

  it('a plain source tree (no .git, as Nix builds it) with --source-revision rebuilds the same PCRs', async () => {
    const plain = join(base, 'plain');
    const tar = spawnSync('sh', ['-c', `mkdir -p '${plain}' && git -C '${builder}' archive HEAD | tar -x -C '${plain}'`], { encoding: 'utf8' });
    expect(tar.status, tar.stderr).toBe(0);
    symlinkSync(join(repoRoot, 'node_modules'), join(plain, 'node_modules'));
    expect(spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: plain }).status).toBe(0);
    // The simulation measured its /cmd with the serve flags it ran (issue 16): build with the same ones.
    const simCmd = (JSON.parse(readFileSync(join(state, 'enclave/measurements.json'), 'utf8')) as { buildInputs: { cmd: string } }).buildInputs.cmd.split('\n').filter(Boolean);
    const serveArgs = simCmd.slice(simCmd.indexOf('/app/enclave.mjs') + 1).flatMap((a) => ['--arg', a]);
    const out = (name: string): string[] => ['-o', join(base, `${name}.eif`), '--measurements', join(base, `${name}.json`), ...serveArgs, '--json'];
    const unstamped = await runBin(join(plain, 'bin/attested-pack.mjs'), ['eif', 'build', '--locked', 'simulation', '--project-root', plain, ...out('plain-unstamped')]);
    const stamped = await runBin(join(plain, 'bin/attested-pack.mjs'), ['eif', 'build', '--locked', 'simulation', '--project-root', plain, '--source-revision', commit, ...out('plain')]);
    expect(stamped.code, stamped.stdout).toBe(0);
    const pcrs = (p: string): string[] => {
      const m = JSON.parse(readFileSync(p, 'utf8')) as Record<string, string>;
      return [m.PCR0!, m.PCR1!, m.PCR2!];
    };
    expect(pcrs(join(base, 'plain.json'))).toEqual(pcrs(join(state, 'enclave/measurements.json')));
    // Without the stamp the bundle differs: the source commit really is inside PCR2.
    expect(unstamped.code).toBe(0);
    expect(pcrs(join(base, 'plain-unstamped.json'))[2]).not.toBe(pcrs(join(state, 'enclave/measurements.json'))[2]);
    // In a git checkout the flag cannot claim another revision.
    const lie = await runBin(join(auditor, 'bin/attested-pack.mjs'), ['eif', 'build', '--locked', 'simulation', '--project-root', auditor, '--source-revision', 'f'.repeat(40), ...out('lie')]);
    expect(lie.code).toBe(1);
    expect((JSON.parse(lie.stdout) as AuditJson).error?.code).toBe('EIF_LOCK_DRIFT');
  });

  it('verify-receipt still runs: without the simulated root the rebuilt PCRs match but the attestation check fails (exit 1)', async () => {
    const withoutRoot = verifyArgs.filter((a, i, all) => a !== '--root' && all[i - 1] !== '--root');
    const human = await runBin(ATTESTED_PACK_BIN, ['audit', receiptPath, '--source', auditor, '--cmd-from', join(state, 'enclave/measurements.json'), '--', ...withoutRoot]);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('simulation image');
    expect(human.stdout).toMatch(/✔ PCR2/);
    expect(human.stdout).toMatch(/✘ verify-receipt with the rebuilt measurements: FAILED \(\d+ passed, 1 failed/);
    expect(human.stdout).toContain('✘ attestation');
    expect(human.stdout).toMatch(/FAILED: the PCRs were reproduced \(.*\) but verify-receipt rejected the receipt/);
  });

  it('an image that claims the commit but carries a one-byte change to the enclave source: PCR2 (and PCR0) mismatch, named', async () => {
    // A dishonest or careless builder: one byte of enclave code changed, git told to look away,
    // so the bundle still names the clean commit.
    const file = join(builder, 'enclave-app/server.ts');
    const text = readFileSync(file, 'utf8');
    const changed = text.replace('`attested-pack-enclave/', '`attested-pack-enclavE/');
    expect(changed).not.toBe(text);
    writeFileSync(file, changed);
    git(builder, 'update-index', '--assume-unchanged', 'enclave-app/server.ts');
    const { receipt: tampered } = await simulate(builder, 'state-tampered');
    expect((JSON.parse(readFileSync(tampered, 'utf8')) as Receipt).claims.tool.source).toBe(commit);
    const r = await audit(tampered, auditor);
    expect(r.code).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.mismatched).toEqual(['PCR0', 'PCR2']);
    expect(r.json.pcrs.PCR1!.match).toBe(true);
    expect(r.json.problems.join('\n')).toMatch(/^PCR2 differs \(the user ramdisk: the enclave bundle/m);
    expect(r.json.verify).toBeUndefined();
    expect(r.json.error?.code).toBe('AUDIT_PCR_MISMATCH');
    expect(r.json.error?.message).toContain('PCR2 differs');
    const human = await runBin(ATTESTED_PACK_BIN, ['audit', tampered, '--source', auditor]);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('NOT REPRODUCED');
    expect(human.stdout).toContain('PCR2 differs');
  }, 60_000);

  it('refuses a checkout at another commit (exit 2, both commits named)', async () => {
    writeFileSync(join(auditor, 'enclave-app/server.ts'), readFileSync(join(auditor, 'enclave-app/server.ts'), 'utf8') + '\n');
    git(auditor, 'commit', '-qam', 'one more line');
    try {
      const r = await audit(receiptPath, auditor);
      expect(r.code).toBe(2);
      expect(r.json.error?.code).toBe('AUDIT_WRONG_COMMIT');
      expect(r.json.error?.message).toContain(commit);
      expect(r.json.error?.message).toContain(git(auditor, 'rev-parse', 'HEAD'));
      expect(r.json.error?.hint).toContain(`checkout ${commit}`);
    } finally {
      git(auditor, 'reset', '-q', '--hard', commit);
    }
  });

  it('refuses a dirty checkout (exit 2), uncommitted or untracked', async () => {
    const file = join(auditor, 'enclave-app/server.ts');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('`attested-pack-enclave/', '`attested-pack-enclavE/'));
    try {
      const r = await audit(receiptPath, auditor);
      expect(r.code).toBe(2);
      expect(r.json.error?.code).toBe('AUDIT_DIRTY_SOURCE');
    } finally {
      writeFileSync(file, text);
    }
    writeFileSync(join(auditor, 'enclave-app/extra.ts'), 'export {};\n');
    try {
      expect((await audit(receiptPath, auditor)).json.error?.code).toBe('AUDIT_DIRTY_SOURCE');
    } finally {
      await rm(join(auditor, 'enclave-app/extra.ts'));
    }
    expect(git(auditor, 'status', '--porcelain')).toBe('');
  });

  it('refuses a receipt whose image was built from uncommitted changes, and one that names no source', async () => {
    const receipt = JSON.parse(readFileSync(receiptPath, 'utf8')) as Receipt;
    const pki = await SimulatedNsmPki.ephemeral();
    const forge = async (tool: Receipt['claims']['tool'], pcrs: Record<number, string> = {}): Promise<string> => {
      const claims = { ...receipt.claims, tool };
      const doc = await pki.attest({ userData: claimsDigest(claims), nonce: Buffer.from(claims.request.nonce, 'hex'), pcrs });
      const p = join(base, `forged-${Math.random().toString(16).slice(2)}.json`);
      writeFileSync(p, serializeReceipt(buildReceipt(claims, doc)));
      return p;
    };
    const dirty = await audit(await forge({ name: 'attested-pack', version: '0.1.0', source: `${commit}+dirty` }), auditor);
    expect(dirty.code).toBe(1);
    expect(dirty.json.error?.code).toBe('AUDIT_DIRTY_IMAGE');
    const none = await audit(await forge({ name: 'attested-pack', version: '0.1.0' }), auditor);
    expect(none.code).toBe(2);
    expect(none.json.error?.code).toBe('AUDIT_NO_SOURCE');

    // A release image (PCR1 not the synthetic one) needs nitro-cli's blobs: a clear error without them.
    const release = await forge({ name: 'attested-pack', version: '0.1.0', source: commit }, { 0: 'ab'.repeat(48), 1: 'cd'.repeat(48), 2: 'ef'.repeat(48) });
    const r = await runBin(ATTESTED_PACK_BIN, ['audit', release, '--source', auditor, '--blobs', join(base, 'no-blobs-here'), '--json'], { timeoutMs: 60_000 });
    const j = JSON.parse(r.stdout) as AuditJson;
    expect(j.error?.code).toBe('AUDIT_REBUILD_FAILED');
    expect(j.error?.details?.buildErrorCode).toMatch(/^EIF_(BLOB_MISSING|LOCK_INPUT_MISSING)$/);
    expect(r.code).toBe(2);
  });

  it('refuses drift: a lock that no longer matches an input names the input, the locked and the found hash (exit 1)', async () => {
    const lockFile = join(auditor, 'eif-build/image.lock.json');
    const original = readFileSync(lockFile, 'utf8');
    const lock = JSON.parse(original) as { bootBlobs: { synthetic: { files: { init: { sha256: string } } } } };
    const found = lock.bootBlobs.synthetic.files.init.sha256;
    lock.bootBlobs.synthetic.files.init.sha256 = '0'.repeat(64);
    writeFileSync(lockFile, JSON.stringify(lock, null, 2) + '\n');
    git(auditor, 'commit', '-qam', 'drifted lock');
    try {
      // The build refuses the drift, naming the input and both hashes.
      const b = await runBin(join(auditor, 'bin/attested-pack.mjs'), ['eif', 'build', '--locked', 'simulation', '--project-root', auditor, '-o', join(base, 'drift.eif'), '--measurements', join(base, 'drift.json'), '--json']);
      const j = JSON.parse(b.stdout) as AuditJson;
      expect(b.code).toBe(1);
      expect(j.error?.code).toBe('EIF_LOCK_DRIFT');
      expect(j.error?.message).toContain('synthetic init');
      expect(j.error?.message).toContain(`sha256:${'0'.repeat(64)}`);
      expect(j.error?.message).toContain(`sha256:${found}`);
    } finally {
      git(auditor, 'reset', '-q', '--hard', commit);
    }
  });
});
