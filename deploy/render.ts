/**
 * `deploy render`: every file of a deployment, derived from the deploy file (and, once the image
 * is built, its measurements.json). Pure: returns path → text, so `deploy check` renders again
 * and compares byte for byte.
 *
 *   image/cmd.json            the image's /cmd (measured into PCR2)
 *   image/build.sh            the locked `eif build` command that measures exactly that /cmd
 *   proxy.yaml                the host-proxy configuration
 *   after the build (DIR/measurements.json):
 *   policies/<purpose>-<n>.json, .cfn.json   each key's policy for its purpose
 *   policies/key-policies.tf, put-key-policies.sh   the same, attached to the existing keys
 *   launch/parent.tf, launch/parent.cfn.json   launch template (enclave options, instance role,
 *                             allocator) and Auto Scaling group for the parent instances
 *   expectations.json         what auditors expect (verify-receipt --expect)
 */
import { stringify } from 'yaml';
import type { Measurements } from '../common/measurements.js';
import { IMAGE_BUNDLE_PATH, IMAGE_NODE_PATH } from '../eif-build/rootfs.js';
import { generateKeyPolicy, type KeyPurpose } from '../kms-policies/generate.js';
import { hclString, hclValue, renderKeyPolicy } from '../kms-policies/render.js';
import type { KeyPolicyDocument, KeyPolicyStatement } from '../kms-policies/policy.js';
import type { ExpectationsFile } from '../verify-receipt/expect-file.js';
import { cellName, type DeployConfig } from './file.js';
import { VERSION } from '../common/version.js';

/** One key of the deployment with its purpose and the stem of its policy files. */
export interface DeployKey {
  arn: string;
  purpose: KeyPurpose;
  /** e.g. `source-1`: policies/source-1.json. */
  name: string;
}

/** The rendered files, by path relative to the output directory. */
export type RenderedFiles = Map<string, string>;

/** The path of the measurements the post-build files are rendered from. */
export const MEASUREMENTS_FILE = 'measurements.json';

/** The keys of the deployment in a fixed order: source…, wrap…, sign, seal. */
export function deployKeys(c: DeployConfig): DeployKey[] {
  return [
    ...c.keys.source.map((arn, i) => ({ arn, purpose: 'source' as const, name: `source-${i + 1}` })),
    ...c.keys.wrap.map((arn, i) => ({ arn, purpose: 'wrap' as const, name: `wrap-${i + 1}` })),
    ...(c.keys.sign ? [{ arn: c.keys.sign, purpose: 'sign' as const, name: 'sign' }] : []),
    ...(c.keys.seal ? [{ arn: c.keys.seal, purpose: 'seal' as const, name: 'seal' }] : []),
  ];
}

/**
 * What `attested-pack sim` swaps when it renders the demo's deploy file: only the transport and
 * endpoint flags (a unix socket instead of vsock, the KMS simulator's endpoint instead of the
 * vsock relay to KMS, the simulated NSM's state and the measurements it reports, PCR3 from the
 * parent role) and the proxy's listener and credentials. Every pin — envelopes, source keys,
 * manifest hashes, sign key, seal key, signer public key — and every key policy and expectation
 * is rendered exactly as for AWS. SECURITY.md "The deploy file and what is rendered from it" lists
 * what the simulation does not show.
 */
export interface SimulationOverlay {
  /** Simulated NSM PKI directory (`--sim-state`). */
  nsmDir: string;
  /** measurements.json the simulated NSM reports as PCR0/1/2 (`--measurements`). */
  measurementsPath: string;
  /** The KMS simulator (`--kms-endpoint`), called directly instead of through the vsock relay. */
  kmsEndpoint: string;
  /** The enclave's unix socket (`--listen unix://…`). */
  socketPath: string;
  /** The simulation's proxy: loopback listener, static demo credentials instead of IMDS. */
  proxy: {
    listen: string;
    /** Transport URL the proxy dials (default the enclave's socket). */
    enclaveUrl?: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    logLevel?: string;
    packTimeoutSeconds?: number;
  };
}

/** The transport flags: vsock and the KMS relay on AWS, or the simulation's socket and endpoint. */
function transportArgs(c: DeployConfig, sim?: SimulationOverlay): string[] {
  if (!sim) return ['--listen', `vsock://ANY:${c.enclave.listenPort}`, '--kms-region', c.region, '--kms-relay-port', String(c.enclave.kmsRelayPort)];
  return [
    '--simulate',
    '--sim-state',
    sim.nsmDir,
    '--measurements',
    sim.measurementsPath,
    '--role-arn',
    c.parentRoleArn,
    '--kms-endpoint',
    sim.kmsEndpoint,
    '--listen',
    `unix://${sim.socketPath}`,
  ];
}

/** The arguments after `node /app/enclave.mjs` in the image's /cmd (`sim`: the simulation's transport flags). */
export function serveArgs(c: DeployConfig, sim?: SimulationOverlay): string[] {
  const args = ['serve', ...transportArgs(c, sim)];
  for (const cell of c.cells) {
    const target = 'kmsKey' in cell.envelope ? cell.envelope.kmsKey : cell.envelope.ageRecipients.join(',');
    args.push('--envelope', `${cellName(cell)}=${target}`);
  }
  // Source keys for every cell, or (when any cell narrows them) per cell.
  if (c.cells.some((cell) => cell.sourceKeys)) {
    for (const cell of c.cells) for (const k of cell.sourceKeys ?? c.keys.source) args.push('--source-key', `${cellName(cell)}=${k}`);
  } else {
    for (const k of c.keys.source) args.push('--source-key', k);
  }
  for (const h of c.manifestSha256) args.push('--manifest-sha256', h);
  if (c.keys.sign) args.push('--signing-kms-key', c.keys.sign);
  if (c.keys.seal) args.push('--seal-key', c.keys.seal, '--signer-public-key', c.signer.publicKey);
  return args;
}

/** The image's whole /cmd, one argument per line in the image. */
export function imageCmd(c: DeployConfig, sim?: SimulationOverlay): string[] {
  return [IMAGE_NODE_PATH, IMAGE_BUNDLE_PATH, ...serveArgs(c, sim)];
}

/** /cmd as eif-build records it in measurements.json buildInputs.cmd. */
export function imageCmdText(c: DeployConfig): string {
  return imageCmd(c).map((a) => `${a}\n`).join('');
}

/** `attested-pack eif build` arguments that build the image with exactly this /cmd. */
export function eifBuildArgs(c: DeployConfig, o: { bundle: string; eif: string; measurements: string }): string[] {
  return ['eif', 'build', '--bundle', o.bundle, '--out', o.eif, '--measurements', o.measurements, ...serveArgs(c).flatMap((a) => ['--arg', a])];
}

/** Renders every file; the post-build ones only when `measurements` is given. */
export function renderDeployment(c: DeployConfig, o: { measurements?: Measurements; rollingFrom?: Measurements; simulation?: SimulationOverlay } = {}): RenderedFiles {
  const files: RenderedFiles = new Map();
  // Neither named nor hashed: renaming the deploy file or editing a comment is not drift.
  const from = 'the deploy file';
  files.set('image/cmd.json', JSON.stringify(imageCmd(c, o.simulation), null, 2) + '\n');
  // The simulation builds in-process (attested-pack sim); there is no build script to run.
  if (!o.simulation) files.set('image/build.sh', buildScript(c, from));
  files.set('proxy.yaml', proxyYaml(c, from, o.simulation));
  const m = o.measurements;
  if (!m) return files;
  const tf: string[] = [`# Generated by \`attested-pack deploy render\` from ${from}.`, '# The key policies of the existing keys, pinned to the image measured in measurements.json.', ''];
  const put: string[] = ['#!/bin/sh', `# Generated by \`attested-pack deploy render\` from ${from}.`, '# Puts each key policy on its key (run as a key administrator).', 'set -eu', 'cd "$(dirname "$0")"'];
  for (const k of deployKeys(c)) {
    const policy = o.rollingFrom ? rollingKeyPolicy(c, k, m, o.rollingFrom) : keyPolicy(c, k, m);
    files.set(`policies/${k.name}.json`, JSON.stringify(policy, null, 2) + '\n');
    files.set(`policies/${k.name}.cfn.json`, renderKeyPolicy(policy, k.purpose, 'cloudformation'));
    const res = k.name.replace(/-/g, '_');
    tf.push(`resource "aws_kms_key_policy" "attested_pack_${res}" {`, `  key_id = ${hclString(k.arn)}`, `  policy = jsonencode(${hclValue(policy, 2)})`, '}', '');
    put.push(`aws kms put-key-policy --region ${c.region} --key-id '${k.arn}' --policy-name default --policy file://${k.name}.json`);
  }
  files.set('policies/key-policies.tf', tf.join('\n'));
  files.set('policies/put-key-policies.sh', put.join('\n') + '\n');
  // The simulation launches no instances.
  if (!o.simulation) {
    files.set('launch/parent.tf', launchTerraform(c, m, from));
    files.set('launch/parent.cfn.json', launchCloudFormation(c, m, from));
  }
  files.set('expectations.json', JSON.stringify(expectations(c, m), null, 2) + '\n');
  return files;
}

/** The key policy of one key for its purpose (PCR0/1/2, PCR3 of the parent role, PCR8 when signed). */
export function keyPolicy(c: DeployConfig, k: DeployKey, m: Measurements): KeyPolicyDocument {
  const attested = k.purpose === 'source' || k.purpose === 'seal';
  const encryptors = k.purpose === 'source' ? c.encryptors.source : k.purpose === 'seal' ? c.encryptors.seal : [];
  return generateKeyPolicy({
    measurements: m,
    roleArn: c.parentRoleArn,
    admins: c.admins,
    purpose: k.purpose,
    accountId: c.account,
    ...(attested ? { pcrs: [0, 1, 2, 3, ...(m.PCR8 ? [8] : [])] } : { runtimeRoles: c.runtimeRoles }),
    ...(encryptors.length > 0 ? { encryptors } : {}),
  });
}

/**
 * The policy for a rolling replacement: the new image's policy, with each pinned PCR also
 * accepting the previous image's value (in the Allow and in each Deny), so instances of both
 * images decrypt while the Auto Scaling group replaces the old ones. Render without it afterwards.
 */
export function rollingKeyPolicy(c: DeployConfig, k: DeployKey, m: Measurements, previous: Measurements): KeyPolicyDocument {
  const next = keyPolicy(c, k, m);
  const prev = keyPolicy(c, k, previous);
  const list = (d: KeyPolicyDocument): KeyPolicyStatement[] => (Array.isArray(d.Statement) ? d.Statement : [d.Statement]);
  const before = list(prev);
  const statements = list(next).map((s, i) => {
    const old = before[i];
    if (!s.Condition || !old?.Condition) return s;
    const condition: Record<string, Record<string, string | string[]>> = {};
    for (const [op, entries] of Object.entries(s.Condition)) {
      condition[op] = {};
      for (const [key, value] of Object.entries(entries as Record<string, string>)) {
        const was = (old.Condition[op] as Record<string, string> | undefined)?.[key];
        condition[op][key] = was === undefined || was === value ? value : [value, was];
      }
    }
    return { ...s, Condition: condition };
  });
  return { ...next, Statement: statements };
}

/** expectations.json for auditors. */
export function expectations(c: DeployConfig, m: Measurements): ExpectationsFile {
  const ages = c.cells.flatMap((cell) => ('ageRecipients' in cell.envelope ? cell.envelope.ageRecipients : []));
  return {
    expectationsVersion: 1,
    measurements: { PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2, ...(m.PCR8 ? { PCR8: m.PCR8 } : {}) },
    parentRoleArn: c.parentRoleArn,
    manifestPath: c.manifest,
    repository: c.repository,
    keys: [...new Set([...deployKeys(c).map((k) => k.arn), ...ages])],
    signerPublicKey: c.signer.publicKey,
  };
}

function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function buildScript(c: DeployConfig, from: string): string {
  const argLines = serveArgs(c).map((a) => `--arg ${sq(a)}`);
  const lines = [
    '#!/bin/sh',
    `# Generated by \`attested-pack deploy render\` from ${from}.`,
    '# Builds the enclave image whose /cmd is image/cmd.json (measured into PCR2) and writes',
    '# measurements.json next to it; then run `attested-pack deploy render` again for the key',
    '# policies, launch template and expectations.json. Run it in an attested-pack checkout at the',
    '# release commit, after `npm ci && npm ci --prefix eif-build/runtime` (the pinned Node runtime):',
    '# the locked build checks every input against eif-build/image.lock.json, so anyone rebuilding',
    '# from the same commit and deploy file gets the same PCRs. Extra arguments go to `eif build`',
    '# (e.g. --blobs DIR for AWS\'s boot blobs, --sign-key/--sign-cert for PCR8).',
    'set -eu',
    'OUT="$(cd "$(dirname "$0")/.." && pwd)"',
    ['npx attested-pack eif build --locked release --out "$OUT/image/enclave.eif" --measurements "$OUT/measurements.json"', ...argLines, '"$@"'].join(' \\\n  '),
  ];
  return lines.join('\n') + '\n';
}

function proxyYaml(c: DeployConfig, from: string, sim?: SimulationOverlay): string {
  const repositories = [c.repository];
  const doc: Record<string, unknown> = {
    listen: sim ? sim.proxy.listen : c.proxy.listen,
    ...(c.proxy.tls && !sim ? { tls: c.proxy.tls } : {}),
    enclave: sim
      ? { url: sim.proxy.enclaveUrl ?? `unix://${sim.socketPath}`, ...(sim.proxy.packTimeoutSeconds ? { packTimeoutSeconds: sim.proxy.packTimeoutSeconds } : {}) }
      : { url: `vsock://${c.enclave.cid}:${c.enclave.listenPort}` },
    auth: {
      ...(c.access.tokens.length > 0 ? { tokens: c.access.tokens.map((t) => ({ ...t, repositories })) } : {}),
      ...(c.access.githubOidc
        ? {
            githubOidc: {
              audience: c.access.githubOidc.audience,
              jwksUrl: 'https://token.actions.githubusercontent.com/.well-known/jwks',
              allow: c.access.githubOidc.rules,
            },
          }
        : {}),
    },
    // The simulation: the simulator's documented demo credentials for the parent role (they open
    // only the simulator) and no relay (the enclave child calls the KMS simulator itself).
    ...(sim
      ? { credentials: { source: 'static', region: c.region, ...sim.proxy.credentials } }
      : {
          credentials: { source: 'imds', region: c.region },
          relay: { listen: `vsock://ANY:${c.enclave.kmsRelayPort}`, upstream: `kms.${c.region}.amazonaws.com:443` },
        }),
    ...(c.keys.seal ? { signing: { sealedKeyFile: c.signer.sealedKeyFile } } : {}),
    ...(sim?.proxy.logLevel ? { log: { level: sim.proxy.logLevel } } : {}),
  };
  const head = sim
    ? `# Generated by \`attested-pack sim\` (deploy render with the simulation's transport) from ${from}; the bearer token is stored only as its SHA-256.`
    : `# Generated by \`attested-pack deploy render\` from ${from}.`;
  return `${head}\n# attested-pack host-proxy --config proxy.yaml\n${stringify(doc, { lineWidth: 0 })}`;
}

/**
 * The parent's boot script: the allocator, the release (the EIF checked against the measured one),
 * the enclave, and the host proxy as a systemd service. The AMI brings Node.js 20+ and npm; the
 * proxy is installed at this tool's version.
 */
function userData(c: DeployConfig, m: Measurements, releaseUri: string): string {
  return [
    '#!/bin/sh',
    'set -eu',
    'dnf install -y aws-nitro-enclaves-cli',
    'mkdir -p /etc/nitro_enclaves /etc/attested-pack /opt/attested-pack',
    `printf -- '---\\nmemory_mib: ${c.enclave.memoryMiB}\\ncpu_count: ${c.enclave.cpus}\\n' > /etc/nitro_enclaves/allocator.yaml`,
    'systemctl enable --now nitro-enclaves-allocator.service',
    `aws s3 cp ${releaseUri}/enclave.eif ${c.launch.eifPath}`,
    `aws s3 cp ${releaseUri}/proxy.yaml /etc/attested-pack/proxy.yaml`,
    ...(c.keys.seal ? [`aws s3 cp ${releaseUri}/sealed-signing-key.json ${c.signer.sealedKeyFile}`] : []),
    // The instance runs only the image the policies and expectations were rendered for.
    `echo '${m.eifSha256}  ${c.launch.eifPath}' | sha256sum -c -`,
    `nitro-cli run-enclave --eif-path ${c.launch.eifPath} --cpu-count ${c.enclave.cpus} --memory ${c.enclave.memoryMiB} --enclave-cid ${c.enclave.cid}`,
    `npm install -g attested-pack@${VERSION}`,
    "cat > /etc/systemd/system/attested-pack-proxy.service <<'UNIT'",
    '[Unit]',
    'Description=attested-pack host proxy',
    'After=network-online.target',
    '[Service]',
    'ExecStart=/usr/bin/env attested-pack host-proxy --config /etc/attested-pack/proxy.yaml',
    'DynamicUser=yes',
    'Restart=always',
    'NoNewPrivileges=true',
    'ProtectSystem=strict',
    '[Install]',
    'WantedBy=multi-user.target',
    'UNIT',
    'systemctl enable --now attested-pack-proxy.service',
    '',
  ].join('\n');
}

function roleName(arn: string): string {
  return arn.replace(/^.*:role\/(?:.*\/)?/, '');
}

function launchTerraform(c: DeployConfig, m: Measurements, from: string): string {
  return [
    `# Generated by \`attested-pack deploy render\` from ${from}.`,
    `# Parent instances for image PCR0 ${m.PCR0.slice(0, 16)}…: every instance runs the same EIF (sha256 ${m.eifSha256}),`,
    '# so one set of PCRs, key policies and expectations serves them all. A new image is a new',
    '# launch template version; the instance refresh keeps 100% healthy while it rolls.',
    'variable "ami_id" { type = string }',
    'variable "subnet_ids" { type = list(string) }',
    'variable "target_group_arns" {',
    '  type    = list(string)',
    '  default = []',
    '}',
    'variable "release_uri" {',
    '  type        = string',
    '  description = "s3://bucket/prefix holding enclave.eif and proxy.yaml of this render"',
    '}',
    'variable "desired_capacity" {',
    '  type    = number',
    '  default = 2',
    '}',
    '',
    'resource "aws_iam_instance_profile" "attested_pack_parent" {',
    `  name_prefix = "attested-pack-parent-"`,
    `  role        = ${hclString(roleName(c.parentRoleArn))}`,
    '}',
    '',
    'resource "aws_launch_template" "attested_pack_parent" {',
    '  name_prefix   = "attested-pack-parent-"',
    '  image_id      = var.ami_id',
    `  instance_type = ${hclString(c.launch.instanceType)}`,
    '  enclave_options {',
    '    enabled = true',
    '  }',
    '  iam_instance_profile {',
    '    arn = aws_iam_instance_profile.attested_pack_parent.arn',
    '  }',
    '  metadata_options {',
    '    http_tokens                 = "required"',
    '    http_put_response_hop_limit = 1',
    '  }',
    '  user_data = base64encode(<<-EOT',
    ...userData(c, m, '${var.release_uri}').split('\n').map((l) => (l ? `    ${l.replace(/%\{/g, '%%{')}` : l)),
    '  EOT',
    '  )',
    '}',
    '',
    'resource "aws_autoscaling_group" "attested_pack" {',
    '  name_prefix         = "attested-pack-"',
    '  vpc_zone_identifier = var.subnet_ids',
    '  target_group_arns   = var.target_group_arns',
    '  health_check_type   = length(var.target_group_arns) > 0 ? "ELB" : "EC2"',
    '  min_size            = var.desired_capacity',
    '  max_size            = var.desired_capacity * 2',
    '  desired_capacity    = var.desired_capacity',
    '  launch_template {',
    '    id      = aws_launch_template.attested_pack_parent.id',
    '    version = aws_launch_template.attested_pack_parent.latest_version',
    '  }',
    '  instance_refresh {',
    '    strategy = "Rolling"',
    '    preferences {',
    '      min_healthy_percentage = 100',
    '      max_healthy_percentage = 200',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

function launchCloudFormation(c: DeployConfig, m: Measurements, from: string): string {
  const template = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `attested-pack parent instances, rendered from ${from}; image PCR0 ${m.PCR0}`,
    Parameters: {
      AmiId: { Type: 'AWS::EC2::Image::Id' },
      SubnetIds: { Type: 'List<AWS::EC2::Subnet::Id>' },
      TargetGroupArns: { Type: 'CommaDelimitedList', Default: '' },
      ReleaseUri: { Type: 'String', Description: 's3://bucket/prefix holding enclave.eif and proxy.yaml of this render' },
      DesiredCapacity: { Type: 'Number', Default: 2 },
      MaxCapacity: { Type: 'Number', Default: 4, Description: 'above DesiredCapacity, so a rolling update adds a new instance before it removes an old one' },
    },
    Conditions: { HasTargetGroups: { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', { Ref: 'TargetGroupArns' }] }, ''] }] } },
    Resources: {
      ParentInstanceProfile: { Type: 'AWS::IAM::InstanceProfile', Properties: { Roles: [roleName(c.parentRoleArn)] } },
      ParentLaunchTemplate: {
        Type: 'AWS::EC2::LaunchTemplate',
        Properties: {
          LaunchTemplateData: {
            ImageId: { Ref: 'AmiId' },
            InstanceType: c.launch.instanceType,
            EnclaveOptions: { Enabled: true },
            IamInstanceProfile: { Arn: { 'Fn::GetAtt': ['ParentInstanceProfile', 'Arn'] } },
            MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
            UserData: { 'Fn::Base64': { 'Fn::Sub': userData(c, m, '${ReleaseUri}') } },
          },
        },
      },
      ParentGroup: {
        Type: 'AWS::AutoScaling::AutoScalingGroup',
        UpdatePolicy: { AutoScalingRollingUpdate: { MinInstancesInService: { Ref: 'DesiredCapacity' }, MaxBatchSize: 1, WaitOnResourceSignals: false } },
        Properties: {
          VPCZoneIdentifier: { Ref: 'SubnetIds' },
          TargetGroupARNs: { 'Fn::If': ['HasTargetGroups', { Ref: 'TargetGroupArns' }, { Ref: 'AWS::NoValue' }] },
          HealthCheckType: { 'Fn::If': ['HasTargetGroups', 'ELB', 'EC2'] },
          MinSize: { Ref: 'DesiredCapacity' },
          MaxSize: { Ref: 'MaxCapacity' },
          DesiredCapacity: { Ref: 'DesiredCapacity' },
          LaunchTemplate: { LaunchTemplateId: { Ref: 'ParentLaunchTemplate' }, Version: { 'Fn::GetAtt': ['ParentLaunchTemplate', 'LatestVersionNumber'] } },
        },
      },
    },
  };
  return JSON.stringify(template, null, 2) + '\n';
}
