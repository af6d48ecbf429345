/**
 * Step 2 of the simulation: bundle the enclave application with eif-build and measure it with
 * the /cmd the child runs with, so the PCRs the simulated NSM reports (and the key policies
 * name) are the real measurements of the code AND the flags the enclave child is about to run
 * (PCR2 pins its envelopes, source keys and sealed key). Writes the bundle and measurements.json.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurements } from '../../common/measurements.js';
import { bundleEnclave, DEFAULT_ENCLAVE_ENTRY, findProjectRoot, measureEnclaveBundle, readImageLock, IMAGE_LOCK_PATH } from '../../eif-build/index.js';

/** What was built and measured. */
export interface MeasuredEnclave {
  bundlePath: string;
  bundleSha256: string;
  measurementsPath: string;
  measurements: Measurements;
  /** The measured /cmd (node, /app/enclave.mjs, then the serve flags). */
  cmd: string[];
}

/** The enclave entry of this checkout (found from this module's location, not the current directory). */
export async function defaultEnclaveEntry(): Promise<string> {
  const root = await findProjectRoot(dirname(fileURLToPath(import.meta.url)));
  return join(root, DEFAULT_ENCLAVE_ENTRY);
}

/**
 * Bundles `entry` to `bundlePath` and writes the measurements of that bundle and of `cmd` — the
 * /cmd the child runs with, flags included — to `measurementsPath`.
 */
export async function bundleAndMeasure(o: { entry: string; bundlePath: string; measurementsPath: string; cmd: string[] }): Promise<MeasuredEnclave> {
  const bundle = await bundleEnclave({ entry: o.entry, outFile: o.bundlePath });
  const measurements = await measureBundle(bundle.bundlePath, o.measurementsPath, o.cmd);
  return { bundlePath: bundle.bundlePath, bundleSha256: bundle.sha256, measurementsPath: o.measurementsPath, measurements, cmd: o.cmd };
}

/**
 * Measures an existing bundle (e.g. after editing one byte of it) with its /cmd and writes
 * measurements.json. The runtime the simulation image references is the locked one
 * (eif-build/image.lock.json), by hash, not whatever node runs the simulation: the image is the one
 * `attested-pack audit` rebuilds.
 */
export async function measureBundle(bundlePath: string, measurementsPath: string, cmd?: string[]): Promise<Measurements> {
  const runtime = await lockedRuntimeSha256();
  return measureEnclaveBundle({ bundlePath, measurementsFile: measurementsPath, ...(cmd ? { cmd } : {}), ...(runtime ? { runtimeSha256: runtime } : {}) });
}

async function lockedRuntimeSha256(): Promise<string | undefined> {
  try {
    const root = await findProjectRoot(dirname(fileURLToPath(import.meta.url)));
    return (await readImageLock(join(root, IMAGE_LOCK_PATH))).runtime.sha256;
  } catch {
    return undefined;
  }
}
