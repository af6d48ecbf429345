/**
 * The proxy's link to the enclave: one multiplexed RPC connection (vsock/rpc.ts) over the
 * transport named by `enclave.url`, opened lazily and reopened after it drops, so the proxy
 * recovers by itself when the enclave restarts. Errors become the host proxy's vocabulary:
 * the enclave's own answers stay `EnclaveError`s with their code and category; a missing or
 * silent enclave is ENCLAVE_UNAVAILABLE / ENCLAVE_TIMEOUT (503).
 */
import type { Duplex } from 'node:stream';
import { isAttestedPackError } from '../common/errors.js';
import { PROTOCOL_VERSION } from '../enclave-app/protocol.js';
import { RpcClient, RpcRemoteError, connectTransport } from '../vsock/index.js';
import { VERSION } from '../common/version.js';
import type { EnclaveCalls, EnclaveCallType, EnclaveLink } from './enclave-link.js';
import { EnclaveError, HostProxyError } from './errors.js';

/** Options of an EnclaveClient. */
export interface EnclaveClientOptions {
  /** Transport URL: `vsock://CID:PORT`, `unix:///path.sock` or `tcp://127.0.0.1:PORT`. */
  url: string;
  /** Connect + hello deadline (default 5 s). */
  connectTimeoutMs?: number;
  /**
   * Runs on every new connection before it is used (e.g. sending `unseal` so sealed signing
   * works again after an enclave restart). A failure is reported to `onSetupError` and the
   * connection is still used.
   */
  onConnect?: (link: EnclaveLink) => Promise<void>;
  onSetupError?: (err: unknown) => void;
  /** Opens the byte stream (default: vsock's connectTransport); tests may substitute. */
  connect?: (url: string, timeoutMs: number) => Promise<Duplex>;
}

/** A self-healing RPC connection to the enclave. */
export class EnclaveClient implements EnclaveLink {
  private rpc: RpcClient | undefined;
  private connecting: Promise<RpcClient> | undefined;
  private closed = false;

  constructor(private readonly options: EnclaveClientOptions) {}

  /** A connection is open now (no request is sent to find out). */
  get connected(): boolean {
    return this.rpc !== undefined && !this.rpc.isClosed;
  }

  async request<T extends EnclaveCallType>(type: T, body: EnclaveCalls[T]['request'], options: { timeoutMs: number }): Promise<EnclaveCalls[T]['response']> {
    const rpc = await this.connection();
    return this.call(rpc, type, body, options.timeoutMs);
  }

  /** Closes the connection; later requests fail with ENCLAVE_UNAVAILABLE. */
  async close(): Promise<void> {
    this.closed = true;
    const rpc = this.rpc ?? (await this.connecting?.catch(() => undefined));
    this.rpc = undefined;
    await rpc?.close();
  }

  private async call<T extends EnclaveCallType>(rpc: RpcClient, type: T, body: EnclaveCalls[T]['request'], timeoutMs: number): Promise<EnclaveCalls[T]['response']> {
    let answer: unknown;
    try {
      answer = await rpc.request(type, body, { timeoutMs });
    } catch (err) {
      throw translate(err, type, timeoutMs);
    }
    return checkShape(type, answer) as EnclaveCalls[T]['response'];
  }

  private connection(): Promise<RpcClient> {
    if (this.closed) return Promise.reject(new HostProxyError('SHUTTING_DOWN', 'the proxy is shutting down', { retryAfterSeconds: 5 }));
    if (this.rpc && !this.rpc.isClosed) return Promise.resolve(this.rpc);
    this.rpc = undefined;
    // Concurrent requests share one connection attempt.
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<RpcClient> {
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    const connect = this.options.connect ?? ((url: string, t: number) => connectTransport(url, { timeoutMs: t }));
    let rpc: RpcClient;
    try {
      const stream = await connect(this.options.url, timeoutMs);
      rpc = await RpcClient.connect(stream, { client: `host-proxy/${VERSION}`, versions: [PROTOCOL_VERSION], helloTimeoutMs: timeoutMs });
    } catch (err) {
      throw new HostProxyError('ENCLAVE_UNAVAILABLE', `cannot reach the enclave at ${this.options.url}${isAttestedPackError(err) ? ` (${err.code})` : ''}`, {
        hint: 'is the enclave running? (`nitro-cli describe-enclaves`, or the simulator); the proxy reconnects on the next request',
        retryAfterSeconds: 5,
        cause: err,
      });
    }
    if (this.closed) {
      await rpc.close();
      throw new HostProxyError('SHUTTING_DOWN', 'the proxy is shutting down', { retryAfterSeconds: 5 });
    }
    if (this.options.onConnect) {
      const scoped: EnclaveLink = {
        request: (type, body, o) => this.call(rpc, type, body, o.timeoutMs),
        close: () => rpc.close(),
      };
      try {
        await this.options.onConnect(scoped);
      } catch (err) {
        this.options.onSetupError?.(err);
      }
    }
    this.rpc = rpc;
    return rpc;
  }
}

/** Maps RPC and transport failures onto the proxy's error vocabulary. */
function translate(err: unknown, type: string, timeoutMs: number): Error {
  if (err instanceof RpcRemoteError) {
    return new EnclaveError(err.code, err.message, { category: err.category, ...(err.hint ? { hint: err.hint } : {}) });
  }
  const code = isAttestedPackError(err) ? err.code : undefined;
  if (code === 'RPC_TIMEOUT') {
    return new HostProxyError('ENCLAVE_TIMEOUT', `the enclave did not answer the ${type} request within ${timeoutMs} ms`, {
      hint: 'the enclave may be overloaded; retry after the Retry-After delay',
      retryAfterSeconds: 5,
    });
  }
  if (code === 'RPC_CLOSED') {
    return new HostProxyError('ENCLAVE_UNAVAILABLE', `the connection to the enclave closed during a ${type} request`, {
      hint: 'the enclave restarted or crashed; retry — the proxy reconnects by itself',
      retryAfterSeconds: 5,
    });
  }
  if (code === 'PROTOCOL_VERSION' || code === 'RPC_PROTOCOL' || code === 'RPC_UNKNOWN_TYPE' || code?.startsWith('FRAME_')) {
    return new HostProxyError('ENCLAVE_PROTOCOL', `the enclave link failed: ${code}`, {
      hint: 'the enclave image and the proxy speak different protocol versions; deploy matching versions',
      cause: err,
    });
  }
  if (isAttestedPackError(err)) return err;
  return new HostProxyError('ENCLAVE_UNAVAILABLE', `the ${type} request to the enclave failed`, { retryAfterSeconds: 5, cause: err });
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/** Checks an answer has the shape protocol.ts promises, so routes never meet surprises. */
function checkShape(type: EnclaveCallType, answer: unknown): unknown {
  const a = (typeof answer === 'object' && answer !== null ? answer : {}) as Record<string, unknown>;
  const ok =
    (type === 'pack' && isBytes(a.artifact) && isBytes(a.receipt)) ||
    (type === 'attest' && isBytes(a.document)) ||
    (type === 'unseal' && isBytes(a.publicKey)) ||
    (type === 'health' && (a.status === 'ok' || a.status === 'degraded') && typeof a.version === 'string');
  if (!ok) {
    throw new HostProxyError('ENCLAVE_PROTOCOL', `the enclave's ${type} answer does not have the expected shape`, {
      hint: 'the enclave image and the proxy speak different protocol versions; deploy matching versions',
    });
  }
  if (type === 'health') {
    return { status: a.status, version: a.version, inFlight: typeof a.inFlight === 'number' ? a.inFlight : 0, signingReady: a.signingReady === true };
  }
  return answer;
}
