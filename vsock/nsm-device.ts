/**
 * Raw access to the Nitro Security Module: open /dev/nsm and exchange one CBOR request for one
 * CBOR response through the NSM_IOCTL_RAW ioctl (in the addon, on the libuv threadpool). The
 * request and response shapes live in enclave-app/nsm; this file only moves bytes.
 */
import { constants } from 'node:os';
import { loadVsockAddon, type VsockAddon } from './addon.js';
import { errnoName } from './errno.js';
import { NsmDeviceError } from './errors.js';

/** Largest request the device accepts (bytes). */
export const NSM_REQUEST_MAX_BYTES = 4096;
/** Size of the response buffer handed to the device (bytes). */
export const NSM_RESPONSE_MAX_BYTES = 0x3000;

/** An open /dev/nsm. */
export interface NsmDevice {
  /** Sends one CBOR request, resolves with the CBOR response bytes. */
  request(cbor: Uint8Array): Promise<Uint8Array>;
  /** Closes the descriptor; later requests fail with NSM_DEVICE_UNAVAILABLE. */
  close(): void;
}

const UNAVAILABLE_HINT = '/dev/nsm exists only inside a Nitro Enclave; outside one, use the simulated NSM';

function errnoOf(err: unknown): string | undefined {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' && errno > 0 ? errnoName(errno) : undefined;
}

function deviceError(err: unknown, operation: string): NsmDeviceError {
  const name = errnoOf(err);
  if (name === 'EMSGSIZE') {
    return new NsmDeviceError('NSM_DEVICE_REQUEST_TOO_LARGE', `NSM request exceeds ${NSM_REQUEST_MAX_BYTES} bytes`, {
      category: 'input',
      cause: err,
    });
  }
  const unavailable = name === 'ENOENT' || name === 'ENODEV' || name === 'ENXIO' || name === 'EACCES' || name === 'EPERM' || name === 'EBADF';
  return new NsmDeviceError(
    unavailable ? 'NSM_DEVICE_UNAVAILABLE' : 'NSM_DEVICE_IO',
    `${operation} failed: ${name ?? 'unknown error'}`,
    {
      cause: err,
      details: { errno: name ?? 'unknown' },
      ...(unavailable
        ? { hint: name === 'EACCES' || name === 'EPERM' ? 'the NSM ioctl needs root (CAP_SYS_ADMIN) inside the enclave' : UNAVAILABLE_HINT }
        : {}),
    },
  );
}

/**
 * Opens /dev/nsm. Throws NSM_DEVICE_UNAVAILABLE when the addon is not built, the device does not
 * exist (any machine that is not a Nitro Enclave) or cannot be opened.
 */
export function openNsmDevice(): NsmDevice {
  let addon: VsockAddon;
  try {
    addon = loadVsockAddon();
  } catch (err) {
    throw new NsmDeviceError('NSM_DEVICE_UNAVAILABLE', 'the native addon that talks to /dev/nsm is not built', {
      cause: err,
      hint: 'build it with `node vsock/native/build.mjs` inside the enclave image build, or use the simulated NSM',
    });
  }
  let fd: number;
  try {
    fd = addon.nsmOpen();
  } catch (err) {
    throw deviceError(err, 'open /dev/nsm');
  }
  return {
    async request(cbor: Uint8Array): Promise<Uint8Array> {
      if (fd < 0) throw new NsmDeviceError('NSM_DEVICE_UNAVAILABLE', 'the NSM device is closed');
      if (cbor.byteLength > NSM_REQUEST_MAX_BYTES) throw deviceError({ errno: constants.errno.EMSGSIZE }, 'NSM request');
      try {
        const response = await addon.nsmRequest(fd, cbor);
        return new Uint8Array(response);
      } catch (err) {
        throw deviceError(err, 'NSM ioctl');
      }
    },
    close(): void {
      if (fd < 0) return;
      try {
        addon.close(fd);
      } catch {
        // released either way
      }
      fd = -1;
    },
  };
}
