/**
 * reproducible-build.nix: it parses (Debian's nix-bin, no network needed), it is a function of
 * `{ arch, commit, serveArgs, inputsOnly }`, and its list of pinned inputs — evaluated by
 * nix-instantiate without fetching anything — is exactly what eif-build/image.lock.json pins: the
 * runtime tarball by its npm integrity, every library and toolchain .deb by SHA-256, the boot
 * blobs by git blob id, and the same `eif build --locked release` command. A real build needs the
 * network (nixpkgs, npm, Debian, GitHub) and is documented in the file itself.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseImageLock } from '../../eif-build/lock.js';
import { missingTool } from '../tools.js';
import { eifVectorsDir, repoRoot } from './helpers.js';

const nixFile = join(repoRoot, 'reproducible-build.nix');
const lock = parseImageLock(readFileSync(join(repoRoot, 'eif-build/image.lock.json'), 'utf8'));
const noNix = missingTool('nix-instantiate', 'nix-bin');
/**
 * Single-user nix: Debian's nix-bin without its daemon set-up has no `nixbld` group and warns about
 * it on every call; nothing here builds, so no build users are needed.
 */
const nixEnv = { ...process.env, NIX_CONFIG: 'build-users-group =' };

interface NixInputs {
  cliRev: string;
  blobIds: Record<string, string>;
  buildArgs: string[];
  runtime: { url: string; hash: string };
  libraries: Array<{ urls: string[]; sha256: string }>;
  toolchain: Array<{ urls: string[]; sha256: string }>;
}

function evalInputs(args = '{ inputsOnly = true; }'): NixInputs {
  const r = spawnSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', `(import ${nixFile} ${args})`], { encoding: 'utf8', env: nixEnv });
  expect(r.error).toBeUndefined();
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as NixInputs;
}

describe.skipIf(noNix !== undefined)('reproducible-build.nix (nix-instantiate)', () => {
  it('parses with nix-instantiate --parse', () => {
    const r = spawnSync('nix-instantiate', ['--parse', nixFile], { encoding: 'utf8', env: nixEnv });
    expect(r.error).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
  });

  it('is a function of { arch, commit, serveArgs, inputsOnly }, evaluated without fetching anything', () => {
    const r = spawnSync('nix-instantiate', ['--eval', '--strict', '-E', `builtins.functionArgs (import ${nixFile})`], { encoding: 'utf8', env: nixEnv });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('{ arch = true; commit = true; inputsOnly = true; serveArgs = true; }');
  });

  it('fetches exactly the inputs the lock pins, by the lock hashes, and runs the same locked build', () => {
    const inputs = evalInputs();
    expect(inputs.runtime).toEqual({ url: `https://registry.npmjs.org/${lock.runtime.package}/-/${lock.runtime.package}-${lock.runtime.version}.tgz`, hash: lock.runtime.integrity });
    const libDebs = [...new Set(lock.libraries.map((l) => l.debian.debSha256))].sort();
    expect(inputs.libraries.map((d) => d.sha256).sort()).toEqual(libDebs);
    for (const l of lock.libraries) {
      expect(inputs.libraries.find((d) => d.sha256 === l.debian.debSha256)!.urls).toContain(`https://deb.debian.org/debian/${l.debian.filename}`);
    }
    expect(inputs.toolchain.map((d) => d.sha256).sort()).toEqual(lock.addon.toolchain.debian.map((d) => d.debSha256).sort());
    expect(inputs.toolchain.every((d) => /^[0-9a-f]{64}$/.test(d.sha256))).toBe(true);
    expect(inputs.blobIds).toEqual(Object.fromEntries(Object.entries(lock.bootBlobs.nitroCli.files).map(([k, v]) => [k, v.gitBlobId])));
    expect(lock.bootBlobs.nitroCli.source).toContain(inputs.cliRev);
    expect(inputs.buildArgs.slice(0, 4)).toEqual(['eif', 'build', '--locked', 'release']);
    expect(inputs.buildArgs).toContain('--source-revision');
  });

  it('puts serveArgs into /cmd through --arg, like the documented build', () => {
    const inputs = evalInputs('{ inputsOnly = true; serveArgs = [ "serve" "--kms-region" "us-east-1" ]; }');
    expect(inputs.buildArgs.filter((a) => a.startsWith('--arg='))).toEqual(['--arg=serve', '--arg=--kms-region', '--arg=us-east-1']);
  });

  it('a lock with one library hash changed changes what Nix fetches (the lock is the only source of pins)', () => {
    const text = readFileSync(nixFile, 'utf8');
    // No hash of the lock is copied into the recipe: they are all read from the lock at evaluation.
    for (const l of lock.libraries) expect(text).not.toContain(l.debian.debSha256);
    expect(text).not.toContain(lock.runtime.integrity);
    expect(text).toContain('builtins.fromJSON (builtins.readFile ./eif-build/image.lock.json)');
  });
});

describe('reproducible-build.nix pins', () => {
  it('pins the same nitro-cli commit as the vectors, and the lock the same blob git ids', () => {
    const nix = readFileSync(nixFile, 'utf8');
    const vectors = JSON.parse(readFileSync(join(eifVectorsDir, 'vectors.json'), 'utf8')) as {
      nitro_cli_tests_hello_v1: Record<string, { blob_git_ids?: Record<string, string> }>;
    };
    const current = Object.entries(vectors.nitro_cli_tests_hello_v1).find(([k]) => k.startsWith('at_commit_2950b369'))!;
    const commit = /at_commit_([0-9a-f]{40})/.exec(current[0])![1]!;
    expect(nix).toContain(`cliRev = "${commit}"`);
    const ids = current[1].blob_git_ids!;
    for (const [path, id] of Object.entries(ids)) {
      const [arch, file] = path.split('/') as [string, string];
      if (arch !== lock.arch || file === 'cmdline') continue;
      const name = file === 'bzImage' || file === 'Image' ? 'kernel' : file;
      expect(lock.bootBlobs.nitroCli.files[name]?.gitBlobId, path).toBe(id);
    }
    // Every fetched input carries a hash: no unpinned fetchTarball/fetchGit/fetchurl.
    expect(nix).toMatch(/fetchTarball \{\s*url = "[^"]+\/[0-9a-f]{40}\.tar\.gz";\s*sha256 = "[0-9a-z]{52}";/);
    expect(nix).toMatch(/fetchGit \{ url = "[^"]+"; rev = cliRev; \}/);
    expect(nix).toContain('importNpmLock');
  });
});
