/** CLI commands of kms-policies/ (registered by cli/main.ts): `kms-policy generate` and `kms-policy check`. */
import type { Command } from 'commander';
import { runCommand } from '../common/cli-output.js';
import { UsageError, InputError } from '../common/errors.js';

interface GenerateFlags {
  measurements: string;
  roleArn: string;
  adminArn: string[];
  accountRootAdmin?: boolean;
  purpose: string;
  pcrs?: string;
  runtimeRole: string[];
  encryptor: string[];
  accountId?: string;
  instanceId?: string;
  format: string;
  out?: string;
  json?: boolean;
}

interface CheckFlags {
  policy: string;
  measurements: string;
  roleArn: string;
  adminArn: string[];
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Adds this module's commands to the program. */
export function registerKmsPolicyCommands(program: Command): void {
  const group = program.command('kms-policy').description('generate and check KMS key policies pinned to enclave measurements');

  group
    .command('generate')
    .description('write a least-privilege key policy for one attested-pack key from measurements.json')
    .requiredOption('--measurements <file>', 'measurements.json written by eif-build')
    .requiredOption('--role-arn <arn>', 'IAM role the enclave calls KMS with (the parent instance role)')
    .requiredOption('--purpose <purpose>', 'source | wrap | sign | seal')
    .option('--pcrs <list>', 'PCR indices to pin for source/seal keys, e.g. 0,1,2,3,8 (default 0,1,2 and 8 when signed)')
    .option('--admin-arn <arn>', 'IAM role or user that administers the key (PutKeyPolicy etc., never Decrypt); repeatable', collect, [])
    .option('--account-root-admin', 'let the account root administer the key instead (any IAM principal allowed kms:PutKeyPolicy could then rewrite it)')
    .option('--runtime-role <arn>', 'role of a Clef runtime (wrap: Decrypt; sign: GetPublicKey/Verify); repeatable', collect, [])
    .option('--encryptor <arn>', 'principal that writes SOPS files / seals signing keys (source/seal: kms:Encrypt only); repeatable', collect, [])
    .option('--account-id <id>', 'account owning the key (default: the account of --role-arn)')
    .option('--instance-id <id>', 'parent instance ID, needed to pin PCR4')
    .option('--format <format>', 'json | terraform | cloudformation', 'json')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--json', 'machine-readable result envelope')
    .action(async (flags: GenerateFlags) => {
      await runCommand(Boolean(flags.json), async () => {
        const { generateKeyPolicy, KEY_PURPOSES } = await import('./generate.js');
        const { renderKeyPolicy, POLICY_FORMATS } = await import('./render.js');
        if (!(KEY_PURPOSES as readonly string[]).includes(flags.purpose)) {
          throw new UsageError(`--purpose must be one of ${KEY_PURPOSES.join(', ')}, got ${JSON.stringify(flags.purpose)}`);
        }
        if (!(POLICY_FORMATS as readonly string[]).includes(flags.format)) {
          throw new UsageError(`--format must be one of ${POLICY_FORMATS.join(', ')}, got ${JSON.stringify(flags.format)}`);
        }
        const purpose = flags.purpose as (typeof KEY_PURPOSES)[number];
        const format = flags.format as (typeof POLICY_FORMATS)[number];
        if (flags.adminArn.length > 0 && flags.accountRootAdmin) throw new UsageError('--admin-arn and --account-root-admin are alternatives: pass one of them');
        if (flags.adminArn.length === 0 && !flags.accountRootAdmin) {
          throw new UsageError('name who administers the key: --admin-arn ARN (repeatable), or --account-root-admin', {
            hint: 'whoever may kms:PutKeyPolicy can rewrite the policy and decrypt without attestation; with the account root that is any IAM principal allowed it',
          });
        }
        const measurements = await readMeasurements(flags.measurements);
        const policy = generateKeyPolicy({
          measurements,
          roleArn: flags.roleArn,
          admins: flags.accountRootAdmin ? 'account-root' : flags.adminArn,
          purpose,
          ...(flags.pcrs === undefined ? {} : { pcrs: parsePcrList(flags.pcrs) }),
          runtimeRoles: flags.runtimeRole,
          ...(flags.encryptor.length > 0 ? { encryptors: flags.encryptor } : {}),
          ...(flags.accountId === undefined ? {} : { accountId: flags.accountId }),
          ...(flags.instanceId === undefined ? {} : { instanceId: flags.instanceId }),
        });
        const text = renderKeyPolicy(policy, purpose, format);
        if (flags.out) {
          const { writeFileAtomic } = await import('../common/fs.js');
          await writeFileAtomic(flags.out, text);
        }
        if (flags.json) {
          process.stdout.write(JSON.stringify({ ok: true, purpose, format, policy, output: text, ...(flags.out ? { file: flags.out } : {}) }, null, 2) + '\n');
        } else if (!flags.out) {
          process.stdout.write(text);
        } else {
          process.stderr.write(`wrote ${format} key policy for the ${purpose} key to ${flags.out}\n`);
        }
      });
    });

  group
    .command('check')
    .description('explain whether an attested Decrypt from the measured image is allowed, and warn on bypasses')
    .requiredOption('--policy <file>', 'key policy JSON (or a CloudFormation template with an AWS::KMS::Key)')
    .requiredOption('--measurements <file>', 'measurements.json of the enclave image')
    .requiredOption('--role-arn <arn>', 'IAM role the enclave calls KMS with')
    .option('--admin-arn <arn>', 'a key administrator you accept (may PutKeyPolicy); repeatable; the account root counts only if named', collect, [])
    .option('--json', 'machine-readable report')
    .action(async (flags: CheckFlags) => {
      await runCommand(Boolean(flags.json), async () => {
        const { checkKeyPolicy, formatPolicyCheck } = await import('./check.js');
        const measurements = await readMeasurements(flags.measurements);
        const policy = policyFromFile(await readText(flags.policy, '--policy'), flags.policy);
        const report = checkKeyPolicy(policy, measurements, flags.roleArn, { admins: flags.adminArn });
        if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        else process.stdout.write(formatPolicyCheck(report));
        return report.ok ? 0 : 1;
      });
    });
}

/** Parses `--pcrs 0,1,2` strictly. */
export function parsePcrList(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d{1,2}$/.test(p))) throw new UsageError(`--pcrs must be a comma-separated list of PCR indices, got ${JSON.stringify(text)}`);
  return parts.map(Number);
}

async function readText(path: string, flag: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError('INPUT_UNREADABLE', `${flag}: cannot read ${path}`, { cause: err, hint: 'check the path and permissions' });
  }
}

async function readMeasurements(path: string) {
  const { parseMeasurements } = await import('../common/measurements.js');
  return parseMeasurements(await readText(path, '--measurements'), path);
}

/** A bare key policy, or the KeyPolicy of the first AWS::KMS::Key in a CloudFormation template. */
function policyFromFile(text: string, source: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InputError('INPUT_INVALID', `${source} is not valid JSON`, { hint: 'pass the key policy JSON (Terraform files are not read; use --format json)' });
  }
  const resources = (doc as { Resources?: unknown } | null)?.Resources;
  if (typeof resources === 'object' && resources !== null) {
    for (const r of Object.values(resources as Record<string, unknown>)) {
      const res = r as { Type?: unknown; Properties?: { KeyPolicy?: unknown } } | null;
      if (res?.Type === 'AWS::KMS::Key' && res.Properties?.KeyPolicy !== undefined) return res.Properties.KeyPolicy;
    }
    throw new InputError('INPUT_INVALID', `${source} is a CloudFormation template without an AWS::KMS::Key KeyPolicy`);
  }
  return doc;
}
