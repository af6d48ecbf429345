/**
 * The user ramdisk (ramdisk[1], measured into PCR2): what init expects (reference eif-format.md
 * §3.3) — `/cmd` (argv, one per line), `/env` (KEY=VALUE lines), and `/rootfs/` holding the
 * application root with `dev proc run sys tmp var` — filled with a Node runtime, the enclave
 * bundle and the vsock addon. Laid out canonically rather than docker-export style: byte-sorted
 * paths, every missing parent directory emitted, uid/gid 0, one mtime (SOURCE_DATE_EPOCH or 0),
 * modes normalised (0755 for directories and executables, 0644 otherwise) so that umask, owner
 * and file-system quirks of the build machine never reach the image.
 */
import { lstat, readdir, readlink, mkdir, copyFile, writeFile, chmod, symlink } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { bufferSource, fileSource } from './byte-source.js';
import { cpioArchive, LINUXKIT_INO_START, type CpioArchive, type CpioEntry } from './cpio.js';
import { resolveRuntimeClosure } from './elf.js';
import { EifError } from './errors.js';

/** Where things live inside the enclave. */
export const IMAGE_NODE_PATH = '/usr/bin/node';
export const IMAGE_APP_DIR = '/app';
export const IMAGE_BUNDLE_PATH = '/app/enclave.mjs';
/** Set in /env when an addon is included, so the vsock module can find it without guessing. */
export const ADDON_ENV_VAR = 'ATTESTED_PACK_VSOCK_ADDON';
/** Mount points init uses after chroot (proc, sys, dev, run, tmp) plus var, as nitro-cli adds. */
export const INIT_DIRECTORIES = ['dev', 'proc', 'run', 'sys', 'tmp', 'var'] as const;

/** How the Node runtime gets into the image. */
export type RuntimeChoice =
  /** The given node binary plus its interpreter and shared libraries (ELF DT_NEEDED closure). */
  | { kind: 'include'; nodePath: string; libraryDirs?: string[] }
  /** A node binary plus an explicit list of library files (the locked build: every file checked against the lock). */
  | { kind: 'files'; nodePath: string; libraries: Array<{ imagePath: string; hostPath: string }> }
  /** Not in the image; recorded by hash in buildInputs only (the local simulation). `sha256` skips hashing nodePath. */
  | { kind: 'reference'; nodePath: string; sha256?: string };

/** Everything that goes into the user ramdisk. */
export interface RootfsSpec {
  bundlePath: string;
  /** Native addons (`*.node`) copied next to the bundle. */
  addonPaths?: string[];
  runtime: RuntimeChoice;
  /** Extra KEY=VALUE lines for /env, in order. */
  env?: string[];
  /** argv for /cmd; defaults to `[/usr/bin/node, /app/enclave.mjs]`. */
  cmd?: string[];
}

/** A file the plan takes from the host, for buildInputs and for writing the tree. */
export interface PlannedFile {
  imagePath: string;
  hostPath: string;
  mode: number;
}

/** The laid-out user ramdisk: sorted archive entries plus what they were made of. */
export interface RootfsPlan {
  entries: CpioEntry[];
  /** Files taken from the host (absolute image path → host path). */
  files: PlannedFile[];
  cmd: string;
  env: string;
}

const byteOrder = (a: string, b: string): number => {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
};

function checkLine(value: string, what: string): void {
  if (value === '' || value.includes('\n') || value.includes('\0')) {
    throw new EifError('EIF_ROOTFS', `${what} ${JSON.stringify(value)} must be non-empty and contain no newline or NUL`, {
      hint: 'init splits /cmd and /env on newlines only, without quoting',
    });
  }
}

/**
 * Completes a list of entries with every missing parent directory and sorts it byte-wise
 * (parents sort before their children because a parent is a prefix of the child's path).
 */
export function withParentsSorted(entries: CpioEntry[]): CpioEntry[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const e of entries) {
    const parts = e.name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const existing = byName.get(dir);
      if (existing && existing.kind !== 'dir') throw new EifError('EIF_ROOTFS', `${dir} is both a file and a directory in the image`);
      if (!existing) byName.set(dir, { kind: 'dir', name: dir, mode: 0o755 });
    }
  }
  return [...byName.values()].sort((a, b) => byteOrder(a.name, b.name));
}

/** Lays out the user ramdisk for a bundle, its addons and a runtime choice. */
export async function planRootfs(spec: RootfsSpec): Promise<RootfsPlan> {
  const files: PlannedFile[] = [{ imagePath: IMAGE_BUNDLE_PATH, hostPath: spec.bundlePath, mode: 0o644 }];
  const envLines: string[] = [];
  const addonNames = new Set<string>();
  for (const addon of [...(spec.addonPaths ?? [])].sort(byteOrder)) {
    const name = basename(addon);
    if (!name.endsWith('.node') || addonNames.has(name)) throw new EifError('EIF_ROOTFS', `addon ${addon} must be a uniquely named *.node file`);
    addonNames.add(name);
    files.push({ imagePath: posix.join(IMAGE_APP_DIR, name), hostPath: addon, mode: 0o755 });
  }
  if (addonNames.size === 1) envLines.push(`${ADDON_ENV_VAR}=${posix.join(IMAGE_APP_DIR, [...addonNames][0]!)}`);
  if (spec.runtime.kind === 'include') {
    files.push({ imagePath: IMAGE_NODE_PATH, hostPath: spec.runtime.nodePath, mode: 0o755 });
    for (const f of await resolveRuntimeClosure(spec.runtime.nodePath, spec.runtime.libraryDirs)) {
      files.push({ imagePath: f.imagePath, hostPath: f.hostPath, mode: 0o755 });
    }
  } else if (spec.runtime.kind === 'files') {
    files.push({ imagePath: IMAGE_NODE_PATH, hostPath: spec.runtime.nodePath, mode: 0o755 });
    for (const f of spec.runtime.libraries) files.push({ imagePath: f.imagePath, hostPath: f.hostPath, mode: 0o755 });
  }
  for (const line of spec.env ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(line)) throw new EifError('EIF_ROOTFS', `env entry ${JSON.stringify(line)} must look like KEY=VALUE`);
    checkLine(line, 'env entry');
    envLines.push(line);
  }
  const argv = spec.cmd ?? [IMAGE_NODE_PATH, IMAGE_BUNDLE_PATH];
  if (argv.length === 0) throw new EifError('EIF_ROOTFS', '/cmd needs at least the program to run');
  argv.forEach((a) => checkLine(a, 'cmd argument'));
  const cmd = argv.map((a) => `${a}\n`).join('');
  const env = envLines.map((l) => `${l}\n`).join('');

  const entries: CpioEntry[] = [
    { kind: 'file', name: 'cmd', mode: 0o644, source: bufferSource(Buffer.from(cmd, 'utf8'), '/cmd') },
    { kind: 'file', name: 'env', mode: 0o644, source: bufferSource(Buffer.from(env, 'utf8'), '/env') },
    { kind: 'dir', name: 'rootfs', mode: 0o755 },
    ...INIT_DIRECTORIES.map((d): CpioEntry => ({ kind: 'dir', name: `rootfs/${d}`, mode: 0o755 })),
  ];
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.imagePath)) throw new EifError('EIF_ROOTFS', `two inputs want ${f.imagePath} in the image`);
    seen.add(f.imagePath);
    entries.push({ kind: 'file', name: `rootfs${f.imagePath}`, mode: f.mode, source: await fileSource(f.hostPath, f.imagePath) });
  }
  return { entries: withParentsSorted(entries), files, cmd, env };
}

/** The user ramdisk archive of a plan; `mtime` comes from SOURCE_DATE_EPOCH (or 0). */
export function userRamdisk(entries: CpioEntry[], mtime: number): CpioArchive {
  return cpioArchive(entries, { mtime, inoStart: LINUXKIT_INO_START }, 'user ramdisk');
}

/**
 * Reads a staged user-ramdisk tree (as `eif rootfs --tree DIR` writes it: `cmd`, `env`,
 * `rootfs/…`) into canonical archive entries. Only directories, regular files and symlinks are
 * allowed; ownership, timestamps and permission bits other than "executable" are dropped.
 */
export async function entriesFromTree(dir: string): Promise<CpioEntry[]> {
  const entries: CpioEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort(byteOrder);
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = join(dir, r);
      const st = await lstat(abs);
      if (st.isDirectory()) {
        entries.push({ kind: 'dir', name: r, mode: 0o755 });
        await walk(r);
      } else if (st.isFile()) {
        entries.push({ kind: 'file', name: r, mode: st.mode & 0o111 ? 0o755 : 0o644, source: await fileSource(abs, r) });
      } else if (st.isSymbolicLink()) {
        entries.push({ kind: 'symlink', name: r, target: await readlink(abs) });
      } else {
        throw new EifError('EIF_ROOTFS', `${r} is not a regular file, directory or symlink`, { hint: 'device nodes, sockets and FIFOs cannot go into the image' });
      }
    }
  };
  try {
    await walk('');
  } catch (err) {
    if (err instanceof EifError) throw err;
    throw new EifError('EIF_ROOTFS', `cannot read the rootfs tree ${dir}`, { cause: err });
  }
  const get = (n: string): CpioEntry | undefined => entries.find((e) => e.name === n);
  if (get('cmd')?.kind !== 'file' || get('env')?.kind !== 'file' || get('rootfs')?.kind !== 'dir') {
    throw new EifError('EIF_ROOTFS', `${dir} must contain the files cmd and env and the directory rootfs/`, {
      hint: 'create it with `attested-pack eif rootfs --tree DIR`, or pass the archive with --user-ramdisk',
    });
  }
  return withParentsSorted(entries);
}

/** Materialises a plan as a staged tree (for inspection, or for `eif build --rootfs DIR`); DIR must be new or empty. */
export async function writeTree(plan: RootfsPlan, dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    if ((await readdir(dir)).length > 0) {
      throw new EifError('EIF_ROOTFS', `${dir} is not empty`, { hint: 'write the tree into a new or empty directory' });
    }
    for (const e of plan.entries) {
      const target = join(dir, e.name);
      if (e.kind === 'dir') {
        await mkdir(target, { recursive: true });
        await chmod(target, 0o755);
      } else if (e.kind === 'symlink') {
        await symlink(e.target, target);
      } else {
        const host = plan.files.find((f) => `rootfs${f.imagePath}` === e.name)?.hostPath;
        if (host) await copyFile(host, target);
        else await writeFile(target, e.name === 'cmd' ? plan.cmd : plan.env);
        await chmod(target, e.mode);
      }
    }
  } catch (err) {
    if (err instanceof EifError) throw err;
    throw new EifError('EIF_ROOTFS', `cannot write the rootfs tree to ${dir}`, { cause: err });
  }
}
