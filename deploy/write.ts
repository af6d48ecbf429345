/**
 * Writes a rendering to disk. The post-build files are written only for measurements built
 * from this very /cmd: rendering policies for an image built with other flags would pin KMS to
 * an image the deploy file does not describe.
 */
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../common/fs.js';
import { parseMeasurements, type Measurements } from '../common/measurements.js';
import { DeployError } from './errors.js';
import { loadDeployFile } from './file.js';
import { imageCmdText, MEASUREMENTS_FILE, renderDeployment } from './render.js';

/** What `deploy render` wrote. */
export interface RenderResult {
  dir: string;
  written: string[];
  built: boolean;
  pcr0?: string;
}

/** Renders `file` into `dir` (post-build files when measurements exist and match the /cmd). */
export async function writeRendered(file: string, dir: string, measurementsPath?: string, rollingFromPath?: string): Promise<RenderResult> {
  const { config } = await loadDeployFile(file);
  const mPath = measurementsPath ?? join(dir, MEASUREMENTS_FILE);
  const mText = await readFile(mPath, 'utf8').catch((err: unknown) => {
    if (measurementsPath !== undefined) throw new DeployError('DEPLOY_NOT_RENDERED', `cannot read --measurements ${measurementsPath}`, { cause: err, hint: 'pass the measurements.json image/build.sh wrote' });
    return undefined;
  });
  const measurements: Measurements | undefined = mText === undefined ? undefined : parseMeasurements(mText, mPath);
  const files = renderDeployment(config);
  if (measurements && measurements.buildInputs.cmd !== imageCmdText(config)) {
    // Still write image/ so the operator can rebuild; refuse the rest.
    await writeAll(dir, new Map([...files].filter(([p]) => p.startsWith('image/') || p === 'proxy.yaml')));
    throw new DeployError('DEPLOY_NOT_RENDERED', `${mPath} is the measurement of an image built with another /cmd than ${file} describes`, {
      category: 'rejected',
      hint: `rebuild with ${join(dir, 'image/build.sh')} (it measures exactly image/cmd.json), then run deploy render again; deploy check ${dir} names the differing flags`,
    });
  }
  if (measurements) {
    const rollingFrom = rollingFromPath === undefined ? undefined : await readPrevious(rollingFromPath);
    const all = renderDeployment(config, { measurements, ...(rollingFrom ? { rollingFrom } : {}) });
    const written = await writeAll(dir, all);
    return { dir, written, built: true, pcr0: measurements.PCR0 };
  }
  if (rollingFromPath !== undefined) {
    throw new DeployError('DEPLOY_NOT_RENDERED', '--rolling-from widens the key policies of a built image, and there is none yet', {
      hint: `build first (${join(dir, 'image/build.sh')} writes ${mPath})`,
    });
  }
  return { dir, written: await writeAll(dir, files), built: false };
}

async function writeAll(dir: string, files: Map<string, string>): Promise<string[]> {
  const written: string[] = [];
  for (const [rel, text] of files) {
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, text);
    if (rel.endsWith('.sh')) await chmod(path, 0o755);
    written.push(path);
  }
  return written;
}

async function readPrevious(path: string): Promise<Measurements> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new DeployError('DEPLOY_NOT_RENDERED', `cannot read --rolling-from ${path}`, { cause: err, hint: 'pass the measurements.json of the image the running instances use' });
  });
  return parseMeasurements(text, path);
}
