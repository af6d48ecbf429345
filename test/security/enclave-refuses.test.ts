/**
 * "The enclave refuses what the host chose" (issue 16), replayed the way an attacker holding the
 * parent instance drove each attack: hand-written frames over the enclave's real transport (a
 * unix socket here, vsock in AWS), the parent's forwarded credentials, KMS keys the host creates
 * itself. The server is the real one, configured the way `enclave serve` parses its measured
 * flags (--envelope, --source-key, --seal-key, --signer-public-key), in front of the KMS
 * simulator and the simulated NSM. Every refusal is a stable code naming what was refused, comes
 * before any KMS call, and yields no artifact or receipt; legitimate packs keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { join } from 'node:path';
import { CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { identityToRecipient } from 'age-encryption';
import { RpcClient, connectTransport, encodeFrame } from '../../vsock/index.js';
import { startEnclaveServer, type EnclaveServer } from '../../enclave-app/server.js';
import { parseEnvelopeFlags, parseSourceKeyFlags } from '../../enclave-app/pack/policy.js';
import { createSealedKey, parseSealedKeyFile } from '../../enclave-app/pack/sealed-key.js';
import { decryptArtifact, parseArtifact, parseClefPlaintext, verifyArtifact } from '../../enclave-app/clef/index.js';
import { encryptSops, sopsMap } from '../../enclave-app/sops/index.js';
import type { PackRequest, PackResponse, SealedSigningKey } from '../../enclave-app/protocol.js';
import { parseReceipt } from '../../attestation/index.js';
import { DEMO_SECRETS } from '../../simulator/demo-repo.js';
import { createWorld, type World } from '../enclave-app/pack/world.js';

let world: World;
let server: EnclaveServer;
let socket: string;
let sealedKey: SealedSigningKey;
let ageRecipient: string;
/** Every KMS call the simulator saw (any principal, any operation). */
const kmsCalls: string[] = [];
/** The enclave's log events (names and codes only). */
const logs: Array<{ event: string; code?: string }> = [];

beforeAll(async () => {
  world = await createWorld();
  ageRecipient = await identityToRecipient(world.ageIdentity);
  // The operator seals the signing key; the image pins its seal key and public half.
  const file = await createSealedKey(world.keys.seal, async (pt) => {
    const out = await world.admin.send(new EncryptCommand({ KeyId: world.keys.seal, Plaintext: pt }));
    return { ciphertextBlob: out.CiphertextBlob!, keyId: out.KeyId! };
  });
  sealedKey = parseSealedKeyFile(JSON.stringify(file));
  socket = join(world.dir, 'enclave.sock');
  server = await startEnclaveServer({
    listen: `unix://${socket}`,
    nsm: world.nsmFor(world.measurements),
    kms: world.kmsConnection(),
    toolVersion: '0.1.0-test',
    signingKmsKeyId: world.keys.sign,
    // Exactly what `enclave serve` builds from its measured flags.
    wrapTargets: parseEnvelopeFlags([`api-gateway/dev=${world.keys.wrap}`, `api-gateway/production=${world.keys.wrap}`, `worker/dev=${ageRecipient}`]),
    sourceKeys: parseSourceKeyFlags([world.keys.source]),
    sealedKeyPin: { sealKeyArn: sealedKey.kmsKeyId, publicKeySpki: sealedKey.publicKey },
    limits: { maxConnections: 8, helloTimeoutMs: 400, idleTimeoutMs: 1500, maxHelloFrameBytes: 4096, maxBufferedBytes: 2 * 1024 * 1024 },
    log: (e) => logs.push(e),
  });
  world.sim.audit.onEvent((e) => {
    kmsCalls.push(e.eventName);
  });
});

afterAll(async () => {
  await server?.close();
  await world?.close();
});

async function client(): Promise<RpcClient> {
  return RpcClient.connect(await connectTransport(`unix://${socket}`), { client: 'attacker-host' });
}

async function send<T>(type: string, body: unknown): Promise<T> {
  const c = await client();
  try {
    return await c.request<T>(type, body, { timeoutMs: 30_000 });
  } finally {
    c.close();
  }
}

/** Sends a request that must be refused; returns the error and the KMS calls made meanwhile. */
async function refused(type: string, body: unknown): Promise<{ err: { code?: string; message?: string; details?: Record<string, unknown> }; kms: string[] }> {
  const before = kmsCalls.length;
  const out = await send(type, body).then(
    (answer) => ({ answer }),
    (err: unknown) => ({ err: err as { code?: string; message?: string; details?: Record<string, unknown> } }),
  );
  expect('answer' in out, `${type} was answered instead of refused`).toBe(false);
  return { err: (out as { err: { code?: string; message?: string } }).err, kms: kmsCalls.slice(before) };
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

describe('1. secrets routed to another identity\'s envelope', () => {
  it('a hand-written frame giving `worker` (age, dev only) the production payments and auth files is refused before any KMS call', async () => {
    const req = await world.request('worker', 'production');
    // The attacker's clef.yaml: worker now covers payments + auth in production, with its own age recipient.
    const manifest = text(req.manifest.content).replace(
      `    namespaces: [auth]\n    pack_only: true\n    environments:\n      dev: {recipient: ${ageRecipient}}\n`,
      `    namespaces: [payments, auth]\n    pack_only: true\n    environments:\n      dev: {recipient: ${ageRecipient}}\n      production: {recipient: ${ageRecipient}}\n`,
    );
    expect(manifest).toContain(`production: {recipient: ${ageRecipient}}`);
    req.manifest.content = bytes(manifest);
    // api-gateway's genuine production files ride along unchanged.
    expect(req.files.map((f) => f.path)).toEqual(expect.arrayContaining(['secrets/payments/production.enc.yaml', 'secrets/auth/production.enc.yaml']));
    const { err, kms } = await refused('pack', req);
    expect(err.code).toBe('PACK_WRAP_TARGET_REFUSED');
    expect(err.message).toContain('worker/production');
    expect(kms).toEqual([]);
  });

  it('a clef.yaml naming the host\'s own KMS key (or age key) for a configured cell is refused, naming both envelopes', async () => {
    const foreignKey = 'arn:aws:kms:us-east-1:999999999999:key/0f0f0f0f-0000-4000-8000-000000000000';
    const req = await world.request('api-gateway', 'production');
    req.manifest.content = bytes(text(req.manifest.content).replaceAll(world.keys.wrap, foreignKey));
    const a = await refused('pack', req);
    expect(a.err.code).toBe('PACK_WRAP_TARGET_REFUSED');
    expect(a.err.message).toContain(foreignKey);
    expect(a.err.message).toContain(world.keys.wrap);
    expect(a.kms).toEqual([]);

    const hostAge = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
    const w = await world.request('worker', 'dev');
    w.manifest.content = bytes(text(w.manifest.content).replace(`recipient: ${ageRecipient}`, `recipient: ${hostAge}`));
    const b = await refused('pack', w);
    expect(b.err.code).toBe('PACK_WRAP_TARGET_REFUSED');
    expect(b.err.message).toContain(hostAge);
    expect(b.kms).toEqual([]);
  });

  it('a SOPS file under a key the image does not name is refused before any KMS call, naming the file and the key', async () => {
    const req = await world.request('api-gateway', 'production');
    const hostKey = 'arn:aws:kms:us-east-1:999999999999:key/0e0e0e0e-0000-4000-8000-000000000000';
    const f = req.files.find((x) => x.path === 'secrets/auth/production.enc.yaml')!;
    f.content = bytes(text(f.content).replaceAll(world.keys.source, hostKey));
    const { err, kms } = await refused('pack', req);
    expect(err.code).toBe('PACK_SOURCE_KEY_REFUSED');
    expect(err.message).toContain('secrets/auth/production.enc.yaml');
    expect(err.message).toContain(hostKey);
    expect(kms).toEqual([]);
  });

  it('legitimate packs still work: every configured cell, both envelopes, both signing modes; the artifacts verify and open', async () => {
    const unsealed = await send<{ publicKey: Uint8Array }>('unseal', { sealedKey, credentials: world.enclaveCredentials });
    expect(Buffer.from(unsealed.publicKey).equals(Buffer.from(sealedKey.publicKey))).toBe(true);
    const cases: Array<[string, string, 'kms' | 'sealed']> = [
      ['api-gateway', 'production', 'kms'],
      ['api-gateway', 'dev', 'sealed'],
      ['worker', 'dev', 'sealed'],
    ];
    for (const [identity, environment, signing] of cases) {
      const out = await send<PackResponse>('pack', await world.request(identity, environment, { options: { signing } }));
      const receipt = parseReceipt(text(out.receipt));
      expect(receipt.claims.request).toMatchObject({ identity, environment });
      const verifyKey = Buffer.from(receipt.claims.keys.signingPublicKey!, 'base64');
      if (signing === 'sealed') expect(verifyKey.equals(Buffer.from(sealedKey.publicKey))).toBe(true);
      const verified = verifyArtifact(out.artifact, { verifyKey: new Uint8Array(verifyKey) });
      expect(verified.signatureAlgorithm).toBe(signing === 'sealed' ? 'Ed25519' : 'ECDSA_SHA256');
      if (identity === 'worker') {
        const plain = parseClefPlaintext(await decryptArtifact(parseArtifact(out.artifact).artifact, { ageIdentities: [world.ageIdentity] }));
        expect(plain).toEqual({ auth: DEMO_SECRETS.auth!.dev });
      }
    }
  });
});

describe('2. the host chooses the sealed signing key', () => {
  it('a key the host sealed under its own KMS key is refused before any KMS call, and never replaces the working key', async () => {
    // The host, with the account's credentials, creates a KMS key anyone may use and seals its own Ed25519 key.
    const created = await world.admin.send(
      new CreateKeyCommand({
        Description: 'host-made seal key',
        Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'all', Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:*', Resource: '*' }] }),
      }),
    );
    const hostKeyArn = created.KeyMetadata!.Arn!;
    const hostFile = await createSealedKey(hostKeyArn, async (pt) => {
      const out = await world.admin.send(new EncryptCommand({ KeyId: hostKeyArn, Plaintext: pt }));
      return { ciphertextBlob: out.CiphertextBlob!, keyId: out.KeyId! };
    });
    const hostSealed = parseSealedKeyFile(JSON.stringify(hostFile));

    // The genuine key works first.
    await send('unseal', { sealedKey, credentials: world.enclaveCredentials });

    const a = await refused('unseal', { sealedKey: hostSealed, credentials: world.enclaveCredentials });
    expect(a.err.code).toBe('PACK_SEALED_KEY_REFUSED');
    expect(a.err.message).toContain(hostKeyArn);
    expect(a.err.message).toContain('seal key');
    expect(a.kms).toEqual([]);
    // The host's public key claimed under the pinned seal key: refused too.
    const b = await refused('unseal', { sealedKey: { ...sealedKey, publicKey: hostSealed.publicKey }, credentials: world.enclaveCredentials });
    expect(b.err.code).toBe('PACK_SEALED_KEY_REFUSED');
    expect(b.err.message).toContain('signer public key');
    expect(b.kms).toEqual([]);

    // Sealed packs are still signed by the pinned key, never by the host's.
    const out = await send<PackResponse>('pack', await world.request('api-gateway', 'production', { options: { signing: 'sealed' } }));
    const spki = parseReceipt(text(out.receipt)).claims.keys.signingPublicKey!;
    expect(spki).toBe(Buffer.from(sealedKey.publicKey).toString('base64'));
    expect(spki).not.toBe(Buffer.from(hostSealed.publicKey).toString('base64'));
    expect(() => verifyArtifact(out.artifact, { verifyKey: hostSealed.publicKey })).toThrow();
  });
});

describe('3. the SOPS type tag is no oracle', () => {
  /** A genuine SOPS file under the source key with one integer-looking and one non-numeric secret. */
  async function fileWithSecrets(): Promise<string> {
    const out = await encryptSops([sopsMap([['PIN', '4821'], ['WORD', 'hunter-two']])], {
      format: 'yaml',
      keyGroups: [[{ type: 'kms', arn: world.keys.source, context: { app: 'attested-pack-demo', namespace: 'auth' } }]],
      kms: async (r) => {
        const e = await world.admin.send(new EncryptCommand({ KeyId: r.arn, Plaintext: r.plaintext, ...(r.context ? { EncryptionContext: r.context } : {}) }));
        return Buffer.from(e.CiphertextBlob!).toString('base64');
      },
    });
    return text(out);
  }

  async function packWith(auth: string): Promise<{ ok: true; keyCount: number; ciphertextLength: number } | { ok: false; code: string | undefined }> {
    const req: PackRequest = await world.request('api-gateway', 'production');
    req.files.find((f) => f.path === 'secrets/auth/production.enc.yaml')!.content = bytes(auth);
    return send<PackResponse>('pack', req).then(
      (out) => ({ ok: true as const, keyCount: parseReceipt(text(out.receipt)).claims.artifact.keyCount, ciphertextLength: parseArtifact(out.artifact).artifact.ciphertext.length }),
      (err: unknown) => ({ ok: false as const, code: (err as { code?: string }).code }),
    );
  }

  /** Flips the `type:` tag of the value under `key`. */
  const flip = (file: string, key: string, to: string): string => file.replace(new RegExp(`(${key}: ENC\\[[^\\]]*type:)str\\]`), `$1${to}]`);

  it('flipping type:str on a value gives the same answer whether or not the secret parses as that type', async () => {
    const file = await fileWithSecrets();
    const baseline = await packWith(file);
    expect(baseline).toMatchObject({ ok: true });
    for (const to of ['int', 'float', 'bool', 'time', 'bytes']) {
      const pin = flip(file, 'PIN', to);
      const word = flip(file, 'WORD', to);
      expect(pin).not.toBe(file);
      expect(word).not.toBe(file);
      // "Is PIN an integer?" and "is WORD an integer?" get the same answer: the baseline's.
      expect(await packWith(pin), `PIN as ${to}`).toEqual(baseline);
      expect(await packWith(word), `WORD as ${to}`).toEqual(baseline);
    }
  });

  it('a changed value fails the MAC with one code, whatever the tags say', async () => {
    const file = await fileWithSecrets();
    // Swap the two values' ciphertexts' tags AND a value: the MAC (or the value's GCM tag) answers, never the type decoder.
    const other = await fileWithSecrets();
    const pinOf = (f: string): string => /PIN: (ENC\[[^\]]*\])/.exec(f)![1]!;
    const swapped = file.replace(pinOf(file), pinOf(other));
    for (const to of ['str', 'int', 'bool']) {
      const r = await packWith(flip(swapped, 'WORD', to));
      expect(r.ok).toBe(false);
      expect(['SOPS_BAD_VALUE', 'SOPS_MAC_MISMATCH']).toContain((r as { code?: string }).code);
    }
    const macOnly = file.replace(/mac: ENC\[AES256_GCM,data:([A-Za-z0-9+/]{4})/, (_m, d: string) => `mac: ENC[AES256_GCM,data:${d === 'AAAA' ? 'BBBB' : 'AAAA'}`);
    const results = await Promise.all(['str', 'int'].map((to) => packWith(flip(flip(macOnly, 'PIN', to), 'WORD', to))));
    expect(results.map((r) => (r as { code?: string }).code)).toEqual(['SOPS_MAC_MISMATCH', 'SOPS_MAC_MISMATCH']);
  });
});

describe('5. bounded connections to the enclave', () => {
  function raw(): Promise<{ sock: net.Socket; received: Buffer[]; closed: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(socket);
      const received: Buffer[] = [];
      const closed = new Promise<void>((r) => sock.once('close', () => r()));
      sock.on('data', (d: Buffer) => received.push(d));
      sock.on('error', () => undefined);
      sock.once('connect', () => resolve({ sock, received, closed }));
      sock.once('error', reject);
    });
  }
  const hello = (): Buffer => encodeFrame({ v: 1, id: 1, type: 'hello', body: { versions: [1], client: 'attacker' } });
  const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
    Promise.race([p, new Promise<T>((_r, reject) => setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))]);

  it('15 MiB of an unfinished frame before hello: the connection is closed with RPC_LIMIT as soon as it passes the hello size', async () => {
    const c = await raw();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(15 * 1024 * 1024);
    c.sock.write(header);
    c.sock.write(Buffer.alloc(64 * 1024, 0x41));
    await within(c.closed, 3000, 'close');
    expect(Buffer.concat(c.received).toString('latin1')).toContain('RPC_LIMIT');
    expect((await send<{ status: string }>('health', {})).status).toBe('ok');
  });

  it('unfinished frames after hello share one byte budget: the connection that would exceed it is closed, the others live', async () => {
    const a = await raw();
    const b = await raw();
    for (const c of [a, b]) c.sock.write(hello());
    const partial = (): Buffer => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(8 * 1024 * 1024);
      return Buffer.concat([h, Buffer.alloc(1200 * 1024, 0x42)]);
    };
    a.sock.write(partial());
    await new Promise((r) => setTimeout(r, 100));
    b.sock.write(partial());
    await within(b.closed, 3000, 'close of the second');
    expect(Buffer.concat(b.received).toString('latin1')).toContain('RPC_LIMIT');
    expect(a.sock.destroyed).toBe(false);
    a.sock.destroy();
    await a.closed;
    // The budget is given back: a fresh connection packs-sized frames again.
    expect((await send<{ status: string }>('health', {})).status).toBe('ok');
  });

  it('a connection that never says hello is closed after the hello timeout; an idle one after the idle timeout', async () => {
    const silent = await raw();
    const t0 = Date.now();
    await within(silent.closed, 3000, 'hello timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(Buffer.concat(silent.received).toString('latin1')).toContain('RPC_TIMEOUT');

    const idle = await client();
    await within(
      (async () => {
        while (!idle.isClosed) await new Promise((r) => setTimeout(r, 50));
      })(),
      5000,
      'idle close',
    );
  });

  it('connections beyond the cap are closed at once; those within it are served', async () => {
    const held = await Promise.all(Array.from({ length: 8 }, () => raw()));
    const extra = await raw();
    await within(extra.closed, 1000, 'refusal of the ninth connection');
    expect(Buffer.concat(extra.received).length).toBe(0);
    for (const h of held) h.sock.destroy();
    await Promise.all(held.map((h) => h.closed));
    await new Promise((r) => setTimeout(r, 50));
    expect((await send<{ status: string }>('health', {})).status).toBe('ok');
  });

  it('every dropped or refused connection is logged by event and code, nothing more', () => {
    const events = logs.filter((e) => e.event.startsWith('connection.'));
    expect(events.map((e) => `${e.event}:${e.code}`)).toEqual(
      expect.arrayContaining(['connection.closed:RPC_LIMIT', 'connection.closed:RPC_TIMEOUT', 'connection.refused:RPC_LIMIT']),
    );
    for (const e of events) expect(Object.keys(e).sort()).toEqual(expect.arrayContaining(['code', 'event', 'level']));
    expect(JSON.stringify(logs)).not.toContain(DEMO_SECRETS.auth!.production!.JWT_SECRET!);
  });
});
