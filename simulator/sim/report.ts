/**
 * The account `attested-pack sim` prints for people: each check as ✔ / ✘ / — with its evidence,
 * what was packed and where it is, and what to try next. `--json` prints the summary instead.
 */
import { join, relative } from 'node:path';
import type { SimSummary } from './run.js';

const SYMBOL = { pass: '✔', fail: '✘', skipped: '—' } as const;
const COLOUR = { pass: '\x1b[32m', fail: '\x1b[31m', skipped: '\x1b[2m' } as const;
const RESET = '\x1b[0m';
const BOLD = '\x1b[1m';

/** A path relative to the current directory when that is shorter (for commands people copy). */
export function displayPath(p: string, cwd: string = process.cwd()): string {
  const r = relative(cwd, p);
  return r !== '' && !r.startsWith('../../') && r.length < p.length ? r : p;
}

/** Quotes one shell word when it needs quoting. */
export function shellWord(w: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

function command(words: readonly string[]): string {
  return words.map(shellWord).join(' ');
}

/** The human account of a run. `projectRoot` locates bin/ for the commands shown. */
export function formatSimAccount(s: SimSummary, o: { colour: boolean; projectRoot: string }): string {
  const paint = (code: string, text: string): string => (o.colour ? `${code}${text}${RESET}` : text);
  const lines: string[] = [];
  const reused = s.reused
    ? Object.entries(s.reused)
        .filter(([, v]) => v)
        .map(([k]) => ({ kmsState: 'KMS state', nsmPki: 'NSM PKI', keys: 'keys', demoRepo: 'demo repo', sealedKey: 'sealed key' })[k] ?? k)
    : [];
  lines.push(`${paint(BOLD, 'attested-pack sim')} — state ${displayPath(s.stateDir)}${reused.length ? ` (reused: ${reused.join(', ')})` : ' (new)'}`);
  lines.push('');
  const width = Math.min(36, Math.max(...s.checks.map((c) => c.title.length)));
  for (const c of s.checks) {
    const mark = paint(COLOUR[c.status], SYMBOL[c.status]);
    lines.push(`  ${mark} ${c.title.padEnd(width)}  ${c.code && c.status === 'fail' ? `[${c.code}] ` : ''}${c.evidence}`);
  }
  lines.push('');
  const bin = (name: string): string[] => ['node', displayPath(join(o.projectRoot, 'bin', name))];

  if (s.artifact && s.receipt) {
    lines.push(`Packed ${s.identity}/${s.environment} from ${displayPath(s.demoRepo ?? '')} at ${s.commit?.slice(0, 12) ?? '?'}:`);
    lines.push(`  artifact      ${displayPath(s.artifact)}`);
    lines.push(`  receipt       ${displayPath(s.receipt)}`);
    if (s.measurements) lines.push(`  measurements  ${displayPath(s.measurements)}`);
    lines.push(`  NSM root      ${displayPath(s.nsmRoot)} (the simulation's trust anchor; on AWS it is the Nitro root G1)`);
    lines.push('');
  }
  const passed = s.checks.filter((c) => c.status === 'pass').length;
  const failed = s.checks.filter((c) => c.status === 'fail');
  if (s.ok) {
    lines.push(paint(BOLD, `Every check passed (${passed} ✔).`));
  } else {
    lines.push(paint(BOLD, `${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}.`));
    if (s.error?.hint) lines.push(`hint: ${s.error.hint}`);
    if (failed.some((c) => c.code === 'KMS_ACCESS_DENIED')) {
      lines.push('KMS refused the enclave: the key policies name other measurements than the code that ran.');
      lines.push(`Run ${command(['npm', 'start'])} (or ${command([...bin('attested-pack.mjs'), 'sim'])}) to regenerate the policies for this build.`);
    }
  }

  if (s.services) {
    lines.push('');
    lines.push(paint(BOLD, 'Services are up (Ctrl-C stops them):'));
    lines.push(`  host proxy  ${s.services.proxy}   bearer token ${s.services.token}`);
    lines.push(`  KMS         ${s.services.kms}   (simulator demo credentials, see README "KMS simulator")`);
    lines.push(`  enclave     ${s.services.enclave}   (pid ${s.services.enclavePid})`);
    lines.push('  pack yourself:');
    lines.push(
      `    ATTESTED_PACK_TOKEN=${s.services.token} ${command([
        ...bin('attested-pack.mjs'),
        'pack',
        '--proxy',
        s.services.proxy,
        '--identity',
        s.identity,
        '--environment',
        s.environment,
        '--repo',
        displayPath(s.demoRepo ?? ''),
        '--repository',
        s.repository,
        '--signing',
        'sealed',
        '--out',
        displayPath(join(s.stateDir, 'out', 'mine.json')),
        ...(s.measurements ? ['--measurements', displayPath(s.measurements), '--root', displayPath(s.nsmRoot)] : []),
      ])}`,
    );
  }

  if (s.ok && s.receipt && s.verifyReceiptArgs) {
    const tampered = join(s.stateDir, 'out', 'tampered.receipt.json');
    const args = s.verifyReceiptArgs.map((a) => (a === s.receipt ? displayPath(tampered) : a.startsWith('/') ? displayPath(a) : a));
    lines.push('');
    lines.push(paint(BOLD, 'Try next:'));
    lines.push('  • Change one claim in the receipt and watch verification fail:');
    lines.push(`      sed 's/"environment": "production"/"environment": "dev"/' ${shellWord(displayPath(s.receipt))} > ${shellWord(displayPath(tampered))}`);
    lines.push(`      ${command([...bin('verify-receipt.mjs'), ...args])}`);
    // A checkout runs `npm start`; an installed package (under node_modules) runs its own bin, and
    // its enclave sources are named by their full path.
    const installed = o.projectRoot.split(/[\\/]/).includes('node_modules');
    const start = installed ? 'attested-pack sim' : 'npm start --';
    const server = installed ? displayPath(join(o.projectRoot, 'enclave-app', 'server.ts')) : 'enclave-app/server.ts';
    lines.push('  • Change one byte of the enclave code and watch KMS refuse:');
    lines.push(`      edit a string in ${server} (e.g. the log event "pack.ok" → "pack.OK"), then`);
    lines.push(`      ${`${start} --keep-policies`.padEnd(30)} # policies still name the old PCR0 → KMS_ACCESS_DENIED`);
    lines.push(`      ${(installed ? start : 'npm start').padEnd(30)} # policies regenerated for the new measurements → ✔`);
    if (!s.services) lines.push(`  • Keep the services up and pack by hand: ${start} --keep-running`);
  }
  return lines.join('\n') + '\n';
}
