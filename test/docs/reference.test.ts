/**
 * docs/reference.md cannot drift: it must be exactly what `npm run docs` renders from the code
 * (commander definitions, the proxy config schema, limit constants, error unions), the renderer
 * must pick up commands nobody listed, and every error code the prose docs name must be one the
 * code can raise.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/main.js';
import { buildVerifyReceiptProgram } from '../../verify-receipt/cli.js';
import { allCommands, fullName, renderCli } from '../../scripts/reference/cli.js';
import { collectErrorCodes, collectFindingCodes, sourceFiles } from '../../scripts/reference/errors.js';
import { REFERENCE_PATH, renderReference, repoRoot } from '../../scripts/reference/index.js';
import { PROXY_CONFIG_SCHEMA } from '../../host-proxy/config-schema.js';
import { PACK_LIMITS } from '../../enclave-app/protocol.js';
import { RETRYABLE_NETWORK_CODES } from '../../host-proxy/client/retry.js';
import { constants } from 'node:os';

describe('docs/reference.md', () => {
  it('is what `npm run docs` generates from the code', async () => {
    const expected = await renderReference(repoRoot);
    const actual = readFileSync(join(repoRoot, REFERENCE_PATH), 'utf8');
    if (actual !== expected) {
      const a = actual.split('\n');
      const e = expected.split('\n');
      const i = e.findIndex((line, n) => line !== a[n]);
      expect.fail(
        `${REFERENCE_PATH} is stale: run \`npm run docs\` and commit the result.\n` +
          `first difference at line ${i + 1}:\n  committed: ${JSON.stringify(a[i])}\n  generated: ${JSON.stringify(e[i])}`,
      );
    }
  });

  it('names every command and every option of both CLIs, with defaults', () => {
    const text = readFileSync(join(repoRoot, REFERENCE_PATH), 'utf8');
    const commands = [buildProgram(), buildVerifyReceiptProgram()].flatMap(allCommands);
    expect(commands.length).toBeGreaterThan(20);
    for (const c of commands) {
      expect(text, fullName(c)).toContain(`### \`${fullName(c)}\``);
      for (const o of c.options.filter((x) => !x.hidden && x.long !== '--help')) expect(text, `${fullName(c)} ${o.flags}`).toContain(`| \`${o.flags}\` |`);
    }
    // The flags and limits a reviewer found undocumented (issue 15).
    for (const flag of ['--allow-dirty', '--root <pem>', '--timeout <seconds>', '--allow-http']) expect(text).toContain(`| \`${flag}\` |`);
    expect(text).toContain('| `--timeout <seconds>` | per-attempt deadline | `300` |');
    expect(text).toContain(`at most ${PACK_LIMITS.maxFiles.toLocaleString('en-US')}`);
    expect(text).toContain('| nonce | 1–512 bytes');
    expect(text).toContain('(365 days)');
    expect(text).toContain('| receipt age accepted by `pack --measurements` | 15m ');
  });

  it('documents every key of the proxy config schema, with the defaults reviewers missed', () => {
    const text = readFileSync(join(repoRoot, REFERENCE_PATH), 'utf8');
    for (const path of Object.keys(PROXY_CONFIG_SCHEMA)) expect(text, path).toContain(`| \`${path}\` |`);
    expect(text).toMatch(/\| `credentials\.source` \| enum \| `none` \|.*every pack that needs KMS fails until this is set/);
    expect(text).toMatch(/\| `relay` \| mapping \|.*It runs only if the `relay` key exists/);
    expect(text).toContain('| `auth.tokens[].repositories` |');
  });

  it('the renderer walks commands nobody listed (new commands and options appear on regeneration)', () => {
    const program = new Command('attested-pack');
    program.command('audit').description('check a deployment').command('run').description('run the audit').argument('<dir>', 'what to audit').option('--since <duration>', 'look back this far', '7d').requiredOption('--bucket <name>', 'where logs are');
    const text = renderCli([program]);
    expect(text).toContain('### `attested-pack audit run`');
    expect(text).toContain('| `<dir>` | what to audit |');
    expect(text).toContain('| `--since <duration>` | look back this far | `7d` |');
    expect(text).toContain('| `--bucket <name>` | where logs are (**required**) |  |');
    expect(text).toContain('| [`run`](#attested-pack-audit-run) | run the audit |');
  });
});

describe('error codes in the prose docs', () => {
  /** Backticked ERROR_CODE-shaped words of a Markdown file. */
  const codeWords = (text: string): string[] => [...new Set([...text.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g)].map((m) => m[1]!))];

  /** True when the word is an environment variable the code or the scripts read or set. */
  function isEnvironmentVariable(word: string, haystack: string): boolean {
    return [`env.${word}`, `env['${word}']`, `env["${word}"]`, `${word}=`, `env: '${word}'`, `${word}: '`].some((s) => haystack.includes(s));
  }

  it('every code SECURITY.md and README.md name is one the CLIs can print (in the generated tables)', async () => {
    const errors = new Set((await collectErrorCodes(repoRoot)).map((c) => c.code));
    const codes = new Set([...errors, ...collectFindingCodes(repoRoot, errors).map((f) => f.code)]);
    const haystack = [...sourceFiles(repoRoot), join(repoRoot, 'package.json'), join(repoRoot, 'action.yml')].map((f) => readFileSync(f, 'utf8')).join('\n');
    const unknown: string[] = [];
    for (const doc of ['SECURITY.md', 'README.md']) {
      for (const word of codeWords(readFileSync(join(repoRoot, doc), 'utf8'))) {
        const systemError = RETRYABLE_NETWORK_CODES.has(word) || word in constants.errno;
        if (!codes.has(word) && !systemError && !isEnvironmentVariable(word, haystack)) unknown.push(`${doc}: ${word}`);
      }
    }
    expect(unknown, `codes no CLI prints:\n${unknown.join('\n')}`).toEqual([]);
  });

  it('the check catches a code nothing raises', async () => {
    const codes = new Set((await collectErrorCodes(repoRoot)).map((c) => c.code));
    expect(codes.has('KMS_PLAINTEXT_REFUSED')).toBe(true);
    expect(codes.has('PACK_PLAINTEXT_LEAKED')).toBe(false);
    expect(codeWords('a `PACK_PLAINTEXT_LEAKED` and `KMS_PLAINTEXT_REFUSED`')).toEqual(['PACK_PLAINTEXT_LEAKED', 'KMS_PLAINTEXT_REFUSED']);
  });

  it('each code has one exit code per way it is raised, from the error class itself', async () => {
    const byCode = new Map((await collectErrorCodes(repoRoot)).map((c) => [c.code, c]));
    expect(byCode.get('USAGE')?.categories).toEqual(['input']);
    expect(byCode.get('KMS_PLAINTEXT_REFUSED')?.categories).toEqual(['rejected']);
    expect(byCode.get('RELAY_LISTEN_FAILED')?.categories).toEqual(['unavailable']);
    expect(byCode.get('SOPS_INTERNAL')?.categories).toEqual(['internal']);
    expect(byCode.get('INPUT_NOT_A_DOCUMENT')?.errorClass).toBe('InputError');
  });

  it('finding codes come from report unions and fail(…) calls, apart from error codes', async () => {
    const errors = new Set((await collectErrorCodes(repoRoot)).map((c) => c.code));
    const findings = new Map(collectFindingCodes(repoRoot, errors).map((f) => [f.code, f.file]));
    expect(findings.get('POLICY_REWRITE_ALLOWED')).toBe('kms-policies/check.ts');
    expect(findings.get('MANIFEST_PATH_MISMATCH')).toBe('verify-receipt/checks.ts');
    expect(findings.has('ATTESTATION_PCR_MISMATCH')).toBe(false); // an error code, listed there
  });
});
