/**
 * The enclave's KMS port, on the real `@aws-sdk/client-kms`.
 *
 * Real mode: every HTTPS connection is a vsock stream to the parent's relay (CID 3, port 8000
 * by default) with TLS to `kms.<region>.amazonaws.com` running inside the enclave (certificate and
 * hostname verified by Node's TLS), so the parent only ever relays ciphertext. Simulated mode:
 * the same SDK client against the simulator's loopback endpoint. Credentials arrive with each
 * request; the SDK client built for them is kept for the next packs that bring the very same
 * credentials (see `KmsConnection.forCredentials`), because building a client and resolving its
 * middleware chain for every call was the largest share of a pack's CPU after the cryptography.
 *
 * Invariant 2 lives here: a Decrypt answer is accepted only as `CiphertextForRecipient` for our
 * own ephemeral key; a `Plaintext` answer is refused.
 */
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { KeyObject } from 'node:crypto';
import {
  KMSClient,
  DecryptCommand,
  EncryptCommand,
  SignCommand,
  GetPublicKeyCommand,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';
import { StandardRetryStrategy } from '@smithy/core/retry';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KmsError } from './errors.js';
import { decryptCiphertextForRecipient } from './cms.js';
import { zeroize } from '../../common/bytes.js';
import type { ForwardedCredentials } from '../protocol.js';

/** What the pack pipeline needs from KMS; implemented by `createKmsPort`. */
export interface KmsPort {
  /** Attested Decrypt: returns the plaintext only after unwrapping CiphertextForRecipient locally. */
  decryptForRecipient(req: RecipientDecryptRequest): Promise<Uint8Array>;
  /** Plain Encrypt (wrapping the artifact DEK); returns the blob and the key ARN KMS used. */
  encrypt(req: { keyId: string; plaintext: Uint8Array; encryptionContext?: Record<string, string> }): Promise<{
    ciphertextBlob: Uint8Array;
    keyId: string;
  }>;
  /** ECDSA_SHA_256 Sign over a SHA-256 digest (MessageType DIGEST); returns a DER signature. */
  signDigest(req: { keyId: string; digest: Uint8Array }): Promise<{ signature: Uint8Array; keyId: string }>;
  /** The key's SubjectPublicKeyInfo DER. */
  getPublicKey(keyId: string): Promise<Uint8Array>;
}

/** The enclave's ephemeral recipient key and the attestation document that carries it. */
export interface RecipientMaterial {
  attestationDocument: Uint8Array;
  privateKey: KeyObject;
  spkiDer: Uint8Array;
}

export interface RecipientDecryptRequest {
  ciphertextBlob: Uint8Array;
  /** Key ARN as recorded in the SOPS file; sent so KMS checks it (IncorrectKeyException otherwise). */
  keyId?: string;
  encryptionContext?: Record<string, string>;
  recipient: RecipientMaterial;
}

/** How the enclave reaches KMS. */
export type KmsConnectionOptions =
  | {
      mode: 'simulated';
      /** Loopback endpoint of the KMS simulator, e.g. http://127.0.0.1:4599 */
      endpoint: string;
      timeoutMs?: number;
      maxAttempts?: number;
    }
  | {
      mode: 'vsock';
      /** Opens a raw stream to the parent's relay (vsock CID 3, port 8000 by default). */
      openRelayStream: () => Promise<Duplex>;
      /** AWS region of the KMS keys; the relay forwards to kms.<region>.amazonaws.com:443. */
      region: string;
      /** KMS endpoint host name for TLS SNI and certificate check; default kms.<region>.amazonaws.com */
      hostname?: string;
      timeoutMs?: number;
      maxAttempts?: number;
      /** Extra CA certificates (tests only); the system roots are always used. */
      ca?: string[];
    };

/**
 * An HTTPS agent whose connections are TLS sessions over streams to the parent's relay.
 * Node's TLS verifies the KMS certificate chain and host name inside the enclave.
 */
export class RelayTlsAgent extends https.Agent {
  constructor(
    private readonly openRelayStream: () => Promise<Duplex>,
    private readonly servername: string,
    private readonly ca?: string[],
  ) {
    super({ keepAlive: true, maxSockets: 16 });
  }

  override createConnection(
    _options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    if (!callback) throw new Error('RelayTlsAgent needs the asynchronous createConnection form');
    this.openRelayStream().then(
      (raw) => {
        const socket = tls.connect({
          socket: raw,
          servername: this.servername,
          ALPNProtocols: ['http/1.1'],
          rejectUnauthorized: true,
          ...(this.ca ? { ca: [...tls.rootCertificates, ...this.ca] } : {}),
        });
        callback(null, socket);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/**
 * Settings the SDK would otherwise look up for every new client (one per pack) in environment
 * variables and ~/.aws files, failing through its provider chain each time. Here they are fixed
 * by design: the relay reaches one host, kms.<region>.amazonaws.com, so FIPS or dual-stack
 * endpoints could not be reached anyway, and the enclave has no AWS configuration files.
 */
const FIXED_CLIENT_SETTINGS = {
  useFipsEndpoint: false,
  useDualstackEndpoint: false,
  retryMode: 'standard',
  defaultsMode: 'legacy',
  authSchemePreference: [],
  userAgentAppId: 'attested-pack',
} as const satisfies Partial<KMSClientConfig>;

/** The cache key of a set of credentials: every field, every character, unambiguously. */
function credentialsId(c: ForwardedCredentials): string {
  return JSON.stringify([c.region, c.accessKeyId, c.secretAccessKey, c.sessionToken ?? null]);
}

/** SDK clients kept at most, one per distinct set of forwarded credentials (least recently used goes). */
export const KMS_CLIENT_CACHE_ENTRIES = 4;

/** A long-lived connection to KMS; hands out per-request ports bound to forwarded credentials. */
export class KmsConnection {
  private readonly handler: NodeHttpHandler;
  private readonly endpoint: string | undefined;
  private readonly maxAttempts: number;
  /** Clients by the exact credentials they sign with (see `forCredentials`); Map order is recency. */
  private readonly clients = new Map<string, CredentialsClient>();

  constructor(private readonly options: KmsConnectionOptions) {
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 4;
    if (options.mode === 'simulated') {
      this.endpoint = options.endpoint;
      this.handler = new NodeHttpHandler({ requestTimeout: timeoutMs, connectionTimeout: timeoutMs, throwOnRequestTimeout: true });
    } else {
      this.endpoint = undefined;
      this.handler = new NodeHttpHandler({
        requestTimeout: timeoutMs,
        connectionTimeout: timeoutMs,
        throwOnRequestTimeout: true,
        // One relay forwards to one KMS host (like vsock-proxy), so the region is fixed per connection.
        httpsAgent: new RelayTlsAgent(options.openRelayStream, options.hostname ?? `kms.${options.region}.amazonaws.com`, options.ca),
      });
    }
  }

  /**
   * A KMS port signing with these credentials (one pack's worth).
   *
   * The SDK client behind it is remembered by the exact credentials (region, access key id,
   * secret, session token: every byte compared), so the host's next packs with the same
   * credentials skip building a client and resolving each operation's middleware chain; any other
   * credentials get a client of their own. What a client carries from one pack to the next is
   * configuration fixed here and state the SDK derives from KMS itself (the clock offset it learns
   * from KMS's Date header when the enclave's clock is off by minutes), never anything a request
   * chose: retries keep their budget per call (PerCallRetryStrategy), and the operations' chains
   * are resolved from commands that hold no request data.
   */
  forCredentials(credentials: ForwardedCredentials): KmsPort {
    if (this.options.mode === 'vsock' && credentials.region !== this.options.region) {
      throw new KmsError('KMS_ERROR', `credentials are for region ${credentials.region} but the KMS relay serves ${this.options.region}`, {
        category: 'input',
        hint: 'run the enclave with --kms-region matching the host proxy',
      });
    }
    const id = credentialsId(credentials);
    let client = this.clients.get(id);
    if (client) {
      this.clients.delete(id); // most recently used last
    } else {
      client = new CredentialsClient(this.newSdkClient(credentials));
      if (this.clients.size >= KMS_CLIENT_CACHE_ENTRIES) this.clients.delete(this.clients.keys().next().value!);
    }
    this.clients.set(id, client);
    return new SdkKmsPort(client);
  }

  /** How many SDK clients are kept (tests). */
  get cachedClients(): number {
    return this.clients.size;
  }

  /** Whether a client for exactly these credentials is kept (tests). */
  hasClientFor(credentials: ForwardedCredentials): boolean {
    return this.clients.has(credentialsId(credentials));
  }

  destroy(): void {
    // The clients share `handler`; dropping them is enough (KMSClient.destroy would close it).
    this.clients.clear();
    this.handler.destroy();
  }

  private newSdkClient(credentials: ForwardedCredentials): KMSClient {
    const config: KMSClientConfig = {
      region: credentials.region,
      credentials: {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
      },
      requestHandler: this.handler,
      maxAttempts: this.maxAttempts,
      retryStrategy: new PerCallRetryStrategy(this.maxAttempts),
      ...(this.endpoint ? { endpoint: this.endpoint } : {}),
      ...FIXED_CLIENT_SETTINGS,
    };
    return new KMSClient(config);
  }
}

/**
 * The SDK's standard retry strategy with its state kept per call. The SDK's strategy holds a retry
 * budget shared by every call of its client; with a client serving many packs, one pack's failed
 * calls would cut the retries of the next. Each call gets a fresh strategy, as each pack got a
 * fresh client before: same attempts, same backoff.
 */
export class PerCallRetryStrategy {
  readonly mode = 'standard';
  readonly #owners = new WeakMap<object, StandardRetryStrategy>();

  constructor(private readonly maxAttempts: number) {}

  async acquireInitialRetryToken(scope: string): ReturnType<StandardRetryStrategy['acquireInitialRetryToken']> {
    const strategy = new StandardRetryStrategy(this.maxAttempts);
    const token = await strategy.acquireInitialRetryToken(scope);
    this.#owners.set(token, strategy);
    return token;
  }

  async refreshRetryTokenForRetry(...[token, errorInfo]: Parameters<StandardRetryStrategy['refreshRetryTokenForRetry']>): ReturnType<StandardRetryStrategy['refreshRetryTokenForRetry']> {
    const strategy = this.#owners.get(token);
    if (!strategy) throw new Error('retry token from another strategy');
    const next = await strategy.refreshRetryTokenForRetry(token, errorInfo);
    this.#owners.set(next, strategy);
    return next;
  }

  recordSuccess(token: Parameters<StandardRetryStrategy['recordSuccess']>[0]): void {
    this.#owners.get(token)?.recordSuccess(token);
  }
}

/** A command as the SDK runs it: its input, and the middleware chain it resolves for a client. */
interface ResolvableCommand<I, O> {
  readonly input: I;
  resolveMiddleware(stack: KMSClient['middlewareStack'], config: KMSClient['config'], options: undefined): (args: { input: I }) => Promise<{ output: O }>;
}

/**
 * An SDK client for one set of credentials, sending each operation through a middleware chain
 * resolved once. This is the SDK's own `cacheMiddleware` with one difference: the SDK resolves the
 * chain from the first real command of a kind and keeps that command (an Encrypt's would hold an
 * artifact data key) for the client's life; here the chain is resolved from a blank command.
 */
class CredentialsClient {
  private readonly chains = new Map<unknown, (args: { input: never }) => Promise<{ output: unknown }>>();

  constructor(private readonly client: KMSClient) {}

  /** Sends `command` as `client.send` does; `blank` makes a command of the same kind holding no request data. */
  async send<I, O>(command: ResolvableCommand<I, O>, blank: () => ResolvableCommand<I, O>): Promise<O> {
    let chain = this.chains.get(command.constructor) as ((args: { input: I }) => Promise<{ output: O }>) | undefined;
    if (!chain) {
      chain = blank().resolveMiddleware(this.client.middlewareStack, this.client.config, undefined);
      this.chains.set(command.constructor, chain);
    }
    return (await chain(command)).output;
  }
}

/** Commands of each kind holding no request data, to resolve middleware chains from. */
const BLANK = {
  decrypt: () => new DecryptCommand({ CiphertextBlob: new Uint8Array(0) }),
  encrypt: () => new EncryptCommand({ KeyId: '', Plaintext: new Uint8Array(0) }),
  sign: () => new SignCommand({ KeyId: '', Message: new Uint8Array(0), SigningAlgorithm: 'ECDSA_SHA_256' }),
  getPublicKey: () => new GetPublicKeyCommand({ KeyId: '' }),
};

class SdkKmsPort implements KmsPort {
  constructor(private readonly client: CredentialsClient) {}

  async decryptForRecipient(req: RecipientDecryptRequest): Promise<Uint8Array> {
    const keyLabel = req.keyId ?? 'the key named in the ciphertext';
    const out = await this.call(keyLabel, 'Decrypt', () =>
      this.client.send(
        new DecryptCommand({
          CiphertextBlob: req.ciphertextBlob,
          ...(req.keyId ? { KeyId: req.keyId } : {}),
          ...(req.encryptionContext && Object.keys(req.encryptionContext).length > 0
            ? { EncryptionContext: req.encryptionContext }
            : {}),
          Recipient: {
            KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
            AttestationDocument: req.recipient.attestationDocument,
          },
        }),
        BLANK.decrypt,
      ),
    );
    if (out.Plaintext !== undefined && out.Plaintext.byteLength > 0) {
      zeroize(out.Plaintext);
      throw new KmsError('KMS_PLAINTEXT_REFUSED', `KMS returned a plaintext for ${keyLabel} instead of CiphertextForRecipient`, {
        hint: 'the enclave only accepts answers encrypted to its attested key; check the KMS endpoint and relay',
        details: { keyId: keyLabel },
      });
    }
    if (!out.CiphertextForRecipient || out.CiphertextForRecipient.byteLength === 0) {
      throw new KmsError('KMS_BAD_RECIPIENT_RESPONSE', `KMS returned no CiphertextForRecipient for ${keyLabel}`, {
        details: { keyId: keyLabel },
      });
    }
    return decryptCiphertextForRecipient(out.CiphertextForRecipient, req.recipient.privateKey, req.recipient.spkiDer);
  }

  async encrypt(req: { keyId: string; plaintext: Uint8Array; encryptionContext?: Record<string, string> }) {
    const out = await this.call(req.keyId, 'Encrypt', () =>
      this.client.send(
        new EncryptCommand({
          KeyId: req.keyId,
          Plaintext: req.plaintext,
          ...(req.encryptionContext ? { EncryptionContext: req.encryptionContext } : {}),
        }),
        BLANK.encrypt,
      ),
    );
    if (!out.CiphertextBlob) throw new KmsError('KMS_ERROR', `KMS Encrypt with ${req.keyId} returned no ciphertext`);
    return { ciphertextBlob: out.CiphertextBlob, keyId: out.KeyId ?? req.keyId };
  }

  async signDigest(req: { keyId: string; digest: Uint8Array }) {
    const out = await this.call(req.keyId, 'Sign', () =>
      this.client.send(
        new SignCommand({
          KeyId: req.keyId,
          Message: req.digest,
          MessageType: 'DIGEST',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
        BLANK.sign,
      ),
    );
    if (!out.Signature) throw new KmsError('KMS_ERROR', `KMS Sign with ${req.keyId} returned no signature`);
    return { signature: out.Signature, keyId: out.KeyId ?? req.keyId };
  }

  async getPublicKey(keyId: string): Promise<Uint8Array> {
    const out = await this.call(keyId, 'GetPublicKey', () => this.client.send(new GetPublicKeyCommand({ KeyId: keyId }), BLANK.getPublicKey));
    if (!out.PublicKey) throw new KmsError('KMS_ERROR', `KMS GetPublicKey for ${keyId} returned no key`);
    return out.PublicKey;
  }

  /** Runs one SDK call and maps its failures to KmsError codes that name the key. */
  private async call<T>(keyId: string, operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapSdkError(err, keyId, operation);
    }
  }
}

/** Maps an SDK or transport error to a KmsError; exported for tests. */
export function mapSdkError(err: unknown, keyId: string, operation: string): KmsError {
  if (err instanceof KmsError) return err;
  const e = err as { name?: string; $fault?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  const name = e?.name ?? 'Error';
  const details = { keyId, operation, awsError: name };
  switch (name) {
    case 'AccessDeniedException':
      return new KmsError('KMS_ACCESS_DENIED', `KMS denied ${operation} with key ${keyId}`, {
        hint: 'the key policy does not allow this enclave image: regenerate it from this build\'s measurements (attested-pack kms-policy generate)',
        details,
      });
    case 'NotFoundException':
      return new KmsError('KMS_NOT_FOUND', `KMS key ${keyId} was not found`, { details, hint: 'check the key ARN and region in clef.yaml / the SOPS file' });
    case 'DisabledException':
    case 'KMSInvalidStateException':
      return new KmsError('KMS_DISABLED', `KMS key ${keyId} is disabled or pending deletion`, { details });
    case 'InvalidCiphertextException':
    case 'IncorrectKeyException':
      return new KmsError('KMS_INVALID_CIPHERTEXT', `KMS could not decrypt the data key with ${keyId} (${name})`, {
        details,
        hint: 'the SOPS file was encrypted under another key or encryption context',
      });
    case 'CredentialsProviderError':
      return new KmsError('KMS_NO_CREDENTIALS', `no AWS credentials to sign KMS ${operation} with ${keyId}`, {
        details,
        hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys) or AWS_PROFILE, or run where an instance role is available; against the simulator use a key it knows (simulator/kms/demo.ts)',
      });
    case 'ThrottlingException':
      return new KmsError('KMS_THROTTLED', `KMS kept throttling ${operation} with ${keyId}`, { details, hint: 'retry later or raise the KMS request quota' });
    case 'TimeoutError':
    case 'RequestTimeout':
    case 'AbortError':
      return new KmsError('KMS_TIMEOUT', `KMS did not answer ${operation} with ${keyId} in time`, { details, hint: 'check the KMS relay on the parent instance' });
    default:
      break;
  }
  if (e?.code === 'ETIMEDOUT' || e?.code === 'ESOCKETTIMEDOUT') {
    return new KmsError('KMS_TIMEOUT', `KMS did not answer ${operation} with ${keyId} in time`, { details });
  }
  if (e?.$fault === 'server' || e?.code === 'ECONNREFUSED' || e?.code === 'ECONNRESET' || e?.code === 'EPIPE') {
    return new KmsError('KMS_UNAVAILABLE', `KMS was unavailable for ${operation} with ${keyId} (${name})`, {
      details,
      hint: 'check the KMS endpoint or relay and retry',
    });
  }
  return new KmsError('KMS_ERROR', `KMS ${operation} with ${keyId} failed: ${name}`, { details });
}
