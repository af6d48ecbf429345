/** The `serve` flags, kept apart from the server code so the CLI can declare them without loading it. */
import { Option, type Command } from 'commander';

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
  sealKey?: string;
  signerPublicKey?: string;
  keyMaxUses: string;
  keyMaxAge: string;
  maxConcurrentPacks: string;
  maxConnections: string;
  roleArn?: string;
  envelope: string[];
  anyWrapTarget?: boolean;
  sourceKey: string[];
  manifestSha256: string[];
  /** Removed flags (flat lists let the host move secrets between identities); refused with a hint. */
  wrapKey?: string[];
  wrapAgeRecipient?: string[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Adds the `serve` flags to a command (shared by `attested-pack enclave serve` and the image entry).
 * In the image these flags are the measured `/cmd`, so each one is part of PCR2: README's
 * "What /cmd pins" section says what each does to the guarantees.
 */
export function addServeOptions(cmd: Command): Command {
  return cmd
    .option('--listen <url>', 'transport to listen on: vsock://ANY:PORT, unix:///path.sock, tcp://127.0.0.1:PORT', 'vsock://ANY:5000')
    .option('--simulate', 'simulated NSM and KMS simulator (local simulation mode)')
    .option('--sim-state <dir>', 'simulated NSM PKI state directory (with --simulate)')
    .option('--measurements <file>', 'measurements.json whose PCRs the simulated NSM reports (with --simulate)')
    .option('--kms-endpoint <url>', 'KMS simulator endpoint (with --simulate)')
    .option('--kms-region <region>', 'AWS region of the KMS keys (real mode)')
    .option('--kms-relay-port <port>', 'vsock port of the KMS relay on the parent (real mode; TLS to KMS ends inside the enclave)', '8000')
    .option('--parent-cid <cid>', 'vsock CID of the parent instance (real mode)', '3')
    .option('--envelope <identity/environment=target>', 'the one envelope IDENTITY/ENVIRONMENT artifacts may have: a KMS key/ ARN or age recipients (age1…,age1…) (repeatable; anything else is refused)', collect, [])
    .option('--source-key <[identity/environment=]arn>', 'KMS key/ ARN SOPS files may be encrypted under, for every cell or for one (repeatable; default: any key KMS lets the image use)', collect, [])
    .option('--manifest-sha256 <hex>', 'SHA-256 of a clef.yaml the enclave packs from (repeatable; default: any clef.yaml — the host then chooses each cell\'s namespaces and files)', collect, [])
    .option('--signing-kms-key <arn>', 'KMS key/ ARN (ECC_NIST_P256) for the `kms` signing mode (proves the key, not the enclave)')
    .option('--seal-key <arn>', 'KMS key/ ARN the sealed Ed25519 signing key is sealed under (the only one `unseal` accepts)')
    .option('--signer-public-key <base64>', 'SPKI (base64, as `sealed-key create` prints) of the only sealed signing key `unseal` accepts')
    .option('--key-max-uses <n>', 'packs per ephemeral RSA recipient key before rotation (1 = one key per pack)', '1000')
    .option('--key-max-age <seconds>', 'maximum age of an ephemeral RSA recipient key', '300')
    .option('--max-concurrent-packs <n>', 'packs processed at once (more wait in FIFO order)', '4')
    .option('--max-connections <n>', 'host connections held at once (more are closed at once)', '32')
    .option('--role-arn <arn>', 'parent role ARN the simulated NSM reports as PCR3 (with --simulate)')
    .option('--any-wrap-target', 'wrap for whatever clef.yaml names (only for experiments: the HOST chooses the envelope, so artifacts protect nothing)')
    .addOption(new Option('--wrap-key <arn>', 'removed: use --envelope IDENTITY/ENVIRONMENT=ARN').hideHelp().argParser(collect))
    .addOption(new Option('--wrap-age-recipient <age1…>', 'removed: use --envelope IDENTITY/ENVIRONMENT=age1…').hideHelp().argParser(collect));
}
