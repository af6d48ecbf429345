// clef.yaml parsing with Clef's rules: a realistic manifest parses; every rule, broken, gives
// CLEF_MANIFEST_INVALID naming the YAML path of the offending field.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import YAML from 'yaml';
import { ClefError, parseManifest, parseManifestCached, validateManifest } from '../../../enclave-app/clef/index.js';
import {
  AGE_RECIPIENT_A,
  AGE_RECIPIENT_B,
  ENVELOPE_KEY_ALIAS_ARN,
  ENVELOPE_KEY_ARN,
  REALISTIC_MANIFEST,
  SOURCE_KEY_ARN,
} from './fixtures.js';

type Obj = Record<string, unknown>;
const base = (): Obj => YAML.parse(REALISTIC_MANIFEST) as Obj;
const envs = (m: Obj) => m.environments as Obj[];
const nss = (m: Obj) => m.namespaces as Obj[];
const sis = (m: Obj) => m.service_identities as Obj[];
const siEnv = (m: Obj, i: number, env: string) => (sis(m)[i]!.environments as Obj)[env] as Obj;
const kms = (m: Obj) => siEnv(m, 0, 'production').kms as Obj;

function catchClef(fn: () => unknown): ClefError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ClefError) return err;
    throw err;
  }
  throw new Error('expected a ClefError, nothing was thrown');
}

describe('parseManifest: a realistic manifest', () => {
  const m = parseManifest(REALISTIC_MANIFEST);

  it('keeps environments, namespaces and sops settings', () => {
    expect(m.version).toBe(1);
    expect(m.environments).toEqual([
      { name: 'staging', description: 'Pre-production, shared by the team' },
      {
        name: 'production',
        description: 'Live traffic',
        protected: true,
        sops: { backend: 'awskms', aws_kms_arn: SOURCE_KEY_ARN },
      },
    ]);
    expect(m.namespaces.map((n) => n.name)).toEqual(['payments', 'auth']);
    expect(m.namespaces[0]!.owners).toEqual(['@payments-team']);
    expect(m.sops).toEqual({ default_backend: 'age', age: { recipients: [{ key: AGE_RECIPIENT_A, label: 'alice' }] } });
    expect(m.file_pattern).toBe('secrets/{namespace}/{environment}.enc.yaml');
  });

  it('keeps service identities with their per-environment envelope', () => {
    const [gw, billing] = m.service_identities!;
    expect(gw!.name).toBe('api-gateway');
    expect(gw!.namespaces).toEqual(['auth', 'payments']);
    expect(gw!.pack_only).toBe(true);
    expect({ ...gw!.environments }).toEqual({
      staging: { recipient: AGE_RECIPIENT_B },
      production: { kms: { provider: 'aws', keyId: ENVELOPE_KEY_ALIAS_ARN } },
    });
    // Not every environment has to be on an identity (Clef: a lint issue, not a parse error).
    expect(Object.keys(billing!.environments)).toEqual(['production']);
    expect({ ...billing!.environments }.production).toEqual({ kms: { provider: 'aws', keyId: ENVELOPE_KEY_ARN } });
    expect(billing!.pack_only).toBeUndefined();
  });

  it('accepts bytes as well as text, and validateManifest accepts the parsed object', () => {
    expect(parseManifest(new TextEncoder().encode(REALISTIC_MANIFEST))).toEqual(m);
    expect(validateManifest(base())).toEqual(m);
  });

  it('accepts what Clef accepts', () => {
    const variants: Array<(o: Obj) => void> = [
      (o) => (kms(o).keyId = 'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/some-uuid'),
      (o) => (kms(o).keyId = 'arn:aws-cn:kms:cn-north-1:123456789012:alias/foo'),
      (o) => (siEnv(o, 0, 'production').kms = { provider: 'gcp', keyId: 'projects/p/locations/l/keyRings/r/cryptoKeys/k' }),
      (o) => (envs(o)[0]!.protected = 'yes'), // ignored, as Clef does
      (o) => delete sis(o)[0]!.description,
      (o) => (sis(o)[0]!.environments = {}),
      (o) => delete o.service_identities,
      (o) => (siEnv(o, 0, 'staging').recipient = `  ${AGE_RECIPIENT_B}  `), // trimmed
      (o) => (siEnv(o, 0, 'staging').verifyKey = 'MCow…'), // in Clef's type, never parsed
      (o) => (o.file_pattern = '{environment}/{namespace}.enc.json'),
      (o) => (envs(o)[0]!.recipients = [AGE_RECIPIENT_A, { key: AGE_RECIPIENT_B, label: 'bob' }]),
      (o) => (o.sops = { default_backend: 'hsm', pkcs11_uri: 'pkcs11:slot=0;label=clef-dek-wrapper' }),
    ];
    for (const mutate of variants) {
      const o = base();
      mutate(o);
      expect(() => parseManifest(YAML.stringify(o))).not.toThrow();
    }
    const trimmed = base();
    siEnv(trimmed, 0, 'staging').recipient = `  ${AGE_RECIPIENT_B}  `;
    expect(parseManifest(YAML.stringify(trimmed)).service_identities![0]!.environments.staging).toEqual({ recipient: AGE_RECIPIENT_B });
  });
});

describe('parseManifest: every rule, broken', () => {
  const cases: Array<[string, (o: Obj) => unknown, string]> = [
    ['unknown top-level key', (o) => (o.cloud = { integrationId: 'x' }), 'cloud'],
    ['missing version', (o) => delete o.version, 'version'],
    ['version 2', (o) => (o.version = 2), 'version'],
    ['version as a string', (o) => (o.version = '1'), 'version'],
    ['missing environments', (o) => delete o.environments, 'environments'],
    ['empty environments', (o) => (o.environments = []), 'environments'],
    ['environments not a list', (o) => (o.environments = { dev: {} }), 'environments'],
    ['environment not a mapping', (o) => ((o.environments as unknown[])[0] = 'staging'), 'environments[0]'],
    ['environment without name', (o) => delete envs(o)[0]!.name, 'environments[0].name'],
    ['environment name with upper case', (o) => (envs(o)[1]!.name = 'Production'), 'environments[1].name'],
    ['environment name starting with a digit', (o) => (envs(o)[1]!.name = '1prod'), 'environments[1].name'],
    ['environment name with a dot', (o) => (envs(o)[1]!.name = 'prod.eu'), 'environments[1].name'],
    ['environment without description', (o) => delete envs(o)[0]!.description, 'environments[0].description'],
    ['duplicate environment', (o) => (envs(o)[1]!.name = 'staging'), 'environments[1].name'],
    ['env sops not a mapping', (o) => (envs(o)[1]!.sops = 'awskms'), 'environments[1].sops'],
    ['env sops unknown backend', (o) => ((envs(o)[1]!.sops as Obj).backend = 'vault'), 'environments[1].sops.backend'],
    ['env awskms without arn', (o) => delete (envs(o)[1]!.sops as Obj).aws_kms_arn, 'environments[1].sops.aws_kms_arn'],
    ['env gcpkms without resource id', (o) => (envs(o)[1]!.sops = { backend: 'gcpkms' }), 'environments[1].sops.gcp_kms_resource_id'],
    ['env azurekv without url', (o) => (envs(o)[1]!.sops = { backend: 'azurekv' }), 'environments[1].sops.azure_kv_url'],
    ['env pgp without fingerprint', (o) => (envs(o)[1]!.sops = { backend: 'pgp' }), 'environments[1].sops.pgp_fingerprint'],
    ['env hsm with a bad URI', (o) => (envs(o)[1]!.sops = { backend: 'hsm', pkcs11_uri: 'slot=0' }), 'environments[1].sops.pkcs11_uri'],
    ['env recipients not a list', (o) => (envs(o)[0]!.recipients = AGE_RECIPIENT_A), 'environments[0].recipients'],
    ['env recipient not an age key', (o) => (envs(o)[0]!.recipients = ['ssh-ed25519 AAAA']), 'environments[0].recipients[0]'],
    ['env recipient mapping without key', (o) => (envs(o)[0]!.recipients = [{ label: 'x' }]), 'environments[0].recipients[0].key'],
    ['env recipient of the wrong type', (o) => (envs(o)[0]!.recipients = [42]), 'environments[0].recipients[0]'],
    ['env recipients with a KMS backend', (o) => (envs(o)[1]!.recipients = [AGE_RECIPIENT_A]), 'environments[1].recipients'],
    ['missing namespaces', (o) => delete o.namespaces, 'namespaces'],
    ['empty namespaces', (o) => (o.namespaces = []), 'namespaces'],
    ['namespace not a mapping', (o) => ((o.namespaces as unknown[])[0] = 'payments'), 'namespaces[0]'],
    ['namespace without name', (o) => delete nss(o)[1]!.name, 'namespaces[1].name'],
    ['namespace name with a space', (o) => (nss(o)[1]!.name = 'auth svc'), 'namespaces[1].name'],
    ['namespace without description', (o) => (nss(o)[1]!.description = ''), 'namespaces[1].description'],
    ['duplicate namespace', (o) => (nss(o)[1]!.name = 'payments'), 'namespaces[1].name'],
    ['missing sops', (o) => delete o.sops, 'sops'],
    ['sops not a mapping', (o) => (o.sops = ['age']), 'sops'],
    ['sops without default_backend', (o) => (o.sops = { age: {} }), 'sops.default_backend'],
    ['sops with an unknown backend', (o) => (o.sops = { default_backend: 'cloud' }), 'sops.default_backend'],
    ['sops pkcs11_uri not a string', (o) => (o.sops = { default_backend: 'age', pkcs11_uri: 7 }), 'sops.pkcs11_uri'],
    ['sops pkcs11_uri malformed', (o) => (o.sops = { default_backend: 'age', pkcs11_uri: 'pkcs11:' }), 'sops.pkcs11_uri'],
    ['hsm backend without pkcs11_uri', (o) => (o.sops = { default_backend: 'hsm' }), 'sops.pkcs11_uri'],
    ['missing file_pattern', (o) => delete o.file_pattern, 'file_pattern'],
    ['file_pattern without {namespace}', (o) => (o.file_pattern = 'secrets/{environment}.enc.yaml'), 'file_pattern'],
    ['file_pattern without {environment}', (o) => (o.file_pattern = 'secrets/{namespace}.enc.yaml'), 'file_pattern'],
    ['service_identities not a list', (o) => (o.service_identities = { 'api-gateway': {} }), 'service_identities'],
    ['identity not a mapping', (o) => ((o.service_identities as unknown[])[1] = 'billing-worker'), 'service_identities[1]'],
    ['identity without name', (o) => delete sis(o)[0]!.name, 'service_identities[0].name'],
    ['identity name with upper case', (o) => (sis(o)[0]!.name = 'API-gateway'), 'service_identities[0].name'],
    ['identity name with underscore', (o) => (sis(o)[0]!.name = 'api_gateway'), 'service_identities[0].name'],
    ['identity name ending in a hyphen', (o) => (sis(o)[0]!.name = 'api-'), 'service_identities[0].name'],
    ['identity name of 64 characters', (o) => (sis(o)[0]!.name = 'a'.repeat(64)), 'service_identities[0].name'],
    ['identity description not a string', (o) => (sis(o)[0]!.description = ['x']), 'service_identities[0].description'],
    ['identity pack_only not a boolean', (o) => (sis(o)[0]!.pack_only = 'yes'), 'service_identities[0].pack_only'],
    ['identity without namespaces', (o) => delete sis(o)[0]!.namespaces, 'service_identities[0].namespaces'],
    ['identity with empty namespaces', (o) => (sis(o)[0]!.namespaces = []), 'service_identities[0].namespaces'],
    ['identity namespace not a string', (o) => (sis(o)[0]!.namespaces = ['auth', 3]), 'service_identities[0].namespaces[1]'],
    ['identity namespace unknown', (o) => (sis(o)[0]!.namespaces = ['auth', 'billing']), 'service_identities[0].namespaces[1]'],
    ['identity without environments', (o) => delete sis(o)[0]!.environments, 'service_identities[0].environments'],
    ['identity environments as a list', (o) => (sis(o)[0]!.environments = ['staging']), 'service_identities[0].environments'],
    ['identity with unknown environment', (o) => ((sis(o)[1]!.environments as Obj).dev = { recipient: AGE_RECIPIENT_A }), 'service_identities[1].environments.dev'],
    ['identity environment not a mapping', (o) => ((sis(o)[0]!.environments as Obj).staging = AGE_RECIPIENT_B), 'service_identities[0].environments.staging'],
    ['recipient and kms together', (o) => (siEnv(o, 0, 'staging').kms = { provider: 'aws', keyId: ENVELOPE_KEY_ARN }), 'service_identities[0].environments.staging'],
    ['neither recipient nor kms', (o) => ((sis(o)[0]!.environments as Obj).staging = { verifyKey: 'x' }), 'service_identities[0].environments.staging'],
    ['recipient not a string', (o) => (siEnv(o, 0, 'staging').recipient = 12), 'service_identities[0].environments.staging.recipient'],
    ['recipient without age1 prefix', (o) => (siEnv(o, 0, 'staging').recipient = 'AGE-SECRET-KEY-1QQQQ'), 'service_identities[0].environments.staging.recipient'],
    ['recipient too short', (o) => (siEnv(o, 0, 'staging').recipient = 'age1qqqq'), 'service_identities[0].environments.staging.recipient'],
    ['recipient with a non-bech32 character', (o) => (siEnv(o, 0, 'staging').recipient = `${AGE_RECIPIENT_B.slice(0, -1)}b`), 'service_identities[0].environments.staging.recipient'],
    ['kms not a mapping', (o) => (siEnv(o, 0, 'production').kms = ENVELOPE_KEY_ARN), 'service_identities[0].environments.production.kms'],
    ['kms provider unknown', (o) => (kms(o).provider = 'vault'), 'service_identities[0].environments.production.kms.provider'],
    ['kms provider missing', (o) => delete kms(o).provider, 'service_identities[0].environments.production.kms.provider'],
    ['kms keyId missing', (o) => delete kms(o).keyId, 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId empty', (o) => (kms(o).keyId = ''), 'service_identities[0].environments.production.kms.keyId'],
    ['kms region given', (o) => (kms(o).region = 'eu-west-1'), 'service_identities[0].environments.production.kms.region'],
    ['kms keyId a bare key id', (o) => (kms(o).keyId = '9a8b7c6d-1111-2222-3333-444444444444'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId a bare alias', (o) => (kms(o).keyId = 'alias/clef-api-gateway-prod'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId without region', (o) => (kms(o).keyId = 'arn:aws:kms::222222222222:key/x'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId with a bad region', (o) => (kms(o).keyId = 'arn:aws:kms:not-a-region:222222222222:key/x'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId with a short account', (o) => (kms(o).keyId = 'arn:aws:kms:eu-west-1:2222:key/x'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId with 5 segments', (o) => (kms(o).keyId = 'arn:aws:kms:eu-west-1:222222222222'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId with 7 segments', (o) => (kms(o).keyId = 'arn:aws:kms:eu-west-1:222222222222:key/with:colon'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId of another service', (o) => (kms(o).keyId = 'arn:aws:s3:eu-west-1:222222222222:key/x'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId with an unknown partition', (o) => (kms(o).keyId = 'arn:foo:kms:eu-west-1:222222222222:key/x'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId with another resource', (o) => (kms(o).keyId = 'arn:aws:kms:eu-west-1:222222222222:thing/x'), 'service_identities[0].environments.production.kms.keyId'],
    ['kms keyId with an empty key id', (o) => (kms(o).keyId = 'arn:aws:kms:eu-west-1:222222222222:key/'), 'service_identities[0].environments.production.kms.keyId'],
    ['duplicate identity', (o) => (sis(o)[1]!.name = 'api-gateway'), 'service_identities[1].name'],
  ];

  it.each(cases.map(([name, mutate, path]) => [name, path, mutate] as const))('%s → CLEF_MANIFEST_INVALID at %s', (_name, path, mutate) => {
    const o = base();
    mutate(o);
    const text = YAML.stringify(o);
    const err = catchClef(() => parseManifest(text));
    expect(err.code).toBe('CLEF_MANIFEST_INVALID');
    expect(err.category).toBe('input');
    expect(err.details?.path).toBe(path);
    expect(err.message).toContain(path);
    // Points at a line of the source the person can open.
    expect(typeof err.details?.line).toBe('number');
    // validateManifest (no source text) reports the same path.
    expect(catchClef(() => validateManifest(YAML.parse(text))).details?.path).toBe(path);
  });

  it('reports the line of the offending field', () => {
    const text = REALISTIC_MANIFEST.replace('provider: aws\n', 'provider: aws\n          region: eu-west-1\n');
    const err = catchClef(() => parseManifest(text));
    const line = text.split('\n').findIndex((l) => l.includes('region: eu-west-1')) + 1;
    expect(err.details).toMatchObject({ path: 'service_identities[0].environments.production.kms.region', line });
    expect(err.hint).toMatch(/region is taken from the key ARN/);
  });

  it.each([
    ['a scalar', 'just text'],
    ['a list', '- version: 1'],
    ['empty', ''],
    ['null', '~'],
  ])('a manifest that is %s is refused at the root', (_name, text) => {
    expect(catchClef(() => parseManifest(text)).details?.path).toBe('(root)');
  });

  it.each([
    ['broken syntax', 'version: 1\nenvironments: [\n'],
    ['duplicate keys', 'version: 1\nversion: 1\n'],
    ['several documents', 'version: 1\n---\nversion: 1\n'],
    ['bad indentation', 'version: 1\n  environments: []\n'],
  ])('invalid YAML (%s) is CLEF_MANIFEST_INVALID with a line', (_name, text) => {
    const err = catchClef(() => parseManifest(text));
    expect(err.code).toBe('CLEF_MANIFEST_INVALID');
    expect(err.message).toMatch(/not valid YAML \(line \d+/);
  });

  it('refuses bytes that are not UTF-8, and alias bombs', () => {
    expect(catchClef(() => parseManifest(new Uint8Array([0x76, 0xff, 0xfe]))).code).toBe('CLEF_MANIFEST_INVALID');
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) bomb.push(`${'b'.repeat(i)}: &${'b'.repeat(i)} [${Array(9).fill(`*${i === 1 ? 'a' : 'b'.repeat(i - 1)}`).join(',')}]`);
    expect(catchClef(() => parseManifest(bomb.join('\n'))).code).toBe('CLEF_MANIFEST_INVALID');
  });

  it('never lets anything but a ClefError escape on junk input', () => {
    const junk = ['{', ']', ': :', '!!binary x', '? [a]\n: b', 'version: !!int x', '*undefined_alias', '\t- x', '%YAML 9.9\n---\na: 1'];
    for (const text of junk) expect(catchClef(() => parseManifest(text)).code).toBe('CLEF_MANIFEST_INVALID');
  });
});

describe('parseManifest: fuzzed text', () => {
  it('only ever throws ClefError (300 mutations of a valid manifest)', () => {
    const edit = fc.record({
      at: fc.nat(),
      remove: fc.integer({ min: 0, max: 12 }),
      insert: fc.oneof(
        fc.string({ maxLength: 6, unit: 'binary' }),
        fc.constantFrom(':', '- ', '\n', '  ', '[', ']', '{', '}', '&a ', '*a', '!!str ', '~', '"', "'", '#', '? '),
      ),
    });
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
        let text = REALISTIC_MANIFEST;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
        }
        try {
          parseManifest(text);
          accepted++;
        } catch (err) {
          if (!(err instanceof ClefError) || err.code !== 'CLEF_MANIFEST_INVALID') throw err;
        }
      }),
      { seed: 42, numRuns: 300 },
    );
    expect(accepted).toBeLessThan(300);
  });
});

describe('parseManifestCached', () => {
  const bytes = (t: string) => new Uint8Array(Buffer.from(t, 'utf8'));

  it('answers the same bytes with the same deep-frozen manifest, equal to a fresh parse; other bytes get their own', () => {
    const a = parseManifestCached(bytes(REALISTIC_MANIFEST));
    expect(parseManifestCached(bytes(REALISTIC_MANIFEST))).toBe(a);
    expect(a).toEqual(parseManifest(REALISTIC_MANIFEST));
    // No caller can change what the next one gets.
    expect(() => {
      (a.namespaces as unknown as unknown[]).push({ name: 'evil' });
    }).toThrow(TypeError);
    expect(() => {
      (a.service_identities![0] as { name: string }).name = 'evil';
    }).toThrow(TypeError);
    expect(parseManifestCached(bytes(REALISTIC_MANIFEST))).toEqual(parseManifest(REALISTIC_MANIFEST));
    const other = parseManifestCached(bytes(REALISTIC_MANIFEST + '\n# a comment\n'));
    expect(other).not.toBe(a);
  });

  it('does not remember failures: invalid bytes fail every time with the same error', () => {
    const bad = bytes('version: 2\n');
    const code = () => {
      try {
        parseManifestCached(bad);
        return 'ok';
      } catch (err) {
        return (err as ClefError).code;
      }
    };
    expect(code()).toBe(code());
    expect(code()).not.toBe('ok');
  });
});
