/**
 * Request/response over one framed connection, several requests at a time.
 *
 * Conversation: the client sends `hello` {versions, client} first; the server picks the highest
 * version both speak and answers `hello.ok` {version, server} (or `error` PROTOCOL_VERSION and
 * closes). Then each request is an envelope {v, id, type, body} with a fresh id (1, 2, …); the
 * server answers with the same id and type `<type>.ok` or `error` {code, message, hint?, category},
 * in whatever order the work finishes. Id 0 is reserved for connection-level errors (a bad frame),
 * sent just before the server closes.
 *
 * Both sides respect backpressure: writes wait for 'drain'; the server stops reading while
 * `maxConcurrent` requests are in flight. Any bad frame, or the connection ending, fails every
 * pending request with a typed error and closes cleanly.
 */
import type { Duplex } from 'node:stream';
import { AttestedPackError, isAttestedPackError, type ErrorCategory } from '../common/errors.js';
import { FrameError, RpcError, RpcRemoteError } from './errors.js';
import { encodeFrame, FrameDecoder, toEnvelope, type Envelope, type FrameOptions } from './frames.js';

/** Protocol versions this build speaks when none are configured. */
export const DEFAULT_RPC_VERSIONS: readonly number[] = [1];

/** The body of an `error` response (mirrors ErrorResponse in enclave-app/protocol.ts). */
export interface RpcErrorBody {
  code: string;
  message: string;
  hint?: string;
  category: ErrorCategory;
}

const CATEGORIES: ReadonlySet<string> = new Set(['rejected', 'input', 'unavailable', 'internal']);

// ---------------------------------------------------------------------------------------------
// shared plumbing

/** Writes frames in order, waiting for 'drain' whenever the stream asks for it. */
class FrameWriter {
  readonly #stream: Duplex;
  #closed = false;
  #corked = false;
  #waiters: Array<() => void> = [];

  constructor(stream: Duplex) {
    this.#stream = stream;
    const wake = (): void => {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    };
    stream.on('drain', wake);
    stream.once('close', () => {
      this.#closed = true;
      wake();
    });
  }

  /** Resolves once the frame is handed to the stream; rejects with RPC_CLOSED if it closed. */
  async write(frame: Uint8Array): Promise<void> {
    while (!this.#closed && this.#stream.writableNeedDrain) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    if (this.#closed || this.#stream.destroyed || !this.#stream.writable) {
      throw new RpcError('RPC_CLOSED', 'connection closed before the message could be sent');
    }
    // Frames written in the same tick leave in one writev instead of one syscall each.
    if (!this.#corked) {
      this.#corked = true;
      this.#stream.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#stream.uncork();
      });
    }
    this.#stream.write(frame);
  }
}

function errorBodyOf(err: unknown): RpcErrorBody {
  if (isAttestedPackError(err)) {
    return {
      code: err.code,
      message: err.message,
      ...(err.hint === undefined ? {} : { hint: err.hint }),
      category: err.category,
    };
  }
  // Unknown exceptions may carry data in their message: send nothing of it.
  return { code: 'INTERNAL', message: 'unexpected internal error', category: 'internal' };
}

function parseErrorBody(body: unknown): RpcErrorBody {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const code = typeof b.code === 'string' && b.code.length > 0 && b.code.length <= 128 ? b.code : 'REMOTE_ERROR';
  const message = typeof b.message === 'string' ? b.message.slice(0, 4096) : 'remote error without a message';
  const category = typeof b.category === 'string' && CATEGORIES.has(b.category) ? (b.category as ErrorCategory) : 'internal';
  const hint = typeof b.hint === 'string' ? b.hint.slice(0, 4096) : undefined;
  return { code, message, category, ...(hint === undefined ? {} : { hint }) };
}

function remoteError(body: RpcErrorBody): AttestedPackError {
  const options = { category: body.category, ...(body.hint === undefined ? {} : { hint: body.hint }) };
  if (body.code === 'PROTOCOL_VERSION') return new RpcError('PROTOCOL_VERSION', body.message, options);
  return new RpcRemoteError(body.code, body.message, { ...options, details: { remote: true } });
}

function isVersionList(value: unknown): value is number[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.length <= 16 &&
    value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)
  );
}

// ---------------------------------------------------------------------------------------------
// client

/** Options for RpcClient.connect. */
export interface RpcClientOptions extends FrameOptions {
  /** Versions this client speaks (default [1]). The highest one the server also speaks wins. */
  versions?: readonly number[];
  /** Who we are, sent in hello (e.g. "host-proxy/0.1.0"). */
  client?: string;
  /** Default per-request timeout (default 60 s; 0 or Infinity: none). */
  timeoutMs?: number;
  /** Timeout for the hello exchange (default 10 s). */
  helloTimeoutMs?: number;
}

/** Per-request options. */
export interface RpcRequestOptions {
  /** This request's timeout (default: the client's; 0 or Infinity: none). */
  timeoutMs?: number;
}

interface Pending {
  type: string;
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** The client end of an RPC connection: many concurrent requests over one Duplex. */
export class RpcClient {
  /** The negotiated protocol version. */
  version = 0;
  /** The server's self-description from hello. */
  server = '';
  readonly #stream: Duplex;
  readonly #writer: FrameWriter;
  readonly #decoder: FrameDecoder;
  readonly #frameOptions: FrameOptions;
  readonly #defaultTimeout: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closedWith: RpcError | undefined;
  readonly #closed: Promise<void>;

  private constructor(stream: Duplex, options: RpcClientOptions) {
    this.#stream = stream;
    this.#frameOptions = {
      ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
      ...(options.maxDepth === undefined ? {} : { maxDepth: options.maxDepth }),
    };
    this.#decoder = new FrameDecoder(this.#frameOptions);
    this.#writer = new FrameWriter(stream);
    this.#defaultTimeout = options.timeoutMs ?? 60_000;
    this.#closed = new Promise((resolve) => stream.once('close', () => resolve()));
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.once('end', () => {
      try {
        this.#decoder.end();
        this.#shutdown(new RpcError('RPC_CLOSED', 'the server closed the connection'));
      } catch (err) {
        this.#shutdown(closedBy(err));
      }
    });
    stream.on('error', (err) => this.#shutdown(closedBy(err)));
    stream.once('close', () => this.#shutdown(new RpcError('RPC_CLOSED', 'the connection closed')));
  }

  /**
   * Wraps a connected Duplex and runs the hello exchange. Rejects with PROTOCOL_VERSION when
   * the server speaks none of our versions, RPC_TIMEOUT or RPC_CLOSED; the stream is then destroyed.
   */
  static async connect(stream: Duplex, options: RpcClientOptions = {}): Promise<RpcClient> {
    const versions = [...(options.versions ?? DEFAULT_RPC_VERSIONS)];
    if (!isVersionList(versions)) throw new RangeError('versions must be 1 to 16 non-negative integers');
    const client = new RpcClient(stream, options);
    try {
      const answer = await client.#call(
        Math.max(...versions),
        'hello',
        { versions, client: options.client ?? 'attested-pack' },
        options.helloTimeoutMs ?? 10_000,
      );
      const a = (typeof answer === 'object' && answer !== null ? answer : {}) as Record<string, unknown>;
      if (typeof a.version !== 'number' || !versions.includes(a.version)) {
        throw new RpcError('PROTOCOL_VERSION', `server chose protocol version ${String(a.version)}, which this client does not speak`);
      }
      client.version = a.version;
      client.server = typeof a.server === 'string' ? a.server.slice(0, 256) : '';
      return client;
    } catch (err) {
      client.#shutdown(err instanceof RpcError ? err : new RpcError('RPC_CLOSED', 'hello failed', { cause: err }));
      stream.destroy();
      throw err;
    }
  }

  /** Requests still waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** True once the connection is closed (every later request fails with RPC_CLOSED). */
  get isClosed(): boolean {
    return this.#closedWith !== undefined;
  }

  /**
   * Sends one request and resolves with the body of its `<type>.ok` answer. Rejects with the
   * remote's own error (RpcRemoteError, same code/category/hint), RPC_TIMEOUT or RPC_CLOSED.
   * The answer body is returned as decoded; callers check its shape.
   */
  request<R = unknown>(type: string, body: unknown, options: RpcRequestOptions = {}): Promise<R> {
    if (type === 'hello') return Promise.reject(new RangeError('hello is sent by RpcClient.connect'));
    return this.#call(this.version, type, body, options.timeoutMs ?? this.#defaultTimeout) as Promise<R>;
  }

  /** Fails pending requests with RPC_CLOSED, ends the connection and waits for it to close. */
  async close(): Promise<void> {
    this.#shutdown(new RpcError('RPC_CLOSED', 'the client closed the connection'));
    if (!this.#stream.destroyed) {
      // Flush what was written, then close: answers still owed to us are no longer wanted.
      this.#stream.end(() => this.#stream.destroy());
      const timer = setTimeout(() => this.#stream.destroy(), 2_000);
      await this.#closed;
      clearTimeout(timer);
    }
  }

  async #call(version: number, type: string, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#closedWith) throw this.#closedWith;
    const id = this.#nextId++;
    const frame = encodeFrame({ v: version, id, type, body } satisfies Envelope, this.#frameOptions);
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer =
        timeoutMs > 0 && Number.isFinite(timeoutMs)
          ? setTimeout(() => {
              this.#pending.delete(id);
              reject(new RpcError('RPC_TIMEOUT', `${type} request got no answer within ${timeoutMs} ms`, {
                hint: 'the enclave may be overloaded or stuck; retry, or raise the timeout',
              }));
            }, timeoutMs)
          : undefined;
      this.#pending.set(id, { type, resolve, reject, timer });
    });
    // Hand the frame to the stream (waiting for drain); a failure to send fails the request.
    this.#writer.write(frame).catch((err: unknown) => this.#settle(id, undefined, err instanceof Error ? err : new RpcError('RPC_CLOSED', 'send failed')));
    return answer;
  }

  #settle(id: number, body: unknown, err?: Error): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (pending.timer) clearTimeout(pending.timer);
    if (err) pending.reject(err);
    else pending.resolve(body);
  }

  #onData(chunk: Buffer): void {
    if (this.#closedWith) return;
    let values: unknown[];
    try {
      values = this.#decoder.push(chunk);
    } catch (err) {
      this.#fail(closedBy(err));
      return;
    }
    for (const value of values) {
      try {
        this.#onEnvelope(toEnvelope(value));
      } catch (err) {
        this.#fail(closedBy(err));
        return;
      }
    }
  }

  #onEnvelope(message: Envelope): void {
    if (message.id === 0 && message.type === 'error') {
      // Connection-level error: the server is about to close.
      const remote = parseErrorBody(message.body);
      this.#fail(new RpcError('RPC_CLOSED', `the server closed the connection: ${remote.code}: ${remote.message}`, {
        details: { reason: remote.code },
      }));
      return;
    }
    const pending = this.#pending.get(message.id);
    if (!pending) {
      // A late answer to a request that timed out is expected; an id never issued is not.
      if (message.id > 0 && message.id < this.#nextId) return;
      throw new RpcError('RPC_PROTOCOL', `server answered unknown request id ${message.id}`);
    }
    if (message.type === 'error') {
      this.#settle(message.id, undefined, remoteError(parseErrorBody(message.body)));
    } else if (message.type === `${pending.type}.ok`) {
      this.#settle(message.id, message.body);
    } else {
      throw new RpcError('RPC_PROTOCOL', `server answered a ${pending.type} request with ${JSON.stringify(message.type)}`);
    }
  }

  /** Protocol failure: fail everything and drop the connection. */
  #fail(err: RpcError): void {
    this.#shutdown(err);
    this.#stream.destroy();
  }

  #shutdown(err: RpcError): void {
    if (!this.#closedWith) this.#closedWith = err;
    const failure = this.#closedWith;
    for (const [id] of this.#pending) this.#settle(id, undefined, failure);
  }
}

/** What pending requests see when the connection dies for `cause`. */
function closedBy(cause: unknown): RpcError {
  if (cause instanceof RpcError) return cause;
  const code = isAttestedPackError(cause) ? cause.code : undefined;
  return new RpcError('RPC_CLOSED', code === undefined ? 'the connection failed' : `the connection failed: ${code}`, {
    cause,
    ...(code === undefined ? {} : { details: { reason: code } }),
  });
}

// ---------------------------------------------------------------------------------------------
// server

/** Context a handler receives with each request. */
export interface RpcRequestContext {
  id: number;
  type: string;
  /** Negotiated protocol version. */
  version: number;
  /** What the client said it is in hello. */
  client: string;
}

/** A request handler: returns the answer body (sent as `<type>.ok`) or throws (sent as `error`). */
export type RpcHandler = (body: unknown, context: RpcRequestContext) => unknown;

/** Options for serveRpc. */
export interface ServeRpcOptions extends FrameOptions {
  /** Versions this server speaks (default [1]). */
  versions?: readonly number[];
  /** Self-description sent in hello.ok (e.g. "enclave-app/0.1.0"). */
  server?: string;
  /** Most requests handled at once on this connection (default 8); reading pauses beyond it. */
  maxConcurrent?: number;
  /** Close the connection unless `hello` completes within this time (default: no limit). */
  helloTimeoutMs?: number;
  /** Close the connection after this long without a byte from the peer while nothing is in flight (default: no limit). */
  idleTimeoutMs?: number;
  /** Largest frame accepted before `hello` completed (default: maxFrameBytes); a hello is tiny. */
  maxHelloFrameBytes?: number;
  /** A byte budget shared by the connections of one server: bytes of unfinished frames they hold, in total. */
  budget?: RpcByteBudget;
  /** Told the code when the server drops this connection for a protocol error, a limit or a timeout (for logs; never payload). */
  onAbort?: (code: string) => void;
}

/** Bytes of unfinished frames held by all connections of a server, against one cap. */
export class RpcByteBudget {
  #used = 0;
  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError('maxBytes must be a positive integer');
  }
  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }
  /** Takes `n` more bytes (or gives back with a negative n); false (and nothing taken) when over the cap. */
  adjust(n: number): boolean {
    if (n > 0 && this.#used + n > this.maxBytes) return false;
    this.#used = Math.max(0, this.#used + n);
    return true;
  }
}

/** A connection being served. */
export interface RpcConnection {
  /** Requests currently being handled. */
  readonly inFlight: number;
  /** Resolves when the connection has closed (never rejects). */
  readonly closed: Promise<void>;
  /** Drops the connection now (pending handlers finish, their answers are discarded). */
  close(): void;
}

/**
 * Serves RPC on one connection: answers hello, then dispatches each request to
 * `handlers[type]` with at most `maxConcurrent` in flight. Bad frames get a connection-level
 * `error` (id 0) and a clean close.
 */
export function serveRpc(stream: Duplex, handlers: Readonly<Record<string, RpcHandler>>, options: ServeRpcOptions = {}): RpcConnection {
  const versions = [...(options.versions ?? DEFAULT_RPC_VERSIONS)];
  if (!isVersionList(versions)) throw new RangeError('versions must be 1 to 16 non-negative integers');
  const maxConcurrent = options.maxConcurrent ?? 8;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError('maxConcurrent must be a positive integer');
  const frameOptions: FrameOptions = {
    ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
    ...(options.maxDepth === undefined ? {} : { maxDepth: options.maxDepth }),
  };
  const decoder = new FrameDecoder(frameOptions);
  const writer = new FrameWriter(stream);
  const queue: Envelope[] = [];
  let version = 0;
  let client = '';
  let inFlight = 0;
  let done = false;
  /** The peer finished sending: answer what is queued, then end our side. */
  let ended = false;
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  stream.once('close', () => {
    done = true;
    queue.length = 0;
  });
  stream.on('error', () => {
    // 'close' follows; the error itself has nobody to tell.
  });

  const send = (message: Envelope): Promise<void> => {
    if (done) return Promise.resolve();
    let frame: Uint8Array;
    try {
      frame = encodeFrame(message, frameOptions);
    } catch (err) {
      // The answer itself cannot be framed (too large, unencodable): say so instead.
      const body = errorBodyOf(err instanceof FrameError ? err : new RpcError('RPC_PROTOCOL', 'answer could not be encoded'));
      frame = encodeFrame({ v: message.v, id: message.id, type: 'error', body }, frameOptions);
    }
    return writer.write(frame).catch(() => undefined);
  };

  const abort = (err: unknown): void => {
    if (done) return;
    const body = errorBodyOf(err instanceof FrameError || err instanceof RpcError ? err : new RpcError('RPC_PROTOCOL', 'protocol violation'));
    try {
      options.onAbort?.(body.code);
    } catch {
      // a logger's failure must not keep a bad connection open
    }
    void send({ v: version || Math.max(...versions), id: 0, type: 'error', body }).finally(() => {
      // Flush the error, then drop the connection: nothing more will be read from it.
      stream.end(() => stream.destroy());
      // Do not wait forever for a peer that never reads.
      setTimeout(() => stream.destroy(), 2_000).unref();
    });
    done = true;
    queue.length = 0;
    stream.pause();
    clearTimers();
    if (idleTimer) clearTimeout(idleTimer);
    release();
  };

  const answerHello = (message: Envelope): void => {
    const b = (typeof message.body === 'object' && message.body !== null ? message.body : {}) as Record<string, unknown>;
    const offered = isVersionList(b.versions) ? b.versions : [];
    const common = offered.filter((v) => versions.includes(v));
    if (common.length === 0) {
      const err = new RpcError('PROTOCOL_VERSION', `no common protocol version: client speaks [${offered.join(', ')}], server speaks [${versions.join(', ')}]`, {
        category: 'input',
        hint: 'upgrade the older side so both speak the same protocol version',
      });
      void send({ v: Math.max(...versions), id: message.id, type: 'error', body: errorBodyOf(err) }).finally(() => stream.end());
      done = true;
      stream.pause();
      return;
    }
    version = Math.max(...common);
    client = typeof b.client === 'string' ? b.client.slice(0, 256) : '';
    void send({ v: version, id: message.id, type: 'hello.ok', body: { version, server: options.server ?? 'attested-pack' } });
  };

  const handle = async (message: Envelope): Promise<void> => {
    let reply: Envelope;
    if (message.v !== version) {
      reply = {
        v: version,
        id: message.id,
        type: 'error',
        body: errorBodyOf(new RpcError('PROTOCOL_VERSION', `request carried protocol version ${message.v}, the connection speaks ${version}`, { category: 'input' })),
      };
    } else if (!Object.hasOwn(handlers, message.type) || typeof handlers[message.type] !== 'function') {
      reply = {
        v: version,
        id: message.id,
        type: 'error',
        body: errorBodyOf(new RpcError('RPC_UNKNOWN_TYPE', `unknown request type ${JSON.stringify(message.type)}`, { category: 'input' })),
      };
    } else {
      try {
        const result = await handlers[message.type](message.body, { id: message.id, type: message.type, version, client });
        reply = { v: version, id: message.id, type: `${message.type}.ok`, body: result ?? null };
      } catch (err) {
        reply = { v: version, id: message.id, type: 'error', body: errorBodyOf(err) };
      }
    }
    await send(reply);
  };

  const pump = (): void => {
    while (!done && queue.length > 0 && inFlight < maxConcurrent) {
      const message = queue.shift() as Envelope;
      if (version === 0) {
        if (message.type !== 'hello') {
          abort(new RpcError('PROTOCOL_VERSION', 'the first message on a connection must be hello'));
          return;
        }
        answerHello(message);
        continue;
      }
      if (message.type === 'hello') {
        abort(new RpcError('RPC_PROTOCOL', 'hello may only be sent once'));
        return;
      }
      inFlight += 1;
      void handle(message).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
    if (done) return;
    if (ended) {
      if (queue.length === 0 && inFlight === 0) stream.end();
      return;
    }
    // Backpressure: read more only while there is room.
    if (queue.length === 0 && inFlight < maxConcurrent) stream.resume();
    else stream.pause();
  };

  // Limits: unfinished frames are charged to the shared budget; hello and idle peers time out.
  let charged = 0;
  const recharge = (): boolean => {
    const now = decoder.bufferedBytes;
    const ok = options.budget ? options.budget.adjust(now - charged) : true;
    if (ok) charged = now;
    return ok;
  };
  const release = (): void => {
    options.budget?.adjust(-charged);
    charged = 0;
  };
  stream.once('close', release);
  const timers: NodeJS.Timeout[] = [];
  const clearTimers = (): void => {
    for (const t of timers.splice(0)) clearTimeout(t);
  };
  stream.once('close', clearTimers);
  if (options.helloTimeoutMs !== undefined) {
    timers.push(
      setTimeout(() => {
        if (version === 0) abort(new RpcError('RPC_TIMEOUT', `no hello within ${options.helloTimeoutMs} ms`, { hint: 'send hello first, at once' }));
      }, options.helloTimeoutMs).unref(),
    );
  }
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = (): void => {
    if (options.idleTimeoutMs === undefined || done) return;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      // A pack in flight is not idleness: look again later.
      if (inFlight > 0 || queue.length > 0) armIdle();
      else abort(new RpcError('RPC_TIMEOUT', `connection idle for ${options.idleTimeoutMs} ms`, { hint: 'reconnect when there is a request to send' }));
    }, options.idleTimeoutMs).unref();
  };
  stream.once('close', () => {
    if (idleTimer) clearTimeout(idleTimer);
  });
  armIdle();

  stream.on('data', (chunk: Buffer) => {
    if (done) return;
    armIdle();
    try {
      for (const value of decoder.push(chunk)) queue.push(toEnvelope(value));
    } catch (err) {
      abort(err);
      return;
    }
    // Until a hello has arrived (answered, or queued in this very chunk), only a hello-sized frame may be pending.
    const beforeHello = version === 0 && !queue.some((m) => m.type === 'hello');
    if (beforeHello && options.maxHelloFrameBytes !== undefined && decoder.bufferedBytes > options.maxHelloFrameBytes + 4) {
      abort(new RpcError('RPC_LIMIT', `a frame larger than ${options.maxHelloFrameBytes} bytes before hello`, { category: 'input', details: { bytes: decoder.bufferedBytes } }));
      return;
    }
    if (!recharge()) {
      abort(
        new RpcError('RPC_LIMIT', `the server holds too many unfinished frames (${options.budget?.used ?? 0} of ${options.budget?.maxBytes ?? 0} bytes)`, {
          hint: 'retry later; send each frame whole, without pauses',
        }),
      );
      return;
    }
    pump();
  });
  stream.once('end', () => {
    if (done) return;
    try {
      decoder.end();
    } catch {
      // A truncated last frame: nothing to answer, the peer is gone.
    }
    ended = true;
    pump();
  });

  return {
    get inFlight() {
      return inFlight;
    },
    closed,
    close: () => {
      done = true;
      queue.length = 0;
      stream.destroy();
    },
  };
}
