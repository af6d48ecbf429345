/**
 * `attested-pack kms-sim`: runs the KMS simulator in the foreground until SIGINT/SIGTERM.
 *
 *   attested-pack kms-sim --state DIR [--listen 127.0.0.1:4599] [--trust-root PEM]... [--nsm-pki DIR]
 *     [--no-aws-root] [--credential AKID:SECRET=PRINCIPAL_ARN]... [--create-demo-keys]
 *     [--max-attestation-age 5m] [--region R] [--account-id ID] [--json]
 *
 * The first credential is the account administrator (CreateKey, and what an account-root
 * key-policy principal names). Without --credential the documented demo credentials are used.
 * Trusted attestation roots: every --trust-root file, the simulated NSM root kept in --nsm-pki
 * (default <state>/nsm-pki), and the AWS Nitro Enclaves root unless --no-aws-root.
 */
import type { Command } from 'commander';
import { runCommand } from '../../common/cli-output.js';
import { InputError, UsageError } from '../../common/errors.js';

interface KmsSimFlags {
  listen: string;
  state: string;
  trustRoot: string[];
  nsmPki?: string;
  awsRoot: boolean;
  credential: string[];
  createDemoKeys?: boolean;
  maxAttestationAge?: string;
  region?: string;
  accountId?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Test hook: resolve this instead of waiting for a signal. */
export interface KmsSimCommandOptions {
  stop?: Promise<unknown>;
}

/** Adds `kms-sim` to the program. */
export function registerKmsSimCommand(program: Command, hooks: KmsSimCommandOptions = {}): void {
  program
    .command('kms-sim')
    .description('run the local KMS simulator (AWS JSON 1.1, SigV4, key policies, attested Recipient) until SIGINT/SIGTERM')
    .requiredOption('--state <dir>', 'directory for keys, policies, aliases and the audit log')
    .option('--listen <host:port>', 'loopback address to listen on', '127.0.0.1:4599')
    .option('--trust-root <pem>', 'PEM file of an attestation root to accept (repeatable)', collect, [])
    .option('--nsm-pki <dir>', 'simulated NSM PKI whose root to trust (default <state>/nsm-pki)')
    .option('--no-aws-root', 'do not accept documents under the AWS Nitro Enclaves root')
    .option('--credential <akid:secret=arn>', 'access key and the principal it authenticates as; the first is the admin (repeatable)', collect, [])
    .option('--create-demo-keys', 'create the demo keys alias/attested-pack/{source,wrap,seal,sign} if missing')
    .option('--max-attestation-age <duration>', 'maximum Recipient document age, e.g. 300s, 5m (default 5m, an assumption)')
    .option('--region <region>', 'AWS region of the simulated keys', 'us-east-1')
    .option('--account-id <id>', 'account that owns the keys (default: the first credential\'s account)')
    .option('--json', 'print the ready line as JSON')
    .action(async (flags: KmsSimFlags) => {
      await runCommand(Boolean(flags.json), async () => {
        const { host, port } = parseListen(flags.listen);
        const credentials = flags.credential.map(parseCredential);
        const maxAge = flags.maxAttestationAge === undefined ? undefined : parseDurationMs(flags.maxAttestationAge);
        if (flags.accountId !== undefined && !/^\d{12}$/.test(flags.accountId)) throw new UsageError('--account-id must be 12 digits');
        const { readFile } = await import('node:fs/promises');
        const path = await import('node:path');
        const { SimulatedNsmPki, trustedRootFromPem } = await import('../../attestation/index.js');
        const { startKmsSimulator } = await import('./server.js');
        const { createDemoKeys, DEMO_CREDENTIALS } = await import('./demo.js');

        const rootPems: string[] = [];
        for (const file of flags.trustRoot) {
          let pem: string;
          try {
            pem = await readFile(file, 'utf8');
          } catch (err) {
            throw new InputError('INPUT_UNREADABLE', `--trust-root: cannot read ${file}`, { cause: err });
          }
          trustedRootFromPem(pem); // fail now, with the root's own error, if it is not a usable CA
          rootPems.push(pem);
        }
        const pkiDir = flags.nsmPki ?? path.join(flags.state, 'nsm-pki');
        const pki = await SimulatedNsmPki.open(pkiDir);
        rootPems.push(pki.rootPem());

        const sim = await startKmsSimulator({
          host,
          port,
          stateDir: flags.state,
          trustRoots: rootPems,
          acceptAwsRoot: flags.awsRoot,
          ...(credentials.length > 0 ? { credentials } : {}),
          ...(flags.region ? { region: flags.region } : {}),
          ...(flags.accountId ? { accountId: flags.accountId } : {}),
          ...(maxAge === undefined ? {} : { maxAttestationAgeMs: maxAge }),
        });
        try {
          const demoKeys = flags.createDemoKeys ? await createDemoKeys(sim) : undefined;
          const creds = credentials.length > 0 ? credentials : DEMO_CREDENTIALS;
          const ready = {
            ready: true,
            endpoint: sim.endpoint,
            region: sim.region,
            accountId: sim.accountId,
            stateDir: path.resolve(flags.state),
            auditLog: path.resolve(sim.auditLogPath),
            nsmPki: path.resolve(pkiDir),
            trustRoots: { simulatedRootSha256: pki.trustedRoot().sha256, extra: flags.trustRoot.length, awsRoot: flags.awsRoot },
            maxAttestationAgeMs: maxAge ?? 300_000,
            principals: creds.map((c, i) => ({ accessKeyId: c.accessKeyId, principalArn: c.principalArn, admin: i === 0 })),
            usingDemoCredentials: credentials.length === 0,
            ...(demoKeys ? { demoKeys } : {}),
          };
          if (flags.json) {
            process.stdout.write(JSON.stringify(ready) + '\n');
          } else {
            const lines = [
              `kms-sim: endpoint ${sim.endpoint} (region ${sim.region}, account ${sim.accountId})`,
              `kms-sim: state ${ready.stateDir}, audit log ${ready.auditLog}`,
              `kms-sim: trusting the simulated NSM root in ${ready.nsmPki} (sha256 ${ready.trustRoots.simulatedRootSha256})` +
                `${flags.trustRoot.length ? `, ${flags.trustRoot.length} --trust-root file(s)` : ''}${flags.awsRoot ? ', and the AWS Nitro Enclaves root' : ''}`,
              `kms-sim: Recipient documents older than ${ready.maxAttestationAgeMs / 1000}s are refused (an assumption; KMS documents no limit)`,
              ...ready.principals.map((p) => `kms-sim: access key ${p.accessKeyId} → ${p.principalArn}${p.admin ? ' (account administrator)' : ''}`),
              ...(ready.usingDemoCredentials ? ['kms-sim: using the documented demo credentials (simulator/kms/README.md)'] : []),
              ...Object.entries(demoKeys ?? {}).map(([alias, arn]) => `kms-sim: demo key ${alias} → ${arn}`),
              `kms-sim: ready`,
            ];
            process.stdout.write(lines.join('\n') + '\n');
          }
          await (hooks.stop ?? waitForSignal());
        } finally {
          await sim.close();
        }
        if (!flags.json) process.stdout.write('kms-sim: stopped\n');
      });
    });
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** `127.0.0.1:4599` or `[::1]:4599`; loopback only. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host || port > 65535) throw new UsageError(`--listen must be HOST:PORT, got ${JSON.stringify(text)}`);
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) throw new UsageError(`--listen: the simulator binds loopback only (127.0.0.1, ::1), not ${host}`);
  return { host, port };
}

/** `AKID:SECRET=arn:aws:iam::123456789012:user/x` → a credential. */
export function parseCredential(text: string): { accessKeyId: string; secretAccessKey: string; principalArn: string } {
  const m = /^([A-Z0-9]{16,128}):([^=\s]+)=(arn:aws[\w-]*:(?:iam|sts)::\d{12}:\S+)$/.exec(text);
  if (!m) throw new UsageError('--credential must be ACCESS_KEY_ID:SECRET_ACCESS_KEY=PRINCIPAL_ARN (an IAM or STS ARN)');
  return { accessKeyId: m[1]!, secretAccessKey: m[2]!, principalArn: m[3]! };
}

/** `300s`, `5m`, `1h`, `1h30m`, `500ms` → milliseconds. */
export function parseDurationMs(text: string): number {
  const t = text.trim();
  if (!/^(?:\d+(?:ms|s|m|h))+$/.test(t)) throw new UsageError(`--max-attestation-age ${JSON.stringify(text)} is not a duration like 300s, 5m or 1h`);
  let ms = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms']!;
  if (ms <= 0) throw new UsageError('--max-attestation-age must be positive');
  return ms;
}
