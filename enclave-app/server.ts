/**
 * The enclave's server loop: listens on a transport (vsock in AWS, unix or loopback TCP in
 * simulation) and answers `pack`, `attest`, `health` and `unseal` frames. Packs run with bounded
 * concurrency; one bad request gets an error answer and never takes the server down.
 * Logs carry event names, codes and timings only — never request bodies.
 */
import { listenTransport, serveRpc, type RpcConnection, type TransportServer } from '../vsock/index.js';
import { PROTOCOL_VERSION, type AttestRequest, type AttestResponse, type ForwardedCredentials, type HealthResponse, type PackRequest, type PackResponse, type UnsealRequest, type UnsealResponse } from './protocol.js';
import { runPack, type AttestPort, type SigningSetup, type WrapTargets } from './pack/pipeline.js';
import { RecipientKeyRing, type RecipientKeyRingOptions } from './pack/recipient-keys.js';
import { unsealSigningKey } from './pack/sealed-key.js';
import { PackError } from './pack/errors.js';
import { validatePackRequest } from './pack/validate.js';
import type { KmsConnection } from './kms/client.js';
import { isAttestedPackError } from '../common/errors.js';

export interface EnclaveServerOptions {
  /** Transport URL to listen on: vsock://ANY:5000, unix:///run/ap.sock, tcp://127.0.0.1:PORT. */
  listen: string;
  nsm: AttestPort;
  kms: KmsConnection;
  toolVersion: string;
  /** KMS key for `kms` signing mode. */
  signingKmsKeyId?: string;
  recipientKeys?: RecipientKeyRingOptions;
  /** Packs running at once across all connections (default 4); more wait their turn. */
  maxConcurrentPacks?: number;
  /** Envelopes the enclave may wrap artifacts for (default 'any'; see PackPorts.wrapTargets). */
  wrapTargets?: WrapTargets;
  /** KMS keys SOPS files may be encrypted under (default: any). */
  sourceKeys?: readonly string[];
  /** Credentials used when a request forwards none (simulation only). */
  defaultCredentials?: ForwardedCredentials;
  now?: () => number;
  /** Receives structured events (never secrets). Default: none. */
  log?: (event: EnclaveLogEvent) => void;
}

export interface EnclaveLogEvent {
  level: 'info' | 'warn' | 'error';
  event: string;
  code?: string;
  ms?: number;
  [k: string]: unknown;
}

export interface EnclaveServer {
  readonly url: string;
  /** Packs in flight now. */
  readonly inFlight: number;
  close(): Promise<void>;
}

/** A counting semaphore: packs beyond the limit wait in FIFO order. */
class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  get inUse(): number {
    return this.active;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiters.shift()?.();
    }
  }
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/** Starts the enclave server and resolves once it listens. */
export async function startEnclaveServer(options: EnclaveServerOptions): Promise<EnclaveServer> {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => undefined);
  const keys = new RecipientKeyRing({ ...options.recipientKeys, now });
  keys.warmUp();
  const packs = new Semaphore(options.maxConcurrentPacks ?? 4);
  const signing: SigningSetup = {
    ...(options.signingKmsKeyId ? { kmsKeyId: options.signingKmsKeyId } : {}),
  };
  const publicKeyCache = new Map<string, Uint8Array>();
  const connections = new Set<RpcConnection>();

  const credentialsOf = (c: ForwardedCredentials | undefined): ForwardedCredentials => {
    const creds = c ?? options.defaultCredentials;
    if (!creds) {
      throw new PackError('PACK_BAD_REQUEST', 'pack request credentials: the host forwarded no AWS credentials', {
        hint: 'configure the host proxy with the parent instance role (or simulator credentials)',
        details: { field: 'credentials' },
      });
    }
    return creds;
  };

  const handlers = {
    pack: async (body: unknown): Promise<PackResponse> => {
      const started = now();
      const req = body as PackRequest;
      try {
        // Shape first: a malformed body is PACK_BAD_REQUEST, never a KMS or credentials error.
        validatePackRequest(req);
        const out = await packs.run(() =>
          runPack(req, {
            kms: options.kms.forCredentials(credentialsOf(req?.credentials)),
            nsm: options.nsm,
            recipientKeys: keys,
            signing,
            now,
            toolVersion: options.toolVersion,
            publicKeyCache,
            ...(options.wrapTargets ? { wrapTargets: options.wrapTargets } : {}),
            ...(options.sourceKeys ? { sourceKeys: options.sourceKeys } : {}),
          }),
        );
        log({ level: 'info', event: 'pack.ok', ms: now() - started });
        return out;
      } catch (err) {
        log({ level: 'warn', event: 'pack.failed', code: isAttestedPackError(err) ? err.code : 'INTERNAL', ms: now() - started });
        throw err;
      }
    },

    attest: async (body: unknown): Promise<AttestResponse> => {
      const b = (typeof body === 'object' && body !== null ? body : {}) as AttestRequest;
      // Receipts are documents whose user_data is SHA-384(JCS(claims)). If callers could choose
      // user_data here, anyone on the (untrusted) parent could mint a receipt for claims the
      // enclave never made. Pre-flight documents carry the caller's nonce only.
      if (b.userData !== undefined && b.userData !== null) {
        throw new PackError('PACK_BAD_REQUEST', 'attest request userData: not accepted (the enclave binds user_data only to its own receipt claims)', {
          details: { field: 'userData' },
          hint: 'send a nonce for a fresh pre-flight document',
        });
      }
      if (b.nonce !== undefined && b.nonce !== null && (!isBytes(b.nonce) || b.nonce.byteLength > 512)) {
        throw new PackError('PACK_BAD_REQUEST', 'attest request nonce: must be at most 512 bytes', { details: { field: 'nonce' } });
      }
      const document = await options.nsm.attest(isBytes(b.nonce) ? { nonce: b.nonce } : {});
      return { document };
    },

    health: (): HealthResponse => ({
      status: signing.sealedUnavailableReason ? 'degraded' : 'ok',
      version: options.toolVersion,
      inFlight: packs.inUse,
      signingReady: signing.sealed !== undefined || signing.kmsKeyId !== undefined,
    }),

    unseal: async (body: unknown): Promise<UnsealResponse> => {
      const b = body as UnsealRequest;
      const sk = b?.sealedKey;
      if (!sk || typeof sk.kmsKeyId !== 'string' || !isBytes(sk.ciphertextBlob) || !isBytes(sk.publicKey)) {
        throw new PackError('PACK_BAD_REQUEST', 'unseal request sealedKey: must hold kmsKeyId, ciphertextBlob and publicKey', {
          details: { field: 'sealedKey' },
        });
      }
      try {
        const key = await keys.acquire();
        const recipient = {
          attestationDocument: await options.nsm.attest({ publicKey: key.spkiDer }),
          privateKey: key.privateKey,
          spkiDer: key.spkiDer,
        };
        signing.sealed = await unsealSigningKey(sk, options.kms.forCredentials(credentialsOf(b.credentials)), recipient);
        delete signing.sealedUnavailableReason;
        log({ level: 'info', event: 'unseal.ok' });
        return { publicKey: signing.sealed.publicKeySpki };
      } catch (err) {
        // A failed (or hostile) unseal never takes away a key that already works.
        if (!signing.sealed) {
          signing.sealedUnavailableReason = isAttestedPackError(err) ? `${err.code}: ${err.message}` : 'unexpected error while unsealing';
        }
        log({ level: 'error', event: 'unseal.failed', code: isAttestedPackError(err) ? err.code : 'INTERNAL' });
        throw err;
      }
    },
  };

  const server: TransportServer = await listenTransport(options.listen, (stream) => {
    const conn = serveRpc(stream, handlers, {
      versions: [PROTOCOL_VERSION],
      server: `attested-pack-enclave/${options.toolVersion}`,
      maxConcurrent: 16,
    });
    connections.add(conn);
    void conn.closed.then(() => connections.delete(conn));
  });
  log({ level: 'info', event: 'listening', url: server.url });

  return {
    url: server.url,
    get inFlight() {
      return packs.inUse;
    },
    async close() {
      await server.close();
      for (const c of connections) c.close();
      keys.clear();
      options.kms.destroy();
    },
  };
}
