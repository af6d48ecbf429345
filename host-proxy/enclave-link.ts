/**
 * What the HTTP layer needs from the enclave: typed request/response calls with a timeout.
 * `EnclaveClient` (enclave-client.ts) implements it over the vsock RPC client; tests may use a
 * fake for pure HTTP-layer checks.
 */
import type {
  AttestRequest,
  AttestResponse,
  HealthResponse,
  PackRequest,
  PackResponse,
  UnsealRequest,
  UnsealResponse,
} from '../enclave-app/protocol.js';

/** Request and response bodies of each enclave call (protocol.ts). */
export interface EnclaveCalls {
  pack: { request: PackRequest; response: PackResponse };
  attest: { request: AttestRequest; response: AttestResponse };
  health: { request: Record<string, never>; response: HealthResponse };
  unseal: { request: UnsealRequest; response: UnsealResponse };
}

export type EnclaveCallType = keyof EnclaveCalls;

/**
 * A connection (or a reconnecting set of connections) to the enclave. Errors are
 * `AttestedPackError`s: the enclave's own `ErrorResponse` as `EnclaveError` (code and category
 * unchanged), or HostProxyError ENCLAVE_UNAVAILABLE / ENCLAVE_TIMEOUT / ENCLAVE_PROTOCOL.
 */
export interface EnclaveLink {
  request<T extends EnclaveCallType>(type: T, body: EnclaveCalls[T]['request'], options: { timeoutMs: number }): Promise<EnclaveCalls[T]['response']>;
  close(): Promise<void>;
  /** Whether a connection is open now (undefined: the link cannot tell). Asking costs the enclave nothing. */
  readonly connected?: boolean;
}
