/**
 * The vsock/NSM addon, compiled for the image the same way on every machine: one `cc` call on
 * vsock/native/vsock.c and aes_gcm.c against the N-API headers of the pinned Node runtime (its npm package
 * ships `include/node`), fixed flags, no debug information, build paths mapped away, in a
 * temporary directory. node-gyp is not used: its Makefile adds host-dependent flags and paths.
 * With the same compiler and binutils (Debian bookworm's gcc-12 12.2.0-14+deb12u1 and
 * binutils 2.40, recorded in the lock) the output is byte-identical; the locked build compares
 * its SHA-256 with the lock and refuses anything else.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { EifError } from './errors.js';

/** The addon's file name inside /app (what vsock/ loads via ATTESTED_PACK_VSOCK_ADDON). */
export const ADDON_FILE_NAME = 'attested_pack_vsock.node';
/** Its sources, relative to the project root. */
export const ADDON_SOURCES = ['vsock/native/vsock.c', 'vsock/native/aes_gcm.c'] as const;
/** The compiler flags (binding.gyp's, plus what makes the output independent of the build directory). */
export const ADDON_CFLAGS = [
  '-std=gnu11',
  '-O2',
  '-fPIC',
  '-fvisibility=hidden',
  '-Wall',
  '-Wextra',
  '-Werror=implicit-function-declaration',
  '-shared',
  '-Wl,--build-id=sha1',
  '-Wl,-z,noexecstack',
] as const;

/** What compiled the addon: `cc --version` and `ld --version`, first lines. */
export interface Toolchain {
  compiler: string;
  linker: string;
}

function firstLine(command: string, args: string[]): string | undefined {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined || r.status !== 0) return undefined;
  return (r.stdout ?? '').split('\n')[0]!.trim();
}

/** The toolchain on this machine (`$CC` or cc), or undefined without a C compiler. */
export function detectToolchain(cc = process.env.CC || 'cc'): Toolchain | undefined {
  const compiler = firstLine(cc, ['--version']);
  if (compiler === undefined) return undefined;
  return { compiler, linker: firstLine('ld', ['--version']) ?? 'unknown' };
}

/** Compiles the addon; returns its bytes and the toolchain that made them. */
export async function compileAddon(o: { projectRoot: string; nodeIncludeDir: string; cc?: string }): Promise<{ bytes: Buffer; sha256: string; toolchain: Toolchain }> {
  const cc = o.cc ?? (process.env.CC || 'cc');
  const toolchain = detectToolchain(cc);
  if (toolchain === undefined) {
    throw new EifError('EIF_LOCK_INPUT_MISSING', `no C compiler (${cc}) to build the vsock addon for the image`, {
      hint: 'install gcc (Debian bookworm: apt-get install gcc-12=12.2.0-14+deb12u1 binutils libc6-dev), the toolchain the lock records',
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'attested-pack-addon-'));
  try {
    for (const src of ADDON_SOURCES) await copyFile(join(o.projectRoot, src), join(dir, src.split('/').pop()!));
    const args = [
      ...ADDON_CFLAGS,
      `-I${o.nodeIncludeDir}`,
      `-ffile-prefix-map=${dir}=.`,
      `-ffile-prefix-map=${o.nodeIncludeDir}=/node/include/node`,
      '-o',
      ADDON_FILE_NAME,
      ...ADDON_SOURCES.map((s) => s.split('/').pop()!),
    ];
    const r = spawnSync(cc, args, { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, LC_ALL: 'C', SOURCE_DATE_EPOCH: '0' } });
    if (r.error !== undefined || r.status !== 0) {
      throw new EifError('EIF_BUNDLE', `compiling the vsock addon failed: ${(r.stderr ?? String(r.error)).split('\n').slice(0, 3).join(' ')}`, {
        hint: `command: ${cc} ${args.join(' ')}`,
      });
    }
    const bytes = await readFile(join(dir, ADDON_FILE_NAME));
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), toolchain };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
