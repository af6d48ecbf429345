// Property tests (fast-check, fixed seed): pack → verify → decrypt round-trips for random
// namespace/key/value sets on both paths, and the parser/verifier never throws anything but a
// ClefError on mutated artifact JSON (and whatever still verifies still decrypts correctly).
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ClefError,
  createEcdsaP256Signer,
  createEd25519Signer,
  decryptArtifact,
  mergeNamespaces,
  packArtifact,
  parseArtifact,
  verifyArtifact,
  type ArtifactSigner,
  type NamespaceValues,
  type VerifyKeyInput,
} from '../../../enclave-app/clef/index.js';

const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';

/** A KMS stand-in that remembers each wrapped DEK by its blob. */
function memoryKms() {
  const store = new Map<string, Uint8Array>();
  return {
    wrap: async (dek: Uint8Array, keyId: string) => {
      const blob = randomBytes(24);
      store.set(blob.toString('base64'), new Uint8Array(dek));
      return { wrappedKey: new Uint8Array(blob), keyId };
    },
    unwrap: async ({ wrappedKey }: { wrappedKey: Uint8Array }) => {
      const dek = store.get(Buffer.from(wrappedKey).toString('base64'));
      if (!dek) throw new Error('unknown blob');
      return new Uint8Array(dek);
    },
  };
}

const namespaceName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/);
const keyName = fc.string({ maxLength: 12, unit: 'binary' }).filter((k) => !(k in Object.prototype));
const scalar = fc.oneof(
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.string({ maxLength: 12, unit: 'grapheme' }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const namespaceValues: fc.Arbitrary<NamespaceValues[]> = fc
  .uniqueArray(namespaceName, { maxLength: 4 })
  .chain((names) =>
    fc.tuple(...names.map((ns) => fc.uniqueArray(fc.tuple(keyName, scalar), { maxLength: 6, selector: (e) => e[0] }).map((entries) => ({ namespace: ns, entries })))),
  );

describe('property: pack → verify → decrypt round-trip', () => {
  let ageIdentity = '';
  let ageRecipient = '';
  const ed = generateKeyPairSync('ed25519');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signers: Array<[ArtifactSigner | undefined, VerifyKeyInput | undefined]> = [
    [createEd25519Signer(ed.privateKey), ed.publicKey],
    [createEcdsaP256Signer(ec.privateKey), ec.publicKey],
    [undefined, undefined],
  ];
  beforeAll(async () => {
    ageIdentity = await generateX25519Identity();
    ageRecipient = await identityToRecipient(ageIdentity);
  });

  it('holds for random namespaces, keys and values on both paths', async () => {
    await fc.assert(
      fc.asyncProperty(namespaceValues, fc.boolean(), fc.nat(2), fc.option(fc.integer({ min: 1, max: 86_400 })), async (input, useKms, s, ttl) => {
        const kms = memoryKms();
        const [signer, verifyKey] = signers[s]!;
        const merged = mergeNamespaces(input);
        const file = await packArtifact({
          identity: 'svc',
          environment: 'prod',
          plaintext: merged.plaintext,
          envelope: useKms ? { kind: 'kms', provider: 'aws', keyId: KEY_ARN } : { kind: 'age', recipients: [ageRecipient] },
          wrapKey: kms.wrap,
          ...(signer ? { signer } : {}),
          ...(ttl === null ? {} : { ttlSeconds: ttl }),
        });
        const v = verifyArtifact(file.bytes, verifyKey ? { verifyKey } : { skipSignature: true });
        expect(v.signatureAlgorithm).toBe(s === 0 ? 'Ed25519' : s === 1 ? 'ECDSA_SHA256' : null);
        const out = await decryptArtifact(v.artifact, { unwrapKey: kms.unwrap, ageIdentities: [ageIdentity] });
        // Independent expectation: the values as Clef would hold them (String() of each).
        const decoded = JSON.parse(Buffer.from(out).toString('utf8')) as Record<string, Record<string, string>>;
        expect(Object.keys(decoded)).toEqual(input.map((n) => n.namespace));
        for (const { namespace, entries } of input) {
          expect(Object.keys(decoded[namespace]!).sort()).toEqual(entries.map(([k]) => k).sort());
          for (const [k, value] of entries) expect(decoded[namespace]![k]).toBe(typeof value === 'string' ? value : String(value));
        }
        expect(Buffer.from(out).equals(Buffer.from(merged.plaintext))).toBe(true);
        expect(file.sha256).toBe(createHash('sha256').update(file.bytes).digest('hex'));
      }),
      { seed: 42, numRuns: 100 },
    );
  });
});

describe('property: the verifier only ever throws ClefError on mutated artifacts', () => {
  const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
  const goldenText = readFileSync(path.resolve(repoRoot, 'test/vectors/clef/golden-artifact.json'), 'utf8');
  const goldenKey = 'MCowBQYDK2VwAyEAIVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=';
  const goldenPlaintext = '{"auth":{"JWT_SECRET":"s3cr3t"},"payments":{"STRIPE_KEY":"sk_test_123"}}';
  const goldenDek = new Uint8Array(32).fill(0x11);

  interface Base {
    text: string;
    verifyKey: VerifyKeyInput;
    plaintext: string;
    open: { unwrapKey?: (r: { wrappedKey: Uint8Array }) => Promise<Uint8Array>; ageIdentities?: string[] };
  }
  const bases: Base[] = [];
  beforeAll(async () => {
    bases.push({ text: goldenText, verifyKey: goldenKey, plaintext: goldenPlaintext, open: { unwrapKey: async () => new Uint8Array(goldenDek) } });
    const identity = await generateX25519Identity();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const plaintext = '{"ns":{"A":"1","B":"two"}}';
    const age = await packArtifact({
      identity: 'svc',
      environment: 'dev',
      plaintext: new TextEncoder().encode(plaintext),
      envelope: { kind: 'age', recipients: [await identityToRecipient(identity)] },
      signer: createEcdsaP256Signer(ec.privateKey),
      ttlSeconds: 3600,
    });
    bases.push({ text: age.json, verifyKey: ec.publicKey, plaintext, open: { ageIdentities: [identity] } });
  });

  const FIELDS = ['version', 'identity', 'environment', 'packedAt', 'revision', 'ciphertextHash', 'ciphertext', 'envelope', 'expiresAt', 'revokedAt', 'signature', 'signatureAlgorithm'];
  const ENV_FIELDS = ['provider', 'keyId', 'wrappedKey', 'algorithm', 'iv', 'authTag'];

  type Mutation =
    | { kind: 'replace'; at: number; text: string }
    | { kind: 'insert'; at: number; text: string }
    | { kind: 'delete'; at: number; length: number }
    | { kind: 'truncate'; at: number }
    | { kind: 'field'; field: string; inEnvelope: boolean; value: unknown; remove: boolean }
    | { kind: 'bytes'; bytes: Uint8Array }
    | { kind: 'json'; value: unknown };

  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 3, unit: 'binary' }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 8, unit: 'binary' }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('field' as const),
      field: fc.constantFrom(...FIELDS, ...ENV_FIELDS, '__proto__', 'attestation'),
      inEnvelope: fc.boolean(),
      value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ unit: 'binary' }), fc.base64String({ maxLength: 40 })),
      remove: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 200 }) }),
    fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue({ maxDepth: 3 }) }),
  );

  function apply(text: string, m: Mutation): string | Uint8Array {
    switch (m.kind) {
      case 'replace': {
        const at = m.at % (text.length + 1);
        return text.slice(0, at) + m.text + text.slice(at + m.text.length);
      }
      case 'insert': {
        const at = m.at % (text.length + 1);
        return text.slice(0, at) + m.text + text.slice(at);
      }
      case 'delete': {
        const at = m.at % (text.length + 1);
        return text.slice(0, at) + text.slice(at + m.length);
      }
      case 'truncate':
        return text.slice(0, m.at % text.length);
      case 'field': {
        const o = JSON.parse(text) as Record<string, unknown>;
        const target = m.inEnvelope && typeof o.envelope === 'object' && o.envelope !== null ? (o.envelope as Record<string, unknown>) : o;
        if (m.remove) delete target[m.field];
        else Object.defineProperty(target, m.field, { value: m.value, enumerable: true, configurable: true, writable: true });
        return JSON.stringify(o, null, 2);
      }
      case 'bytes':
        return m.bytes;
      case 'json':
        return JSON.stringify(m.value);
    }
  }

  it('holds for 2,500 mutations; anything that still verifies decrypts to the original plaintext', async () => {
    let verified = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(1), mutation, async (which, m) => {
        const base = bases[which]!;
        const input = apply(base.text, m);
        let result: ReturnType<typeof verifyArtifact> | undefined;
        try {
          parseArtifact(input);
          result = verifyArtifact(input, { verifyKey: base.verifyKey });
        } catch (err) {
          if (!(err instanceof ClefError)) throw err;
          return;
        }
        verified++;
        const out = await decryptArtifact(result.artifact, base.open);
        expect(Buffer.from(out).toString('utf8')).toBe(base.plaintext);
      }),
      { seed: 42, numRuns: 2500 },
    );
    // Some mutations (whitespace, unsigned fields) keep the artifact valid; most must not.
    expect(verified).toBeGreaterThan(0);
    expect(verified).toBeLessThan(2500);
  });
});
