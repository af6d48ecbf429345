/**
 * vsock/: the host↔enclave link. An AF_VSOCK N-API addon with a net-like Duplex API, unix and
 * loopback-tcp transports behind one URL-chosen interface, the length-prefixed CBOR frame codec,
 * the multiplexing RPC layer on top, and raw /dev/nsm access for enclave-app/nsm.
 */
export * from './errors.js';
export { errnoName, vsockErrorFromErrno } from './errno.js';
export { loadVsockAddon, isVsockAddonAvailable, VSOCK_ADDON_ENV, type VsockAddress } from './addon.js';
export { connectVsock, VsockSocket, type VsockConnectOptions } from './socket.js';
export { createVsockServer, VsockServer, type VsockListenOptions } from './server.js';
export {
  connectTransport,
  listenTransport,
  parseTransportUrl,
  formatTransportUrl,
  isLoopbackHost,
  type TransportAddress,
  type TransportOptions,
  type ConnectTransportOptions,
  type ListenTransportOptions,
  type TransportServer,
} from './transport.js';
export { checkStrictCbor, decodeStrictCbor, encodeStrictCbor, DEFAULT_MAX_CBOR_DEPTH, type CborLimits } from './cbor.js';
export {
  encodeFrame,
  FrameDecoder,
  toEnvelope,
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  type Envelope,
  type FrameOptions,
} from './frames.js';
export {
  RpcClient,
  serveRpc,
  RpcByteBudget,
  DEFAULT_RPC_VERSIONS,
  type RpcClientOptions,
  type RpcRequestOptions,
  type RpcHandler,
  type RpcRequestContext,
  type ServeRpcOptions,
  type RpcConnection,
  type RpcErrorBody,
} from './rpc.js';
export { openNsmDevice, NSM_REQUEST_MAX_BYTES, NSM_RESPONSE_MAX_BYTES, type NsmDevice } from './nsm-device.js';
