/**
 * Loads the optional native addon (vsock/native) and describes its surface. Nothing else in
 * attested-pack touches the .node file: callers get a typed object or a VSOCK_UNAVAILABLE error.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { attestedPackRoot, VSOCK_ADDON_RELATIVE_PATH, VSOCK_NOT_BUILT_RELATIVE_PATH } from '../common/package-root.js';
import { VsockError } from './errors.js';

/** A vsock endpoint: context id (machine) and port. */
export interface VsockAddress {
  cid: number;
  port: number;
}

/** libuv poll handle for one descriptor (events: 1 readable, 2 writable; 0 stops). */
export interface NativePoller {
  start(events: number): void;
  close(): void;
}

/** The functions of vsock/native/vsock.c. All throw Errors with `errno` and `syscall` on failure. */
export interface VsockAddon {
  readonly ABI_VERSION: number;
  readonly VMADDR_CID_ANY: number;
  readonly VMADDR_PORT_ANY: number;
  readonly VMADDR_CID_LOCAL: number;
  readonly VMADDR_CID_HOST: number;
  readonly POLL_READABLE: number;
  readonly POLL_WRITABLE: number;
  readonly NSM_IOCTL_RAW: number;
  readonly NSM_REQUEST_MAX: number;
  readonly NSM_RESPONSE_MAX: number;
  socket(): number;
  bind(fd: number, cid: number, port: number): void;
  listen(fd: number, backlog: number): void;
  /** True when connected at once; false when in progress (poll writable, then socketError). */
  connect(fd: number, cid: number, port: number): boolean;
  socketError(fd: number): number;
  accept(fd: number): (VsockAddress & { fd: number }) | null;
  /** Bytes read; 0 at end of stream; -1 when nothing is available yet. */
  read(fd: number, into: Uint8Array): number;
  /** Bytes written; -1 when the socket buffer is full. */
  write(fd: number, bytes: Uint8Array): number;
  shutdown(fd: number, how: 0 | 1 | 2): void;
  close(fd: number): void;
  localAddress(fd: number): VsockAddress;
  remoteAddress(fd: number): VsockAddress;
  localCid(): number;
  /** A connected AF_UNIX pair, for tests of the stream machinery only. */
  unixSocketPair(): [number, number];
  nsmOpen(): number;
  nsmRequest(fd: number, request: Uint8Array): Promise<Uint8Array>;
  /**
   * AES-256-GCM decryption of many values in one call (aes_gcm.c; enclave-app/sops/gcm-batch.ts).
   * Absent where the running Node does not export OpenSSL's EVP functions.
   */
  aesGcmOpenBatch?: (key: Uint8Array, src: Uint8Array, layout: Uint32Array, aad: Uint8Array, dst: Uint8Array, ivLength: number) => number;
  Poller: new (fd: number, onEvent: (status: number, events: number) => void) => NativePoller;
}

/** Environment variable naming an explicit addon file (tests use a bogus one to simulate absence). */
export const VSOCK_ADDON_ENV = 'ATTESTED_PACK_VSOCK_ADDON';
const EXPECTED_ABI = 2;

function candidates(): string[] {
  const explicit = process.env[VSOCK_ADDON_ENV];
  if (explicit !== undefined && explicit !== '') return [explicit];
  // Where `npm install` / `npm ci` built it (vsock/native/build.mjs) in the attested-pack package
  // this code runs from: the checkout from source, the installed package from its bundled dist/.
  // Inside the image, /env names the addon copied to /app instead.
  const root = attestedPackRoot();
  return root === undefined ? [] : [join(root, VSOCK_ADDON_RELATIVE_PATH)];
}

const cache = new Map<string, VsockAddon | VsockError>();

function tryLoad(paths: string[]): VsockAddon | VsockError {
  const require = createRequire(import.meta.url);
  let lastCause: unknown;
  for (const path of paths) {
    try {
      const addon = require(path) as VsockAddon;
      if (addon.ABI_VERSION !== EXPECTED_ABI) {
        return new VsockError('VSOCK_UNAVAILABLE', `the vsock addon at ${path} is a different build (ABI ${String(addon.ABI_VERSION)}, expected ${EXPECTED_ABI})`, {
          hint: 'rebuild it: node vsock/native/build.mjs',
        });
      }
      return addon;
    } catch (err) {
      lastCause = err;
    }
  }
  const root = attestedPackRoot();
  const where =
    paths.length > 0
      ? `looked for ${paths.join(', ')}`
      : `this code runs outside an attested-pack package and ${VSOCK_ADDON_ENV} is not set`;
  // Why the install did not build it — only when we looked where the install would have put it.
  const installed = root === undefined ? undefined : join(root, VSOCK_ADDON_RELATIVE_PATH);
  const skipped = installed !== undefined && paths.length === 1 && paths[0] === installed && !existsSync(installed) ? notBuiltReason(root!) : undefined;
  const build = root === undefined ? 'node vsock/native/build.mjs' : `node ${join(root, 'vsock/native/build.mjs')}`;
  return new VsockError(
    'VSOCK_UNAVAILABLE',
    skipped === undefined
      ? `the AF_VSOCK addon is not built or cannot be loaded (${where})`
      : `the AF_VSOCK addon was not built when attested-pack was installed: ${skipped}`,
    {
      hint:
        process.platform === 'linux'
          ? `build it with \`${build}\` (needs a C compiler, make and python3), or use a unix:// or tcp:// transport`
          : 'AF_VSOCK exists on Linux only; use a unix:// or tcp:// transport',
      cause: lastCause,
    },
  );
}

/** The reason vsock/native/build.mjs recorded for not building the addon, if it did. */
function notBuiltReason(root: string): string | undefined {
  try {
    const text = readFileSync(join(root, VSOCK_NOT_BUILT_RELATIVE_PATH), 'utf8').trim();
    return text === '' ? undefined : text.split('\n')[0];
  } catch {
    return undefined;
  }
}

/**
 * Returns the loaded addon, or throws VSOCK_UNAVAILABLE saying why and how to build it.
 * The result is cached per value of ATTESTED_PACK_VSOCK_ADDON.
 */
export function loadVsockAddon(): VsockAddon {
  const key = process.env[VSOCK_ADDON_ENV] ?? '';
  let result = cache.get(key);
  if (result === undefined) {
    result = tryLoad(candidates());
    cache.set(key, result);
  }
  if (result instanceof VsockError) {
    // A fresh error per call, so stack traces point at the caller.
    throw new VsockError(result.code, result.message, {
      ...(result.hint === undefined ? {} : { hint: result.hint }),
      cause: result.cause,
    });
  }
  return result;
}

/** True when the addon loads here (it may still find no AF_VSOCK support in the kernel). */
export function isVsockAddonAvailable(): boolean {
  try {
    loadVsockAddon();
    return true;
  } catch {
    return false;
  }
}
