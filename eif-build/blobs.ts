/**
 * Boot blobs: the kernel, its cmdline and `.config`, `init` and `nsm.ko`. Real ones come from
 * nitro-cli's blobs directory (`$NITRO_CLI_BLOBS` or /usr/share/nitro_enclaves/blobs/<arch>),
 * identified by git blob ids; synthetic stand-ins are generated deterministically for machines
 * without them (the local simulation and tests) and are labelled NOT BOOTABLE wherever they appear.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { bufferSource, fileSource, type ByteSource } from './byte-source.js';
import { EifError } from './errors.js';
import type { EifArch } from './header.js';
import { kernelInfoFromConfig } from './metadata.js';

/** Where nitro-cli looks for blobs (CLI src/lib.rs blobs_path). */
export function defaultBlobsDir(arch: EifArch, env: NodeJS.ProcessEnv = process.env): string {
  return env.NITRO_CLI_BLOBS && env.NITRO_CLI_BLOBS !== '' ? env.NITRO_CLI_BLOBS : join('/usr/share/nitro_enclaves/blobs', arch);
}

/** The kernel image file name nitro-cli uses per architecture. */
export function kernelFileName(arch: EifArch): string {
  return arch === 'aarch64' ? 'Image' : 'bzImage';
}

/** The kernel cmdline as nitro-cli puts it in the image: the blob file's text, trimmed. */
export function trimCmdline(text: string): string {
  return text.trim();
}

/** Loaded boot blobs, ready for the writer. */
export interface BootBlobs {
  kernel: ByteSource;
  cmdline: string;
  init: ByteSource;
  nsm?: ByteSource;
  operatingSystem: string;
  kernelVersion: string;
  /** Human-readable provenance recorded in measurements.json buildInputs. */
  synthetic: boolean;
}

/** Explicit blob paths (any omitted one is looked up in the blobs directory). */
export interface BlobPaths {
  kernel?: string;
  cmdline?: string;
  init?: string;
  nsm?: string;
  /** Kernel `.config` for metadata; defaults to `<kernel>.config` when it exists. */
  kernelConfig?: string;
  /** Set to false to build without nsm.ko (kernels with NSM built in). */
  withNsm?: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Loads real boot blobs from explicit paths and/or the blobs directory. */
export async function loadBootBlobs(arch: EifArch, paths: BlobPaths = {}, env: NodeJS.ProcessEnv = process.env): Promise<BootBlobs> {
  const dir = defaultBlobsDir(arch, env);
  const pick = (given: string | undefined, name: string): string => given ?? join(dir, name);
  const kernelPath = pick(paths.kernel, kernelFileName(arch));
  const missing = async (p: string, what: string): Promise<void> => {
    if (!(await exists(p))) {
      throw new EifError('EIF_BLOB_MISSING', `${what} not found at ${p}`, {
        hint: `install aws-nitro-enclaves-cli (blobs in /usr/share/nitro_enclaves/blobs/${arch}), set NITRO_CLI_BLOBS, pass the --kernel/--cmdline/--init/--nsm paths, or use --synthetic-boot-blobs for a non-bootable local image`,
      });
    }
  };
  const cmdlinePath = pick(paths.cmdline, 'cmdline');
  const initPath = pick(paths.init, 'init');
  const nsmPath = pick(paths.nsm, 'nsm.ko');
  await missing(kernelPath, 'kernel');
  await missing(cmdlinePath, 'kernel cmdline');
  await missing(initPath, 'init');
  const withNsm = paths.withNsm ?? true;
  if (withNsm) await missing(nsmPath, 'nsm.ko');
  const configPath = paths.kernelConfig ?? `${kernelPath}.config`;
  const info = (await exists(configPath)) ? kernelInfoFromConfig(await readFile(configPath, 'utf8')) : { OperatingSystem: 'unknown', KernelVersion: 'unknown' };
  return {
    kernel: await fileSource(kernelPath, 'kernel'),
    cmdline: trimCmdline(await readFile(cmdlinePath, 'utf8')),
    init: await fileSource(initPath, 'init'),
    ...(withNsm ? { nsm: await fileSource(nsmPath, 'nsm.ko') } : {}),
    operatingSystem: info.OperatingSystem,
    kernelVersion: info.KernelVersion,
    synthetic: false,
  };
}

/** nitro-cli's blobs/<arch>/cmdline, trimmed (reference eif-format.md §1.4). */
export const NITRO_CLI_CMDLINE: Record<EifArch, string> = {
  x86_64: 'reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on',
  aarch64: 'reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on root=/dev/ram0',
};

/** Version tag of the synthetic stand-ins: changing the generator must change this label. */
export const SYNTHETIC_BLOBS_LABEL = 'attested-pack synthetic boot blobs v1 (NOT BOOTABLE)';

/** Deterministic filler: SHA-256 in counter mode over a label, prefixed by a readable banner. */
function syntheticBytes(label: string, size: number): Buffer {
  const banner = Buffer.from(`${SYNTHETIC_BLOBS_LABEL}: ${label}\n`, 'utf8');
  const out = Buffer.alloc(size);
  banner.copy(out, 0, 0, Math.min(banner.length, size));
  for (let off = banner.length, i = 0; off < size; i++, off += 32) {
    createHash('sha256').update(`${label}/${i}`).digest().copy(out, off, 0, Math.min(32, size - off));
  }
  return out;
}

/**
 * Fixed stand-in kernel/init/nsm.ko bytes (small, so the simulation stays fast) with the real
 * nitro-cli cmdline. The PCRs they give are real measurements of a real EIF layout, but no
 * hypervisor will boot it: PCR1 differs from every AWS value.
 */
export function syntheticBootBlobs(arch: EifArch): BootBlobs {
  return {
    kernel: bufferSource(syntheticBytes(`${arch}/${kernelFileName(arch)}`, 64 * 1024), 'synthetic kernel'),
    cmdline: NITRO_CLI_CMDLINE[arch],
    init: bufferSource(syntheticBytes(`${arch}/init`, 16 * 1024), 'synthetic init'),
    nsm: bufferSource(syntheticBytes(`${arch}/nsm.ko`, 4 * 1024), 'synthetic nsm.ko'),
    operatingSystem: 'synthetic',
    kernelVersion: 'synthetic-not-bootable',
    synthetic: true,
  };
}

/** `git hash-object`: SHA-1 of `blob <size>\0` ‖ bytes, streamed. How AWS blobs are identified. */
export async function gitBlobId(source: ByteSource): Promise<string> {
  const h = createHash('sha1').update(`blob ${source.size}\0`);
  for await (const c of source.chunks()) h.update(c);
  return h.digest('hex');
}

/** SHA-256 of a source, streamed (build inputs in measurements.json). */
export async function sha256Of(source: ByteSource): Promise<string> {
  const h = createHash('sha256');
  for await (const c of source.chunks()) h.update(c);
  return h.digest('hex');
}

/** SHA-256 of a file by path, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(c as Buffer);
  return h.digest('hex');
}
