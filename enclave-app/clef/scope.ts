/**
 * Scope resolution: which SOPS files one pack of (service identity × environment) reads, and
 * how its artifact is enveloped. Mirrors Clef's `resolveIdentitySecrets` + `MatrixManager`
 * (reference/clef-compat.md §1, §2.1 step 3):
 *
 * - cells are the manifest's namespaces **in manifest order** that the identity lists, for the
 *   one target environment; nothing else is ever read;
 * - a cell's path is `file_pattern` with the **first** `{namespace}` and the **first**
 *   `{environment}` replaced (Clef uses `String.replace`), joined to the manifest directory;
 * - a cell whose file does not exist is **skipped silently** by Clef. We skip it too by
 *   default but report it in `missing`, so the receipt can say so; `missingCells: 'error'`
 *   refuses instead (`CLEF_MISSING_CELL`).
 */
import { posix } from 'node:path';
import { regionFromKmsArn } from './aws-arn.js';
import { ClefError } from './errors.js';
import type { ClefManifest, KmsProvider, ServiceIdentity } from './manifest-types.js';

/** One namespace × environment file of the matrix, by repo-relative POSIX path. */
export interface ScopedCell {
  namespace: string;
  environment: string;
  /** Repo-relative POSIX path (relative to the directory holding clef.yaml). */
  path: string;
  /** How Clef reads it: `.json` files as JSON, everything else as YAML. */
  format: 'yaml' | 'json';
}

/** How the artifact of this identity/environment is encrypted. */
export type EnvelopeConfig =
  | {
      kind: 'kms';
      provider: KmsProvider;
      /** The key or alias ARN from clef.yaml (the artifact records the *resolved* key ARN). */
      keyId: string;
      /** Region Clef derives from the ARN for its KMS client (aws only). */
      region?: string;
    }
  | {
      kind: 'age';
      /** age X25519 recipients (Clef: exactly the one `recipient:` of the identity). */
      recipients: string[];
    };

/** Everything a pack needs to know before it reads a file. */
export interface PackScope {
  identity: string;
  environment: string;
  /** Cells to read, in manifest namespace order. */
  files: ScopedCell[];
  /** Cells in scope whose file does not exist (skipped, as Clef does). */
  missing: ScopedCell[];
  envelope: EnvelopeConfig;
  /** The identity is `pack_only` (a runtime identity, never a SOPS recipient). */
  packOnly: boolean;
}

export interface ResolveScopeOptions {
  /** Whether a repo-relative path exists; without it every scoped cell counts as present. */
  fileExists?: (path: string) => boolean;
  /** `'skip'` (Clef's behaviour, default) or `'error'` to refuse packs with missing cells. */
  missingCells?: 'skip' | 'error';
}

/**
 * Expands `file_pattern` for one cell exactly as Clef does (first occurrence of each token)
 * and returns the repo-relative POSIX path. Refuses paths that leave the manifest directory.
 */
export function cellPath(filePattern: string, namespace: string, environment: string): string {
  // A replacer function keeps `$&`-style patterns inert; Clef names cannot contain `$` anyway.
  const expanded = filePattern.replace('{namespace}', () => namespace).replace('{environment}', () => environment);
  // Clef uses path.join(repoRoot, expanded): a leading '/' stays inside the repository.
  const relative = posix.normalize(expanded).replace(/^\/+/, '');
  if (relative === '' || relative === '.' || relative === '..' || relative.startsWith('../')) {
    throw new ClefError(
      'CLEF_MANIFEST_INVALID',
      `clef.yaml file_pattern: '${filePattern}' resolves to '${relative}' for ${namespace}/${environment}, outside the manifest directory`,
      {
        hint: 'the enclave only reads files inside the repository; use a pattern like secrets/{namespace}/{environment}.enc.yaml',
        details: { path: 'file_pattern' },
      },
    );
  }
  return relative;
}

/** Finds a service identity by name, or throws `CLEF_UNKNOWN_IDENTITY` with Clef's message. */
export function findServiceIdentity(manifest: ClefManifest, name: string): ServiceIdentity {
  const identities = manifest.service_identities ?? [];
  const si = identities.find((s) => s.name === name);
  if (!si) {
    throw new ClefError('CLEF_UNKNOWN_IDENTITY', `Service identity '${name}' not found in manifest.`, {
      hint:
        identities.length === 0
          ? 'clef.yaml declares no service_identities; add one with `clef service create`'
          : `declared identities: ${identities.map((s) => s.name).join(', ')}`,
      details: { identity: name },
    });
  }
  return si;
}

/**
 * Resolves (identity × environment) to the SOPS files to read and the envelope to use.
 * Throws `CLEF_UNKNOWN_IDENTITY`, `CLEF_UNKNOWN_ENVIRONMENT`, or (strict mode) `CLEF_MISSING_CELL`.
 */
export function resolvePackScope(
  manifest: ClefManifest,
  identityName: string,
  environment: string,
  options: ResolveScopeOptions = {},
): PackScope {
  const si = findServiceIdentity(manifest, identityName);
  if (!manifest.environments.some((e) => e.name === environment)) {
    throw new ClefError('CLEF_UNKNOWN_ENVIRONMENT', `Environment '${environment}' is not declared in the manifest.`, {
      hint: `declared environments: ${manifest.environments.map((e) => e.name).join(', ')}`,
      details: { identity: identityName, environment },
    });
  }
  const envConfig = Object.prototype.hasOwnProperty.call(si.environments, environment) ? si.environments[environment] : undefined;
  if (envConfig === undefined) {
    throw new ClefError('CLEF_UNKNOWN_ENVIRONMENT', `Environment '${environment}' not found on service identity '${identityName}'.`, {
      hint: `add it with \`clef service add-env\`; configured: ${Object.keys(si.environments).join(', ') || '(none)'}`,
      details: { identity: identityName, environment },
    });
  }

  const files: ScopedCell[] = [];
  const missing: ScopedCell[] = [];
  for (const ns of manifest.namespaces) {
    if (!si.namespaces.includes(ns.name)) continue;
    const path = cellPath(manifest.file_pattern, ns.name, environment);
    const cell: ScopedCell = { namespace: ns.name, environment, path, format: path.endsWith('.json') ? 'json' : 'yaml' };
    if (options.fileExists === undefined || options.fileExists(path)) files.push(cell);
    else missing.push(cell);
  }
  if (options.missingCells === 'error' && missing.length > 0) {
    throw new ClefError(
      'CLEF_MISSING_CELL',
      `${missing.length} scoped file(s) do not exist: ${missing.map((c) => c.path).join(', ')}`,
      {
        hint: 'Clef would skip them silently; create the files or drop the namespaces from the identity',
        details: { missing: missing.map((c) => c.path) },
      },
    );
  }

  const envelope: EnvelopeConfig = envConfig.kms
    ? {
        kind: 'kms',
        provider: envConfig.kms.provider,
        keyId: envConfig.kms.keyId,
        ...(envConfig.kms.provider === 'aws' ? { region: regionFromKmsArn(envConfig.kms.keyId) } : {}),
      }
    : { kind: 'age', recipients: [envConfig.recipient] };

  return { identity: si.name, environment, files, missing, envelope, packOnly: si.pack_only === true };
}
