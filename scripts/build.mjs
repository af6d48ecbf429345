// Bundles the CLIs with esbuild into dist/ (npm dependencies stay external and load from
// node_modules). Deterministic output; runs in well under a second. The enclave image bundle is
// a separate, fully self-contained build made by `attested-pack eif bundle` (eif-build/).
import { build } from 'esbuild';
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await rm(join(root, 'dist', 'chunks'), { recursive: true, force: true });
await mkdir(join(root, 'dist'), { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
  // Lets bundled ESM code use require() for CommonJS-only dependencies.
  banner: { js: "import { createRequire as __apCreateRequire } from 'node:module'; const require = __apCreateRequire(import.meta.url);" },
};

await Promise.all([
  // Code splitting keeps each command's `await import(...)` lazy, so `--help` or `pack` does not
  // load fastify, the AWS SDK and everything else at start.
  build({
    ...common,
    entryPoints: { cli: 'cli/entry.ts' },
    outdir: 'dist',
    splitting: true,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
  }),
  // The auditor CLI is bundled with its dependencies (one file, no module resolution at start):
  // about half the cold start of the external-packages build.
  build({ ...common, packages: 'bundle', entryPoints: ['verify-receipt/entry.ts'], outfile: 'dist/verify-receipt.mjs' }),
]);

// The source revision an installed package was built from (a checkout's commit, `+dirty` with
// uncommitted changes): `eif bundle` stamps it into enclave bundles made from an installed
// package, where there is no .git to ask (eif-build/bundle.ts). Only written in a checkout.
{
  const { spawnSync } = await import('node:child_process');
  const { realpathSync, writeFileSync } = await import('node:fs');
  const git = (...args) => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8', env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } });
  const top = git('rev-parse', '--show-toplevel');
  const head = git('rev-parse', 'HEAD');
  if (top.status === 0 && head.status === 0 && realpathSync(top.stdout.trim()) === realpathSync(root)) {
    const dirty = git('status', '--porcelain').stdout.trim() !== '';
    writeFileSync(join(root, 'dist', 'source-revision.txt'), `${head.stdout.trim()}${dirty ? '+dirty' : ''}\n`);
  }
}
