/**
 * The whole image build as one call: boot blobs (real or synthetic) → bootstrap ramdisk, user
 * ramdisk (from a bundle plan, a staged tree or a ready archive) → EIF → measurements.json.
 * Every input is recorded by hash in `buildInputs` so an auditor can see what was measured.
 */
import { stat } from 'node:fs/promises';
import type { Measurements } from '../common/measurements.js';
import { writeFileAtomic } from '../common/fs.js';
import { bootstrapRamdisk } from './bootstrap-ramdisk.js';
import { fileSource, type ByteSource } from './byte-source.js';
import { gitBlobId, loadBootBlobs, sha256Of, SYNTHETIC_BLOBS_LABEL, syntheticBootBlobs, type BlobPaths, type BootBlobs } from './blobs.js';
import { writeEif, type EifPcrs, type EifSigner } from './eif-writer.js';
import type { EifArch } from './header.js';
import { buildMetadata, sourceDateEpoch, BUILD_TOOL, BUILD_TOOL_VERSION } from './metadata.js';
import { entriesFromTree, planRootfs, userRamdisk, IMAGE_NODE_PATH, type RootfsSpec } from './rootfs.js';
import { EifError } from './errors.js';
import type { CpioEntry } from './cpio.js';

/** Which boot blobs to use. */
export type BootChoice =
  /** nitro-cli's blobs: explicit paths, else $NITRO_CLI_BLOBS, else /usr/share/nitro_enclaves/blobs/<arch>. */
  | { kind: 'blobs'; paths?: BlobPaths; env?: NodeJS.ProcessEnv }
  /** Deterministic NOT BOOTABLE stand-ins (local simulation, tests). */
  | { kind: 'synthetic' }
  /** Already loaded blobs. */
  | { kind: 'loaded'; blobs: BootBlobs };

/** Where the user ramdisk comes from. */
export type UserRamdiskChoice =
  | { kind: 'spec'; spec: RootfsSpec }
  | { kind: 'tree'; dir: string }
  | { kind: 'archive'; path: string };

/** Options of buildEif. */
export interface BuildEifOptions {
  arch?: EifArch;
  boot: BootChoice;
  user: UserRamdiskChoice;
  /** Write the image here; omit to only measure (nothing is written). */
  outFile?: string;
  /** Write measurements.json here (atomically). */
  measurementsFile?: string;
  signer?: EifSigner;
  /** Seconds since the epoch for metadata and the user ramdisk mtime; default SOURCE_DATE_EPOCH or 0. */
  buildTimeEpoch?: number;
  imageName?: string;
  imageVersion?: string;
  /** Extra entries for buildInputs (e.g. the bundle's git commit). */
  extraBuildInputs?: Record<string, string>;
}

/** What buildEif produced. */
export interface BuildEifResult {
  eifPath?: string;
  measurements: Measurements;
  pcrs: EifPcrs;
  size: number;
}

const sha = (hex: string): string => `sha256:${hex}`;

async function describeBlob(name: string, source: ByteSource, inputs: Record<string, string>): Promise<void> {
  inputs[name] = sha(await sha256Of(source));
  inputs[`${name}.gitBlobId`] = await gitBlobId(source);
}

/** Builds (or, without outFile, only measures) an enclave image and its measurements. */
export async function buildEif(options: BuildEifOptions): Promise<BuildEifResult> {
  const arch = options.arch ?? 'x86_64';
  const epoch = options.buildTimeEpoch ?? sourceDateEpoch();
  const blobs =
    options.boot.kind === 'synthetic' ? syntheticBootBlobs(arch) : options.boot.kind === 'loaded' ? options.boot.blobs : await loadBootBlobs(arch, options.boot.paths, options.boot.env);
  const inputs: Record<string, string> = {
    tool: `${BUILD_TOOL} ${BUILD_TOOL_VERSION}`,
    bootBlobs: blobs.synthetic ? SYNTHETIC_BLOBS_LABEL : 'nitro-cli blobs',
    buildTime: String(epoch),
    cmdline: blobs.cmdline,
  };
  await describeBlob('kernel', blobs.kernel, inputs);
  await describeBlob('init', blobs.init, inputs);
  if (blobs.nsm) await describeBlob('nsm.ko', blobs.nsm, inputs);
  const bootstrap = bootstrapRamdisk({ init: blobs.init, ...(blobs.nsm ? { nsm: blobs.nsm } : {}) });

  let user: ByteSource;
  if (options.user.kind === 'archive') {
    user = await fileSource(options.user.path, 'user ramdisk');
  } else {
    let entries: CpioEntry[];
    if (options.user.kind === 'tree') {
      entries = await entriesFromTree(options.user.dir);
    } else {
      const spec = options.user.spec;
      const plan = await planRootfs(spec);
      entries = plan.entries;
      for (const f of plan.files) inputs[`file:${f.imagePath}`] = sha(await sha256Of(await fileSource(f.hostPath, f.imagePath)));
      if (spec.runtime.kind === 'reference') {
        inputs.nodeRuntime = `${sha(spec.runtime.sha256 ?? (await cachedFileSha256(spec.runtime.nodePath)))} (referenced, NOT in the image: would be ${IMAGE_NODE_PATH})`;
      }
      inputs.cmd = plan.cmd;
      inputs.env = plan.env;
    }
    user = userRamdisk(entries, epoch);
  }

  const metadata = buildMetadata({
    imageName: options.imageName ?? 'attested-pack-enclave',
    imageVersion: options.imageVersion ?? BUILD_TOOL_VERSION,
    buildTimeEpoch: epoch,
    operatingSystem: blobs.operatingSystem,
    kernelVersion: blobs.kernelVersion,
  });
  const written = await writeEif(
    { arch, kernel: blobs.kernel, cmdline: blobs.cmdline, metadata, ramdisks: [bootstrap, user], ...(options.signer ? { signer: options.signer } : {}) },
    options.outFile,
  );
  // Sections in file order: kernel, cmdline, metadata, bootstrap ramdisk, user ramdisk[, signature].
  inputs.bootstrapRamdisk = sha(written.sectionSha256[3]!);
  inputs.userRamdisk = sha(written.sectionSha256[4]!);
  Object.assign(inputs, options.extraBuildInputs ?? {});
  const buildInputs = Object.fromEntries(Object.entries(inputs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const measurements: Measurements = {
    PCR0: written.pcrs.PCR0,
    PCR1: written.pcrs.PCR1,
    PCR2: written.pcrs.PCR2,
    ...(written.pcrs.PCR8 ? { PCR8: written.pcrs.PCR8 } : {}),
    eifSha256: written.eifSha256,
    arch,
    buildInputs,
  };
  if (options.measurementsFile) await writeMeasurements(options.measurementsFile, measurements);
  return { ...(written.path ? { eifPath: written.path } : {}), measurements, pcrs: written.pcrs, size: written.size };
}

/** Writes measurements.json atomically, in a fixed key order. */
export async function writeMeasurements(path: string, m: Measurements): Promise<void> {
  const ordered = {
    PCR0: m.PCR0,
    PCR1: m.PCR1,
    PCR2: m.PCR2,
    ...(m.PCR8 ? { PCR8: m.PCR8 } : {}),
    eifSha256: m.eifSha256,
    arch: m.arch,
    buildInputs: m.buildInputs,
  };
  await writeFileAtomic(path, JSON.stringify(ordered, null, 2) + '\n');
}

const shaCache = new Map<string, string>();

/** SHA-256 of a large file (the node binary), cached per path, size and mtime within the process. */
async function cachedFileSha256(path: string): Promise<string> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new EifError('EIF_RUNTIME', `node runtime ${path} not found`, { cause: err });
  }
  const key = `${path}\0${st.size}\0${st.mtimeMs}`;
  const hit = shaCache.get(key);
  if (hit) return hit;
  const v = await sha256Of(await fileSource(path, 'node runtime'));
  shaCache.set(key, v);
  return v;
}
