/**
 * The whole chain for the security suite's end-to-end parts: `startSim` (KMS simulator, measured
 * enclave child on a unix socket, generated key policies, committed demo repository) plus a host
 * proxy of our own on the enclave's socket, configured for load (rate limit out of the way, a
 * queue deep enough for the offered concurrency) — the sim's proxy keeps its production-like
 * limits. Also: pack bodies built from the repository at HEAD the way the pack client builds
 * them, RSS readings of this process and of the enclave child.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { collectPackInputs, hashToken, parseProxyConfig, startHostProxy, type HostProxyHandle, type PackHttpRequest } from '../../../host-proxy/index.js';
import { simPaths, startSim, type SimHandle } from '../../../simulator/sim/index.js';

export interface ChainWorld {
  dir: string;
  sim: SimHandle;
  /** The current load proxy (replaced by `restartProxy`). */
  readonly proxy: HostProxyHandle;
  /** Its base URL; stays the same across restarts (same port). */
  readonly url: string;
  token: string;
  /** Stops the proxy: `graceful` drains accepted packs; `hard` drops every connection at once. */
  stopProxy(mode: 'graceful' | 'hard'): Promise<void>;
  /** Starts a proxy again on the same port. */
  startProxy(): Promise<void>;
  /** Everything the load proxy logged (level `debug` when asked). */
  proxyLog: { text: string };
  /** A fresh valid pack body for identity × environment (new nonce each call). */
  body(identity?: string, environment?: string, signing?: 'kms' | 'none'): Promise<PackHttpRequest>;
  close(): Promise<void>;
}

class Capture extends Writable {
  constructor(private readonly into: { text: string }) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.into.text += chunk.toString();
    cb();
  }
}

/** Starts the chain; `concurrency` is the enclave-side parallelism of the load proxy. */
export async function startChain(o: { concurrency?: number; queueSize?: number; logLevel?: 'silent' | 'info' | 'debug'; requestTimeoutSeconds?: number } = {}): Promise<ChainWorld> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dir = await mkdtemp(path.join(tmpdir(), 'ap-sec-'));
  const stateDir = path.join(dir, 'state');
  const sim = await startSim({ stateDir, sealedSigning: false });
  const token = `apsec_${randomBytes(18).toString('base64url')}`;
  const proxyLog = { text: '' };
  let port = 0;
  const start = async (): Promise<HostProxyHandle> => {
    const config = parseProxyConfig(
      {
        listen: `127.0.0.1:${port}`,
        enclave: { url: `unix://${simPaths(stateDir).enclaveSocket}`, concurrency: o.concurrency ?? 4, queueSize: o.queueSize ?? 64, packTimeoutSeconds: 60 },
        auth: { tokens: [{ name: 'load', sha256: hashToken(token), identities: ['*'], environments: ['*'], repositories: '*' }] },
        limits: { rateLimit: { requestsPerMinute: 1_000_000, burst: 1_000_000 }, ...(o.requestTimeoutSeconds ? { requestTimeoutSeconds: o.requestTimeoutSeconds } : {}) },
        credentials: { source: 'static', region: sim.enclaveCredentials.region, accessKeyId: sim.enclaveCredentials.accessKeyId, secretAccessKey: sim.enclaveCredentials.secretAccessKey },
        log: { level: o.logLevel ?? 'silent' },
      },
      { source: 'security-e2e', env: {} },
    );
    const handle = await startHostProxy(config, { logStream: new Capture(proxyLog) });
    port = Number(new URL(handle.url).port);
    return handle;
  };
  let proxy: HostProxyHandle | undefined;
  try {
    proxy = await start();
  } catch (err) {
    await sim.close();
    throw err;
  }
  const url = proxy.url;
  const inputsCache = new Map<string, Awaited<ReturnType<typeof collectPackInputs>>>();
  return {
    dir,
    sim,
    get proxy() {
      if (!proxy) throw new Error('the proxy is stopped');
      return proxy;
    },
    url,
    token,
    proxyLog,
    async stopProxy(mode) {
      const p = proxy;
      proxy = undefined;
      if (!p) return;
      if (mode === 'hard') p.app.server.closeAllConnections();
      await p.close();
    },
    async startProxy() {
      proxy = await start();
    },
    async body(identity = 'api-gateway', environment = 'production', signing = 'kms') {
      const key = `${identity}/${environment}`;
      let inputs = inputsCache.get(key);
      if (!inputs) {
        inputs = await collectPackInputs({ repoDir: sim.repo.dir, identity, environment, allowDirty: false });
        inputsCache.set(key, inputs);
      }
      return {
        identity,
        environment,
        commit: inputs.commit,
        repository: 'example/demo-secrets',
        nonce: randomBytes(32).toString('hex'),
        manifest: { path: inputs.manifest.path, content: Buffer.from(inputs.manifest.content).toString('base64') },
        files: inputs.files.map((f) => ({ path: f.path, content: Buffer.from(f.content).toString('base64') })),
        options: { signing },
      };
    },
    async close() {
      await proxy?.close().catch(() => undefined);
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resident set size of a process in bytes (Linux /proc), or undefined when unreadable. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** POSTs a pack body; returns status and parsed JSON. */
export async function postPack(world: ChainWorld, body: unknown, o: { token?: string; signal?: AbortSignal } = {}): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await fetch(`${world.url}/v1/pack`, {
    method: 'POST',
    headers: { authorization: `Bearer ${o.token ?? world.token}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = {};
  }
  return { status: res.status, json, text };
}
