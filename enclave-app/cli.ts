/** CLI commands of enclave-app/: `sops …`, `enclave serve`, `sealed-key create`. */
import type { Command } from 'commander';
import { registerSopsCommands } from './sops/cli.js';
import { runCommand } from '../common/cli-output.js';
import { UsageError } from '../common/errors.js';
import { addServeOptions, type ServeFlags } from './serve-options.js';
import { parseKmsKeyId } from '../common/kms-key-id.js';

/** Adds this module's commands to the program. */
export function registerEnclaveCommands(program: Command): void {
  registerSopsCommands(program);

  const enclave = program.command('enclave').description('the enclave application');
  const serve = enclave.command('serve').description('serve pack, attest, health and unseal requests (real or --simulate)');
  // Options are shared with the image entry (enclave-main.ts); the server itself loads lazily.
  addServeOptions(serve);
  serve.action(async (flags: ServeFlags) => {
    await runCommand(false, async () => {
      const { serveUntilSignal } = await import('./serve.js');
      await serveUntilSignal(flags);
    });
  });

  program
    .command('sealed-key')
    .description('sealed Ed25519 signing keys')
    .command('create')
    .description('generate an Ed25519 pair, seal the private half under a KMS key, print the verify key')
    .requiredOption('--kms-key <id>', 'KMS key (seal purpose) whose policy lets only the enclave decrypt: key ARN, alias ARN, alias/NAME or key ID')
    .option('--region <region>', 'AWS region of the key (default: from an ARN, else AWS_REGION / AWS_DEFAULT_REGION)')
    .option('--kms-endpoint <url>', 'KMS endpoint (the simulator); default: AWS for the key\'s region')
    .option('-o, --out <file>', 'where to write the sealed key', 'sealed-signing-key.json')
    .option('--json', 'print a JSON summary')
    .addHelpText('after', '\nCredentials: the AWS SDK default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role, …).')
    .action(async (flags: { kmsKey: string; region?: string; kmsEndpoint?: string; out: string; json?: boolean }) => {
      await runCommand(Boolean(flags.json), async () => {
        const key = parseKmsKeyId(flags.kmsKey);
        if (!key) throw new UsageError(`--kms-key ${JSON.stringify(flags.kmsKey)} is not a KMS key ID, key ARN, alias/NAME or alias ARN`);
        if (key.region && flags.region && key.region !== flags.region) throw new UsageError(`--region ${flags.region} contradicts the region of --kms-key (${key.region})`);
        const region = key.region ?? flags.region ?? (process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || undefined);
        if (!region) {
          throw new UsageError(`--kms-key ${flags.kmsKey} names no region`, { hint: 'pass --region REGION (or set AWS_REGION), or give the key as an ARN' });
        }
        const [{ KMSClient, EncryptCommand }, { createSealedKey }, { writeFileAtomic }, { mapSdkError }] = await Promise.all([
          import('@aws-sdk/client-kms'),
          import('./pack/sealed-key.js'),
          import('../common/fs.js'),
          import('./kms/client.js'),
        ]);
        const client = new KMSClient({ region, ...(flags.kmsEndpoint ? { endpoint: flags.kmsEndpoint } : {}) });
        try {
          const sealed = await createSealedKey(flags.kmsKey, async (plaintext) => {
            try {
              const out = await client.send(new EncryptCommand({ KeyId: flags.kmsKey, Plaintext: plaintext }));
              return { ciphertextBlob: out.CiphertextBlob!, keyId: out.KeyId ?? flags.kmsKey };
            } catch (err) {
              throw mapSdkError(err, flags.kmsKey, 'Encrypt');
            }
          });
          await writeFileAtomic(flags.out, JSON.stringify(sealed, null, 2) + '\n', { mode: 0o600 });
          if (flags.json) {
            process.stdout.write(JSON.stringify({ ok: true, out: flags.out, kmsKeyId: sealed.kmsKeyId, verifyKey: sealed.publicKey }, null, 2) + '\n');
          } else {
            process.stdout.write(`sealed signing key written to ${flags.out}\nverify key (base64 SPKI, CLEF_AGENT_VERIFY_KEY): ${sealed.publicKey}\n`);
          }
        } finally {
          client.destroy();
        }
      });
    });
}
