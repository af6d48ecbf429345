/**
 * Measurements for the local simulation: the real PCRs of a real EIF built around the actual
 * enclave bundle, computed in memory (nothing written) in well under a second.
 *
 * Decision: the simulated image holds the bundle, the vsock addon, /cmd, /env and init's
 * directories, with synthetic (NOT BOOTABLE) boot blobs. The ~100 MB Node runtime is not put in
 * the simulated image; it is referenced by SHA-256 in buildInputs.nodeRuntime. Changing any byte
 * of the enclave code therefore changes PCR0 and PCR2, which is what the simulated key policy keys on.
 */
import type { Measurements } from '../common/measurements.js';
import { buildEif } from './build.js';
import type { EifSigner } from './eif-writer.js';
import type { EifArch } from './header.js';
import { IMAGE_FILE_TIMESTAMP } from './lock.js';

/** Options of measureEnclaveBundle. */
export interface MeasureEnclaveOptions {
  /** The esbuild bundle (from bundleEnclave). */
  bundlePath: string;
  /** Native addons copied next to the bundle (e.g. vsock/native/build/Release/vsock.node). */
  addonPaths?: string[];
  /** Extra KEY=VALUE lines for /env. */
  env?: string[];
  /** argv for /cmd (default `/usr/bin/node /app/enclave.mjs`); the simulation passes the flags it runs with. */
  cmd?: string[];
  arch?: EifArch;
  signer?: EifSigner;
  /** Node runtime referenced by hash; default: the running node. */
  nodePath?: string;
  /** SHA-256 of the referenced runtime (e.g. the locked one), instead of hashing nodePath. */
  runtimeSha256?: string;
  /** Default: the locked file timestamp (0), whatever SOURCE_DATE_EPOCH says, so `attested-pack audit` rebuilds the same PCRs. */
  buildTimeEpoch?: number;
  /** Also write the image and measurements.json (optional; the simulator does not need them). */
  outFile?: string;
  measurementsFile?: string;
}

/** The simulated measurements of an enclave bundle (synthetic boot blobs, runtime by reference). */
export async function measureEnclaveBundle(options: MeasureEnclaveOptions): Promise<Measurements> {
  const r = await buildEif({
    arch: options.arch ?? 'x86_64',
    boot: { kind: 'synthetic' },
    user: {
      kind: 'spec',
      spec: {
        bundlePath: options.bundlePath,
        ...(options.addonPaths ? { addonPaths: options.addonPaths } : {}),
        ...(options.env ? { env: options.env } : {}),
        ...(options.cmd ? { cmd: options.cmd } : {}),
        runtime: { kind: 'reference', nodePath: options.nodePath ?? process.execPath, ...(options.runtimeSha256 ? { sha256: options.runtimeSha256 } : {}) },
      },
    },
    ...(options.signer ? { signer: options.signer } : {}),
    buildTimeEpoch: options.buildTimeEpoch ?? IMAGE_FILE_TIMESTAMP,
    ...(options.outFile ? { outFile: options.outFile } : {}),
    ...(options.measurementsFile ? { measurementsFile: options.measurementsFile } : {}),
  });
  return r.measurements;
}
