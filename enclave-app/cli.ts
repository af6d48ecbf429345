/** CLI commands of enclave-app/: `sops …`, `enclave serve`, `sealed-key create`. */
import type { Command } from 'commander';
import { registerSopsCommands } from './sops/cli.js';
import { runCommand } from '../common/cli-output.js';
import { UsageError } from '../common/errors.js';
import { addServeOptions, type ServeFlags } from './serve-options.js';

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
    .requiredOption('--kms-key <arn>', 'KMS key (seal purpose) whose policy lets only the enclave decrypt')
    .option('--kms-endpoint <url>', 'KMS endpoint (the simulator); default: AWS for the key\'s region')
    .option('-o, --out <file>', 'where to write the sealed key', 'sealed-signing-key.json')
    .option('--json', 'print a JSON summary')
    .action(async (flags: { kmsKey: string; kmsEndpoint?: string; out: string; json?: boolean }) => {
      await runCommand(Boolean(flags.json), async () => {
        const region = /^arn:aws[\w-]*:kms:([^:]+):/.exec(flags.kmsKey)?.[1];
        if (!region) throw new UsageError('--kms-key must be a KMS key or alias ARN (arn:aws:kms:REGION:ACCOUNT:key/…)');
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
