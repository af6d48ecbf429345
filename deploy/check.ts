/**
 * `deploy check DIR`: renders the deploy file again and compares it with what DIR holds, file by
 * file and key by key, so drift between the file and what is deployed is named, never silent:
 *
 * 1. The image: image/cmd.json against the file's /cmd, and the /cmd measurements.json was built
 *    from (buildInputs.cmd) against it too — a pinned value changed without a rebuild means the
 *    running image's PCR2 is not the one the file implies (and KMS refuses the old image once the
 *    policies are re-rendered).
 * 2. Every rendered file: missing, changed (policies compared as JSON, statement by statement,
 *    also when saved from `aws kms get-key-policy`), or a file no key of the deploy file explains.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseMeasurements, type Measurements } from '../common/measurements.js';
import type { DeployConfig } from './file.js';
import { deployKeys, imageCmd, imageCmdText, MEASUREMENTS_FILE, renderDeployment, type DeployKey } from './render.js';

/** One difference between the deploy file and the directory. */
export interface DriftItem {
  /** Path relative to DIR. */
  path: string;
  kind: 'missing' | 'changed' | 'extra' | 'image-not-rebuilt';
  /** The key the file is the policy of, when it is one. */
  key?: string;
  message: string;
}

/** The answer of `deploy check`. */
export interface DriftReport {
  ok: boolean;
  dir: string;
  /** False before the build: only image/ and proxy.yaml were compared. */
  built: boolean;
  compared: string[];
  drift: DriftItem[];
}

/** Compares DIR with what `config` renders. */
export async function checkDeployment(config: DeployConfig, o: { dir: string }): Promise<DriftReport> {
  const drift: DriftItem[] = [];
  const measurementsText = await readFile(join(o.dir, MEASUREMENTS_FILE), 'utf8').catch(() => undefined);
  const measurements: Measurements | undefined = measurementsText === undefined ? undefined : parseMeasurements(measurementsText, join(o.dir, MEASUREMENTS_FILE));
  const rendered = renderDeployment(config, measurements ? { measurements } : {});
  const keyOf = new Map<string, DeployKey>(deployKeys(config).flatMap((k) => [[`policies/${k.name}.json`, k] as const, [`policies/${k.name}.cfn.json`, k] as const]));

  // 1. The image against the file.
  if (measurements) {
    const built = measurements.buildInputs.cmd;
    if (built !== imageCmdText(config)) {
      drift.push({
        path: MEASUREMENTS_FILE,
        kind: 'image-not-rebuilt',
        message:
          built === undefined
            ? 'measurements.json does not record the /cmd it was built with (buildInputs.cmd): build with image/build.sh'
            : `the image was built with another /cmd: ${describeArgDiff(built.split('\n').filter(Boolean), imageCmd(config))}; its PCR2 is not the one the deploy file implies — run image/build.sh, then deploy render`,
      });
    }
  }

  // 2. Every rendered file.
  for (const [path, want] of rendered) {
    const have = await readFile(join(o.dir, path), 'utf8').catch(() => undefined);
    const k = keyOf.get(path);
    const about = k ? { key: k.arn } : {};
    if (have === undefined) {
      drift.push({ path, kind: 'missing', ...about, message: `${path} is missing: run deploy render` });
      continue;
    }
    if (have === want) continue;
    let message: string;
    if (path === 'image/cmd.json') message = `/cmd differs: ${describeArgDiff(parseJsonArray(have), imageCmd(config))}`;
    else if (k && path.endsWith('.json') && !path.endsWith('.cfn.json')) message = `the ${k.purpose} key's policy differs from the deploy file: ${describePolicyDiff(have, want)}`;
    else message = `${path} differs from what the deploy file renders`;
    drift.push({ path, kind: 'changed', ...about, message });
  }
  for (const path of await listFiles(o.dir)) {
    if (path === MEASUREMENTS_FILE || path === 'image/enclave.eif' || rendered.has(path)) continue;
    if (!path.startsWith('policies/') && !path.startsWith('image/') && !path.startsWith('launch/') && path !== 'expectations.json' && path !== 'proxy.yaml') continue;
    drift.push({ path, kind: 'extra', message: `${path} is not rendered from the deploy file (a key removed from it?)` });
  }
  return { ok: drift.length === 0, dir: o.dir, built: measurements !== undefined, compared: [...rendered.keys()], drift };
}

/** Flags present on one side only, e.g. `--envelope a/b=… in the deploy file, not in the image`. */
function describeArgDiff(have: string[], want: string[]): string {
  const pairs = (argv: string[]): string[] => {
    const out: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a.startsWith('--') && i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) out.push(`${a} ${argv[++i]}`);
      else out.push(a);
    }
    return out;
  };
  const h = pairs(have);
  const w = pairs(want);
  const onlyWant = w.filter((x) => !h.includes(x));
  const onlyHave = h.filter((x) => !w.includes(x));
  const parts = [...onlyWant.map((x) => `${short(x)} in the deploy file, not in the image`), ...onlyHave.map((x) => `${short(x)} in the image, not in the deploy file`)];
  return parts.length > 0 ? parts.join('; ') : 'same flags in another order';
}

function short(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

function parseJsonArray(text: string): string[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

/** Statement by statement (by Sid), for a policy file or `aws kms get-key-policy` output. */
function describePolicyDiff(haveText: string, wantText: string): string {
  let have: unknown;
  try {
    have = JSON.parse(haveText);
    const wrapped = (have as { Policy?: unknown } | null)?.Policy;
    if (typeof wrapped === 'string') have = JSON.parse(wrapped);
  } catch {
    return 'the file is not JSON';
  }
  const want = JSON.parse(wantText) as { Statement: Array<{ Sid?: string }> };
  const statements = (have as { Statement?: unknown } | null)?.Statement;
  if (!Array.isArray(statements)) return 'the file has no Statement list';
  const bySid = (list: Array<{ Sid?: string }>): Map<string, string> => new Map(list.map((s, i) => [s.Sid ?? `#${i}`, JSON.stringify(s)]));
  const h = bySid(statements as Array<{ Sid?: string }>);
  const w = bySid(want.Statement);
  const parts: string[] = [];
  for (const [sid, s] of w) {
    if (!h.has(sid)) parts.push(`statement ${sid} missing`);
    else if (h.get(sid) !== s) parts.push(`statement ${sid} changed`);
  }
  for (const sid of h.keys()) if (!w.has(sid)) parts.push(`statement ${sid} not in the deploy file`);
  if (parts.length === 0) return JSON.stringify(have) === JSON.stringify(JSON.parse(wantText)) ? 'only formatting differs' : 'the statements are the same, other fields differ';
  return parts.join(', ');
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

/** People's form of a drift report. */
export function formatDriftReport(r: DriftReport): string {
  const lines = [`deploy check ${r.dir}: compared ${r.compared.length} rendered files${r.built ? '' : ' (not built yet: image/ and proxy.yaml only)'}`];
  for (const d of r.drift) lines.push(`  DRIFT [${d.kind}] ${d.path}${d.key ? ` (key ${d.key})` : ''}: ${d.message}`);
  lines.push(r.ok ? 'Result: no drift' : `Result: ${r.drift.length} difference${r.drift.length === 1 ? '' : 's'}`);
  return lines.join('\n') + '\n';
}
