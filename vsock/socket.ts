/**
 * An AF_VSOCK connection as a Node Duplex stream, and `connectVsock` to open one.
 *
 * The descriptor is non-blocking; a libuv poll handle (the addon's Poller) says when it can be
 * read or written. Reads stop when the consumer stops pulling (backpressure), writes wait for
 * the socket to drain, and end() half-closes with shutdown(SHUT_WR) like net.Socket.
 */
import { Duplex } from 'node:stream';
import { loadVsockAddon, type NativePoller, type VsockAddon, type VsockAddress } from './addon.js';
import { vsockErrorFrom, vsockErrorFromErrno } from './errno.js';
import { VsockError } from './errors.js';

const READ_CHUNK = 64 * 1024;
const SHUT_WR = 1;

/** Options for `connectVsock`. */
export interface VsockConnectOptions {
  cid: number;
  port: number;
  /** Gives up with VSOCK_TIMEOUT after this long (the kernel's own limit is about 2 s). */
  timeoutMs?: number;
}

/** Checks a CID or port is an unsigned 32-bit integer; throws VSOCK_INVALID_ADDRESS otherwise. */
export function checkVsockNumber(value: unknown, what: 'cid' | 'port'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new VsockError('VSOCK_INVALID_ADDRESS', `vsock ${what} must be an integer from 0 to 4294967295`, {
      category: 'input',
    });
  }
  return value;
}

/** One AF_VSOCK stream connection (what `connectVsock` resolves to and servers hand out). */
export class VsockSocket extends Duplex {
  readonly remoteAddress: VsockAddress;
  readonly localAddress: VsockAddress;
  readonly #addon: VsockAddon;
  #fd: number;
  readonly #poller: NativePoller;
  readonly #scratch = Buffer.allocUnsafe(READ_CHUNK);
  #wantRead = false;
  #pending: { bytes: Uint8Array; done: (err?: Error | null) => void } | undefined;
  #events = 0;

  /** Wraps a connected descriptor; the socket owns it from now on. Use connectVsock instead. */
  constructor(addon: VsockAddon, fd: number, remote?: VsockAddress) {
    super({ allowHalfOpen: false, decodeStrings: true });
    this.#addon = addon;
    this.#fd = fd;
    this.#poller = new addon.Poller(fd, (status, events) => this.#onEvent(status, events));
    this.localAddress = safeAddress(() => addon.localAddress(fd));
    this.remoteAddress = remote ?? safeAddress(() => addon.remoteAddress(fd));
  }

  override _read(): void {
    this.#wantRead = true;
    this.#readAvailable();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#pending = { bytes: chunk, done };
    this.#flush();
  }

  override _final(done: (err?: Error | null) => void): void {
    try {
      if (this.#fd >= 0) this.#addon.shutdown(this.#fd, SHUT_WR);
      done();
    } catch (err) {
      done(vsockErrorFrom(err, 'shutdown'));
    }
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (this.#fd >= 0) {
      this.#poller.close();
      try {
        this.#addon.close(this.#fd);
      } catch {
        // the descriptor is released either way
      }
      this.#fd = -1;
    }
    pending?.done(err ?? new VsockError('VSOCK_CLOSED', 'vsock socket closed before the write completed'));
    done(err);
  }

  #readAvailable(): void {
    while (this.#wantRead && this.#fd >= 0) {
      let n: number;
      try {
        n = this.#addon.read(this.#fd, this.#scratch);
      } catch (err) {
        this.destroy(vsockErrorFrom(err, 'read'));
        return;
      }
      if (n < 0) break; // nothing more for now: wait for readable
      if (n === 0) {
        this.#wantRead = false;
        this.push(null);
        break;
      }
      // Copy out of the scratch buffer so small reads do not pin 64 KiB each.
      this.#wantRead = this.push(Buffer.from(this.#scratch.subarray(0, n)));
    }
    this.#updatePoll();
  }

  #flush(): void {
    const pending = this.#pending;
    if (pending === undefined || this.#fd < 0) return;
    let bytes = pending.bytes;
    while (bytes.byteLength > 0) {
      let n: number;
      try {
        n = this.#addon.write(this.#fd, bytes);
      } catch (err) {
        this.#pending = undefined;
        this.#updatePoll();
        pending.done(vsockErrorFrom(err, 'write'));
        return;
      }
      if (n < 0) break; // socket buffer full: wait for writable
      bytes = bytes.subarray(n);
    }
    if (bytes.byteLength === 0) {
      this.#pending = undefined;
      this.#updatePoll();
      pending.done();
    } else {
      pending.bytes = bytes;
      this.#updatePoll();
    }
  }

  #updatePoll(): void {
    if (this.#fd < 0) return;
    const wanted =
      (this.#wantRead ? this.#addon.POLL_READABLE : 0) | (this.#pending !== undefined ? this.#addon.POLL_WRITABLE : 0);
    if (wanted === this.#events) return;
    this.#events = wanted;
    try {
      this.#poller.start(wanted);
    } catch (err) {
      this.destroy(vsockErrorFrom(err, 'poll'));
    }
  }

  #onEvent(status: number, events: number): void {
    if (this.#fd < 0) return;
    if (status < 0) {
      this.destroy(vsockErrorFromErrno(-status, 'poll'));
      return;
    }
    if (events & this.#addon.POLL_WRITABLE) this.#flush();
    if (events & this.#addon.POLL_READABLE) this.#readAvailable();
  }
}

function safeAddress(get: () => VsockAddress): VsockAddress {
  try {
    return get();
  } catch {
    return { cid: -1, port: -1 };
  }
}

/** Waits until a connecting descriptor is writable (connected or failed), or the timeout. */
function waitConnected(addon: VsockAddon, fd: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const poller = new addon.Poller(fd, (status) => {
      finish(status < 0 ? vsockErrorFromErrno(-status, 'connect') : undefined);
    });
    const timer = setTimeout(() => {
      finish(new VsockError('VSOCK_TIMEOUT', `vsock connect timed out after ${timeoutMs} ms`, {
        hint: 'check the enclave CID (nitro-cli describe-enclaves) and that the enclave is up',
      }));
    }, timeoutMs);
    function finish(err: VsockError | undefined): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      poller.close();
      if (err) reject(err);
      else resolve();
    }
    try {
      poller.start(addon.POLL_WRITABLE);
    } catch (err) {
      finish(vsockErrorFrom(err, 'connect'));
    }
  });
}

/**
 * Opens an AF_VSOCK stream connection to `cid:port`, like net.connect. Rejects with a typed
 * VsockError: VSOCK_UNAVAILABLE (no addon / no AF_VSOCK), VSOCK_NO_DEVICE, VSOCK_CONNECT_REFUSED,
 * VSOCK_TIMEOUT, VSOCK_INVALID_ADDRESS, …
 */
export async function connectVsock(options: VsockConnectOptions): Promise<VsockSocket> {
  const addon = loadVsockAddon();
  const cid = checkVsockNumber(options.cid, 'cid');
  const port = checkVsockNumber(options.port, 'port');
  if (cid === addon.VMADDR_CID_ANY || port === addon.VMADDR_PORT_ANY) {
    throw new VsockError('VSOCK_INVALID_ADDRESS', 'connect needs a concrete CID and port (ANY is for listening)', {
      category: 'input',
    });
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  let fd: number;
  try {
    fd = addon.socket();
  } catch (err) {
    throw vsockErrorFrom(err, 'socket');
  }
  try {
    let connected: boolean;
    try {
      connected = addon.connect(fd, cid, port);
    } catch (err) {
      throw vsockErrorFrom(err, 'connect');
    }
    if (!connected) await waitConnected(addon, fd, timeoutMs);
    const pending = addon.socketError(fd);
    if (pending !== 0) throw vsockErrorFromErrno(pending, 'connect');
    return new VsockSocket(addon, fd, { cid, port });
  } catch (err) {
    try {
      addon.close(fd);
    } catch {
      // already released
    }
    throw err;
  }
}
