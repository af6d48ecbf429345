/**
 * The enclave server over a real unix socket, driven by the real RPC client, with the KMS
 * simulator and the simulated NSM behind it. A recording relay sits between client and enclave
 * and keeps every byte the enclave sends to the host: no secret value and no data key may appear
 * in it, in any encoding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { RpcClient, connectTransport } from '../../vsock/index.js';
import { startEnclaveServer, type EnclaveServer } from '../../enclave-app/server.js';
import { decryptSops } from '../../enclave-app/sops/index.js';
import { RecipientKeyRing } from '../../enclave-app/pack/recipient-keys.js';
import { createSealedKey, parseSealedKeyFile as readSealedKeyText } from '../../enclave-app/pack/sealed-key.js';
import { EncryptCommand } from '@aws-sdk/client-kms';
import type { HealthResponse, PackResponse, SealedSigningKey } from '../../enclave-app/protocol.js';
import { parseReceipt, verifyAttestationDocument, trustedRootFromPem } from '../../attestation/index.js';
import { DEMO_SECRETS } from '../../simulator/demo-repo.js';
import { createWorld, type World } from './pack/world.js';

let world: World;
let server: EnclaveServer;
let relay: net.Server;
let relayPath: string;
const fromEnclave: Buffer[] = [];

let sealedKey: SealedSigningKey;

beforeAll(async () => {
  world = await createWorld();
  // The operator seals the signing key first; the image pins its seal key and public half.
  const sealedFile = await createSealedKey(world.keys.seal, async (pt) => {
    const out = await world.admin.send(new EncryptCommand({ KeyId: world.keys.seal, Plaintext: pt }));
    return { ciphertextBlob: out.CiphertextBlob!, keyId: out.KeyId! };
  });
  sealedKey = readSealedKeyText(JSON.stringify(sealedFile));
  server = await startEnclaveServer({
    listen: `unix://${join(world.dir, 'enclave.sock')}`,
    nsm: world.nsmFor(world.measurements),
    kms: world.kmsConnection(),
    toolVersion: '0.1.0-test',
    signingKmsKeyId: world.keys.sign,
    sealedKeyPin: { sealKeyArn: sealedKey.kmsKeyId, publicKeySpki: sealedKey.publicKey },
    recipientKeys: { maxUses: 2 },
  });
  // The recording relay: host side ⇄ relay ⇄ enclave socket; keeps what the enclave sends.
  relayPath = join(world.dir, 'relay.sock');
  relay = net.createServer((host) => {
    const enclave = net.connect(join(world.dir, 'enclave.sock'));
    host.pipe(enclave);
    enclave.on('data', (chunk: Buffer) => fromEnclave.push(Buffer.from(chunk)));
    enclave.pipe(host);
    const end = () => {
      host.destroy();
      enclave.destroy();
    };
    host.on('close', end);
    enclave.on('close', end);
    host.on('error', end);
    enclave.on('error', end);
  });
  await new Promise<void>((resolve) => relay.listen(relayPath, resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => relay?.close(() => resolve()));
  await server?.close();
  await world?.close();
});

async function client(): Promise<RpcClient> {
  return RpcClient.connect(await connectTransport(`unix://${relayPath}`), { client: 'test-host' });
}

/** Every encoding a secret could travel in. */
function encodings(secret: Buffer): string[] {
  return [
    secret.toString('latin1'),
    secret.toString('base64'),
    secret.toString('base64url'),
    secret.toString('hex'),
    encodeURIComponent(secret.toString('latin1')),
  ].filter((s) => s.length >= 8);
}

describe('enclave server', () => {
  it('answers health and a fresh attestation for a nonce', async () => {
    const c = await client();
    try {
      const h = await c.request<HealthResponse>('health', {});
      expect(h).toMatchObject({ status: 'ok', version: '0.1.0-test', signingReady: true });
      const nonce = new Uint8Array([1, 2, 3, 4]);
      const { document } = await c.request<{ document: Uint8Array }>('attest', { nonce });
      const v = await verifyAttestationDocument(document, {
        trustedRoots: [trustedRootFromPem(world.pki.rootPem())],
        at: Date.now(),
        expectedPcrs: { 0: world.measurements.PCR0 },
        expectedNonce: nonce,
      });
      expect(v.pcrs.get(0)).toBe(world.measurements.PCR0);
    } finally {
      c.close();
    }
  });

  it('packs over the transport, and nothing the enclave sent holds a secret or a data key', async () => {
    const c = await client();
    fromEnclave.length = 0;
    let out: PackResponse;
    try {
      const req = await world.request('api-gateway', 'production', { options: { signing: 'kms' } });
      out = await c.request<PackResponse>('pack', req);
    } finally {
      c.close();
    }
    const receipt = parseReceipt(Buffer.from(out.receipt).toString('utf8'));
    expect(receipt.claims.artifact.sha256).toBe(createHash('sha256').update(out.artifact).digest('hex'));

    // The data keys of the scoped files, recovered here the way the enclave does (attested Decrypt).
    const dataKeys: Buffer[] = [];
    const ring = new RecipientKeyRing();
    const key = await ring.acquire();
    const recipient = {
      attestationDocument: await world.nsmFor(world.measurements).attest({ publicKey: key.spkiDer }),
      privateKey: key.privateKey,
      spkiDer: key.spkiDer,
    };
    const kms = world.kmsConnection().forCredentials(world.enclaveCredentials);
    const req = await world.request('api-gateway', 'production');
    for (const path of ['secrets/payments/production.enc.yaml', 'secrets/auth/production.enc.yaml']) {
      await decryptSops(req.files.find((f) => f.path === path)!.content, 'yaml', {
        kms: async (r) => {
          const dk = await kms.decryptForRecipient({ ciphertextBlob: r.ciphertextBlob, keyId: r.arn, ...(r.context ? { encryptionContext: r.context } : {}), recipient });
          dataKeys.push(Buffer.from(dk));
          return dk;
        },
      });
    }
    ring.clear();
    expect(dataKeys).toHaveLength(2);
    expect(dataKeys.every((k) => k.length === 32)).toBe(true);
    const recorded = Buffer.concat(fromEnclave).toString('latin1');
    expect(recorded.length).toBeGreaterThan(1000);
    const secrets = Object.values(DEMO_SECRETS).flatMap((envs) => Object.values(envs).flatMap((kv) => Object.values(kv)));
    let checked = 0;
    for (const s of [...secrets.map((v) => Buffer.from(v)), ...dataKeys]) {
      for (const form of encodings(s)) {
        expect(recorded.includes(form), `a secret in form ${form.slice(0, 6)}… crossed the boundary`).toBe(false);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(secrets.length * 4);
  });

  it('answers a bad request with a typed error and keeps serving', async () => {
    const c = await client();
    try {
      await expect(c.request('pack', { identity: 42 })).rejects.toMatchObject({ code: 'PACK_BAD_REQUEST' });
      await expect(c.request('attest', { nonce: new Uint8Array(600) })).rejects.toMatchObject({ code: 'PACK_BAD_REQUEST' });
      // Caller-chosen user_data would let the parent mint receipts for claims the enclave never made.
      await expect(c.request('attest', { nonce: new Uint8Array(8), userData: new Uint8Array(48) })).rejects.toMatchObject({
        code: 'PACK_BAD_REQUEST',
        message: expect.stringContaining('userData'),
      });
      await expect(c.request('unseal', {})).rejects.toMatchObject({ code: 'PACK_BAD_REQUEST' });
      await expect(c.request('nope', {})).rejects.toMatchObject({ code: 'RPC_UNKNOWN_TYPE' });
      expect((await c.request<HealthResponse>('health', {})).status).toBe('ok');
    } finally {
      c.close();
    }
  });

  it('survives garbage on a connection and serves the next one', async () => {
    const raw = net.connect(relayPath);
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    const answer: Buffer[] = [];
    raw.on('data', (d: Buffer) => answer.push(d));
    raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await new Promise<void>((resolve) => raw.once('close', () => resolve()));
    // A connection-level error frame naming the problem came back before the close.
    expect(Buffer.concat(answer).toString('latin1')).toContain('FRAME_TOO_LARGE');
    const c = await client();
    try {
      expect((await c.request<HealthResponse>('health', {})).status).toBe('ok');
    } finally {
      c.close();
    }
  });

  it('reports a failed unseal in health and in sealed packs', async () => {
    const c = await client();
    try {
      const err = await c
        .request('unseal', {
          sealedKey: { ...sealedKey, ciphertextBlob: new Uint8Array([1, 2, 3]) },
          credentials: world.enclaveCredentials,
        })
        .catch((e: unknown) => e);
      expect((err as { code: string }).code).toMatch(/^KMS_/);
      expect((await c.request<HealthResponse>('health', {})).status).toBe('degraded');
      const req = await world.request('api-gateway', 'production', { options: { signing: 'sealed' } });
      await expect(c.request('pack', req)).rejects.toMatchObject({ code: 'PACK_SIGNING_NOT_READY' });
    } finally {
      c.close();
    }
  });

  it('keeps a working sealed key: a later unseal is answered with it, without KMS', async () => {
    const c = await client();
    try {
      const first = await c.request<{ publicKey: Uint8Array }>('unseal', { sealedKey, credentials: world.enclaveCredentials });
      expect(Buffer.from(first.publicKey).equals(Buffer.from(sealedKey.publicKey))).toBe(true);
      let kmsCalls = 0;
      const stop = world.sim.audit.onEvent(() => {
        kmsCalls++;
      });
      const again = await c.request<{ publicKey: Uint8Array }>('unseal', {
        sealedKey: { ...sealedKey, ciphertextBlob: new Uint8Array([1, 2, 3]) },
        credentials: world.enclaveCredentials,
      });
      expect(Buffer.from(again.publicKey).equals(Buffer.from(sealedKey.publicKey))).toBe(true);
      stop();
      expect(kmsCalls).toBe(0);
      expect((await c.request<HealthResponse>('health', {})).status).toBe('ok');
      const req = await world.request('api-gateway', 'production', { options: { signing: 'sealed' } });
      const out = await c.request<PackResponse>('pack', req);
      expect(parseReceipt(Buffer.from(out.receipt).toString('utf8')).claims.artifact.signatureAlgorithm).toBe('Ed25519');
    } finally {
      c.close();
    }
  });
});
