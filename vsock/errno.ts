/**
 * Maps the errno values the kernel gives AF_VSOCK sockets to typed `VsockError` codes, with a
 * hint for the ones an operator can act on.
 */
import { constants } from 'node:os';
import { VsockError, type VsockErrorCode } from './errors.js';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name] as [number, string]),
);

/** The symbolic name (e.g. `ECONNREFUSED`) of a positive errno number, or `E<n>` when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

const CODES: Readonly<Record<string, VsockErrorCode>> = {
  EAFNOSUPPORT: 'VSOCK_UNAVAILABLE',
  EPROTONOSUPPORT: 'VSOCK_UNAVAILABLE',
  ESOCKTNOSUPPORT: 'VSOCK_UNAVAILABLE',
  ENODEV: 'VSOCK_NO_DEVICE',
  ECONNREFUSED: 'VSOCK_CONNECT_REFUSED',
  ECONNRESET: 'VSOCK_RESET',
  EPIPE: 'VSOCK_RESET',
  ETIMEDOUT: 'VSOCK_TIMEOUT',
  ENETUNREACH: 'VSOCK_UNREACHABLE',
  EHOSTUNREACH: 'VSOCK_UNREACHABLE',
  EADDRINUSE: 'VSOCK_ADDRESS_IN_USE',
  EADDRNOTAVAIL: 'VSOCK_ADDRESS_NOT_AVAILABLE',
  EINVAL: 'VSOCK_INVALID_ADDRESS',
  EACCES: 'VSOCK_PERMISSION',
  EPERM: 'VSOCK_PERMISSION',
  EBADF: 'VSOCK_CLOSED',
  ENOTCONN: 'VSOCK_CLOSED',
};

const HINTS: Partial<Record<VsockErrorCode, string>> = {
  VSOCK_UNAVAILABLE: 'this kernel has no AF_VSOCK support; use a unix:// or tcp:// transport in simulation',
  VSOCK_NO_DEVICE:
    'no vsock transport is loaded (not in a Nitro Enclave or VM, and no vsock_loopback); use unix:// or tcp:// to simulate',
  VSOCK_CONNECT_REFUSED: 'nothing listens on that CID and port; check the enclave is running (nitro-cli describe-enclaves) and the port',
  VSOCK_TIMEOUT: 'the peer did not answer in time; check the CID (nitro-cli describe-enclaves) and that the enclave is up',
  VSOCK_UNREACHABLE: 'no route to that CID; check the enclave CID with nitro-cli describe-enclaves',
  VSOCK_ADDRESS_IN_USE: 'another process listens on that vsock port; pick another port or stop it',
  VSOCK_ADDRESS_NOT_AVAILABLE: 'bind to VMADDR_CID_ANY (vsock://ANY:PORT) or to this machine\'s own CID',
  VSOCK_PERMISSION: 'the operation needs more privileges (root or CAP_NET_BIND_SERVICE for low ports)',
};

/** Turns an errno (positive number) from a vsock syscall into a typed error. */
export function vsockErrorFromErrno(errno: number, operation: string, cause?: unknown): VsockError {
  const name = errnoName(errno);
  const code = CODES[name] ?? 'VSOCK_IO';
  const hint = HINTS[code];
  return new VsockError(code, `vsock ${operation} failed: ${name}`, {
    details: { errno: name, operation },
    cause,
    ...(hint === undefined ? {} : { hint }),
  });
}

/**
 * Wraps whatever the addon threw: errors carrying `errno` become typed codes, anything else
 * (argument checks) becomes VSOCK_IO without leaking its text.
 */
export function vsockErrorFrom(err: unknown, operation: string): VsockError {
  if (err instanceof VsockError) return err;
  const errno = (err as { errno?: unknown } | null)?.errno;
  if (typeof errno === 'number' && errno > 0) return vsockErrorFromErrno(errno, operation, err);
  return new VsockError('VSOCK_IO', `vsock ${operation} failed`, { cause: err });
}
