/** The `serve` flags, kept apart from the server code so the CLI can declare them without loading it. */
import type { Command } from 'commander';

export interface ServeFlags {
  listen: string;
  simulate?: boolean;
  simState?: string;
  measurements?: string;
  kmsEndpoint?: string;
  kmsRegion?: string;
  kmsRelayPort: string;
  parentCid: string;
  signingKmsKey?: string;
  keyMaxUses: string;
  keyMaxAge: string;
  maxConcurrentPacks: string;
  roleArn?: string;
  wrapKey: string[];
  wrapAgeRecipient: string[];
  anyWrapTarget?: boolean;
  sourceKey: string[];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds the `serve` flags to a command (shared by `attested-pack enclave serve` and the image entry). */
export function addServeOptions(cmd: Command): Command {
  return cmd
    .option('--listen <url>', 'transport to listen on: vsock://ANY:PORT, unix:///path.sock, tcp://127.0.0.1:PORT', 'vsock://ANY:5000')
    .option('--simulate', 'simulated NSM and KMS simulator (local simulation mode)')
    .option('--sim-state <dir>', 'simulated NSM PKI state directory (with --simulate)')
    .option('--measurements <file>', 'measurements.json whose PCRs the simulated NSM reports (with --simulate)')
    .option('--kms-endpoint <url>', 'KMS simulator endpoint (with --simulate)')
    .option('--kms-region <region>', 'AWS region of the KMS keys (real mode)')
    .option('--kms-relay-port <port>', 'vsock port of the KMS relay on the parent (real mode)', '8000')
    .option('--parent-cid <cid>', 'vsock CID of the parent instance (real mode)', '3')
    .option('--signing-kms-key <arn>', 'KMS key (ECC_NIST_P256) for the `kms` signing mode')
    .option('--key-max-uses <n>', 'packs per ephemeral RSA recipient key before rotation (1 = one key per pack)', '1000')
    .option('--key-max-age <seconds>', 'maximum age of an ephemeral RSA recipient key', '300')
    .option('--max-concurrent-packs <n>', 'packs processed at once', '4')
    .option('--role-arn <arn>', 'parent role ARN the simulated NSM reports as PCR3 (with --simulate)')
    .option('--wrap-key <arn>', 'KMS key ARN artifacts may be wrapped for (repeatable; clef.yaml comes from the host, so name them here)', collect, [])
    .option('--wrap-age-recipient <age1…>', 'age recipient artifacts may be encrypted to (repeatable)', collect, [])
    .option('--source-key <arn>', 'KMS key ARN SOPS files may be encrypted under (repeatable; default: any key KMS lets the image use)', collect, [])
    .option('--any-wrap-target', 'wrap for whatever clef.yaml names (only for experiments: the host chooses the envelope)');
}

