/**
 * clef.yaml parser with Clef's validation rules (packages/core/src/manifest/parser.ts at
 * clef-sh/clef@53d3198, see reference/clef-compat.md §1). Rules are checked in Clef's order
 * and the first broken one is reported, as `CLEF_MANIFEST_INVALID` with the YAML path of the
 * field (e.g. `service_identities[0].environments.production.kms.keyId`) and, when the
 * source is known, its line.
 *
 * Where Clef silently ignores a mistyped optional field that does not affect packing
 * (`protected: "yes"`, `schema: 3`), so do we: a manifest Clef accepts must pack here too.
 */
import { createHash } from 'node:crypto';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { checkAgeRecipient } from './age-recipient.js';
import { parseAwsKmsArn } from './aws-arn.js';
import { ClefError } from './errors.js';
import {
  KMS_PROVIDERS,
  SOPS_BACKENDS,
  type AgeRecipientEntry,
  type ClefEnvironment,
  type ClefManifest,
  type ClefNamespace,
  type ClefSopsConfig,
  type KmsProvider,
  type ServiceIdentity,
  type ServiceIdentityEnvironment,
  type SopsBackend,
  type SopsKeySettings,
} from './manifest-types.js';

const TOP_LEVEL_KEYS = ['version', 'environments', 'namespaces', 'sops', 'file_pattern', 'service_identities'];
/** Environment and namespace names. */
const NAME_RE = /^[a-z][a-z0-9_-]*$/;
/** Service identity names are DNS labels (Clef uses them as `<name>.serve.clef.sh`). */
const IDENTITY_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Minimal PKCS#11 URI shape Clef checks for the `hsm` backend. */
const PKCS11_URI_RE = /^pkcs11:[a-zA-Z][a-zA-Z0-9_-]*=[^;]+/;
/** Largest manifest we read; Clef has no limit, but the enclave must bound its work. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

type PathPart = string | number;
type Fields = Record<string, unknown>;

/** Formats a path the way people write it: `service_identities[0].environments.dev.kms`. */
export function formatYamlPath(path: readonly PathPart[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** Where a failing field sits in the source text, if we have one. */
type Locate = (path: readonly PathPart[]) => { line: number; col: number } | undefined;

class Checker {
  constructor(private readonly locate: Locate) {}

  fail(path: readonly PathPart[], message: string, hint?: string): never {
    const yamlPath = formatYamlPath(path);
    const pos = this.locate(path);
    const where = pos ? ` (line ${pos.line})` : '';
    throw new ClefError('CLEF_MANIFEST_INVALID', `clef.yaml ${yamlPath}${where}: ${message}`, {
      ...(hint === undefined ? {} : { hint }),
      details: { path: yamlPath, ...(pos ? { line: pos.line, column: pos.col } : {}) },
    });
  }
}

function isObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function has(o: Fields, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

function isBackend(v: unknown): v is SopsBackend {
  return typeof v === 'string' && (SOPS_BACKENDS as readonly string[]).includes(v);
}

/**
 * Parses clef.yaml text (or bytes) and validates it; the entry point for the pack.
 * Throws `ClefError('CLEF_MANIFEST_INVALID')` naming the YAML path of the first bad field.
 */
/**
 * `parseManifest` remembered by the exact bytes: CI sends the same clef.yaml for every identity,
 * environment and run of a commit, and parsing the YAML is a measurable part of a pack's CPU.
 * The result is a pure function of the bytes and deep-frozen, so no caller can change what the
 * next caller gets; failures are not remembered (they are cheap to repeat and carry positions).
 */
export function parseManifestCached(source: Uint8Array): ClefManifest {
  const id = createHash('sha256').update(source).digest('base64');
  const known = manifestCache.get(id);
  if (known) {
    // Most recently used last: the Map's order is the eviction order.
    manifestCache.delete(id);
    manifestCache.set(id, known);
    return known;
  }
  const parsed = deepFreeze(parseManifest(source));
  manifestCache.set(id, parsed);
  if (manifestCache.size > MANIFEST_CACHE_ENTRIES) manifestCache.delete(manifestCache.keys().next().value!);
  return parsed;
}

const MANIFEST_CACHE_ENTRIES = 16;
const manifestCache = new Map<string, ClefManifest>();

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function parseManifest(source: string | Uint8Array): ClefManifest {
  const text = decodeManifest(source);
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    // logLevel 'error': no process warnings from the enclave (e.g. for collection keys Clef would stringify).
    doc = parseDocument(text, { lineCounter, prettyErrors: false, logLevel: 'error' });
  } catch (err) {
    throw new ClefError('CLEF_MANIFEST_INVALID', 'clef.yaml is not valid YAML', {
      hint: 'check clef.yaml for syntax errors',
      cause: err,
    });
  }
  const firstError = doc.errors[0];
  if (firstError) {
    const pos = lineCounter.linePos(firstError.pos[0]);
    throw new ClefError(
      'CLEF_MANIFEST_INVALID',
      `clef.yaml is not valid YAML (line ${pos.line}, column ${pos.col}): ${firstError.code}`,
      { hint: 'check clef.yaml for syntax errors', details: { path: '(root)', line: pos.line, column: pos.col } },
    );
  }

  let value: unknown;
  try {
    // Same conversion as YAML.parse (what Clef uses): core schema, unique keys, alias limit.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ClefError('CLEF_MANIFEST_INVALID', 'clef.yaml could not be converted to data (aliases or tags)', {
      hint: 'avoid YAML aliases that expand too much and custom tags',
      cause: err,
    });
  }

  const locate: Locate = (path) => {
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && Array.isArray(node.range)) {
        return lineCounter.linePos(node.range[0]);
      }
    }
    // A missing field: point at the mapping that should hold it.
    const root = doc.contents as { range?: [number, number, number] } | null;
    return root && Array.isArray(root.range) ? lineCounter.linePos(root.range[0]) : undefined;
  };
  return validateManifestWith(value, new Checker(locate));
}

function decodeManifest(source: string | Uint8Array): string {
  const tooLarge = (): never => {
    throw new ClefError('CLEF_MANIFEST_INVALID', `clef.yaml is larger than ${MAX_MANIFEST_BYTES} bytes`, {
      details: { path: '(root)' },
    });
  };
  if (typeof source === 'string') {
    if (source.length > MAX_MANIFEST_BYTES) tooLarge();
    return source;
  }
  if (source.byteLength > MAX_MANIFEST_BYTES) tooLarge();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(source);
  } catch (err) {
    throw new ClefError('CLEF_MANIFEST_INVALID', 'clef.yaml is not valid UTF-8', { details: { path: '(root)' }, cause: err });
  }
}

/** Validates an already-parsed manifest object (what `YAML.parse` returned) with Clef's rules. */
export function validateManifest(input: unknown): ClefManifest {
  return validateManifestWith(input, new Checker(() => undefined));
}

function validateManifestWith(input: unknown, c: Checker): ClefManifest {
  if (!isObject(input)) {
    c.fail([], 'the manifest must be a YAML mapping (version, environments, namespaces, sops, file_pattern)');
  }
  for (const key of Object.keys(input)) {
    if (!TOP_LEVEL_KEYS.includes(key)) {
      c.fail([key], `unknown top-level key '${key}'`, `valid top-level keys are: ${TOP_LEVEL_KEYS.join(', ')}`);
    }
  }

  if (input.version === undefined) c.fail(['version'], "missing required field 'version'", 'add `version: 1`');
  if (input.version !== 1) c.fail(['version'], "'version' must be the number 1 (the only supported version)");

  const environments = checkEnvironments(input, c);
  const envNames = new Set(environments.map((e) => e.name));
  const namespaces = checkNamespaces(input, c);
  const nsNames = new Set(namespaces.map((n) => n.name));
  const sops = checkSops(input, c);

  environments.forEach((env, i) => {
    if (env.recipients && env.recipients.length > 0) {
      const backend = env.sops?.backend ?? sops.default_backend;
      if (backend !== 'age') {
        c.fail(
          ['environments', i, 'recipients'],
          `environment '${env.name}' lists age recipients but uses the '${backend}' backend`,
          "per-environment recipients work only with the 'age' backend",
        );
      }
    }
  });

  const filePattern = input.file_pattern;
  if (typeof filePattern !== 'string' || filePattern === '') {
    c.fail(['file_pattern'], "missing required field 'file_pattern'", "e.g. `file_pattern: secrets/{namespace}/{environment}.enc.yaml`");
  }
  for (const token of ['{namespace}', '{environment}']) {
    if (!filePattern.includes(token)) {
      c.fail(['file_pattern'], `'file_pattern' must contain '${token}' (got '${filePattern}')`);
    }
  }

  const serviceIdentities =
    input.service_identities === undefined ? undefined : checkServiceIdentities(input.service_identities, envNames, nsNames, c);

  return {
    version: 1,
    environments,
    namespaces,
    sops,
    file_pattern: filePattern,
    ...(serviceIdentities === undefined ? {} : { service_identities: serviceIdentities }),
  };
}

function checkEnvironments(input: Fields, c: Checker): ClefEnvironment[] {
  const raw = input.environments;
  if (raw === undefined || raw === null) {
    c.fail(['environments'], "missing required field 'environments'", 'define at least one environment');
  }
  if (!Array.isArray(raw) || raw.length === 0) c.fail(['environments'], "'environments' must be a non-empty list");
  const seen = new Set<string>();
  return raw.map((env: unknown, i: number): ClefEnvironment => {
    const at = ['environments', i];
    if (!isObject(env)) c.fail(at, "each environment must be a mapping with 'name' and 'description'");
    const name = checkName(env, at, 'environment', c);
    if (typeof env.description !== 'string' || env.description === '') {
      c.fail([...at, 'description'], `environment '${name}' needs a non-empty 'description' string`);
    }
    const result: ClefEnvironment = { name, description: env.description };
    if (typeof env.protected === 'boolean') result.protected = env.protected;
    if (env.sops !== undefined) result.sops = checkEnvSopsOverride(env.sops, name, [...at, 'sops'], c);
    if (env.recipients !== undefined) {
      const recipients = checkRecipientList(env.recipients, name, [...at, 'recipients'], c);
      if (recipients.length > 0) result.recipients = recipients;
    }
    if (seen.has(name)) c.fail([...at, 'name'], `duplicate environment name '${name}'`, 'environment names must be unique');
    seen.add(name);
    return result;
  });
}

function checkName(o: Fields, at: PathPart[], what: 'environment' | 'namespace', c: Checker): string {
  const name = o.name;
  if (typeof name !== 'string' || name === '') c.fail([...at, 'name'], `each ${what} needs a non-empty 'name' string`);
  if (!NAME_RE.test(name)) {
    c.fail(
      [...at, 'name'],
      `${what} name '${name}' is invalid`,
      'names start with a lower-case letter and contain only lower-case letters, digits, hyphens and underscores',
    );
  }
  return name;
}

function checkEnvSopsOverride(raw: unknown, env: string, at: PathPart[], c: Checker): ClefEnvironment['sops'] {
  if (!isObject(raw)) c.fail(at, `environment '${env}': 'sops' must be a mapping`);
  const backend = raw.backend;
  if (!isBackend(backend)) {
    c.fail([...at, 'backend'], `environment '${env}': 'sops.backend' must be one of ${SOPS_BACKENDS.join(', ')}`);
  }
  const required: Partial<Record<SopsBackend, keyof SopsKeySettings>> = {
    awskms: 'aws_kms_arn',
    gcpkms: 'gcp_kms_resource_id',
    azurekv: 'azure_kv_url',
    pgp: 'pgp_fingerprint',
    hsm: 'pkcs11_uri',
  };
  const needed = required[backend];
  if (needed !== undefined && typeof raw[needed] !== 'string') {
    c.fail([...at, needed], `environment '${env}' uses the '${backend}' backend but has no '${needed}' string`);
  }
  if (backend === 'hsm' && !PKCS11_URI_RE.test(raw.pkcs11_uri as string)) {
    c.fail(
      [...at, 'pkcs11_uri'],
      `environment '${env}': 'pkcs11_uri' is not a PKCS#11 URI`,
      "it must start with 'pkcs11:' and name at least one attribute, e.g. 'pkcs11:slot=0;label=clef-dek-wrapper'",
    );
  }
  return { backend, ...pickKeySettings(raw) };
}

function pickKeySettings(raw: Fields): SopsKeySettings {
  const out: SopsKeySettings = {};
  for (const key of ['aws_kms_arn', 'gcp_kms_resource_id', 'azure_kv_url', 'pgp_fingerprint', 'pkcs11_uri'] as const) {
    const v = raw[key];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

function checkRecipientList(raw: unknown, env: string, at: PathPart[], c: Checker): AgeRecipientEntry[] {
  if (!Array.isArray(raw)) c.fail(at, `environment '${env}': 'recipients' must be a list`);
  return raw.map((entry: unknown, i: number): AgeRecipientEntry => {
    if (typeof entry === 'string') {
      const r = checkAgeRecipient(entry);
      if (!r.ok) c.fail([...at, i], `environment '${env}': ${r.reason}`);
      return r.key;
    }
    if (isObject(entry)) {
      if (typeof entry.key !== 'string') c.fail([...at, i, 'key'], `environment '${env}': a recipient mapping needs a 'key' string`);
      const r = checkAgeRecipient(entry.key);
      if (!r.ok) c.fail([...at, i, 'key'], `environment '${env}': ${r.reason}`);
      return typeof entry.label === 'string' ? { key: r.key, label: entry.label } : { key: r.key };
    }
    c.fail([...at, i], `environment '${env}': each recipient must be an age key string or {key, label}`);
  });
}

function checkNamespaces(input: Fields, c: Checker): ClefNamespace[] {
  const raw = input.namespaces;
  if (raw === undefined || raw === null) {
    c.fail(['namespaces'], "missing required field 'namespaces'", 'define at least one namespace');
  }
  if (!Array.isArray(raw) || raw.length === 0) c.fail(['namespaces'], "'namespaces' must be a non-empty list");
  const seen = new Set<string>();
  return raw.map((ns: unknown, i: number): ClefNamespace => {
    const at = ['namespaces', i];
    if (!isObject(ns)) c.fail(at, "each namespace must be a mapping with 'name' and 'description'");
    const name = checkName(ns, at, 'namespace', c);
    if (typeof ns.description !== 'string' || ns.description === '') {
      c.fail([...at, 'description'], `namespace '${name}' needs a non-empty 'description' string`);
    }
    if (seen.has(name)) c.fail([...at, 'name'], `duplicate namespace name '${name}'`, 'namespace names must be unique');
    seen.add(name);
    return {
      name,
      description: ns.description,
      ...(typeof ns.schema === 'string' ? { schema: ns.schema } : {}),
      // Clef keeps `owners` as given when it is a list; we keep only its strings.
      ...(Array.isArray(ns.owners) ? { owners: ns.owners.filter((o): o is string => typeof o === 'string') } : {}),
    };
  });
}

function checkSops(input: Fields, c: Checker): ClefSopsConfig {
  const raw = input.sops;
  if (raw === undefined || raw === null) {
    c.fail(['sops'], "missing required field 'sops'", 'configure at least `sops: {default_backend: age}`');
  }
  if (!isObject(raw)) c.fail(['sops'], "'sops' must be a mapping");
  if (!isBackend(raw.default_backend)) {
    c.fail(['sops', 'default_backend'], `'sops.default_backend' is required and must be one of ${SOPS_BACKENDS.join(', ')}`);
  }
  if (raw.pkcs11_uri !== undefined && typeof raw.pkcs11_uri !== 'string') {
    c.fail(['sops', 'pkcs11_uri'], "'sops.pkcs11_uri' must be a string");
  }
  if (typeof raw.pkcs11_uri === 'string' && !PKCS11_URI_RE.test(raw.pkcs11_uri)) {
    c.fail(
      ['sops', 'pkcs11_uri'],
      "'sops.pkcs11_uri' is not a PKCS#11 URI",
      "it must start with 'pkcs11:' and name at least one attribute, e.g. 'pkcs11:slot=0;label=clef-dek-wrapper'",
    );
  }
  if (raw.default_backend === 'hsm' && typeof raw.pkcs11_uri !== 'string') {
    c.fail(['sops', 'pkcs11_uri'], "'sops.pkcs11_uri' is required when 'sops.default_backend' is 'hsm'");
  }
  const out: ClefSopsConfig = { default_backend: raw.default_backend };
  // Clef reads `sops.age.recipients` leniently (no validation); it only matters to `clef` itself.
  const age = raw.age;
  if (isObject(age) && Array.isArray(age.recipients)) {
    out.age = {
      recipients: age.recipients.map((r: unknown): AgeRecipientEntry => {
        if (typeof r === 'string') return r;
        if (isObject(r)) return { key: String(r.key ?? ''), ...(typeof r.label === 'string' ? { label: r.label } : {}) };
        return String(r);
      }),
    };
  }
  return { ...out, ...pickKeySettings(raw) };
}

function checkServiceIdentities(raw: unknown, envNames: Set<string>, nsNames: Set<string>, c: Checker): ServiceIdentity[] {
  if (!Array.isArray(raw)) c.fail(['service_identities'], "'service_identities' must be a list");
  const seen = new Set<string>();
  return raw.map((si: unknown, i: number): ServiceIdentity => {
    const at = ['service_identities', i];
    if (!isObject(si)) c.fail(at, 'each service identity must be a mapping');
    const name = si.name;
    if (typeof name !== 'string' || name === '') c.fail([...at, 'name'], "each service identity needs a non-empty 'name' string");
    if (!IDENTITY_NAME_RE.test(name)) {
      c.fail(
        [...at, 'name'],
        `service identity name '${name}' is invalid`,
        "names are DNS labels: lower-case letters, digits and hyphens, no hyphen at either end, at most 63 characters (e.g. 'api-gateway')",
      );
    }
    if (si.description != null && typeof si.description !== 'string') {
      c.fail([...at, 'description'], `service identity '${name}': 'description' must be a string`);
    }
    if (si.pack_only !== undefined && typeof si.pack_only !== 'boolean') {
      c.fail([...at, 'pack_only'], `service identity '${name}': 'pack_only' must be true or false`);
    }
    const namespaces = si.namespaces;
    if (!Array.isArray(namespaces) || namespaces.length === 0) {
      c.fail([...at, 'namespaces'], `service identity '${name}' needs a non-empty 'namespaces' list`);
    }
    namespaces.forEach((ns: unknown, j: number) => {
      if (typeof ns !== 'string') c.fail([...at, 'namespaces', j], `service identity '${name}': namespace entries must be strings`);
      if (!nsNames.has(ns)) {
        c.fail(
          [...at, 'namespaces', j],
          `service identity '${name}' references unknown namespace '${ns}'`,
          `declared namespaces are: ${[...nsNames].join(', ')}`,
        );
      }
    });
    const envs = si.environments;
    if (!isObject(envs)) c.fail([...at, 'environments'], `service identity '${name}' needs an 'environments' mapping`);
    // Clef does not require every manifest environment here (a gap is a lint issue, not a parse error).
    const parsed: Record<string, ServiceIdentityEnvironment> = Object.create(null) as Record<string, ServiceIdentityEnvironment>;
    for (const envName of Object.keys(envs)) {
      parsed[envName] = checkIdentityEnvironment(envs[envName], name, envName, [...at, 'environments', envName], envNames, c);
    }
    if (seen.has(name)) c.fail([...at, 'name'], `duplicate service identity name '${name}'`);
    seen.add(name);
    return {
      name,
      description: typeof si.description === 'string' ? si.description : '',
      namespaces: namespaces as string[],
      environments: parsed,
      ...(si.pack_only === true ? { pack_only: true } : {}),
    };
  });
}

function checkIdentityEnvironment(
  raw: unknown,
  si: string,
  env: string,
  at: PathPart[],
  envNames: Set<string>,
  c: Checker,
): ServiceIdentityEnvironment {
  if (!envNames.has(env)) {
    c.fail(at, `service identity '${si}' references unknown environment '${env}'`, `declared environments are: ${[...envNames].join(', ')}`);
  }
  if (!isObject(raw)) c.fail(at, `service identity '${si}' environment '${env}' must be a mapping with 'recipient' or 'kms'`);
  const hasRecipient = raw.recipient !== undefined;
  const hasKms = raw.kms !== undefined;
  if (hasRecipient && hasKms) c.fail(at, `service identity '${si}' environment '${env}': 'recipient' and 'kms' are mutually exclusive`);
  if (!hasRecipient && !hasKms) {
    c.fail(at, `service identity '${si}' environment '${env}' must have either 'recipient' (age) or 'kms'`);
  }
  if (hasRecipient) {
    if (typeof raw.recipient !== 'string') c.fail([...at, 'recipient'], `service identity '${si}' environment '${env}': 'recipient' must be a string`);
    const r = checkAgeRecipient(raw.recipient);
    if (!r.ok) c.fail([...at, 'recipient'], `service identity '${si}' environment '${env}': ${r.reason}`);
    return { recipient: r.key };
  }
  const kms = raw.kms;
  if (!isObject(kms)) c.fail([...at, 'kms'], `service identity '${si}' environment '${env}': 'kms' must be a mapping {provider, keyId}`);
  const provider = kms.provider;
  if (typeof provider !== 'string' || !(KMS_PROVIDERS as readonly string[]).includes(provider)) {
    c.fail([...at, 'kms', 'provider'], `service identity '${si}' environment '${env}': kms.provider must be one of ${KMS_PROVIDERS.join(', ')}`);
  }
  const keyId = kms.keyId;
  if (typeof keyId !== 'string' || keyId === '') {
    c.fail([...at, 'kms', 'keyId'], `service identity '${si}' environment '${env}': kms.keyId must be a non-empty string`);
  }
  if (has(kms, 'region')) {
    c.fail(
      [...at, 'kms', 'region'],
      `service identity '${si}' environment '${env}': kms.region is not supported`,
      'remove it: the region is taken from the key ARN',
    );
  }
  if (provider === 'aws') {
    const arn = parseAwsKmsArn(keyId);
    if (!arn.ok) c.fail([...at, 'kms', 'keyId'], `service identity '${si}' environment '${env}': kms.keyId: ${arn.reason}`);
  }
  return { kms: { provider: provider as KmsProvider, keyId } };
}
