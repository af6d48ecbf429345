/**
 * Pack inputs of a chosen shape (files × keys per file), for the pack and enclave-memory
 * benchmarks: a clef.yaml with one namespace per file, one environment and one identity holding
 * every namespace (KMS envelope under the simulator's wrap key), and SOPS YAML files whose data
 * keys are wrapped under the source key. Keys, IVs and values come from seeds, so every run packs
 * the same bytes.
 */
import { EncryptCommand } from '@aws-sdk/client-kms';
import { encryptSops, sopsMap } from '../enclave-app/sops/index.js';
import type { PackFile } from '../enclave-app/protocol.js';
import type { BenchWorld } from './sim-world.js';
import { SeededBytes } from './seeded.js';
import { seededSecrets } from './sops.js';

const FIXED_TIME = new Date(Date.UTC(2030, 0, 15, 12, 0, 0));

/** What one shaped identity's pack needs. */
export interface ShapedInputs {
  identity: string;
  environment: 'production';
  manifest: PackFile;
  files: PackFile[];
  /** Keys in the artifact (files × keys per file). */
  keyCount: number;
}

/** clef.yaml for one identity over `names` (one environment, KMS envelope). */
export function shapedManifest(identity: string, names: string[], sourceArn: string, wrapArn: string): string {
  return [
    'version: 1',
    'environments:',
    '  - name: production',
    '    description: Production',
    'namespaces:',
    ...names.flatMap((n) => [`  - name: ${n}`, `    description: bulk namespace ${n}`]),
    'sops:',
    '  default_backend: awskms',
    `  aws_kms_arn: "${sourceArn}"`,
    'file_pattern: "secrets/{namespace}/{environment}.enc.yaml"',
    'service_identities:',
    `  - name: ${identity}`,
    '    description: benchmark identity holding every namespace',
    `    namespaces: [${names.join(', ')}]`,
    '    pack_only: true',
    '    environments:',
    `      production: {kms: {provider: aws, keyId: "${wrapArn}"}}`,
    '',
  ].join('\n');
}

/** Encrypts `files` SOPS files of `keysPerFile` secrets each for `identity`. */
export async function shapedInputs(world: BenchWorld, o: { identity: string; files: number; keysPerFile: number; seed?: string }): Promise<ShapedInputs> {
  const seed = o.seed ?? o.identity;
  const names = Array.from({ length: o.files }, (_, i) => `ns${String(i).padStart(2, '0')}`);
  const files: PackFile[] = [];
  for (const ns of names) {
    const seeded = new SeededBytes(`${seed} ${ns}`);
    const bytes = await encryptSops([sopsMap(seededSecrets(o.keysPerFile, `${seed} ${ns}`))], {
      format: 'yaml',
      keyGroups: [[{ type: 'kms', arn: world.keys.source }]],
      kms: async (req) => {
        const out = await world.admin.send(new EncryptCommand({ KeyId: req.arn, Plaintext: req.plaintext }));
        return Buffer.from(out.CiphertextBlob!).toString('base64');
      },
      dataKey: seeded.next(32),
      ivs: () => seeded.next(32),
      now: FIXED_TIME,
    });
    files.push({ path: `secrets/${ns}/production.enc.yaml`, content: bytes });
  }
  const manifest = shapedManifest(o.identity, names, world.keys.source, world.keys.wrap);
  return {
    identity: o.identity,
    environment: 'production',
    manifest: { path: 'clef.yaml', content: new Uint8Array(Buffer.from(manifest, 'utf8')) },
    files,
    keyCount: o.files * o.keysPerFile,
  };
}
