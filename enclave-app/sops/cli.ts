/**
 * Operator commands:
 *   attested-pack sops decrypt <file> [--age-key-file F] [--pgp-key-file F] [--extract '["a"]["b"]']
 *                                     [--input-type T] [--output-type yaml|json|dotenv|ini|binary]
 *                                     [--kms-endpoint URL] [--output FILE]
 *   attested-pack sops encrypt <file> (--age RECIPIENT | --kms ARN)… [--kms-endpoint URL]
 *                                     [--input-type T] [--output FILE]
 * age identities also come from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and <config>/sops/age/keys.txt,
 * as with sops. KMS goes through the AWS SDK with the default credential chain.
 */
import type { Command } from 'commander';
import { runCommand, processIo, type CliIo } from '../../common/cli-output.js';
import { UsageError } from '../../common/errors.js';

/** Where the commands read the environment and write bytes (injectable for tests). */
export interface SopsCliIo extends CliIo {
  /** Writes raw bytes to stdout (decrypted output may be binary). */
  stdoutBytes: (bytes: Uint8Array) => void;
  env: Readonly<Record<string, string | undefined>>;
}

const defaultIo: SopsCliIo = {
  ...processIo,
  stdoutBytes: (b) => process.stdout.write(b),
  env: process.env,
};

interface DecryptFlags {
  ageKeyFile?: string[];
  pgpKeyFile?: string[];
  extract?: string;
  inputType?: string;
  outputType?: string;
  kmsEndpoint?: string;
  output?: string;
  json?: boolean;
}

interface EncryptFlags {
  age?: string[];
  kms?: string[];
  kmsEndpoint?: string;
  inputType?: string;
  output?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

async function readInput(path: string): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(path);
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
}

/** Gathers age identities from the flags, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default keys.txt. */
async function ageIdentities(flags: DecryptFlags, io: SopsCliIo): Promise<string[]> {
  const { parseAgeIdentities } = await import('./keys/age.js');
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const ids: string[] = [];
  for (const f of flags.ageKeyFile ?? []) ids.push(...parseAgeIdentities((await readInput(f)).toString('utf8')));
  if (io.env.SOPS_AGE_KEY) ids.push(...parseAgeIdentities(io.env.SOPS_AGE_KEY));
  if (io.env.SOPS_AGE_KEY_FILE) ids.push(...parseAgeIdentities((await readInput(io.env.SOPS_AGE_KEY_FILE)).toString('utf8')));
  const configDir = io.env.XDG_CONFIG_HOME || (io.env.HOME ? join(io.env.HOME, '.config') : undefined);
  if (configDir) {
    try {
      ids.push(...parseAgeIdentities(await readFile(join(configDir, 'sops', 'age', 'keys.txt'), 'utf8')));
    } catch {
      // No default keys file: fine, like sops.
    }
  }
  return ids;
}

async function writeOutput(bytes: Uint8Array, output: string | undefined, io: SopsCliIo, mode: number): Promise<void> {
  if (output) {
    const { writeFileAtomic } = await import('../../common/fs.js');
    await writeFileAtomic(output, bytes, { mode });
  } else io.stdoutBytes(bytes);
}

function formatFlag(name: string, value: string | undefined, parse: (s: string) => string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const f = parse(value);
  if (!f) throw new UsageError(`${name} must be one of yaml, json, dotenv, ini, binary (got ${JSON.stringify(value)})`);
  return f;
}

async function decryptAction(file: string, flags: DecryptFlags, io: SopsCliIo): Promise<void> {
  const sops = await import('./index.js');
  const { zeroize } = await import('../../common/bytes.js');
  const inputFormat = (formatFlag('--input-type', flags.inputType, sops.parseSopsFormat) ?? sops.detectSopsFormat(file)) as import('./index.js').SopsFormat;
  const outputFormat = (formatFlag('--output-type', flags.outputType, sops.parseSopsFormat) ?? inputFormat) as import('./index.js').SopsFormat;
  const steps = flags.extract !== undefined ? sops.parseExtractPath(flags.extract) : undefined;
  const bytes = await readInput(file);
  const meta = sops.readSopsMetadata(bytes, inputFormat);
  const keys: import('./index.js').SopsKeySources = { ageIdentities: await ageIdentities(flags, io) };
  if (flags.pgpKeyFile?.length) {
    const blocks: string[] = [];
    for (const f of flags.pgpKeyFile) blocks.push(...sops.splitArmoredKeys((await readInput(f)).toString('utf8')));
    keys.pgpPrivateKeys = blocks;
  }
  if (meta.kms.length > 0) {
    const { createSdkKms } = await import('./keys/kms-sdk.js');
    keys.kms = (await createSdkKms({ env: io.env, ...(flags.kmsEndpoint ? { endpoint: flags.kmsEndpoint } : {}) })).unwrap;
  }
  const result = await sops.decryptSops(bytes, inputFormat, keys);
  let out: Uint8Array;
  if (steps) {
    const v = sops.extractValue(result.branches[0], steps);
    if (typeof v === 'string') out = Buffer.from(v, 'utf8');
    else if (v instanceof sops.SopsBytes) out = Buffer.from(v.bytes);
    else if (v instanceof sops.SopsMap) out = sops.emitPlainFile([v, ...result.branches.slice(1)], outputFormat);
    else if (outputFormat === 'json') out = Buffer.from(sops.emitJsonValue(v, '\t'));
    else if (outputFormat === 'yaml') out = Buffer.from(sops.emitYamlValue(v, { indent: 4, flavor: 'v3' }));
    else throw new sops.SopsError('SOPS_UNSUPPORTED', `the ${outputFormat} format can only extract strings and mappings`);
  } else out = sops.emitPlainFile(result.branches, outputFormat);
  try {
    await writeOutput(out, flags.output, io, 0o600);
  } finally {
    zeroize(out);
  }
}

async function encryptAction(file: string, flags: EncryptFlags, io: SopsCliIo): Promise<void> {
  const sops = await import('./index.js');
  const format = (formatFlag('--input-type', flags.inputType, sops.parseSopsFormat) ?? sops.detectSopsFormat(file)) as import('./index.js').SopsFormat;
  const specs: import('./index.js').SopsMasterKeySpec[] = [
    ...(flags.age ?? []).map((recipient) => ({ type: 'age' as const, recipient })),
    ...(flags.kms ?? []).map((arn) => {
      if (!sops.kmsRegionFromArn(arn)) throw new UsageError(`--kms ${JSON.stringify(arn)} is not a KMS key ARN`);
      return { type: 'kms' as const, arn };
    }),
  ];
  if (specs.length === 0) throw new UsageError('give at least one --age RECIPIENT or --kms ARN');
  const plain = await readInput(file);
  const opts: import('./index.js').SopsEncryptOptions = { format, keyGroups: [specs] };
  if (flags.kms?.length) {
    const { createSdkKms } = await import('./keys/kms-sdk.js');
    opts.kms = (await createSdkKms({ env: io.env, ...(flags.kmsEndpoint ? { endpoint: flags.kmsEndpoint } : {}) })).wrap;
  }
  try {
    const out = await sops.encryptSopsFile(plain, opts);
    if (flags.json && flags.output) {
      await writeOutput(out, flags.output, io, 0o644);
      io.stdout(JSON.stringify({ ok: true, output: flags.output, format, keys: specs.length }, null, 2) + '\n');
    } else await writeOutput(out, flags.output, io, 0o644);
  } finally {
    plain.fill(0);
  }
}

/** Adds `sops decrypt` and `sops encrypt` to the program. */
export function registerSopsCommands(program: Command, io: SopsCliIo = defaultIo): void {
  const sops = program.command('sops').description('Decrypt and encrypt SOPS files (YAML, JSON, dotenv, INI, binary)');
  sops
    .command('decrypt <file>')
    .description('Decrypt a SOPS file (MAC always verified) and print the plaintext')
    .option('--age-key-file <file>', 'age identities file (repeatable; also SOPS_AGE_KEY_FILE / SOPS_AGE_KEY)', collect)
    .option('--pgp-key-file <file>', 'armored, unprotected PGP private key(s) (repeatable)', collect)
    .option('--extract <path>', 'print only this value, e.g. \'["app"]["password"]\'')
    .option('--input-type <type>', 'yaml, json, dotenv, ini or binary (default: from the extension)')
    .option('--output-type <type>', 'format of the output (default: the input format)')
    .option('--kms-endpoint <url>', 'KMS endpoint override (e.g. the local simulator)')
    .option('--output <file>', 'write the plaintext to this file (mode 0600) instead of stdout')
    .option('--json', 'report errors as JSON')
    .action(async (file: string, flags: DecryptFlags) => {
      await runCommand(Boolean(flags.json), () => decryptAction(file, flags, io), io);
    });
  sops
    .command('encrypt <file>')
    .description('Encrypt a plaintext file for age recipients and/or KMS keys, as sops would')
    .option('--age <recipient>', 'age recipient (repeatable or comma-separated)', collect)
    .option('--kms <arn>', 'KMS key ARN (repeatable or comma-separated)', collect)
    .option('--kms-endpoint <url>', 'KMS endpoint override (e.g. the local simulator)')
    .option('--input-type <type>', 'yaml, json, dotenv, ini or binary (default: from the extension)')
    .option('--output <file>', 'write the encrypted file here instead of stdout')
    .option('--json', 'print a JSON summary (with --output) and report errors as JSON')
    .action(async (file: string, flags: EncryptFlags) => {
      await runCommand(Boolean(flags.json), () => encryptAction(file, flags, io), io);
    });
}
