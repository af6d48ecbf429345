/**
 * enclave-app/nsm: the Nitro Security Module adapter — the `Nsm` interface, the /dev/nsm CBOR
 * codec, RealNsm (the device, via the vsock/native addon) and SimulatedNsm (same codec, a
 * simulated device signing under attestation/'s simulated PKI).
 */
export { NsmError, nsmErrorFromWire, NSM_WIRE_ERRORS, type NsmErrorCode, type NsmWireError } from './errors.js';
export {
  encodeNsmRequest,
  decodeNsmRequest,
  encodeNsmResponse,
  decodeNsmResponse,
  type NsmRequest,
  type NsmResponse,
  type NsmDescription,
  type NsmDigest,
} from './codec.js';
export { NsmClient, type Nsm, type NsmAttestOptions, type NsmPcr, type NsmPcrControl } from './client.js';
export { RealNsm } from './real.js';
export { SimulatedNsm, SimulatedNsmDevice, type SimulatedNsmOptions } from './simulated.js';
