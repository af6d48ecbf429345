/**
 * One way to name and open the host↔enclave link, whatever carries it:
 *   vsock://CID:PORT        AF_VSOCK (real enclaves); CID may be ANY and PORT may be ANY to listen
 *   unix:///path/to/x.sock  a unix domain socket (simulation)
 *   tcp://127.0.0.1:PORT    loopback TCP (simulation); other hosts only with allowNonLoopbackTcp
 * Every connection is a Duplex byte stream; frames and RPC sit on top and never know which.
 */
import { lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { loadVsockAddon } from './addon.js';
import { TransportError, type TransportErrorCode } from './errors.js';
import { VsockServer } from './server.js';
import { connectVsock, type VsockSocket } from './socket.js';

/** A parsed transport URL. */
export type TransportAddress =
  | { kind: 'vsock'; cid: number | 'ANY'; port: number | 'ANY' }
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number };

/** Options for parsing and opening transports. */
export interface TransportOptions {
  /** Permit tcp:// to a non-loopback host. Off by default: the link carries credentials. */
  allowNonLoopbackTcp?: boolean;
}

/** Options for connectTransport. */
export interface ConnectTransportOptions extends TransportOptions {
  /** Connection timeout (default 10 s). */
  timeoutMs?: number;
}

/** Options for listenTransport. */
export interface ListenTransportOptions extends TransportOptions {
  backlog?: number;
}

/** A listening transport. */
export interface TransportServer {
  /** The bound address as a URL (the real port when "any port" was asked for). */
  readonly url: string;
  readonly address: TransportAddress;
  /** Stops listening and destroys the connections it accepted (removes a unix socket file). */
  close(): Promise<void>;
}

const UNIX_PATH_MAX = 107; // sun_path is 108 bytes including the terminating NUL

function invalid(url: string, why: string): TransportError {
  return new TransportError('TRANSPORT_URL_INVALID', `invalid transport URL ${JSON.stringify(url)}: ${why}`, {
    category: 'input',
    hint: 'use vsock://CID:PORT, unix:///path/to/socket or tcp://127.0.0.1:PORT',
  });
}

function parsePort(url: string, text: string, allowAny: boolean, max: number): number | 'ANY' {
  if (allowAny && text.toUpperCase() === 'ANY') return 'ANY';
  if (!/^[0-9]{1,10}$/.test(text)) throw invalid(url, `port ${JSON.stringify(text)} is not a number`);
  const port = Number(text);
  if (port > max) throw invalid(url, `port ${port} is out of range`);
  return port;
}

/** True for 127.0.0.0/8 and ::1 (literal addresses only; names are not resolved). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (net.isIPv4(bare)) return bare.split('.')[0] === '127';
  if (net.isIPv6(bare)) {
    const lower = bare.toLowerCase();
    return lower === '::1' || lower === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(lower);
  }
  return false;
}

/** Parses a transport URL; throws TRANSPORT_URL_INVALID or TRANSPORT_NOT_LOOPBACK. */
export function parseTransportUrl(url: string, options: TransportOptions = {}): TransportAddress {
  const match = /^([a-z]+):\/\/(.*)$/s.exec(url);
  if (match === null) throw invalid(url, 'missing scheme');
  const [, scheme, rest] = match;
  switch (scheme) {
    case 'vsock': {
      const m = /^([^:/]+):([^:/]+)$/.exec(rest);
      if (m === null) throw invalid(url, 'expected vsock://CID:PORT');
      const cid = parsePort(url, m[1], true, 0xffffffff);
      const port = parsePort(url, m[2], true, 0xffffffff);
      return { kind: 'vsock', cid, port };
    }
    case 'unix': {
      if (!rest.startsWith('/')) throw invalid(url, 'expected unix:///absolute/path');
      let path: string;
      try {
        path = decodeURIComponent(rest);
      } catch {
        throw invalid(url, 'bad percent-encoding in the path');
      }
      if (path.includes('\0')) throw invalid(url, 'NUL in the path');
      if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
        throw invalid(url, `unix socket paths are limited to ${UNIX_PATH_MAX} bytes`);
      }
      return { kind: 'unix', path };
    }
    case 'tcp': {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:/[\]]+):([^:/]+)\/?$/.exec(rest);
      if (m === null) throw invalid(url, 'expected tcp://HOST:PORT');
      const host = m[1];
      const port = parsePort(url, m[2], false, 65535) as number;
      if (!options.allowNonLoopbackTcp && !isLoopbackHost(host)) {
        throw new TransportError('TRANSPORT_NOT_LOOPBACK', `tcp transport to ${host} refused: only loopback addresses are allowed`, {
          category: 'input',
          hint: 'use 127.0.0.1 (or ::1), a unix:// socket, or vsock:// for a real enclave',
        });
      }
      return { kind: 'tcp', host: host.startsWith('[') ? host.slice(1, -1) : host, port };
    }
    default:
      throw invalid(url, `unknown scheme ${JSON.stringify(scheme)}`);
  }
}

/** Formats an address back into its URL form. */
export function formatTransportUrl(address: TransportAddress): string {
  switch (address.kind) {
    case 'vsock':
      return `vsock://${address.cid}:${address.port}`;
    case 'unix':
      return `unix://${address.path.split('/').map(encodeURIComponent).join('/')}`;
    case 'tcp':
      return `tcp://${net.isIPv6(address.host) ? `[${address.host}]` : address.host}:${address.port}`;
  }
}

const NET_CODES: Readonly<Record<string, TransportErrorCode>> = {
  ECONNREFUSED: 'TRANSPORT_CONNECT_REFUSED',
  ENOENT: 'TRANSPORT_NOT_FOUND',
  ETIMEDOUT: 'TRANSPORT_TIMEOUT',
  EADDRINUSE: 'TRANSPORT_ADDRESS_IN_USE',
  EACCES: 'TRANSPORT_PERMISSION',
  EPERM: 'TRANSPORT_PERMISSION',
};

function netError(err: unknown, operation: string, url: string): TransportError {
  const code = (err as { code?: unknown } | null)?.code;
  const name = typeof code === 'string' ? code : 'unknown error';
  const typed = NET_CODES[name] ?? 'TRANSPORT_IO';
  const hints: Partial<Record<TransportErrorCode, string>> = {
    TRANSPORT_CONNECT_REFUSED: 'nothing is listening there; start the enclave app (or the simulator) first',
    TRANSPORT_NOT_FOUND: 'the unix socket does not exist; start the enclave app (or the simulator) first',
    TRANSPORT_ADDRESS_IN_USE: 'another process is listening there; pick another address or stop it',
  };
  const hint = hints[typed];
  return new TransportError(typed, `${operation} ${url} failed: ${name}`, {
    cause: err,
    details: { errno: name },
    ...(hint === undefined ? {} : { hint }),
  });
}

function connectNet(options: net.NetConnectOpts, url: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TransportError('TRANSPORT_TIMEOUT', `connect ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(netError(err, 'connect', url));
    });
  });
}

/**
 * Opens a connection to a transport URL. Rejects with TransportError (unix/tcp) or VsockError
 * (vsock), always typed.
 */
export async function connectTransport(url: string, options: ConnectTransportOptions = {}): Promise<Duplex> {
  const address = parseTransportUrl(url, options);
  const timeoutMs = options.timeoutMs ?? 10_000;
  switch (address.kind) {
    case 'vsock':
      if (address.cid === 'ANY' || address.port === 'ANY') {
        throw invalid(url, 'connect needs a concrete CID and port (ANY is for listening)');
      }
      return connectVsock({ cid: address.cid, port: address.port, timeoutMs });
    case 'unix':
      return connectNet({ path: address.path }, url, timeoutMs);
    case 'tcp':
      return connectNet({ host: address.host, port: address.port }, url, timeoutMs);
  }
}

/** Removes a unix socket file left by a dead process (only if it is a socket nobody answers on). */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return;
  }
  if (!isSocket) return;
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (!alive) await unlink(path).catch(() => undefined);
}

function listenNet(server: net.Server, options: net.ListenOptions, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(netError(err, 'listen', url));
    server.once('error', onError);
    server.listen(options, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

/**
 * Listens on a transport URL and calls `onConnection` with each accepted connection (a Duplex).
 * Resolves once bound, with the bound address and `close()`.
 */
export async function listenTransport(
  url: string,
  onConnection: (connection: Duplex) => void,
  options: ListenTransportOptions = {},
): Promise<TransportServer> {
  const address = parseTransportUrl(url, options);
  const backlog = options.backlog ?? 128;

  if (address.kind === 'vsock') {
    const addon = loadVsockAddon();
    const server = new VsockServer(addon, (socket: VsockSocket) => onConnection(socket));
    const bound = await server.listen({
      cid: address.cid === 'ANY' ? addon.VMADDR_CID_ANY : address.cid,
      port: address.port === 'ANY' ? addon.VMADDR_PORT_ANY : address.port,
      backlog,
    });
    const boundAddress: TransportAddress = {
      kind: 'vsock',
      cid: bound.cid === addon.VMADDR_CID_ANY ? 'ANY' : bound.cid,
      port: bound.port,
    };
    return { url: formatTransportUrl(boundAddress), address: boundAddress, close: () => server.close() };
  }

  const connections = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: false }, (socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    onConnection(socket);
  });
  // Accept errors on an individual connection belong to its owner, not the server.
  server.on('error', () => undefined);
  let boundAddress: TransportAddress;
  if (address.kind === 'unix') {
    await removeStaleSocket(address.path);
    await listenNet(server, { path: address.path, backlog }, url);
    boundAddress = address;
  } else {
    await listenNet(server, { host: address.host, port: address.port, backlog }, url);
    const info = server.address() as net.AddressInfo;
    boundAddress = { kind: 'tcp', host: address.host, port: info.port };
  }
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of connections) socket.destroy();
      connections.clear();
    });
    return closed;
  };
  return { url: formatTransportUrl(boundAddress), address: boundAddress, close };
}
