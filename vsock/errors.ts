/**
 * The typed errors of vsock/: one class per concern (sockets, transports, frames, RPC), each
 * with a closed union of stable codes. Messages name what went wrong and never carry payload bytes.
 */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';

/** Codes raised by the AF_VSOCK socket layer (vsock/socket.ts, vsock/server.ts). */
export type VsockErrorCode =
  /** The addon is not built/loadable, or the kernel has no AF_VSOCK (EAFNOSUPPORT). */
  | 'VSOCK_UNAVAILABLE'
  /** No vsock transport device (ENODEV), e.g. not in a VM and no vsock_loopback. */
  | 'VSOCK_NO_DEVICE'
  | 'VSOCK_CONNECT_REFUSED'
  | 'VSOCK_RESET'
  | 'VSOCK_TIMEOUT'
  | 'VSOCK_UNREACHABLE'
  | 'VSOCK_ADDRESS_IN_USE'
  /** The CID is not one of this machine's (EADDRNOTAVAIL on bind). */
  | 'VSOCK_ADDRESS_NOT_AVAILABLE'
  | 'VSOCK_INVALID_ADDRESS'
  | 'VSOCK_PERMISSION'
  | 'VSOCK_CLOSED'
  | 'VSOCK_IO';

/** A failure of an AF_VSOCK socket, with the errno behind it in `details` when there is one. */
export class VsockError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'unavailable';
  declare readonly code: VsockErrorCode;
  constructor(code: VsockErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

/** Codes raised while parsing transport URLs and opening unix/tcp transports. */
export type TransportErrorCode =
  | 'TRANSPORT_URL_INVALID'
  /** A tcp:// address that is not loopback, without `allowNonLoopbackTcp`. */
  | 'TRANSPORT_NOT_LOOPBACK'
  | 'TRANSPORT_CONNECT_REFUSED'
  | 'TRANSPORT_NOT_FOUND'
  | 'TRANSPORT_TIMEOUT'
  | 'TRANSPORT_ADDRESS_IN_USE'
  | 'TRANSPORT_PERMISSION'
  | 'TRANSPORT_IO';

/** A failure to reach or open a unix:// or tcp:// transport, or a bad transport URL. */
export class TransportError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'unavailable';
  declare readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

/** Codes raised by the length-prefixed CBOR frame codec (vsock/frames.ts, vsock/cbor.ts). */
export type FrameErrorCode =
  /** The length prefix announces more than the configured maximum. */
  | 'FRAME_TOO_LARGE'
  /** The body is not strict CBOR of the accepted subset, or not an envelope. */
  | 'FRAME_MALFORMED'
  /** The stream ended in the middle of a frame. */
  | 'FRAME_TRUNCATED'
  /** A value we were asked to send cannot be expressed in the accepted CBOR subset. */
  | 'FRAME_UNENCODABLE';

/** A frame that cannot be read or written; the connection carrying it is closed. */
export class FrameError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
  declare readonly code: FrameErrorCode;
  constructor(code: FrameErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

/** Codes raised by the request/response layer (vsock/rpc.ts). */
export type RpcErrorCode =
  /** The peers share no protocol version, or a message carried another version. */
  | 'PROTOCOL_VERSION'
  | 'RPC_TIMEOUT'
  /** The connection closed (or was closed) before the answer arrived. */
  | 'RPC_CLOSED'
  /** The peer sent something the protocol does not allow (unknown id, wrong type, bad body). */
  | 'RPC_PROTOCOL'
  /** The server has no handler for a request type. */
  | 'RPC_UNKNOWN_TYPE'
  /** A server limit was reached (connections, bytes buffered per connection or in total); the connection is closed. */
  | 'RPC_LIMIT';

/** A failure of the request/response exchange itself (not of the remote operation). */
export class RpcError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'unavailable';
  declare readonly code: RpcErrorCode;
  constructor(code: RpcErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

/**
 * The remote side answered with `{type: 'error'}`: carries the remote's own code, message, hint
 * and category unchanged, so callers branch on e.g. `SOPS_MAC_MISMATCH` as if it were local.
 */
export class RpcRemoteError extends AttestedPackError {
  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

/** Codes raised by the raw /dev/nsm device access (vsock/nsm-device.ts). */
export type NsmDeviceErrorCode =
  /** No addon, no /dev/nsm (not inside a Nitro Enclave), or no permission to open it. */
  | 'NSM_DEVICE_UNAVAILABLE'
  /** The request exceeds the 4096-byte device limit (EMSGSIZE). */
  | 'NSM_DEVICE_REQUEST_TOO_LARGE'
  | 'NSM_DEVICE_IO';

/** A failure to reach the Nitro Security Module device; enclave-app/nsm turns these into NsmError. */
export class NsmDeviceError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'unavailable';
  declare readonly code: NsmDeviceErrorCode;
  constructor(code: NsmDeviceErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}
