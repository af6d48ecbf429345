// Scope resolution: (identity × environment) → the SOPS files to read and the envelope, as Clef's
// resolveIdentitySecrets + MatrixManager do it (manifest order, first-occurrence substitution,
// missing files skipped but reported).
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ClefError, cellPath, parseManifest, resolvePackScope, type ClefManifest } from '../../../enclave-app/clef/index.js';
import { AGE_RECIPIENT_B, ENVELOPE_KEY_ALIAS_ARN, ENVELOPE_KEY_ARN, REALISTIC_MANIFEST } from './fixtures.js';

const manifest = parseManifest(REALISTIC_MANIFEST);

function withPattern(pattern: string): ClefManifest {
  const o = YAML.parse(REALISTIC_MANIFEST) as Record<string, unknown>;
  o.file_pattern = pattern;
  return parseManifest(YAML.stringify(o));
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ClefError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('resolvePackScope', () => {
  it('KMS identity in production: both namespaces, in manifest order (not the identity\u2019s), KMS envelope', () => {
    const scope = resolvePackScope(manifest, 'api-gateway', 'production');
    expect(scope.files).toEqual([
      { namespace: 'payments', environment: 'production', path: 'secrets/payments/production.enc.yaml', format: 'yaml' },
      { namespace: 'auth', environment: 'production', path: 'secrets/auth/production.enc.yaml', format: 'yaml' },
    ]);
    expect(scope.missing).toEqual([]);
    expect(scope.envelope).toEqual({ kind: 'kms', provider: 'aws', keyId: ENVELOPE_KEY_ALIAS_ARN, region: 'eu-west-1' });
    expect(scope.packOnly).toBe(true);
  });

  it('age identity in staging: age envelope with the manifest recipient', () => {
    const scope = resolvePackScope(manifest, 'api-gateway', 'staging');
    expect(scope.files.map((f) => f.path)).toEqual(['secrets/payments/staging.enc.yaml', 'secrets/auth/staging.enc.yaml']);
    expect(scope.envelope).toEqual({ kind: 'age', recipients: [AGE_RECIPIENT_B] });
  });

  it('a single-namespace identity never sees the other namespace', () => {
    const scope = resolvePackScope(manifest, 'billing-worker', 'production');
    expect(scope.files.map((f) => f.path)).toEqual(['secrets/payments/production.enc.yaml']);
    expect(scope.envelope).toEqual({ kind: 'kms', provider: 'aws', keyId: ENVELOPE_KEY_ARN, region: 'eu-west-1' });
    expect(scope.packOnly).toBe(false);
  });

  it('skips a missing file like Clef, but reports it', () => {
    const present = new Set(['secrets/auth/production.enc.yaml', 'secrets/auth/staging.enc.yaml']);
    const scope = resolvePackScope(manifest, 'api-gateway', 'production', { fileExists: (p) => present.has(p) });
    expect(scope.files.map((f) => f.namespace)).toEqual(['auth']);
    expect(scope.missing.map((f) => f.path)).toEqual(['secrets/payments/production.enc.yaml']);
  });

  it('all files missing is an empty scope (Clef packs {}), and strict mode refuses it', () => {
    const scope = resolvePackScope(manifest, 'billing-worker', 'production', { fileExists: () => false });
    expect(scope.files).toEqual([]);
    expect(scope.missing).toHaveLength(1);
    expect(codeOf(() => resolvePackScope(manifest, 'billing-worker', 'production', { fileExists: () => false, missingCells: 'error' }))).toBe(
      'CLEF_MISSING_CELL',
    );
    expect(resolvePackScope(manifest, 'billing-worker', 'production', { fileExists: () => true, missingCells: 'error' }).files).toHaveLength(1);
  });

  it('unknown identity and unknown environments are typed errors with Clef\u2019s messages', () => {
    expect(codeOf(() => resolvePackScope(manifest, 'nope', 'production'))).toBe('CLEF_UNKNOWN_IDENTITY');
    expect(() => resolvePackScope(manifest, 'nope', 'production')).toThrow("Service identity 'nope' not found in manifest.");
    expect(codeOf(() => resolvePackScope(manifest, 'api-gateway', 'dev'))).toBe('CLEF_UNKNOWN_ENVIRONMENT');
    expect(() => resolvePackScope(manifest, 'billing-worker', 'staging')).toThrow(
      "Environment 'staging' not found on service identity 'billing-worker'.",
    );
    const noIdentities = parseManifest(REALISTIC_MANIFEST.slice(0, REALISTIC_MANIFEST.indexOf('service_identities:')));
    expect(codeOf(() => resolvePackScope(noIdentities, 'api-gateway', 'production'))).toBe('CLEF_UNKNOWN_IDENTITY');
  });

  it('an environment named like an Object.prototype member is not found by accident', () => {
    const text = REALISTIC_MANIFEST.replace('  - name: staging\n', '  - name: constructor\n    description: trap\n  - name: staging\n');
    const m = parseManifest(text);
    expect(codeOf(() => resolvePackScope(m, 'billing-worker', 'constructor'))).toBe('CLEF_UNKNOWN_ENVIRONMENT');
  });
});

describe('cellPath: file_pattern expansion', () => {
  it('replaces only the first occurrence of each token, as String.replace does', () => {
    expect(cellPath('{namespace}/{environment}/{namespace}-{environment}.enc.json', 'auth', 'dev')).toBe('auth/dev/{namespace}-{environment}.enc.json');
  });

  it('marks .json files as JSON, everything else as YAML', () => {
    const m = withPattern('{namespace}/{environment}.enc.json');
    expect(resolvePackScope(m, 'billing-worker', 'production').files[0]).toMatchObject({ path: 'payments/production.enc.json', format: 'json' });
  });

  it('normalises the path the way path.join does, keeping a leading / inside the repository', () => {
    expect(cellPath('./secrets//{namespace}/./{environment}.enc.yaml', 'auth', 'dev')).toBe('secrets/auth/dev.enc.yaml');
    expect(cellPath('/secrets/{namespace}/{environment}.enc.yaml', 'auth', 'dev')).toBe('secrets/auth/dev.enc.yaml');
    expect(cellPath('a/../{namespace}/{environment}.yaml', 'auth', 'dev')).toBe('auth/dev.yaml');
  });

  it('refuses patterns that leave the manifest directory', () => {
    for (const p of ['../{namespace}/{environment}.enc.yaml', 'x/../../{namespace}/{environment}.enc.yaml']) {
      expect(codeOf(() => cellPath(p, 'auth', 'dev'))).toBe('CLEF_MANIFEST_INVALID');
      expect(codeOf(() => resolvePackScope(withPattern(p), 'billing-worker', 'production'))).toBe('CLEF_MANIFEST_INVALID');
    }
  });

  it('keeps $-patterns literal', () => {
    expect(cellPath("$&/{namespace}/$'{environment}.yaml", 'auth', 'dev')).toBe("$&/auth/$'dev.yaml");
  });
});
