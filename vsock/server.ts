/**
 * An AF_VSOCK listening socket, shaped like net.Server: `createVsockServer(handler)` then
 * `listen({cid?, port})`; every accepted connection is a VsockSocket passed to the handler.
 */
import { EventEmitter } from 'node:events';
import { loadVsockAddon, type NativePoller, type VsockAddon, type VsockAddress } from './addon.js';
import { vsockErrorFrom, vsockErrorFromErrno } from './errno.js';
import { VsockError } from './errors.js';
import { checkVsockNumber, VsockSocket } from './socket.js';

/** Where to listen. `cid` defaults to VMADDR_CID_ANY; `port` omitted means any free port. */
export interface VsockListenOptions {
  cid?: number;
  port?: number;
  backlog?: number;
}

/** A vsock server; emits 'connection' (VsockSocket) and, if anyone listens, 'error'. */
export class VsockServer extends EventEmitter {
  readonly #addon: VsockAddon;
  #fd = -1;
  #poller: NativePoller | undefined;
  #address: VsockAddress | undefined;
  readonly #connections = new Set<VsockSocket>();

  /** Use createVsockServer. */
  constructor(addon: VsockAddon, onConnection?: (socket: VsockSocket) => void) {
    super();
    this.#addon = addon;
    if (onConnection) this.on('connection', onConnection);
  }

  /** The bound address (the real port when listening on "any port"), once listening. */
  address(): VsockAddress | undefined {
    return this.#address;
  }

  /** True between a successful listen() and close(). */
  get listening(): boolean {
    return this.#fd >= 0;
  }

  /**
   * Binds and listens; resolves with the bound address. Rejects with VSOCK_ADDRESS_IN_USE,
   * VSOCK_ADDRESS_NOT_AVAILABLE (a CID that is not this machine's), VSOCK_UNAVAILABLE, …
   */
  async listen(options: VsockListenOptions = {}): Promise<VsockAddress> {
    if (this.#fd >= 0) throw new VsockError('VSOCK_IO', 'vsock server is already listening', { category: 'internal' });
    const addon = this.#addon;
    const cid = options.cid === undefined ? addon.VMADDR_CID_ANY : checkVsockNumber(options.cid, 'cid');
    const port = options.port === undefined ? addon.VMADDR_PORT_ANY : checkVsockNumber(options.port, 'port');
    const backlog = options.backlog ?? 128;
    let fd: number;
    try {
      fd = addon.socket();
    } catch (err) {
      throw vsockErrorFrom(err, 'socket');
    }
    let step = 'bind';
    try {
      addon.bind(fd, cid, port);
      step = 'listen';
      addon.listen(fd, backlog);
      step = 'getsockname';
      this.#address = addon.localAddress(fd);
      step = 'poll';
      this.#poller = new addon.Poller(fd, (status) => this.#onReadable(status));
      this.#fd = fd;
      this.#poller.start(addon.POLL_READABLE);
    } catch (err) {
      this.#poller?.close();
      this.#poller = undefined;
      this.#fd = -1;
      this.#address = undefined;
      try {
        addon.close(fd);
      } catch {
        // released either way
      }
      throw vsockErrorFrom(err, step);
    }
    return this.#address;
  }

  /** Stops listening and destroys the connections it accepted. Idempotent. */
  async close(): Promise<void> {
    if (this.#fd >= 0) {
      this.#poller?.close();
      this.#poller = undefined;
      try {
        this.#addon.close(this.#fd);
      } catch {
        // released either way
      }
      this.#fd = -1;
    }
    for (const socket of this.#connections) socket.destroy();
    this.#connections.clear();
    this.emit('close');
  }

  #onReadable(status: number): void {
    if (this.#fd < 0) return;
    if (status < 0) {
      this.#report(vsockErrorFromErrno(-status, 'accept'));
      return;
    }
    for (;;) {
      let accepted: ReturnType<VsockAddon['accept']>;
      try {
        accepted = this.#addon.accept(this.#fd);
      } catch (err) {
        // ECONNABORTED, EMFILE…: report and keep listening; the next readiness retries.
        this.#report(vsockErrorFrom(err, 'accept'));
        return;
      }
      if (accepted === null) return;
      let socket: VsockSocket;
      try {
        socket = new VsockSocket(this.#addon, accepted.fd, { cid: accepted.cid, port: accepted.port });
      } catch (err) {
        try {
          this.#addon.close(accepted.fd);
        } catch {
          // released either way
        }
        this.#report(vsockErrorFrom(err, 'accept'));
        continue;
      }
      this.#connections.add(socket);
      socket.once('close', () => this.#connections.delete(socket));
      this.emit('connection', socket);
    }
  }

  #report(err: VsockError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/** Creates a vsock server (like net.createServer); throws VSOCK_UNAVAILABLE without the addon. */
export function createVsockServer(onConnection?: (socket: VsockSocket) => void): VsockServer {
  return new VsockServer(loadVsockAddon(), onConnection);
}
