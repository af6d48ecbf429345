/**
 * Commander's own refusals come out like every other error of the project: `error [USAGE]: …`
 * plus a `hint:` naming the right --help on stderr, or `{"ok": false, "error": {"code":
 * "USAGE", …}}` on stdout with --json, exit 2 — for `attested-pack`, its subcommands and
 * `verify-receipt`. The built CLIs are spawned, as a user runs them.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function spawn(bin: 'attested-pack' | 'verify-receipt', args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [`bin/${bin}.mjs`, ...args], { cwd: repoRoot }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const cases: Array<[string, 'attested-pack' | 'verify-receipt', string[], RegExp, string]> = [
  ['unknown command', 'attested-pack', ['no-such-command'], /^error \[USAGE\]: unknown command 'no-such-command'/, 'attested-pack --help'],
  ['unknown subcommand', 'attested-pack', ['attestation', 'frobnicate'], /^error \[USAGE\]: unknown command 'frobnicate'/, 'attested-pack attestation --help'],
  ['unknown option', 'attested-pack', ['attestation', 'verify', 'doc.cose', '--no-such-flag'], /^error \[USAGE\]: unknown option '--no-such-flag'/, 'attested-pack attestation verify --help'],
  ['missing argument', 'attested-pack', ['attestation', 'inspect'], /^error \[USAGE\]: missing required argument 'file'/, 'attested-pack attestation inspect --help'],
  ['missing option value', 'attested-pack', ['pack', '--proxy'], /^error \[USAGE\]: option '--proxy <url>' argument missing/, 'attested-pack pack --help'],
  ['missing required option', 'attested-pack', ['pack', '--proxy', 'http://127.0.0.1:1'], /^error \[USAGE\]: required option '--identity <name>' not specified/, 'attested-pack pack --help'],
  ['too many arguments', 'attested-pack', ['attestation', 'inspect', 'a', 'b'], /^error \[USAGE\]: too many arguments/, 'attested-pack attestation inspect --help'],
  ['verify-receipt unknown option', 'verify-receipt', ['r.json', '--no-such-flag'], /^error \[USAGE\]: unknown option '--no-such-flag'/, 'verify-receipt --help'],
  ['verify-receipt missing argument', 'verify-receipt', [], /^error \[USAGE\]: missing required argument 'receipt'/, 'verify-receipt --help'],
];

describe('commander errors in the project format', () => {
  it.each(cases)('%s: one error line, one hint, exit 2', async (_name, bin, args, line, help) => {
    const r = await spawn(bin, args);
    expect(r.code).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(line);
    expect(lines[1]).toBe(`hint: run \`${help}\` for the commands and options`);
    expect(r.stdout).toBe('');
  });

  it.each(cases)('%s with --json: the JSON error object on stdout, exit 2', async (_name, bin, args, line, help) => {
    // --json goes right after the command words, so it is never taken as another option's value.
    const words = bin === 'attested-pack' ? args.findIndex((a) => a.startsWith('-') || a.includes('.')) : 0;
    const at = words === -1 ? args.length : words;
    const r = await spawn(bin, [...args.slice(0, at), '--json', ...args.slice(at)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string; hint: string } };
    expect(out.ok).toBe(false);
    expect(out.error.code).toBe('USAGE');
    expect(`error [USAGE]: ${out.error.message}`).toMatch(line);
    expect(out.error.hint).toContain(help);
  });

  it("commander's suggestion goes into the hint; the error stays one line", async () => {
    const typo = await spawn('attested-pack', ['packk']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe("error [USAGE]: unknown command 'packk'\nhint: did you mean pack? Or run `attested-pack --help` for the commands and options\n");
    const option = await spawn('attested-pack', ['pack', '--proxy', 'http://127.0.0.1:1', '--identity', 'a', '--environment', 'b', '--retrys', '1']);
    expect(option.stderr.split('\n')[0]).toBe("error [USAGE]: unknown option '--retrys'");
    expect(option.stderr.split('\n')[1]).toBe('hint: did you mean --retries? Or run `attested-pack pack --help` for the commands and options');
  });

  it('help and version still print and exit 0', async () => {
    const help = await spawn('attested-pack', ['attestation', 'verify', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--max-age <duration>');
    const version = await spawn('attested-pack', ['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});
