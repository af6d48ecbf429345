/**
 * The enclave keeps one SDK client per exact set of forwarded credentials (KmsConnection): these
 * tests run the real SDK against the KMS simulator, which checks every SigV4 signature and session
 * token, so a request signed with another request's credentials would be seen and refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { StandardRetryStrategy } from '@smithy/core/retry';
import { KMS_CLIENT_CACHE_ENTRIES, KmsConnection, PerCallRetryStrategy } from '../../../enclave-app/kms/client.js';
import { isAttestedPackError } from '../../../common/errors.js';
import { DEMO_CREDENTIALS, startKmsSimulator, type KmsSimulatorHandle } from '../../../simulator/kms/index.js';
import type { SimCredential } from '../../../simulator/kms/sigv4.js';

const ADMIN = DEMO_CREDENTIALS[0]!;
/** Temporary credentials: the simulator wants exactly this session token with them. */
const TEMP: SimCredential = {
  accessKeyId: 'ASIASIMULATORTEMP001',
  secretAccessKey: 'attested-pack-simulator-temp-secret',
  sessionToken: 'session-token-A',
  principalArn: ADMIN.principalArn.replace(':user/sim-admin', ':user/sim-temp'),
};

let dir: string;
let sim: KmsSimulatorHandle;
let keyId: string;

const adminCreds = { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey, region: 'us-east-1' };
const tempCreds = { accessKeyId: TEMP.accessKeyId, secretAccessKey: TEMP.secretAccessKey, sessionToken: TEMP.sessionToken!, region: 'us-east-1' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ap-kms-cache-'));
  sim = await startKmsSimulator({ stateDir: join(dir, 'kms'), credentials: [ADMIN, TEMP], adminPrincipalArns: [ADMIN.principalArn, TEMP.principalArn], region: 'us-east-1' });
  const admin = new KMSClient({ endpoint: sim.endpoint, region: 'us-east-1', credentials: adminCreds, maxAttempts: 1 });
  keyId = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  admin.destroy();
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const connection = () => new KmsConnection({ mode: 'simulated', endpoint: sim.endpoint, maxAttempts: 1 });
const encryptWith = (conn: KmsConnection, creds: typeof adminCreds & { sessionToken?: string }) =>
  conn.forCredentials(creds).encrypt({ keyId, plaintext: new Uint8Array(32).fill(7) });
/** The KMS error code a failed call ends with (KMS_ERROR carries the AWS error name in details). */
const failure = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (err) {
    if (isAttestedPackError(err)) return `${err.code}:${String((err.details as { awsError?: string } | undefined)?.awsError)}`;
    throw err;
  }
  throw new Error('the call succeeded');
};

describe('KmsConnection: one SDK client per exact credentials', () => {
  it('serves every pack with the same credentials from one client', async () => {
    const conn = connection();
    for (let i = 0; i < 3; i++) expect((await encryptWith(conn, adminCreds)).keyId).toBe(keyId);
    expect(conn.cachedClients).toBe(1);
    conn.destroy();
  });

  it('does not sign with a cached client when only the secret differs: KMS sees the wrong secret and refuses', async () => {
    const conn = connection();
    await encryptWith(conn, adminCreds);
    expect(await failure(encryptWith(conn, { ...adminCreds, secretAccessKey: `${ADMIN.secretAccessKey}-not` }))).toMatch(/InvalidSignature/);
    expect(conn.cachedClients).toBe(2);
    // The right secret still works, and was not replaced by the wrong one.
    expect((await encryptWith(conn, adminCreds)).keyId).toBe(keyId);
    conn.destroy();
  });

  it('keys on the session token too: another token is sent as given and refused', async () => {
    const conn = connection();
    expect((await encryptWith(conn, tempCreds)).keyId).toBe(keyId);
    expect(await failure(encryptWith(conn, { ...tempCreds, sessionToken: 'session-token-B' }))).toMatch(/UnrecognizedClient|InvalidSignature|ExpiredToken|InvalidClientToken/);
    const { sessionToken: _dropped, ...withoutToken } = tempCreds;
    expect(await failure(encryptWith(conn, withoutToken))).toMatch(/UnrecognizedClient|InvalidSignature|ExpiredToken|InvalidClientToken|MissingAuthenticationToken/);
    expect(conn.cachedClients).toBe(3);
    expect((await encryptWith(conn, tempCreds)).keyId).toBe(keyId);
    conn.destroy();
  });

  it('keys on the region: the same keys for another region sign for that region (and the simulator refuses it)', async () => {
    const conn = connection();
    await encryptWith(conn, adminCreds);
    expect(await failure(encryptWith(conn, { ...adminCreds, region: 'eu-west-1' }))).toMatch(/KMS_/);
    expect(conn.cachedClients).toBe(2);
    conn.destroy();
  });

  it(`keeps at most ${KMS_CLIENT_CACHE_ENTRIES} clients, dropping the least recently used`, async () => {
    const conn = connection();
    const sets = Array.from({ length: KMS_CLIENT_CACHE_ENTRIES + 2 }, (_, i) => ({ ...adminCreds, secretAccessKey: `secret-${i}` }));
    for (const c of sets.slice(0, KMS_CLIENT_CACHE_ENTRIES)) conn.forCredentials(c);
    expect(conn.cachedClients).toBe(KMS_CLIENT_CACHE_ENTRIES);
    conn.forCredentials(sets[0]!); // now the most recently used
    conn.forCredentials(sets[KMS_CLIENT_CACHE_ENTRIES]!); // evicts sets[1]
    expect(conn.cachedClients).toBe(KMS_CLIENT_CACHE_ENTRIES);
    expect(conn.hasClientFor(sets[0]!)).toBe(true);
    expect(conn.hasClientFor(sets[1]!)).toBe(false);
    expect(conn.hasClientFor(sets[KMS_CLIENT_CACHE_ENTRIES]!)).toBe(true);
    expect(conn.hasClientFor(sets[KMS_CLIENT_CACHE_ENTRIES + 1]!)).toBe(false);
    conn.destroy();
    expect(conn.cachedClients).toBe(0);
  });
});

describe('PerCallRetryStrategy', () => {
  // 40 calls that each meet one transient error: the SDK's strategy spends 14 of its 500 retry
  // tokens on each, so a client shared by many packs would stop retrying for everyone.
  const calls = 40;
  const transient = { errorType: 'TRANSIENT' as const };

  it('the SDK strategy alone shares one retry budget across calls (what a cached client must not do)', async () => {
    const shared = new StandardRetryStrategy(4);
    const results = await Promise.allSettled(
      Array.from({ length: calls }, async () => shared.refreshRetryTokenForRetry(await shared.acquireInitialRetryToken(''), transient)),
    );
    expect(results.filter((r) => r.status === 'rejected').length).toBeGreaterThan(0);
  });

  it('gives every call its own budget: the same 40 calls all get their retry', async () => {
    const perCall = new PerCallRetryStrategy(4);
    const results = await Promise.allSettled(
      Array.from({ length: calls }, async () => perCall.refreshRetryTokenForRetry(await perCall.acquireInitialRetryToken(''), transient)),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  });

  it('still stops a call at maxAttempts', async () => {
    const perCall = new PerCallRetryStrategy(2);
    const first = await perCall.refreshRetryTokenForRetry(await perCall.acquireInitialRetryToken(''), transient);
    await expect(perCall.refreshRetryTokenForRetry(first, transient)).rejects.toThrow(/No retry token/);
  });

  it('reports the standard retry mode, as the SDK strategy does (user agent)', () => {
    expect(new PerCallRetryStrategy(4).mode).toBe(new StandardRetryStrategy(4).mode);
  });
});
