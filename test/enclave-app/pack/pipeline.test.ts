/**
 * The pack pipeline against the KMS simulator (real SDK over loopback, SigV4, generated key
 * policies, attested Recipient/CMS) and the simulated NSM. The artifacts are opened by an
 * independent implementation of Clef's runtime algorithm written here, not by our clef/ code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecipheriv, createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { Decrypter } from 'age-encryption';
import { parseSourceKeyFlags } from '../../../enclave-app/pack/policy.js';
import { runPack, type PackPorts } from '../../../enclave-app/pack/pipeline.js';
import { RecipientKeyRing } from '../../../enclave-app/pack/recipient-keys.js';
import { createSealedKey, unsealSigningKey, parseSealedKeyFile } from '../../../enclave-app/pack/sealed-key.js';
import { verifyReceipt, parseReceipt, trustedRootFromPem } from '../../../attestation/index.js';
import { isAttestedPackError } from '../../../common/errors.js';
import { DEMO_SECRETS } from '../../../simulator/demo-repo.js';
import { policyFor } from '../../../simulator/keys.js';
import { DEMO_ENCLAVE_ROLE_ARN, DEMO_RUNTIME_ROLE_ARN } from '../../../simulator/kms/index.js';
import { PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { createWorld, randomMeasurements, worldPorts, ADMIN, type World } from './world.js';

let world: World;
const keys = new RecipientKeyRing();

beforeAll(async () => {
  world = await createWorld();
});
afterAll(async () => {
  keys.clear();
  await world?.close();
});

function ports(overrides: Partial<PackPorts> = {}): PackPorts {
  return worldPorts(world, keys, overrides);
}

/** Clef's runtime, re-implemented from reference/clef-compat.md §2.5–2.6 for these tests. */
async function clefRuntimeOpen(artifactBytes: Uint8Array, verifyKeySpki?: Uint8Array): Promise<Record<string, Record<string, string>>> {
  const a = JSON.parse(Buffer.from(artifactBytes).toString('utf8')) as Record<string, unknown> & {
    envelope?: Record<string, string>;
  };
  expect(a.version).toBe(1);
  expect(createHash('sha256').update(String(a.ciphertext)).digest('hex')).toBe(a.ciphertextHash);
  if (verifyKeySpki) {
    const env = a.envelope ?? {};
    const payload = [
      'clef-sig-v3', String(a.version), a.identity, a.environment, a.revision, a.packedAt, a.ciphertextHash, a.expiresAt ?? '',
      env.provider ?? '', env.keyId ?? '', env.wrappedKey ?? '', env.algorithm ?? '', env.iv ?? '', env.authTag ?? '',
    ].join('\n');
    const key = createPublicKey({ key: Buffer.from(verifyKeySpki), format: 'der', type: 'spki' });
    const sig = Buffer.from(String(a.signature), 'base64');
    const ok = key.asymmetricKeyType === 'ed25519' ? cryptoVerify(null, Buffer.from(payload), key, sig) : cryptoVerify('sha256', Buffer.from(payload), key, sig);
    expect(ok).toBe(true);
  }
  let plaintext: Buffer;
  if (a.envelope) {
    const dek = await world.runtime.send(
      new DecryptCommand({ KeyId: a.envelope.keyId, CiphertextBlob: Buffer.from(a.envelope.wrappedKey!, 'base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }),
    );
    const d = createDecipheriv('aes-256-gcm', Buffer.from(dek.Plaintext!), Buffer.from(a.envelope.iv!, 'base64'));
    d.setAuthTag(Buffer.from(a.envelope.authTag!, 'base64'));
    plaintext = Buffer.concat([d.update(Buffer.from(String(a.ciphertext), 'base64')), d.final()]);
  } else {
    const dec = new Decrypter();
    dec.addIdentity(world.ageIdentity);
    plaintext = Buffer.from(await dec.decrypt(Buffer.from(String(a.ciphertext), 'base64')));
  }
  return JSON.parse(plaintext.toString('utf8')) as Record<string, Record<string, string>>;
}

const expected = (namespaces: string[], env: 'dev' | 'production') =>
  Object.fromEntries(namespaces.map((ns) => [ns, { ...DEMO_SECRETS[ns]![env] }]));

async function auditEvents(): Promise<Array<Record<string, unknown>>> {
  await world.sim.audit.flush();
  return readFileSync(world.sim.auditLogPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('pack pipeline against the KMS simulator and the simulated NSM', () => {
  it('packs a KMS identity: the artifact verifies and opens with Clef\'s runtime algorithm; the receipt binds it', async () => {
    const req = await world.request('api-gateway', 'production', { options: { signing: 'kms', ttlSeconds: 3600 } });
    const out = await runPack(req, ports());
    const artifact = JSON.parse(Buffer.from(out.artifact).toString('utf8')) as { envelope: { keyId: string } };
    expect(artifact.envelope.keyId).toBe(world.keys.wrap);

    const receipt = parseReceipt(Buffer.from(out.receipt).toString('utf8'));
    const spki = Buffer.from(receipt.claims.keys.signingPublicKey!, 'base64');
    expect(await clefRuntimeOpen(out.artifact, spki)).toEqual(expected(['payments', 'auth'], 'production'));

    const v = await verifyReceipt(receipt, {
      trustedRoots: [trustedRootFromPem(world.pki.rootPem())],
      at: 'document',
      expectedPcrs: { 0: world.measurements.PCR0, 1: world.measurements.PCR1, 2: world.measurements.PCR2 },
      expectedNonce: req.nonce,
    });
    expect(v.attestation.pcrs.get(0)).toBe(world.measurements.PCR0);
    expect(receipt.claims.artifact.sha256).toBe(createHash('sha256').update(out.artifact).digest('hex'));
    expect(receipt.claims.keys.source).toEqual([world.keys.source]);
    expect(receipt.claims.keys.wrap).toBe(world.keys.wrap);
    expect(receipt.claims.keys.sign).toBe(world.keys.sign);
    expect(receipt.claims.artifact.signatureAlgorithm).toBe('ECDSA_SHA256');
    expect(receipt.claims.artifact.keyCount).toBe(4);
    expect(receipt.claims.request.commit).toBe(world.repo.commit);

    // Exactly the files used, with git blob ids equal to `git hash-object`.
    const used = ['clef.yaml', 'secrets/payments/production.enc.yaml', 'secrets/auth/production.enc.yaml'];
    expect(receipt.claims.inputs.map((i) => i.path)).toEqual(used);
    for (const input of receipt.claims.inputs) {
      const blob = execFileSync('git', ['hash-object', join(world.repo.dir, input.path)], { encoding: 'utf8' }).trim();
      expect(input.gitBlobId).toBe(blob);
    }
  });

  it('packs an age identity: only its namespace is decrypted and the artifact opens with the age identity', async () => {
    const before = (await auditEvents()).filter((e) => e.eventName === 'Decrypt').length;
    const req = await world.request('worker', 'dev');
    const out = await runPack(req, ports());
    expect(await clefRuntimeOpen(out.artifact)).toEqual(expected(['auth'], 'dev'));
    const receipt = parseReceipt(Buffer.from(out.receipt).toString('utf8'));
    expect(receipt.claims.inputs.map((i) => i.path)).toEqual(['clef.yaml', 'secrets/auth/dev.enc.yaml']);
    expect(receipt.claims.keys.wrap).toBeNull();
    expect(receipt.claims.keys.ageRecipients).toHaveLength(1);
    // Out-of-scope files were in the request but never reached KMS: one Decrypt for one scoped file.
    const decrypts = (await auditEvents()).filter((e) => e.eventName === 'Decrypt');
    expect(decrypts.length - before).toBe(1);
    const ctx = JSON.stringify(decrypts.at(-1));
    expect(ctx).toContain('auth');
    expect(ctx).not.toContain('"payments"');
  });

  it('keeps repo-relative paths when clef.yaml lives in a subdirectory', async () => {
    const req = await world.request('worker', 'dev');
    req.manifest.path = `config/${req.manifest.path}`;
    for (const f of req.files) f.path = `config/${f.path}`;
    const out = await runPack(req, ports());
    const receipt = parseReceipt(Buffer.from(out.receipt).toString('utf8'));
    expect(receipt.claims.inputs.map((i) => i.path)).toEqual(['config/clef.yaml', 'config/secrets/auth/dev.enc.yaml']);
  });

  it('wraps only for the envelopes the enclave was told to: a clef.yaml naming another target is refused before any decryption', async () => {
    const targets = new Map([['api-gateway/production', { kind: 'kms' as const, keyArn: world.keys.wrap }]]);
    const before = (await auditEvents()).filter((e) => e.eventName === 'Decrypt').length;
    // The age identity's envelope is not on the list.
    await expect(runPack(await world.request('worker', 'dev'), ports({ wrapTargets: targets }))).rejects.toMatchObject({
      code: 'PACK_WRAP_TARGET_REFUSED',
    });
    // A host that rewrites clef.yaml to wrap for its own KMS key is refused too.
    const req = await world.request('api-gateway', 'production');
    const foreign = 'arn:aws:kms:us-east-1:999999999999:key/attacker';
    req.manifest.content = new Uint8Array(Buffer.from(Buffer.from(req.manifest.content).toString('utf8').replaceAll(world.keys.wrap, foreign)));
    await expect(runPack(req, ports({ wrapTargets: targets }))).rejects.toMatchObject({
      code: 'PACK_WRAP_TARGET_REFUSED',
      message: expect.stringContaining(foreign),
    });
    expect((await auditEvents()).filter((e) => e.eventName === 'Decrypt').length).toBe(before);
    // The listed envelope packs.
    const ok = await runPack(await world.request('api-gateway', 'production'), ports({ wrapTargets: targets }));
    expect(ok.artifact.byteLength).toBeGreaterThan(0);
  });

  it('decrypts only under the source keys it was told, refusing a SOPS file under another key', async () => {
    const req = await world.request('api-gateway', 'production');
    const err = await runPack(req, ports({ sourceKeys: ['arn:aws:kms:us-east-1:111122223333:key/some-other-key'] })).catch((e: unknown) => e);
    expect(isAttestedPackError(err) && err.code).toBe('PACK_SOURCE_KEY_REFUSED');
    expect((err as Error).message).toContain(world.keys.source);
    const ok = await runPack(await world.request('api-gateway', 'production'), ports({ sourceKeys: [world.keys.source] }));
    expect(ok.receipt.byteLength).toBeGreaterThan(0);
  });

  it('source keys pinned per identity/environment: a cell without its own (or a global) key is refused before any KMS call', async () => {
    const perCell = parseSourceKeyFlags([`api-gateway/production=${world.keys.source}`])!;
    const before = (await auditEvents()).length;
    const err = await runPack(await world.request('worker', 'dev'), ports({ sourceKeys: perCell })).catch((e: unknown) => e);
    expect(isAttestedPackError(err) && err.code).toBe('PACK_SOURCE_KEY_REFUSED');
    expect((err as Error).message).toContain('worker/dev');
    expect((await auditEvents()).length).toBe(before);
    const ok = await runPack(await world.request('api-gateway', 'production'), ports({ sourceKeys: perCell }));
    expect(ok.receipt.byteLength).toBeGreaterThan(0);
  });

  it('a pinned clef.yaml (--manifest-sha256): a host widening worker/dev to payments is refused before any KMS call', async () => {
    const genuine = await world.request('worker', 'dev');
    const pin = [createHash('sha256').update(genuine.manifest.content).digest('hex')];
    // Without the pin the envelope check alone cannot tell: worker/dev keeps its own envelope.
    const widened = await world.request('worker', 'dev');
    const text = Buffer.from(widened.manifest.content).toString('utf8').replace('    namespaces: [auth]\n', '    namespaces: [payments, auth]\n');
    expect(text).toContain('namespaces: [payments, auth]\n    pack_only: true\n    environments:\n      dev: {recipient:');
    widened.manifest.content = new Uint8Array(Buffer.from(text));
    const before = (await auditEvents()).length;
    const err = await runPack(widened, ports({ manifestSha256: pin })).catch((e: unknown) => e);
    expect(isAttestedPackError(err) && err.code).toBe('PACK_MANIFEST_REFUSED');
    expect((await auditEvents()).length).toBe(before);
    const ok = await runPack(genuine, ports({ manifestSha256: pin }));
    expect(parseReceipt(Buffer.from(ok.receipt).toString('utf8')).claims.inputs[0]!.sha256).toBe(pin[0]);
  });

  it('fails with KMS_ACCESS_DENIED naming the key when the enclave image differs from the policy', async () => {
    const req = await world.request('api-gateway', 'production');
    const err = await runPack(req, ports({ nsm: world.nsmFor(randomMeasurements()) })).catch((e: unknown) => e);
    expect(isAttestedPackError(err) && err.code).toBe('KMS_ACCESS_DENIED');
    expect((err as Error).message).toContain(world.keys.source);
  });

  it('fails with SOPS_MAC_MISMATCH when the MAC was tampered with, SOPS_BAD_VALUE when a value was', async () => {
    const tamper = async (pattern: RegExp): Promise<unknown> => {
      const req = await world.request('api-gateway', 'production');
      const f = req.files.find((x) => x.path === 'secrets/auth/production.enc.yaml')!;
      const text = Buffer.from(f.content).toString('utf8');
      const m = pattern.exec(text)!;
      const data = Buffer.from(m[1]!, 'base64');
      data[0] ^= 1;
      f.content = new Uint8Array(Buffer.from(text.replace(m[1]!, data.toString('base64'))));
      return runPack(req, ports()).catch((e: unknown) => e);
    };
    const macErr = await tamper(/mac: ENC\[AES256_GCM,data:([A-Za-z0-9+/=]+),/);
    expect(isAttestedPackError(macErr) && macErr.code).toBe('SOPS_MAC_MISMATCH');
    const valueErr = await tamper(/JWT_SECRET: ENC\[AES256_GCM,data:([A-Za-z0-9+/=]+),/);
    expect(isAttestedPackError(valueErr) && valueErr.code).toBe('SOPS_BAD_VALUE');
    for (const e of [macErr, valueErr]) expect((e as Error).message).not.toContain('jwt-prod-canary');
  });

  it('refuses requests with bad fields, naming them', async () => {
    const req = await world.request('api-gateway', 'production', { commit: 'abc' });
    await expect(runPack(req, ports())).rejects.toMatchObject({ code: 'PACK_BAD_REQUEST', message: expect.stringContaining('commit') });
    const req2 = await world.request('api-gateway', 'production');
    req2.files.push({ path: '../etc/passwd', content: new Uint8Array(1) });
    await expect(runPack(req2, ports())).rejects.toMatchObject({ code: 'PACK_BAD_REQUEST', message: expect.stringContaining('files[') });
    const req3 = await world.request('nobody', 'production');
    await expect(runPack(req3, ports())).rejects.toMatchObject({ code: 'CLEF_UNKNOWN_IDENTITY' });
  });

  it('kms signing without a configured key is a clear error', async () => {
    const before = (await auditEvents()).filter((e) => e.eventName === 'Decrypt').length;
    const req = await world.request('api-gateway', 'production', { options: { signing: 'kms' } });
    await expect(runPack(req, ports({ signing: {} }))).rejects.toMatchObject({ code: 'PACK_SIGNING_NOT_CONFIGURED' });
    // Refused before any secret was decrypted.
    expect((await auditEvents()).filter((e) => e.eventName === 'Decrypt').length).toBe(before);
  });

  describe('sealed Ed25519 signing key', () => {
    it('unseals by attested Decrypt and signs artifacts that verify with its public half', async () => {
      const sealedFile = await createSealedKey(world.keys.seal, async (pt) => {
        const out = await world.admin.send(new EncryptCommand({ KeyId: world.keys.seal, Plaintext: pt }));
        return { ciphertextBlob: out.CiphertextBlob!, keyId: out.KeyId! };
      });
      const sealed = parseSealedKeyFile(JSON.stringify(sealedFile));
      const key = await keys.acquire();
      const p = ports();
      const unsealed = await unsealSigningKey(sealed, p.kms, {
        attestationDocument: await p.nsm.attest({ publicKey: key.spkiDer }),
        privateKey: key.privateKey,
        spkiDer: key.spkiDer,
      });
      const req = await world.request('api-gateway', 'production', { options: { signing: 'sealed' } });
      const out = await runPack(req, ports({ signing: { sealed: unsealed } }));
      const receipt = parseReceipt(Buffer.from(out.receipt).toString('utf8'));
      expect(receipt.claims.keys.seal).toBe(world.keys.seal);
      expect(receipt.claims.artifact.signatureAlgorithm).toBe('Ed25519');
      expect(await clefRuntimeOpen(out.artifact, sealed.publicKey)).toEqual(expected(['payments', 'auth'], 'production'));

      // Under a policy for other measurements the key does not unseal, and packs say why.
      const other = randomMeasurements();
      await world.admin.send(
        new PutKeyPolicyCommand({
          KeyId: world.keys.seal,
          PolicyName: 'default',
          Policy: policyFor('seal', { measurements: other, enclaveRoleArn: DEMO_ENCLAVE_ROLE_ARN, runtimeRoleArns: [DEMO_RUNTIME_ROLE_ARN], encryptorArns: [ADMIN.principalArn], adminArns: [ADMIN.principalArn] }),
        }),
      );
      const err = await unsealSigningKey(sealed, p.kms, {
        attestationDocument: await p.nsm.attest({ publicKey: key.spkiDer }),
        privateKey: key.privateKey,
        spkiDer: key.spkiDer,
      }).catch((e: unknown) => e);
      expect(isAttestedPackError(err) && err.code).toBe('KMS_ACCESS_DENIED');
      expect((err as Error).message).toContain(world.keys.seal);
      await expect(
        runPack(req, ports({ signing: { sealedUnavailableReason: `${(err as { code: string }).code}: ${(err as Error).message}` } })),
      ).rejects.toMatchObject({ code: 'PACK_SIGNING_NOT_READY', message: expect.stringContaining('KMS_ACCESS_DENIED') });
    });

    it('refuses a sealed key file that is not one', () => {
      expect(() => parseSealedKeyFile('{')).toThrowError(/not JSON/);
      expect(() => parseSealedKeyFile('{"type":"x"}')).toThrowError(/type/);
    });
  });
});
