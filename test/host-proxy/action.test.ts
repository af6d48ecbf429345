/**
 * action.yml (the GitHub Action wrapping `attested-pack pack`): it parses, every input it uses
 * is declared, inputs reach the script only through env (no `${{ }}` inside `run:`), the pack
 * step authenticates with the job's OIDC token, and the flags it passes are ones the CLI knows.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildProgram } from '../../cli/main.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}

describe('action.yml', () => {
  it('is a composite action whose pack step is wired safely to the CLI', async () => {
    const text = await readFile(`${root}action.yml`, 'utf8');
    const action = parse(text) as { inputs: Record<string, { required?: boolean }>; outputs: Record<string, { value: string }>; runs: { using: string; steps: Step[] } };
    expect(action.runs.using).toBe('composite');
    for (const name of ['proxy', 'identity', 'environment']) expect(action.inputs[name]?.required).toBe(true);

    const used = [...text.matchAll(/\$\{\{\s*inputs\.([a-z0-9-]+)\s*\}\}/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(Object.keys(action.inputs)).toContain(name);
    for (const name of Object.keys(action.inputs)) expect(used).toContain(name);

    const pack = action.runs.steps.find((s) => s.id === 'pack');
    expect(pack?.run).toBeDefined();
    expect(pack?.run).not.toMatch(/\$\{\{/);
    expect(pack?.run).toContain('--github-oidc "$AP_AUDIENCE"');
    for (const [, v] of Object.entries(action.outputs)) expect(v.value).toMatch(/^\$\{\{ steps\.pack\.outputs\.[a-z0-9-]+ \}\}$/);

    const flags = [...(pack?.run ?? '').matchAll(/(--[a-z-]+)/g)].map((m) => m[1]);
    const packCommand = buildProgram().commands.find((c) => c.name() === 'pack');
    const known = new Set(packCommand?.options.map((o) => o.long));
    for (const f of flags) expect(known.has(f), `${f} is a pack flag`).toBe(true);
  });

  it('requires measurements: the pack step fails loudly without them instead of skipping verification', async () => {
    const action = parse(await readFile(`${root}action.yml`, 'utf8')) as { inputs: Record<string, { required?: boolean; default?: string }>; runs: { steps: Step[] } };
    expect(action.inputs.measurements?.required).toBe(true);
    expect(action.inputs.measurements?.default).toBeUndefined();
    const run = action.runs.steps.find((s) => s.id === 'pack')!.run!;
    // --measurements is passed unconditionally…
    expect(run).toMatch(/^\s*args\+=\(--measurements "\$AP_MEASUREMENTS"\)$/m);
    // …and an empty input stops the step (bash runs the real script; it exits before node starts).
    const env = { PATH: process.env.PATH ?? '', AP_PROXY: 'https://packer.invalid', AP_IDENTITY: 'api', AP_ENVIRONMENT: 'dev', AP_AUDIENCE: 'attested-pack', AP_OUT: '', AP_RECEIPT: '', AP_MEASUREMENTS: '', AP_ROOT: '', AP_SIGNING: 'none', AP_TTL: '', AP_RETRIES: '0', AP_ALLOW_DIRTY: 'false', RUNNER_TEMP: '/nonexistent', GITHUB_ACTION_PATH: '/nonexistent' };
    const r = spawnSync('bash', ['-c', run], { env, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/^::error title=attested-pack::the measurements input is required/m);
  });
});
