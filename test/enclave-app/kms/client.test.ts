/**
 * The enclave's KMS client in "vsock" mode, with the relay stream replaced by a loopback TCP
 * stream: TLS runs inside the client against a local HTTPS server posing as
 * kms.us-east-1.amazonaws.com, so the certificate/hostname checks and the refusal of plaintext
 * answers are exercised with the real SDK and real TLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import net from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { KmsConnection, mapSdkError } from '../../../enclave-app/kms/client.js';
import { KmsError } from '../../../enclave-app/kms/errors.js';
import { missingTool } from '../../tools.js';

/** The TLS server's certificate is made with the openssl CLI. */
const noOpenssl = missingTool('openssl', 'openssl', ['version']);

const HOST = 'kms.us-east-1.amazonaws.com';
const creds = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-test', region: 'us-east-1' };

let dir: string;
let caPem: string;
let server: https.Server;
let port: number;
let lastTarget = '';
let reply: (target: string) => { status: number; body: unknown } = () => ({ status: 200, body: {} });

function makeCert(cn: string, name: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`, '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

beforeAll(async () => {
  if (noOpenssl !== undefined) return;
  dir = mkdtempSync(join(tmpdir(), 'ap-kms-client-'));
  const { key, cert } = makeCert(HOST, 'kms');
  caPem = cert;
  server = https.createServer({ key, cert }, (req, res) => {
    lastTarget = String(req.headers['x-amz-target'] ?? '');
    req.resume();
    req.on('end', () => {
      const r = reply(lastTarget);
      res.writeHead(r.status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  if (noOpenssl !== undefined) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const relay = () =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });

const recipient = () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey,
    spkiDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    attestationDocument: new Uint8Array([0x84]),
  };
};

describe.skipIf(noOpenssl)('KMS client over a relay stream with TLS inside', () => {
  it('refuses a Decrypt answer that carries a Plaintext instead of CiphertextForRecipient', async () => {
    reply = () => ({ status: 200, body: { KeyId: 'arn:aws:kms:us-east-1:111122223333:key/k', Plaintext: Buffer.alloc(32, 7).toString('base64') } });
    const conn = new KmsConnection({ mode: 'vsock', openRelayStream: relay, region: 'us-east-1', ca: [caPem], maxAttempts: 1 });
    try {
      const err = await conn
        .forCredentials(creds)
        .decryptForRecipient({ ciphertextBlob: new Uint8Array([1, 2, 3]), keyId: 'arn:aws:kms:us-east-1:111122223333:key/k', recipient: recipient() })
        .catch((e: unknown) => e);
      expect(lastTarget).toBe('TrentService.Decrypt');
      expect(err).toBeInstanceOf(KmsError);
      expect((err as KmsError).code).toBe('KMS_PLAINTEXT_REFUSED');
      expect((err as KmsError).message).not.toContain(Buffer.alloc(32, 7).toString('base64'));
    } finally {
      conn.destroy();
    }
  });

  it('rejects a forged CiphertextForRecipient with the uniform CMS error', async () => {
    reply = () => ({ status: 200, body: { KeyId: 'k', CiphertextForRecipient: Buffer.from('not cms').toString('base64') } });
    const conn = new KmsConnection({ mode: 'vsock', openRelayStream: relay, region: 'us-east-1', ca: [caPem], maxAttempts: 1 });
    try {
      const err = await conn
        .forCredentials(creds)
        .decryptForRecipient({ ciphertextBlob: new Uint8Array([1]), recipient: recipient() })
        .catch((e: unknown) => e);
      expect((err as KmsError).code).toBe('KMS_BAD_RECIPIENT_RESPONSE');
    } finally {
      conn.destroy();
    }
  });

  it('maps AccessDeniedException to KMS_ACCESS_DENIED naming the key', async () => {
    reply = () => ({
      status: 400,
      body: { __type: 'AccessDeniedException', Message: 'User: arn:aws:iam::1:role/x is not authorized to perform: kms:Decrypt' },
    });
    const conn = new KmsConnection({ mode: 'vsock', openRelayStream: relay, region: 'us-east-1', ca: [caPem], maxAttempts: 1 });
    try {
      const err = await conn
        .forCredentials(creds)
        .decryptForRecipient({ ciphertextBlob: new Uint8Array([1]), keyId: 'arn:aws:kms:us-east-1:111122223333:key/src', recipient: recipient() })
        .catch((e: unknown) => e);
      expect((err as KmsError).code).toBe('KMS_ACCESS_DENIED');
      expect((err as KmsError).message).toContain('arn:aws:kms:us-east-1:111122223333:key/src');
      expect((err as KmsError).exitCode).toBe(1);
    } finally {
      conn.destroy();
    }
  });

  it('refuses a server whose certificate is not trusted (TLS is verified inside the enclave)', async () => {
    reply = () => ({ status: 200, body: { KeyId: 'k', CiphertextBlob: 'AQID' } });
    // No extra CA: the self-signed KMS impostor must be refused before any request is sent.
    lastTarget = '';
    const conn = new KmsConnection({ mode: 'vsock', openRelayStream: relay, region: 'us-east-1', maxAttempts: 1 });
    try {
      const err = await conn
        .forCredentials(creds)
        .encrypt({ keyId: 'k', plaintext: new Uint8Array(32) })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KmsError);
      expect(lastTarget).toBe('');
    } finally {
      conn.destroy();
    }
  });

  it('refuses a certificate for another host name', async () => {
    lastTarget = '';
    const conn = new KmsConnection({
      mode: 'vsock',
      openRelayStream: relay,
      region: 'eu-west-1', // expects kms.eu-west-1.amazonaws.com, the server presents us-east-1
      ca: [caPem],
      maxAttempts: 1,
    });
    try {
      const err = await conn
        .forCredentials({ ...creds, region: 'eu-west-1' })
        .encrypt({ keyId: 'k', plaintext: new Uint8Array(32) })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KmsError);
      expect(lastTarget).toBe('');
    } finally {
      conn.destroy();
    }
  });

  it('refuses credentials for a region the relay does not serve', () => {
    const conn = new KmsConnection({ mode: 'vsock', openRelayStream: relay, region: 'us-east-1' });
    expect(() => conn.forCredentials({ ...creds, region: 'eu-west-1' })).toThrowError(/region/);
    conn.destroy();
  });

  it('encrypts through the relay when everything checks out', async () => {
    reply = (t) => ({ status: 200, body: t === 'TrentService.Encrypt' ? { KeyId: 'arn:aws:kms:us-east-1:1:key/resolved', CiphertextBlob: 'AQID' } : {} });
    const conn = new KmsConnection({ mode: 'vsock', openRelayStream: relay, region: 'us-east-1', ca: [caPem], maxAttempts: 1 });
    try {
      const out = await conn.forCredentials(creds).encrypt({ keyId: 'alias/x', plaintext: new Uint8Array(32) });
      expect(out.keyId).toBe('arn:aws:kms:us-east-1:1:key/resolved');
      expect([...out.ciphertextBlob]).toEqual([1, 2, 3]);
    } finally {
      conn.destroy();
    }
  });
});

describe('mapSdkError', () => {
  it.each([
    ['NotFoundException', 'KMS_NOT_FOUND'],
    ['DisabledException', 'KMS_DISABLED'],
    ['IncorrectKeyException', 'KMS_INVALID_CIPHERTEXT'],
    ['ThrottlingException', 'KMS_THROTTLED'],
    ['TimeoutError', 'KMS_TIMEOUT'],
    ['SomethingNew', 'KMS_ERROR'],
  ])('%s → %s', (name, code) => {
    const e = Object.assign(new Error('x'), { name });
    expect(mapSdkError(e, 'arn:k', 'Decrypt').code).toBe(code);
  });
  it('server faults and refused connections are KMS_UNAVAILABLE (exit 3)', () => {
    const e = mapSdkError(Object.assign(new Error('boom'), { name: 'InternalFailure', $fault: 'server' }), 'k', 'Decrypt');
    expect(e.code).toBe('KMS_UNAVAILABLE');
    expect(e.exitCode).toBe(3);
    expect(mapSdkError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'k', 'Sign').code).toBe('KMS_UNAVAILABLE');
  });
});
