/**
 * The simulation's demo Clef repository: `clef.yaml` with two namespaces × two environments, a
 * KMS service identity (`api-gateway`, artifact wrapped by the wrap key) and an age service
 * identity (`worker`), SOPS files encrypted by our codec with their data keys wrapped under the
 * source key, committed with git so the receipt's commit means something.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { encryptSops, sopsMap, type KmsWrap } from '../enclave-app/sops/index.js';

const run = promisify(execFile);

/** The demo's secret values, by namespace; also used by tests as leak-scan canaries. */
export const DEMO_SECRETS: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, string>>>>>> = Object.freeze({
  payments: {
    dev: { STRIPE_KEY: 'sk_test_demo_payments_dev_4242', WEBHOOK_SECRET: 'whsec_dev_canary_7f3a' },
    production: { STRIPE_KEY: 'sk_live_demo_payments_prod_9b1c', WEBHOOK_SECRET: 'whsec_prod_canary_51e0' },
  },
  auth: {
    dev: { JWT_SECRET: 'jwt-dev-canary-0d9e2c', SESSION_KEY: 'session-dev-canary-77aa' },
    production: { JWT_SECRET: 'jwt-prod-canary-c3f1a8', SESSION_KEY: 'session-prod-canary-1b2b' },
  },
});

export const DEMO_IDENTITY = 'api-gateway';
export const DEMO_AGE_IDENTITY = 'worker';
export const DEMO_ENVIRONMENT = 'production';

export interface DemoRepoOptions {
  dir: string;
  sourceKeyArn: string;
  wrapKeyArn: string;
  /** age recipient of the `worker` identity's dev artifacts. */
  ageRecipient: string;
  /** Wraps SOPS data keys under the source key (the operator's KMS Encrypt). */
  kmsWrap: KmsWrap;
}

export interface DemoRepo {
  dir: string;
  commit: string;
  /** Repo-relative paths of the SOPS files. */
  files: string[];
}

/** The demo clef.yaml text. */
export function demoManifest(o: Pick<DemoRepoOptions, 'sourceKeyArn' | 'wrapKeyArn' | 'ageRecipient'>): string {
  return [
    'version: 1',
    'environments:',
    '  - name: dev',
    '    description: Development',
    '  - name: production',
    '    description: Production',
    '    protected: true',
    'namespaces:',
    '  - name: payments',
    '    description: Payment provider credentials',
    '  - name: auth',
    '    description: Authentication secrets',
    'sops:',
    '  default_backend: awskms',
    `  aws_kms_arn: "${o.sourceKeyArn}"`,
    'file_pattern: "secrets/{namespace}/{environment}.enc.yaml"',
    'service_identities:',
    `  - name: ${DEMO_IDENTITY}`,
    '    description: API gateway (KMS envelope)',
    '    namespaces: [payments, auth]',
    '    pack_only: true',
    '    environments:',
    `      dev: {kms: {provider: aws, keyId: "${o.wrapKeyArn}"}}`,
    `      production: {kms: {provider: aws, keyId: "${o.wrapKeyArn}"}}`,
    `  - name: ${DEMO_AGE_IDENTITY}`,
    '    description: Background worker (age)',
    '    namespaces: [auth]',
    '    pack_only: true',
    '    environments:',
    `      dev: {recipient: ${o.ageRecipient}}`,
    '',
  ].join('\n');
}

async function git(dir: string, ...args: string[]): Promise<string> {
  // The demo repository is ours: the user's global git settings (commit signing, hooks) must not
  // make `npm start` hang on a passphrase prompt or fail.
  const { stdout } = await run('git', ['-c', 'commit.gpgsign=false', '-c', 'core.hooksPath=/dev/null', ...args], {
    cwd: dir,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'attested-pack sim',
      GIT_AUTHOR_EMAIL: 'sim@attested-pack.invalid',
      GIT_COMMITTER_NAME: 'attested-pack sim',
      GIT_COMMITTER_EMAIL: 'sim@attested-pack.invalid',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
    },
  });
  return stdout.trim();
}

/**
 * Writes and commits the demo repository, or reuses it when it already exists with a commit
 * (a second `sim` run keeps the same repository).
 */
export async function ensureDemoRepo(o: DemoRepoOptions): Promise<DemoRepo> {
  const manifestPath = join(o.dir, 'clef.yaml');
  const files: string[] = [];
  for (const ns of Object.keys(DEMO_SECRETS)) for (const env of ['dev', 'production']) files.push(`secrets/${ns}/${env}.enc.yaml`);
  const manifest = demoManifest(o);
  if (existsSync(join(o.dir, '.git')) && existsSync(manifestPath) && (await readFile(manifestPath, 'utf8')) === manifest) {
    const commit = await git(o.dir, 'rev-parse', 'HEAD').catch(() => '');
    const clean = (await git(o.dir, 'status', '--porcelain').catch(() => 'x')) === '';
    if (commit && clean) return { dir: o.dir, commit, files };
  }
  await mkdir(o.dir, { recursive: true });
  if (!existsSync(join(o.dir, '.git'))) await git(o.dir, 'init', '-q', '-b', 'main');
  await writeFile(manifestPath, manifest);
  for (const ns of Object.keys(DEMO_SECRETS)) {
    for (const env of ['dev', 'production']) {
      const rel = `secrets/${ns}/${env}.enc.yaml`;
      const values = DEMO_SECRETS[ns]![env]!;
      const bytes = await encryptSops([sopsMap(Object.entries(values))], {
        format: 'yaml',
        keyGroups: [[{ type: 'kms', arn: o.sourceKeyArn, context: { app: 'attested-pack-demo', namespace: ns } }]],
        kms: o.kmsWrap,
      });
      await mkdir(dirname(join(o.dir, rel)), { recursive: true });
      await writeFile(join(o.dir, rel), bytes);
    }
  }
  await git(o.dir, 'add', '-A');
  await git(o.dir, 'commit', '-q', '-m', 'attested-pack demo secrets');
  return { dir: o.dir, commit: await git(o.dir, 'rev-parse', 'HEAD'), files };
}
