/**
 * The NSM adapter: the `Nsm` interface the enclave app uses, and `NsmClient`, which implements
 * it over anything that exchanges NSM CBOR request bytes for response bytes — the real /dev/nsm
 * (RealNsm) or the simulated device (SimulatedNsm). Both modes therefore run the same codec and
 * the same error mapping; only the device differs.
 */
import { NsmDeviceError, type NsmDevice } from '../../vsock/index.js';
import { decodeNsmResponse, encodeNsmRequest, type NsmDescription, type NsmRequest, type NsmResponse } from './codec.js';
import { NsmError, nsmErrorFromWire } from './errors.js';

/** What to bind into an attestation document (absent fields are sent as CBOR null). */
export interface NsmAttestOptions {
  userData?: Uint8Array;
  nonce?: Uint8Array;
  publicKey?: Uint8Array;
}

/** The Nitro Security Module as the enclave app needs it. */
export interface Nsm {
  /** Returns a signed attestation document (COSE_Sign1 bytes). */
  attest(options?: NsmAttestOptions): Promise<Uint8Array>;
  /** Returns the module's description (version, module id, PCR count, locked PCRs, digest). */
  describe(): Promise<NsmDescription>;
  /** Returns random bytes from the NSM (up to 256). */
  getRandom(): Promise<Uint8Array>;
}

/** A PCR's value and whether it is locked. */
export interface NsmPcr {
  lock: boolean;
  data: Uint8Array;
}

/** PCR operations (PCR16..31 are the application's to extend and lock). */
export interface NsmPcrControl {
  describePcr(index: number): Promise<NsmPcr>;
  /** Extends PCR `index` with `data`; returns the new value. */
  extendPcr(index: number, data: Uint8Array): Promise<Uint8Array>;
  lockPcr(index: number): Promise<void>;
  /** Locks PCRs [0, range). */
  lockPcrs(range: number): Promise<void>;
}

const UNAVAILABLE_HINT = '/dev/nsm exists only inside a Nitro Enclave; use the simulated NSM elsewhere';

/** Turns a device failure into an NsmError (the device layer does not know NSM semantics). */
function fromDevice(err: unknown, operation: string): NsmError {
  if (err instanceof NsmError) return err;
  if (err instanceof NsmDeviceError) {
    switch (err.code) {
      case 'NSM_DEVICE_UNAVAILABLE':
        return new NsmError('NSM_UNAVAILABLE', `NSM unavailable for ${operation}: ${err.message}`, {
          hint: err.hint ?? UNAVAILABLE_HINT,
          cause: err,
        });
      case 'NSM_DEVICE_REQUEST_TOO_LARGE':
        return new NsmError('NSM_INPUT_TOO_LARGE', `${operation} request exceeds the NSM's 4096-byte limit`, { category: 'input', cause: err });
      case 'NSM_DEVICE_IO':
        return new NsmError('NSM_IO', `NSM ${operation} failed: ${err.message}`, { cause: err });
    }
  }
  return new NsmError('NSM_IO', `NSM ${operation} failed`, { cause: err });
}

/** Implements Nsm and NsmPcrControl over an NSM device (opened lazily, on first use). */
export class NsmClient implements Nsm, NsmPcrControl {
  readonly #open: () => NsmDevice;
  #device: NsmDevice | undefined;

  /** `device` is the device, or a function that opens it (called on first use, again after a failure). */
  constructor(device: NsmDevice | (() => NsmDevice)) {
    this.#open = typeof device === 'function' ? device : () => device;
  }

  async attest(options: NsmAttestOptions = {}): Promise<Uint8Array> {
    const answer = await this.#call(
      { type: 'Attestation', userData: options.userData ?? null, nonce: options.nonce ?? null, publicKey: options.publicKey ?? null },
      'Attestation',
    );
    return answer.document;
  }

  async describe(): Promise<NsmDescription> {
    const { type: _type, ...description } = await this.#call({ type: 'DescribeNSM' }, 'DescribeNSM');
    return description;
  }

  async getRandom(): Promise<Uint8Array> {
    return (await this.#call({ type: 'GetRandom' }, 'GetRandom')).random;
  }

  async describePcr(index: number): Promise<NsmPcr> {
    const { lock, data } = await this.#call({ type: 'DescribePCR', index }, 'DescribePCR');
    return { lock, data };
  }

  async extendPcr(index: number, data: Uint8Array): Promise<Uint8Array> {
    return (await this.#call({ type: 'ExtendPCR', index, data }, 'ExtendPCR')).data;
  }

  async lockPcr(index: number): Promise<void> {
    await this.#call({ type: 'LockPCR', index }, 'LockPCR');
  }

  async lockPcrs(range: number): Promise<void> {
    await this.#call({ type: 'LockPCRs', range }, 'LockPCRs');
  }

  /** Closes the device; a later call opens it again. */
  close(): void {
    this.#device?.close();
    this.#device = undefined;
  }

  async #call<T extends NsmResponse['type']>(request: NsmRequest, expect: T): Promise<Extract<NsmResponse, { type: T }>> {
    const bytes = encodeNsmRequest(request);
    let answer: Uint8Array;
    try {
      this.#device ??= this.#open();
      answer = await this.#device.request(bytes);
    } catch (err) {
      throw fromDevice(err, request.type);
    }
    const response = decodeNsmResponse(answer);
    if (response.type === 'Error') throw nsmErrorFromWire(response.error, request.type);
    if (response.type !== expect) {
      throw new NsmError('NSM_UNEXPECTED_RESPONSE', `NSM answered ${request.type} with ${response.type}`, { category: 'internal' });
    }
    return response as Extract<NsmResponse, { type: T }>;
  }
}
