/**
 * The simulation's host proxy: in-process, on loopback, authenticated by a static bearer token
 * that is generated fresh on every run and stored only as its SHA-256 in `<state>/proxy.yaml`,
 * forwarding the simulator's enclave-role credentials with each pack (what the parent
 * instance's role does on AWS). `attested-pack host-proxy --config <state>/proxy.yaml` runs the
 * same configuration by hand.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../common/fs.js';
import { SimError } from './errors.js';
import { hashToken, loadProxyConfig, startHostProxy, type HostProxyHandle, type LogLevel } from '../../host-proxy/index.js';
import type { EnclaveLink } from '../../host-proxy/index.js';
import type { ForwardedCredentials, SealedSigningKey } from '../../enclave-app/protocol.js';

/** A fresh bearer token for one run (only its SHA-256 is ever written). */
export function newSimToken(): string {
  return `apsim_${randomBytes(24).toString('base64url')}`;
}

/** How the simulation's proxy is set up. */
export interface SimProxyOptions {
  /**
   * proxy.yaml as `deploy render` made it from the demo's deploy file (with the simulation
   * overlay) and the token whose hash it holds; without it a stand-alone configuration is written.
   */
  rendered?: { text: string; token: string };
  configPath: string;
  logPath: string;
  /** Loopback port (0: any free port). */
  port: number;
  /** Transport URL of the enclave (normally its unix socket). */
  enclaveUrl: string;
  credentials: ForwardedCredentials;
  logLevel: LogLevel;
  /** Sent to the enclave on every new connection, so sealed signing survives enclave restarts. */
  sealedKey?: SealedSigningKey;
  /** The file it came from (written to proxy.yaml as `signing.sealedKeyFile` for hand-run proxies). */
  sealedKeyFile?: string;
  /** Told the outcome of each unseal attempt. */
  onUnseal?: (outcome: UnsealOutcome) => void;
}

/** What the enclave said to an `unseal` request. */
export type UnsealOutcome = { ok: true; publicKey: Uint8Array } | { ok: false; code: string; message: string };

/** A running simulation proxy and the token that opens it. */
export interface SimProxy {
  handle: HostProxyHandle;
  url: string;
  /** The bearer token (printed with --keep-running; only its hash is on disk). */
  token: string;
  close(): Promise<void>;
}

/** Writes proxy.yaml for this run (fresh token hash) and returns the token. */
export async function writeProxyConfig(o: SimProxyOptions): Promise<string> {
  if (o.rendered) {
    await writeFileAtomic(o.configPath, o.rendered.text, { mode: 0o600 });
    return o.rendered.token;
  }
  const token = newSimToken();
  const doc = {
    listen: `127.0.0.1:${o.port}`,
    enclave: { url: o.enclaveUrl, packTimeoutSeconds: 60 },
    auth: { tokens: [{ name: 'sim-operator', sha256: hashToken(token), identities: ['*'], environments: ['*'], repositories: '*' }] },
    // The simulator's documented demo credentials for the enclave role (they open only the simulator).
    credentials: {
      source: 'static',
      region: o.credentials.region ?? 'us-east-1',
      accessKeyId: o.credentials.accessKeyId,
      secretAccessKey: o.credentials.secretAccessKey,
    },
    ...(o.sealedKeyFile ? { signing: { sealedKeyFile: o.sealedKeyFile } } : {}),
    log: { level: o.logLevel },
  };
  const header = '# Written by `attested-pack sim` on every run; the bearer token is stored only as its SHA-256.\n';
  await writeFileAtomic(o.configPath, header + stringify(doc), { mode: 0o600 });
  return token;
}

/** Starts the proxy from the written configuration. */
export async function startSimProxy(o: SimProxyOptions): Promise<SimProxy> {
  const token = await writeProxyConfig(o);
  // No ATTESTED_PACK_PROXY_* overrides: the simulation runs exactly the file it wrote.
  const config = await loadProxyConfig(o.configPath, { env: {} });
  await mkdir(dirname(o.logPath), { recursive: true });
  const logStream: WriteStream = createWriteStream(o.logPath, { flags: 'a', mode: 0o600 });
  const sealedKey = o.sealedKey;
  const onEnclaveConnect = sealedKey
    ? async (link: EnclaveLink): Promise<void> => {
        try {
          const r = await link.request('unseal', { sealedKey, credentials: o.credentials }, { timeoutMs: 30_000 });
          o.onUnseal?.({ ok: true, publicKey: r.publicKey });
        } catch (err) {
          const e = err as { code?: unknown; message?: unknown };
          o.onUnseal?.({ ok: false, code: typeof e.code === 'string' ? e.code : 'INTERNAL', message: typeof e.message === 'string' ? e.message : 'unseal failed' });
          throw err;
        }
      }
    : undefined;
  let handle: HostProxyHandle;
  try {
    handle = await startHostProxy(config, { logStream, ...(onEnclaveConnect ? { onEnclaveConnect } : {}) });
  } catch (err) {
    logStream.end();
    // host-proxy says the port is taken (PROXY_LISTEN_FAILED … EADDRINUSE); say which flag moves it.
    const cause = (err as { cause?: { code?: unknown } }).cause;
    if ((err as { code?: unknown }).code === 'PROXY_LISTEN_FAILED' && cause?.code === 'EADDRINUSE') {
      throw new SimError('SIM_PORT_IN_USE', `the host proxy cannot listen on 127.0.0.1:${o.port}: the port is in use`, {
        hint: 'pass another --port, or --port 0 for any free port',
        cause: err,
      });
    }
    throw err;
  }
  return {
    handle,
    url: handle.url,
    token,
    async close() {
      await handle.close();
      await new Promise<void>((resolve) => logStream.end(resolve));
    },
  };
}
