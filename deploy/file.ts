/**
 * `attested-pack.deploy.yaml`: the one file a deployment is rendered from. Parsing is two
 * steps: the shape (deploy/schema.json, path-named errors) and then the rules across fields
 * the schema cannot say — one purpose per key, envelopes among the wrap keys, ARNs in the
 * file's account and region, the manifest inside the repository, access rules only for cells
 * the enclave packs. Defaults are applied here, once, so every renderer sees the same values.
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { DeployError } from './errors.js';
import { validateAgainstSchema } from './schema.js';

/** The one envelope of a cell: a wrap key or age recipients. */
export type Envelope = { kmsKey: string } | { ageRecipients: string[] };

/** One identity × environment the enclave packs. */
export interface Cell {
  identity: string;
  environment: string;
  envelope: Envelope;
  sourceKeys?: string[];
}

/** A GitHub Actions OIDC rule as the host proxy reads it. */
export interface OidcRule {
  repository: string;
  repositoryId: string;
  repositoryOwnerId?: string;
  refs?: string[];
  githubEnvironments?: string[];
  eventNames?: string[];
  jobWorkflowRefs?: string[];
  identities: string[];
  environments: string[];
}

/** A static bearer token (its SHA-256) and what it may pack. */
export interface TokenRule {
  name: string;
  sha256: string;
  identities: string[];
  environments: string[];
}

/** A validated deploy file with every default applied. */
export interface DeployConfig {
  deployVersion: 1;
  account: string;
  region: string;
  parentRoleArn: string;
  admins: string[];
  repository: string;
  manifest: string;
  manifestSha256: string[];
  enclave: { listenPort: number; cid: number; kmsRelayPort: number; cpus: number; memoryMiB: number };
  keys: { source: string[]; wrap: string[]; sign?: string; seal?: string };
  signer: { publicKey: string; sealedKeyFile: string };
  cells: Cell[];
  access: { githubOidc?: { audience: string; rules: OidcRule[] }; tokens: TokenRule[] };
  runtimeRoles: string[];
  encryptors: { source: string[]; seal: string[] };
  proxy: { listen: string; tls?: { certFile: string; keyFile: string } };
  launch: { instanceType: string; eifPath: string };
}

/** The file name operators keep at the top of their infrastructure repository. */
export const DEPLOY_FILE_NAME = 'attested-pack.deploy.yaml';

/** Reads and validates a deploy file. */
export async function loadDeployFile(path: string): Promise<{ config: DeployConfig; text: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DeployError('DEPLOY_FILE_UNREADABLE', `cannot read the deploy file ${path}`, { cause: err, hint: `check the path (the usual name is ${DEPLOY_FILE_NAME})` });
  }
  return { config: parseDeployFile(text, path), text };
}

/** Parses deploy-file YAML text into a validated `DeployConfig`. */
export function parseDeployFile(text: string, source = DEPLOY_FILE_NAME): DeployConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new DeployError('DEPLOY_FILE_UNREADABLE', `${source} is not valid YAML: ${e.message.split('\n')[0]}`, {
      hint: 'fix the YAML syntax (duplicate keys are refused too)',
      details: { source, ...(e.linePos?.[0] ? { line: e.linePos[0].line } : {}) },
    });
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 0 });
  } catch {
    throw new DeployError('DEPLOY_FILE_UNREADABLE', `${source} uses YAML aliases (*name)`, { hint: 'write every value out: a deploy file is reviewed line by line', details: { source } });
  }
  validateAgainstSchema(raw, source);
  const r = raw as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- shape checked by the schema above
  const config: DeployConfig = {
    deployVersion: 1,
    account: r.account,
    region: r.region,
    parentRoleArn: r.parentRoleArn,
    admins: r.admins,
    repository: r.repository,
    manifest: r.manifest ?? 'clef.yaml',
    manifestSha256: r.manifestSha256 ?? [],
    enclave: {
      listenPort: r.enclave.listenPort ?? 5000,
      cid: r.enclave.cid ?? 16,
      kmsRelayPort: r.enclave.kmsRelayPort ?? 8000,
      cpus: r.enclave.cpus,
      memoryMiB: r.enclave.memoryMiB,
    },
    keys: { source: r.keys.source, wrap: r.keys.wrap ?? [], ...(r.keys.sign ? { sign: r.keys.sign } : {}), ...(r.keys.seal ? { seal: r.keys.seal } : {}) },
    signer: { publicKey: r.signer.publicKey, sealedKeyFile: r.signer.sealedKeyFile ?? '/etc/attested-pack/sealed-signing-key.json' },
    cells: r.cells,
    access: { ...(r.access.githubOidc ? { githubOidc: r.access.githubOidc } : {}), tokens: r.access.tokens ?? [] },
    runtimeRoles: r.runtimeRoles ?? [],
    encryptors: { source: r.encryptors?.source ?? [], seal: r.encryptors?.seal ?? [] },
    proxy: { listen: r.proxy?.listen ?? '0.0.0.0:8443', ...(r.proxy?.tls ? { tls: r.proxy.tls } : {}) },
    launch: { instanceType: r.launch?.instanceType ?? 'm6i.xlarge', eifPath: r.launch?.eifPath ?? '/opt/attested-pack/enclave.eif' },
  };
  checkRules(config, source);
  return config;
}

/** The rules across fields, each naming the path it is about. */
function checkRules(c: DeployConfig, source: string): void {
  const fail = (path: string, message: string, hint: string): never => {
    throw new DeployError('DEPLOY_FILE_INVALID', `${path}: ${message} (in ${source})`, { hint, details: { path, source } });
  };

  // The manifest lies inside the repository (a repo-relative POSIX path).
  const segments = c.manifest.replace(/^(?:\.\/)+/, '').split('/');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (c.manifest.startsWith('/') || c.manifest.includes('\\') || /[\u0000-\u001f\u007f]/.test(c.manifest) || segments.some((s) => s === '' || s === '.' || s === '..')) {
    fail('manifest', `${JSON.stringify(c.manifest)} is outside the repository`, 'write the path of clef.yaml relative to the repository root, without .. (e.g. infra/clef.yaml)');
  }
  c.manifest = segments.join('/');

  // Every ARN in the file's account; every key in the file's region.
  const accountOf = (arn: string): string | undefined => /^arn:aws[a-z-]*:(?:iam|kms:[a-z0-9-]+)::?(\d{12}):/.exec(arn)?.[1] ?? /:(\d{12}):/.exec(arn)?.[1];
  const keyEntries: Array<{ path: string; arn: string; purpose: string }> = [
    ...c.keys.source.map((arn, i) => ({ path: `keys.source[${i}]`, arn, purpose: 'source' })),
    ...c.keys.wrap.map((arn, i) => ({ path: `keys.wrap[${i}]`, arn, purpose: 'wrap' })),
    ...(c.keys.sign ? [{ path: 'keys.sign', arn: c.keys.sign, purpose: 'sign' }] : []),
    ...(c.keys.seal ? [{ path: 'keys.seal', arn: c.keys.seal, purpose: 'seal' }] : []),
  ];
  for (const k of keyEntries) {
    const region = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(k.arn)?.[1];
    if (region !== c.region) fail(k.path, `the key is in ${region}, the deployment in ${c.region}`, 'the enclave calls KMS in one region (--kms-region); use keys of that region');
    if (accountOf(k.arn) !== c.account) fail(k.path, `the key belongs to account ${accountOf(k.arn)}, not ${c.account}`, 'the key policies are rendered for the file\'s account');
  }
  // One purpose per key: a wrap key that is also a source key lets runtimes (Decrypt on wrap keys) read SOPS data keys.
  const firstUse = new Map<string, { path: string; purpose: string }>();
  for (const k of keyEntries) {
    const prev = firstUse.get(k.arn);
    if (prev) {
      fail(k.path, `the ${k.purpose} key is also the ${prev.purpose} key at ${prev.path}`,
        prev.purpose === 'source' || k.purpose === 'source'
          ? 'use a separate key per purpose: runtimes may Decrypt with wrap keys, so a shared key hands them the SOPS data keys without any attestation'
          : 'use a separate key per purpose: each key policy grants exactly one kind of use');
    }
    firstUse.set(k.arn, k);
  }
  const principalPaths: Array<{ path: string; arn: string }> = [
    { path: 'parentRoleArn', arn: c.parentRoleArn },
    ...c.admins.map((arn, i) => ({ path: `admins[${i}]`, arn })),
    ...c.runtimeRoles.map((arn, i) => ({ path: `runtimeRoles[${i}]`, arn })),
    ...c.encryptors.source.map((arn, i) => ({ path: `encryptors.source[${i}]`, arn })),
    ...c.encryptors.seal.map((arn, i) => ({ path: `encryptors.seal[${i}]`, arn })),
  ];
  for (const p of principalPaths) {
    if (accountOf(p.arn) !== c.account) fail(p.path, `the principal belongs to account ${accountOf(p.arn)}, not ${c.account}`, 'cross-account principals are not rendered; use roles of the deployment account');
  }
  c.admins.forEach((a, i) => {
    if (a === c.parentRoleArn) fail(`admins[${i}]`, 'the parent role must not administer the keys', 'with kms:PutKeyPolicy the parent instance could drop the attestation conditions and decrypt outside the enclave');
  });
  c.runtimeRoles.forEach((a, i) => {
    if (a === c.parentRoleArn) fail(`runtimeRoles[${i}]`, 'the parent role must not be a runtime role', 'runtime roles may Decrypt artifacts; the parent instance must only ever see ciphertext');
  });

  // Signing: a KMS sign key or a sealed key (or both), and a signer public key of the right kind.
  if (!c.keys.sign && !c.keys.seal) fail('keys', 'no signing key: set keys.seal (sealed Ed25519, the default mode) or keys.sign (KMS ECDSA)', 'artifacts must be signed; see README "Deploying"');
  let keyType: string | undefined;
  try {
    keyType = createPublicKey({ key: Buffer.from(c.signer.publicKey, 'base64'), format: 'der', type: 'spki' }).asymmetricKeyType;
  } catch {
    fail('signer.publicKey', 'not a DER SPKI public key in base64', 'paste the verify key `attested-pack sealed-key create` printed, or PublicKey from `aws kms get-public-key`');
  }
  if (c.keys.seal && keyType !== 'ed25519') fail('signer.publicKey', `keys.seal is set, so the signer is the sealed Ed25519 key; this is a ${keyType} key`, 'paste the verify key `attested-pack sealed-key create` printed');
  if (!c.keys.seal && keyType !== 'ec') fail('signer.publicKey', `the signer is the KMS sign key (ECDSA P-256); this is a ${keyType} key`, 'paste PublicKey from `aws kms get-public-key --key-id <keys.sign>`');

  // Cells: unique, envelopes among the wrap keys, per-cell source keys among keys.source.
  const cellNames = new Set<string>();
  c.cells.forEach((cell, i) => {
    const name = `${cell.identity}/${cell.environment}`;
    if (cellNames.has(name)) fail(`cells[${i}]`, `${name} is listed twice`, 'each identity × environment has exactly one envelope');
    cellNames.add(name);
    const env = cell.envelope as { kmsKey?: string; ageRecipients?: string[] };
    if ((env.kmsKey === undefined) === (env.ageRecipients === undefined)) {
      fail(`cells[${i}].envelope`, 'set exactly one of kmsKey or ageRecipients', 'write envelope: { kmsKey: ARN } or envelope: { ageRecipients: [age1…] }');
    }
    if (env.kmsKey !== undefined && !c.keys.wrap.includes(env.kmsKey)) {
      const other = firstUse.get(env.kmsKey);
      fail(`cells[${i}].envelope.kmsKey`, other ? `the ${other.purpose} key at ${other.path} cannot be an envelope` : 'not one of keys.wrap',
        other?.purpose === 'source' ? 'a wrap key also used as a source key would let runtimes decrypt SOPS data keys; use a separate wrap key listed in keys.wrap' : 'list the key under keys.wrap so its policy lets the enclave Encrypt and runtimes Decrypt');
    }
    (cell.sourceKeys ?? []).forEach((k, j) => {
      if (!c.keys.source.includes(k)) fail(`cells[${i}].sourceKeys[${j}]`, 'not one of keys.source', 'list it under keys.source so its policy is rendered');
    });
  });
  c.keys.wrap.forEach((k, i) => {
    if (!c.cells.some((cell) => 'kmsKey' in cell.envelope && cell.envelope.kmsKey === k)) {
      fail(`keys.wrap[${i}]`, 'no cell wraps for this key', 'name it as some cell\'s envelope.kmsKey, or remove it (the enclave wraps only for cell envelopes)');
    }
  });

  // Access rules: the deployment's repository, and only identities/environments some cell has.
  const identities = new Set(c.cells.map((x) => x.identity));
  const environments = new Set(c.cells.map((x) => x.environment));
  const checkScope = (path: string, ids: string[], envs: string[]): void => {
    ids.forEach((id, j) => {
      if (id !== '*' && !identities.has(id)) fail(`${path}.identities[${j}]`, `no cell has identity ${id}`, `add a cell for it, or use one of: ${[...identities].join(', ')}`);
    });
    envs.forEach((e, j) => {
      if (e !== '*' && !environments.has(e)) fail(`${path}.environments[${j}]`, `no cell has environment ${e}`, `add a cell for it, or use one of: ${[...environments].join(', ')}`);
    });
  };
  c.access.githubOidc?.rules.forEach((rule, i) => {
    const p = `access.githubOidc.rules[${i}]`;
    if (rule.repository !== c.repository) fail(`${p}.repository`, `${rule.repository} is not the deployment's repository ${c.repository}`, 'one deployment packs one Clef repository (its manifest, keys and receipts); deploy another for another repository');
    checkScope(p, rule.identities, rule.environments);
  });
  const tokenNames = new Set<string>();
  c.access.tokens.forEach((t, i) => {
    if (tokenNames.has(t.name)) fail(`access.tokens[${i}].name`, `duplicate token name ${t.name}`, 'token names become requestedBy in receipts; keep them unique');
    tokenNames.add(t.name);
    checkScope(`access.tokens[${i}]`, t.identities, t.environments);
  });
  if (!c.access.githubOidc && c.access.tokens.length === 0) {
    fail('access', 'nobody may pack: set access.githubOidc or access.tokens', 'GitHub Actions callers: access.githubOidc.rules; other CI: access.tokens with the SHA-256 of each token');
  }
}

/** `identity/environment`, the name of a cell in flags and messages. */
export function cellName(cell: Pick<Cell, 'identity' | 'environment'>): string {
  return `${cell.identity}/${cell.environment}`;
}
