/**
 * Invariant 1, byte by byte: no plaintext secret value, SOPS data key, artifact DEK or sealed
 * signing key crosses the host↔enclave boundary or reaches a log. A recording relay sits between
 * the host proxy and the enclave child's unix socket and keeps every byte in both directions;
 * three packs (KMS-signed, sealed-signed, age) and the sealed-key unseal go through it. Then the
 * recorded bytes, the proxy's debug log, the enclave's log, the KMS audit log, the HTTP answers,
 * the artifacts and the receipts are searched for every secret in raw, hex, base64, base64url
 * (at every alignment), percent-encoded and UTF-16 form.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DecryptCommand, GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { DEMO_SECRETS } from '../../simulator/demo-repo.js';
import { DEMO_CREDENTIALS } from '../../simulator/kms/index.js';
import { packThroughProxy, simPaths, startSim, type SimHandle, type SimPackOutcome } from '../../simulator/sim/index.js';
import { tempDir } from './helpers.js';

interface Recorded {
  toEnclave: Buffer[];
  toHost: Buffer[];
}

/** A unix-socket relay that forwards to `target` and records every byte, per connection and direction. */
function startRecordingRelay(listenPath: string, target: string): Promise<{ connections: Recorded[]; close(): Promise<void> }> {
  const connections: Recorded[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((host) => {
    const rec: Recorded = { toEnclave: [], toHost: [] };
    connections.push(rec);
    const enclave = net.connect({ path: target });
    for (const s of [host, enclave]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    host.on('data', (c: Buffer) => {
      rec.toEnclave.push(Buffer.from(c));
      enclave.write(c);
    });
    enclave.on('data', (c: Buffer) => {
      rec.toHost.push(Buffer.from(c));
      host.write(c);
    });
    host.on('close', () => enclave.destroy());
    enclave.on('close', () => host.destroy());
    host.on('error', () => enclave.destroy());
    enclave.on('error', () => host.destroy());
  });
  return new Promise((resolve) => {
    server.listen(listenPath, () =>
      resolve({
        connections,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    );
  });
}

/** Every form a secret could take in text or bytes; base64 at all three alignments inside a larger blob. */
function encodingsOf(secret: Buffer): Array<{ form: string; needle: Buffer }> {
  const forms: Array<{ form: string; needle: Buffer }> = [
    { form: 'raw', needle: secret },
    { form: 'hex', needle: Buffer.from(secret.toString('hex')) },
    { form: 'HEX', needle: Buffer.from(secret.toString('hex').toUpperCase()) },
    { form: 'percent', needle: Buffer.from([...secret].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('')) },
    { form: 'utf16le', needle: Buffer.from(secret.toString('latin1'), 'utf16le') },
  ];
  for (let k = 0; k < 3; k++) {
    const start = [0, 2, 3][k]!;
    const end = Math.floor((k + secret.length) / 3) * 4;
    const padded = Buffer.concat([Buffer.alloc(k), secret]);
    forms.push({ form: `base64@${k}`, needle: Buffer.from(padded.toString('base64').slice(start, end)) });
    forms.push({ form: `base64url@${k}`, needle: Buffer.from(padded.toString('base64url').slice(start, end)) });
  }
  return forms.filter((f) => f.needle.length >= 8);
}

interface Secret {
  label: string;
  bytes: Buffer;
}

/** Where any secret appears in any form in `haystack`: `label form` strings. */
function findLeaks(secrets: readonly Secret[], haystack: Buffer): string[] {
  const found: string[] = [];
  for (const s of secrets) for (const e of encodingsOf(s.bytes)) if (haystack.includes(e.needle)) found.push(`${s.label} (${e.form})`);
  return found;
}

const ADMIN = DEMO_CREDENTIALS[0]!;

let dir: string;
let sim: SimHandle;
let relay: Awaited<ReturnType<typeof startRecordingRelay>>;
const responses: string[] = [];
const packs: SimPackOutcome[] = [];

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  dir = await tempDir('ap-leak-');
  const state = join(dir, 'state');
  const relayPath = join(dir, 'relay.sock');
  relay = await startRecordingRelay(relayPath, simPaths(state).enclaveSocket);
  sim = await startSim({ stateDir: state, proxyEnclaveUrl: `unix://${relayPath}`, proxyLogLevel: 'debug' });
  const recordingFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    responses.push(await res.clone().text());
    return res;
  };
  for (const [identity, environment, signing] of [
    ['api-gateway', 'production', 'kms'],
    ['api-gateway', 'dev', 'sealed'],
    ['worker', 'dev', 'none'],
  ] as const) {
    packs.push(await packThroughProxy(sim, { identity, environment, signing, fetch: recordingFetch }));
  }
});
afterAll(async () => {
  await sim?.close();
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Lets the administrator Decrypt with `keyArn` (a test-only policy statement), runs `fn`, restores the generated policies. */
async function withAdminDecrypt<T>(keyArns: string[], fn: () => Promise<T>): Promise<T> {
  for (const keyArn of keyArns) {
    const current = await sim.admin.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
    const policy = JSON.parse(current.Policy!) as { Statement: unknown[] };
    policy.Statement.push({ Sid: 'LeakTestAdminDecrypt', Effect: 'Allow', Principal: { AWS: ADMIN.principalArn }, Action: 'kms:Decrypt', Resource: '*' });
    await sim.admin.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(policy) }));
  }
  try {
    return await fn();
  } finally {
    await sim.applyPolicies(sim.measured.measurements);
  }
}

/** Every secret of the run: values, SOPS data keys, artifact DEKs, the sealed Ed25519 key. */
async function collectSecrets(): Promise<Secret[]> {
  const secrets: Secret[] = [];
  for (const [ns, envs] of Object.entries(DEMO_SECRETS)) {
    for (const [env, values] of Object.entries(envs)) {
      for (const [k, v] of Object.entries(values)) secrets.push({ label: `${ns}/${env}/${k}`, bytes: Buffer.from(v) });
    }
  }
  await withAdminDecrypt([sim.keys.source, sim.keys.seal], async () => {
    for (const rel of sim.repo.files) {
      const doc = parseYaml(readFileSync(join(sim.repo.dir, rel), 'utf8')) as { sops: { kms: Array<{ arn: string; enc: string; context?: Record<string, string> }> } };
      const entry = doc.sops.kms[0]!;
      const out = await sim.admin.send(
        new DecryptCommand({ KeyId: entry.arn, CiphertextBlob: Buffer.from(entry.enc, 'base64'), ...(entry.context ? { EncryptionContext: entry.context } : {}) }),
      );
      expect(out.Plaintext!.byteLength).toBe(32);
      secrets.push({ label: `SOPS data key of ${rel}`, bytes: Buffer.from(out.Plaintext!) });
    }
    const sealed = sim.sealedKey!;
    const pkcs8 = await sim.admin.send(new DecryptCommand({ KeyId: sealed.kmsKeyId, CiphertextBlob: Buffer.from(sealed.ciphertextBlob) }));
    const der = Buffer.from(pkcs8.Plaintext!);
    secrets.push({ label: 'sealed Ed25519 key (PKCS#8)', bytes: der });
    secrets.push({ label: 'sealed Ed25519 seed', bytes: der.subarray(der.length - 32) });
  });
  for (const p of packs) {
    const a = JSON.parse(readFileSync(p.artifact, 'utf8')) as { envelope?: { keyId: string; wrappedKey: string } };
    if (!a.envelope) continue;
    const dek = await sim.runtime.send(new DecryptCommand({ KeyId: a.envelope.keyId, CiphertextBlob: Buffer.from(a.envelope.wrappedKey, 'base64') }));
    secrets.push({ label: `DEK of ${p.artifact}`, bytes: Buffer.from(dek.Plaintext!) });
  }
  return secrets;
}

describe('no secret crosses the host↔enclave boundary or reaches a log', () => {
  it('the scanner finds a secret in every form it claims to, at any alignment (the net has no holes we know of)', () => {
    const secret = Buffer.from('sk_live_canary_value_0042');
    for (const e of encodingsOf(secret)) {
      const form = e.form.replace(/@\d$/, '');
      for (let k = 0; k < 3; k++) {
        const blob = Buffer.concat([randomBytes(k), secret, randomBytes(5)]);
        const text =
          form === 'base64' ? blob.toString('base64') : form === 'base64url' ? blob.toString('base64url') : form === 'hex' ? blob.toString('hex') : undefined;
        if (text !== undefined) expect(findLeaks([{ label: 'canary', bytes: secret }], Buffer.from(`x${text}y`)).length).toBeGreaterThan(0);
      }
      expect(findLeaks([{ label: 'canary', bytes: secret }], Buffer.concat([randomBytes(7), e.needle, randomBytes(7)]))).toContain(`canary (${e.form})`);
    }
    expect(findLeaks([{ label: 'canary', bytes: secret }], randomBytes(4096))).toEqual([]);
  });

  it('the relay really carried the packs: SOPS ciphertext and commit went in, artifacts came out', () => {
    expect(relay.connections.length).toBeGreaterThan(0);
    const toEnclave = Buffer.concat(relay.connections.flatMap((c) => c.toEnclave));
    const toHost = Buffer.concat(relay.connections.flatMap((c) => c.toHost));
    expect(toEnclave.includes(Buffer.from('ENC[AES256_GCM,data:'))).toBe(true);
    expect(toEnclave.includes(Buffer.from(sim.repo.commit))).toBe(true);
    for (const p of packs) expect(toHost.includes(readFileSync(p.artifact))).toBe(true);
    expect(sim.unseal).toMatchObject({ ok: true });
  });

  it('no value, data key, DEK or sealed key in any recorded byte, log, HTTP answer, artifact or receipt', async () => {
    const secrets = await collectSecrets();
    // 8 values + 4 data keys + sealed key (2 forms) + 2 DEKs
    expect(secrets.length).toBe(16);
    const haystacks: Array<{ name: string; bytes: Buffer }> = [];
    relay.connections.forEach((c, i) => {
      haystacks.push({ name: `host→enclave bytes #${i}`, bytes: Buffer.concat(c.toEnclave) });
      haystacks.push({ name: `enclave→host bytes #${i}`, bytes: Buffer.concat(c.toHost) });
    });
    const proxyLog = readFileSync(sim.paths.proxyLog);
    expect(proxyLog.includes(Buffer.from('pack accepted'))).toBe(true);
    haystacks.push({ name: 'host proxy log (debug)', bytes: proxyLog });
    haystacks.push({ name: 'enclave log', bytes: readFileSync(sim.paths.enclaveLog) });
    await sim.kms.audit.flush();
    haystacks.push({ name: 'KMS audit log', bytes: readFileSync(sim.paths.auditLog) });
    expect(responses.length).toBe(3);
    responses.forEach((r, i) => haystacks.push({ name: `HTTP answer #${i}`, bytes: Buffer.from(r) }));
    for (const p of packs) {
      haystacks.push({ name: p.artifact, bytes: readFileSync(p.artifact) });
      haystacks.push({ name: p.receipt, bytes: readFileSync(p.receipt) });
    }
    const leaks = haystacks.flatMap((h) => findLeaks(secrets, h.bytes).map((l) => `${l} in ${h.name}`));
    expect(leaks).toEqual([]);
  });
});
