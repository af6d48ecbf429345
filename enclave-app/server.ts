/**
 * The enclave's server loop: listens on a transport (vsock in AWS, unix or loopback TCP in
 * simulation) and answers `pack`, `attest`, `health` and `unseal` frames. Packs run with bounded
 * concurrency; one bad request gets an error answer and never takes the server down.
 * Logs carry event names, codes and timings only — never request bodies.
 */
import { listenTransport, serveRpc, RpcByteBudget, type RpcConnection, type TransportServer } from '../vsock/index.js';
import { bytesEqual } from '../common/bytes.js';
import { PROTOCOL_VERSION, type AttestRequest, type AttestResponse, type ForwardedCredentials, type HealthResponse, type PackRequest, type PackResponse, type UnsealRequest, type UnsealResponse } from './protocol.js';
import { runPack, type AttestPort, type SigningSetup, type WrapTargets } from './pack/pipeline.js';
import { RecipientKeyRing, type RecipientKeyRingOptions } from './pack/recipient-keys.js';
import { unsealSigningKey } from './pack/sealed-key.js';
import { PackError } from './pack/errors.js';
import { validatePackRequest } from './pack/validate.js';
import type { SourceKeyPolicy } from './pack/policy.js';
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
  /**
   * The one sealed signing key `unseal` accepts (`--seal-key`, `--signer-public-key`, measured).
   * Without it `unseal` is refused: the host would otherwise choose the key artifacts are signed with.
   */
  sealedKeyPin?: SealedKeyPin;
  /** Connection limits (defaults in DEFAULT_CONNECTION_LIMITS). */
  limits?: Partial<ConnectionLimits>;
  recipientKeys?: RecipientKeyRingOptions;
  /** Packs running at once across all connections (default 4); more wait their turn. */
  maxConcurrentPacks?: number;
  /** Envelopes the enclave may wrap artifacts for (default 'any'; see PackPorts.wrapTargets). */
  wrapTargets?: WrapTargets;
  /** KMS keys SOPS files may be encrypted under, for every cell or per cell (default: any). */
  sourceKeys?: SourceKeyPolicy | readonly string[];
  /** SHA-256 of the only clef.yaml contents accepted (`--manifest-sha256`; default: any). */
  manifestSha256?: readonly string[];
  /** Credentials used when a request forwards none (simulation only). */
  defaultCredentials?: ForwardedCredentials;
  now?: () => number;
  /** Receives structured events (never secrets). Default: none. */
  log?: (event: EnclaveLogEvent) => void;
}

/** The sealed signing key the image pins: the KMS key it is sealed under and its public half. */
export interface SealedKeyPin {
  sealKeyArn: string;
  /** Ed25519 SPKI DER. */
  publicKeySpki: Uint8Array;
}

/** What one host may hold open on the enclave's server. */
export interface ConnectionLimits {
  /** Connections at once; more are closed as they arrive. */
  maxConnections: number;
  /** A connection must complete hello within this time. */
  helloTimeoutMs: number;
  /** A connection with nothing in flight is closed after this long without a byte. */
  idleTimeoutMs: number;
  /** Largest frame before hello. */
  maxHelloFrameBytes: number;
  /** Bytes of unfinished frames held across all connections (one frame may be up to 16 MiB). */
  maxBufferedBytes: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 32,
  helloTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxHelloFrameBytes: 4096,
  maxBufferedBytes: 64 * 1024 * 1024,
};

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
            ...(options.manifestSha256 ? { manifestSha256: options.manifestSha256 } : {}),
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
      // The image pins the only key it unseals; the host chooses nothing but the moment.
      const pin = options.sealedKeyPin;
      if (!pin) {
        throw new PackError('PACK_SEALED_KEY_REFUSED', 'unseal refused: this enclave pins no sealed signing key (--seal-key, --signer-public-key)', {
          hint: 'rebuild the image with --seal-key ARN --signer-public-key BASE64 (from `attested-pack sealed-key create`)',
          details: { refused: 'sealedKey' },
        });
      }
      if (sk.kmsKeyId !== pin.sealKeyArn || !bytesEqual(sk.publicKey, pin.publicKeySpki)) {
        const what = sk.kmsKeyId !== pin.sealKeyArn ? `seal key ${sk.kmsKeyId.slice(0, 200)}` : 'signer public key';
        log({ level: 'warn', event: 'unseal.refused', code: 'PACK_SEALED_KEY_REFUSED', refused: sk.kmsKeyId !== pin.sealKeyArn ? 'sealKey' : 'publicKey' });
        throw new PackError('PACK_SEALED_KEY_REFUSED', `unseal refused: the ${what} is not the one this image pins`, {
          hint: `the image unseals only the key sealed under ${pin.sealKeyArn} whose public key is ${Buffer.from(pin.publicKeySpki).toString('base64')}`,
          details: { refused: sk.kmsKeyId !== pin.sealKeyArn ? 'sealKey' : 'publicKey' },
        });
      }
      // A working key is never replaced (it can only be the pinned one anyway).
      if (signing.sealed) return { publicKey: signing.sealed.publicKeySpki };
      try {
        const key = await keys.acquire();
        const recipient = {
          attestationDocument: await options.nsm.attest({ publicKey: key.spkiDer }),
          privateKey: key.privateKey,
          spkiDer: key.spkiDer,
        };
        const unsealed = await unsealSigningKey({ ...sk, kmsKeyId: pin.sealKeyArn, publicKey: pin.publicKeySpki }, options.kms.forCredentials(credentialsOf(b.credentials)), recipient);
        signing.sealed ??= unsealed;
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

  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const budget = new RpcByteBudget(limits.maxBufferedBytes);
  const server: TransportServer = await listenTransport(options.listen, (stream) => {
    if (connections.size >= limits.maxConnections) {
      // Refused before a byte is read: a connection costs nothing beyond its socket.
      log({ level: 'warn', event: 'connection.refused', code: 'RPC_LIMIT', connections: connections.size });
      stream.destroy();
      return;
    }
    const conn = serveRpc(stream, handlers, {
      versions: [PROTOCOL_VERSION],
      server: `attested-pack-enclave/${options.toolVersion}`,
      maxConcurrent: 16,
      helloTimeoutMs: limits.helloTimeoutMs,
      idleTimeoutMs: limits.idleTimeoutMs,
      maxHelloFrameBytes: limits.maxHelloFrameBytes,
      budget,
      onAbort: (code) => log({ level: 'warn', event: 'connection.closed', code, connections: connections.size, bufferedBytes: budget.used }),
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
