/**
 * The enclave bundle: self-contained (npm deps inlined, runs with no node_modules), deterministic
 * (identical bytes and metafile from two checkouts in different directories), no absolute paths,
 * no legal comments, no source map; a missing entry or a failing build is a typed error.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleEnclave } from '../../eif-build/bundle.js';
import { tempDir } from './helpers.js';

/** A tiny project: a TS entry, a local module, and an npm dependency (CommonJS, with a license comment). */
async function writeFixture(root: string): Promise<void> {
  await mkdir(join(root, 'app'), { recursive: true });
  await mkdir(join(root, 'node_modules/fixture-dep'), { recursive: true });
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'fixture', type: 'module' }));
  await writeFile(join(root, 'app/lib.ts'), 'export const greet = (n: string): string => `hello ${n}`;\n');
  await writeFile(
    join(root, 'app/main.ts'),
    "import { greet } from './lib.js';\nimport dep from 'fixture-dep';\nconst v: string = await Promise.resolve(dep.digest('x'));\nconsole.log(greet('enclave'), v);\n",
  );
  await writeFile(join(root, 'node_modules/fixture-dep/package.json'), JSON.stringify({ name: 'fixture-dep', version: '1.0.0', main: 'index.js' }));
  await writeFile(
    join(root, 'node_modules/fixture-dep/index.js'),
    "/*! fixture-dep LICENSE: keep-me-out-of-the-bundle */\nconst { createHash } = require('node:crypto');\nexports.digest = (s) => createHash('sha256').update(s).digest('hex').slice(0, 8);\n",
  );
}

let a: { dir: string; cleanup: () => Promise<void> };
let b: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  a = await tempDir('eif-bundle-a-');
  b = await tempDir('eif-bundle-b-other-name-');
  await writeFixture(a.dir);
  await writeFixture(join(b.dir, 'deeper/checkout'));
});
afterAll(async () => {
  await a.cleanup();
  await b.cleanup();
});

describe('bundleEnclave', () => {
  it('is byte-identical across checkout locations, with relative metafile paths and no absolute paths', async () => {
    const ra = await bundleEnclave({ entry: join(a.dir, 'app/main.ts'), outFile: join(a.dir, 'out/enclave.mjs') });
    const rb = await bundleEnclave({ entry: join(b.dir, 'deeper/checkout/app/main.ts'), outFile: join(b.dir, 'elsewhere/x.mjs') });
    const ca = await readFile(ra.bundlePath);
    const cb = await readFile(rb.bundlePath);
    expect(ca.equals(cb)).toBe(true);
    expect(ra.sha256).toBe(rb.sha256);
    expect(await readFile(ra.metafilePath, 'utf8')).toBe(await readFile(rb.metafilePath, 'utf8'));
    expect(Object.keys(ra.metafile.inputs).sort()).toEqual(['app/lib.ts', 'app/main.ts', 'node_modules/fixture-dep/index.js']);
    const text = ca.toString();
    expect(text).not.toContain(a.dir);
    expect(text).not.toContain('/tmp');
    expect(text).not.toContain('keep-me-out-of-the-bundle');
    expect(text).not.toContain('sourceMappingURL');
    expect(text).not.toMatch(/from ['"]fixture-dep['"]|require\(['"]fixture-dep['"]\)/);
  });

  it('runs without node_modules (all npm dependencies inlined)', async () => {
    const r = await bundleEnclave({ entry: join(a.dir, 'app/main.ts'), outFile: join(a.dir, 'out/enclave.mjs') });
    const lone = join(b.dir, 'lone');
    await mkdir(lone);
    await copyFile(r.bundlePath, join(lone, 'enclave.mjs'));
    const out = execFileSync(process.execPath, [join(lone, 'enclave.mjs')], { cwd: lone }).toString().trim();
    expect(out).toBe('hello enclave 2d711642'); // sha256("x") starts 2d711642
  });

  it('reports a missing entry and a failing build as EIF_BUNDLE', async () => {
    await expect(bundleEnclave({ entry: join(a.dir, 'app/nope.ts'), outFile: join(a.dir, 'o.mjs') })).rejects.toMatchObject({ code: 'EIF_BUNDLE' });
    await writeFile(join(a.dir, 'app/broken.ts'), "import { missing } from './does-not-exist.js';\nconsole.log(missing);\n");
    await expect(bundleEnclave({ entry: join(a.dir, 'app/broken.ts'), outFile: join(a.dir, 'o.mjs') })).rejects.toMatchObject({
      code: 'EIF_BUNDLE',
      message: expect.stringContaining('does-not-exist'),
    });
  });

  it('refuses a bundle that embeds the checkout path (it would differ on every machine)', async () => {
    await writeFile(join(a.dir, 'app/leaky.ts'), `export const here = ${JSON.stringify(join(a.dir, 'app/leaky.ts'))};\nconsole.log(here);\n`);
    await expect(bundleEnclave({ entry: join(a.dir, 'app/leaky.ts'), outFile: join(a.dir, 'o.mjs') })).rejects.toMatchObject({
      code: 'EIF_BUNDLE',
      message: expect.stringContaining('absolute path'),
    });
  });
});
