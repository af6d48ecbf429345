/**
 * reproducible-build.nix: it parses (Debian's nix-bin, no network needed), it is a function of
 * `arch` only, and its pins agree with the vectors (blob git ids, nitro-cli commit). A real build
 * needs the network and is documented in the file itself.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTool } from '../tools.js';
import { eifVectorsDir, repoRoot } from './helpers.js';

const nixFile = join(repoRoot, 'reproducible-build.nix');
const noNix = missingTool('nix-instantiate', 'nix-bin');
/**
 * Single-user nix: Debian's nix-bin without its daemon set-up has no `nixbld` group and warns about
 * it on every call; nothing here builds, so no build users are needed.
 */
const nixEnv = { ...process.env, NIX_CONFIG: 'build-users-group =' };

describe('reproducible-build.nix', () => {
  // .ci/run installs nix-bin and sets ATTESTED_PACK_REQUIRE_TOOLS=1: there a missing nix-instantiate fails.
  it.skipIf(noNix)('parses with nix-instantiate --parse', () => {
    const r = spawnSync('nix-instantiate', ['--parse', nixFile], { encoding: 'utf8', env: nixEnv });
    expect(r.error, 'nix-instantiate is not installed (apt-get install nix-bin)').toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(noNix)('evaluates to a function of { arch ? "x86_64" } without fetching anything', () => {
    const r = spawnSync('nix-instantiate', ['--eval', '--strict', '-E', `builtins.functionArgs (import ${nixFile})`], { encoding: 'utf8', env: nixEnv });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('{ arch = true; }');
  });

  it('pins the same nitro-cli commit and blob git ids as the vectors', () => {
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
      const block = new RegExp(`${arch} = \\{[^}]*"?${file.replace('.', '\\.')}"? = "${id}";`, 's');
      expect(nix, path).toMatch(block);
    }
    // Every fetched input carries a hash: no unpinned fetchTarball/fetchGit/fetchurl.
    expect(nix).toMatch(/fetchTarball \{\s*url = "[^"]+\/[0-9a-f]{40}\.tar\.gz";\s*sha256 = "[0-9a-z]{52}";/);
    expect(nix).toMatch(/fetchGit \{\s*url = "[^"]+";\s*rev = cliRev;/);
    expect(nix).toContain('importNpmLock');
  });
});
