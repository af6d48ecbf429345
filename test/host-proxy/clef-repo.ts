/** A throw-away git repository holding a Clef manifest and SOPS-shaped files, committed. */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const AGE_RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

export const MANIFEST = `version: 1
environments:
  - name: dev
    description: Dev
  - name: production
    description: Prod
namespaces:
  - name: payments
    description: Payments
  - name: auth
    description: Auth
  - name: billing
    description: Billing
sops:
  default_backend: age
  age:
    recipients: ["${AGE_RECIPIENT}"]
file_pattern: "secrets/{namespace}/{environment}.enc.yaml"
service_identities:
  - name: api
    description: API
    namespaces: [payments, auth]
    environments:
      dev: { recipient: ${AGE_RECIPIENT} }
      production: { recipient: ${AGE_RECIPIENT} }
`;

/** File contents by path (the client never parses SOPS, so any bytes do). */
export const FILES: Record<string, string> = {
  'secrets/payments/dev.enc.yaml': 'stripe_key: ENC[AES256_GCM,data:cGF5bWVudHM=,iv:a,tag:b,type:str]\nsops: {}\n',
  'secrets/auth/dev.enc.yaml': 'jwt_secret: ENC[AES256_GCM,data:YXV0aA==,iv:a,tag:b,type:str]\nsops: {}\n',
  'secrets/billing/dev.enc.yaml': 'not: in scope\n',
  'secrets/payments/production.enc.yaml': 'stripe_key: ENC[AES256_GCM,data:cHJvZA==,iv:a,tag:b,type:str]\nsops: {}\n',
};

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, encoding: 'utf8' });
}

/** Creates the repository in `dir` and commits everything; returns the commit id. */
export async function makeClefRepo(dir: string, files: Record<string, string> = FILES): Promise<string> {
  await writeFile(join(dir, 'clef.yaml'), MANIFEST);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'secrets');
  git(dir, 'remote', 'add', 'origin', 'git@github.com:org/repo.git');
  return git(dir, 'rev-parse', 'HEAD').trim();
}
