/**
 * The enclave application as one self-contained, deterministic ES module: esbuild inlines every
 * npm dependency, emits no source map, no legal comments, no timestamps, and every path it
 * records (the `// path` comments and the metafile) is relative to the project root found above
 * the entry, so the bytes do not depend on where the checkout lives. Native `.node` addons stay
 * external; the rootfs step copies them next to the bundle.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../common/fs.js';
import { formatSourceRevision, parseSourceRevision, sourceRevision } from '../common/git-source.js';
import { EifError } from './errors.js';

/** The default enclave entry, relative to the project root. */
export const DEFAULT_ENCLAVE_ENTRY = 'enclave-app/enclave-main.ts';

/** Inputs for bundleEnclave. */
export interface BundleOptions {
  /** Entry file (absolute, or relative to the current directory). */
  entry: string;
  /** Output file; its metafile is written to `<outFile>.meta.json`. */
  outFile: string;
  /** Project root used for relative paths; default: nearest ancestor of the entry with a package.json. */
  projectRoot?: string;
  /**
   * The source revision stamped into the bundle (enclave-app/source.ts), e.g. `<commit>` or
   * `<commit>+dirty`; default: the project root's git revision when the root is a checkout's top
   * level; `false`: none.
   */
  source?: string | false;
}

/** What bundleEnclave produced. */
export interface BundleResult {
  bundlePath: string;
  metafilePath: string;
  sha256: string;
  /** esbuild's metafile (inputs and outputs, paths relative to the project root). */
  metafile: { inputs: Record<string, unknown>; outputs: Record<string, unknown> };
  /** The source revision stamped in, if any. */
  source?: string;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Nearest directory at or above `start` holding a package.json. */
export async function findProjectRoot(start: string): Promise<string> {
  let dir = resolve(start);
  for (;;) {
    if (await isFile(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new EifError('EIF_BUNDLE', `no package.json above ${start}`, { hint: 'pass --project-root' });
    dir = up;
  }
}

// ESM output with CommonJS dependencies inlined needs a real `require` for Node built-ins.
const BANNER = "import { createRequire as __apCreateRequire } from 'node:module'; const require = __apCreateRequire(import.meta.url);";

/** Bundles the enclave entry into one deterministic file and writes its metafile beside it. */
export async function bundleEnclave(options: BundleOptions): Promise<BundleResult> {
  const entry = resolve(options.entry);
  if (!(await isFile(entry))) {
    throw new EifError('EIF_BUNDLE', `enclave entry ${options.entry} does not exist`, {
      hint: `pass --entry FILE (the default is ${DEFAULT_ENCLAVE_ENTRY} in the project root)`,
    });
  }
  const root = options.projectRoot ? resolve(options.projectRoot) : await findProjectRoot(dirname(entry));
  const relEntry = relative(root, entry);
  if (relEntry.startsWith('..') || isAbsolute(relEntry)) throw new EifError('EIF_BUNDLE', `entry ${entry} is outside the project root ${root}`);
  const source = options.source === false ? undefined : (options.source ?? stampOf(root));
  if (source !== undefined && parseSourceRevision(source) === undefined) {
    throw new EifError('EIF_BUNDLE', `source revision ${JSON.stringify(source)} is not a 40-hex commit (optionally +dirty)`);
  }
  // The project's compiler options, named explicitly: esbuild ignores tsconfig.json files below a
  // node_modules directory, which is where an installed attested-pack lives; without this the same
  // sources would bundle to different bytes (a different PCR0) in a checkout and once installed.
  const tsconfig = join(root, 'tsconfig.json');
  const tsconfigOption = (await isFile(tsconfig)) ? { tsconfig } : {};
  const { build } = await import('esbuild');
  let result;
  try {
    result = await build({
      absWorkingDir: root,
      entryPoints: [relEntry],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      write: false,
      outfile: 'enclave.mjs',
      metafile: true,
      sourcemap: false,
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
      external: ['*.node'],
      banner: { js: BANNER },
      // Symlinked node_modules (a second checkout sharing the first one's) bundle as if installed.
      preserveSymlinks: true,
      define: { __ATTESTED_PACK_SOURCE__: source === undefined ? 'undefined' : JSON.stringify(source) },
      ...tsconfigOption,
    });
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> }).errors ?? [];
    const first = errors[0];
    throw new EifError('EIF_BUNDLE', `esbuild failed: ${first ? `${first.location ? `${first.location.file}:${first.location.line}: ` : ''}${first.text}` : 'unknown error'}`, {
      cause: err,
      details: { errors: errors.length },
    });
  }
  const out = result.outputFiles[0];
  if (!out || result.outputFiles.length !== 1) throw new EifError('EIF_BUNDLE', 'esbuild did not produce exactly one output file');
  const code = Buffer.from(out.contents);
  // A bundle that names the checkout's directory is not reproducible elsewhere. (Only checked for
  // roots at least two levels deep: a root like "/app" is also an ordinary string in code.)
  if (root.split('/').filter((p) => p !== '').length >= 2 && code.includes(root + '/')) {
    throw new EifError('EIF_BUNDLE', `the bundle contains the absolute path ${root}`, {
      hint: 'a dependency embeds build-time paths (__filename-like); it cannot go into a reproducible image',
    });
  }
  const metafile = result.metafile as BundleResult['metafile'];
  const metaPaths = [...Object.keys(metafile.inputs), ...Object.keys(metafile.outputs)];
  if (metaPaths.some((p) => isAbsolute(p))) {
    throw new EifError('EIF_BUNDLE', 'the esbuild metafile contains absolute paths (an input lies outside the project root)');
  }
  const metaText = JSON.stringify(metafile, null, 2) + '\n';
  const metafilePath = `${options.outFile}.meta.json`;
  await writeFileAtomic(options.outFile, code);
  await writeFileAtomic(metafilePath, metaText);
  return { bundlePath: options.outFile, metafilePath, sha256: createHash('sha256').update(code).digest('hex'), metafile, ...(source === undefined ? {} : { source }) };
}

/** Where `npm run build` records the checkout's revision, for installed packages (which have no .git). */
export const SOURCE_REVISION_FILE = 'dist/source-revision.txt';

/**
 * The git revision of `root` when it is the top level of a checkout (not a folder inside another
 * project's repository); otherwise what the build recorded in dist/source-revision.txt (an
 * installed package), if anything.
 */
function stampOf(root: string): string | undefined {
  const r = sourceRevision(root);
  const top = r === undefined ? undefined : spawnSync('git', ['-C', root, 'rev-parse', '--show-toplevel'], { encoding: 'utf8' }).stdout?.trim();
  if (r !== undefined && top !== undefined && realpathSync(top) === realpathSync(root)) return formatSourceRevision(r);
  if (r !== undefined) return undefined;
  try {
    const recorded = readFileSync(join(root, SOURCE_REVISION_FILE), 'utf8').trim();
    return parseSourceRevision(recorded) === undefined ? undefined : recorded;
  } catch {
    return undefined;
  }
}

/** SHA-256 of an existing bundle file (for buildInputs when the bundle was made earlier). */
export async function bundleSha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}
