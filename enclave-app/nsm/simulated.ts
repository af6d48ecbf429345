/**
 * SimulatedNsm: an NSM for simulation mode that speaks the same CBOR as /dev/nsm. A simulated
 * device keeps 32 SHA-384 PCRs — PCR0/1/2(/8) from the eif-build measurements of the code being
 * run, PCR3/PCR4 from the parent's role ARN and instance ID — locks 0..15 as the hypervisor does,
 * lets the application extend and lock 16..31, and signs attestation documents with attestation/'s
 * simulated NSM PKI. SimulatedNsm is the ordinary NsmClient over that device, so simulation runs
 * the real request/response codec and error mapping.
 */
import { randomBytes } from 'node:crypto';
import { fromHex, toHex } from '../../common/bytes.js';
import type { Measurements } from '../../common/measurements.js';
import { extendPcr, normalizePcrHex, pcr3ForRoleArn, pcr4ForInstanceId, PCR_LENGTH, type SimulatedNsmPki } from '../../attestation/index.js';
import { NsmDeviceError, NSM_REQUEST_MAX_BYTES, NSM_RESPONSE_MAX_BYTES, type NsmDevice } from '../../vsock/index.js';
import { NsmClient } from './client.js';
import { decodeNsmRequest, encodeNsmResponse, type NsmRequest, type NsmResponse } from './codec.js';
import { NsmError, type NsmWireError } from './errors.js';

/** How a simulated NSM is set up. */
export interface SimulatedNsmOptions {
  /** The PKI that signs documents (attestation's SimulatedNsmPki.open / .ephemeral). */
  pki: SimulatedNsmPki;
  /** Boot-time PCR values by index (0..15), as bytes or hex; unset ones are zero (PCR4: see instanceId). */
  pcrs?: Readonly<Record<number, Uint8Array | string>>;
  /** Parent role ARN: sets PCR3 = SHA384(0^48 ‖ arn) unless `pcrs[3]` is given. */
  roleArn?: string;
  /** Parent instance ID: sets PCR4 (default: the PKI's simulated instance, matching module_id). */
  instanceId?: string;
  /** module_id (default: the PKI's). */
  moduleId?: string;
}

/** PCRs the simulated NSM reports (SHA-384 bank of 32, like Nitro). */
const MAX_PCRS = 32;
/** PCRs the hypervisor locks at boot. */
const BOOT_LOCKED = 16;
/** Attestation field limits recommended by the reference (§1.2). */
const LIMITS = { userData: 1024, nonce: 1024, publicKey: 1024 };
/** GetRandom answers this many bytes, like the real NSM. */
const RANDOM_BYTES = 256;

/** A simulated /dev/nsm: takes NSM CBOR requests, answers NSM CBOR responses. */
export class SimulatedNsmDevice implements NsmDevice {
  readonly #pki: SimulatedNsmPki;
  readonly #pcrs: Uint8Array[];
  readonly #locked = new Set<number>();
  readonly #extended = new Set<number>();
  readonly #moduleId: string;
  #closed = false;

  constructor(options: SimulatedNsmOptions) {
    this.#pki = options.pki;
    this.#moduleId = options.moduleId ?? options.pki.moduleId;
    this.#pcrs = Array.from({ length: MAX_PCRS }, () => new Uint8Array(PCR_LENGTH));
    if (options.roleArn !== undefined) this.#pcrs[3] = pcrBytes(pcr3ForRoleArn(options.roleArn));
    this.#pcrs[4] = pcrBytes(pcr4ForInstanceId(options.instanceId ?? options.pki.instanceId));
    for (const [key, value] of Object.entries(options.pcrs ?? {})) {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0 || index >= BOOT_LOCKED) {
        throw new NsmError('NSM_INVALID_INDEX', `boot PCR index ${key} is not 0..15 (16..31 start at zero and are extended at run time)`, { category: 'input' });
      }
      try {
        this.#pcrs[index] = pcrBytes(value);
      } catch (err) {
        throw new NsmError('NSM_INVALID_ARGUMENT', `PCR${index} must be 48 bytes or 96 hex characters`, { category: 'input', cause: err });
      }
    }
    for (let i = 0; i < BOOT_LOCKED; i++) this.#locked.add(i);
  }

  async request(cbor: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) throw new NsmDeviceError('NSM_DEVICE_UNAVAILABLE', 'the simulated NSM device is closed');
    // The driver refuses oversized requests before the NSM sees them (EMSGSIZE).
    if (cbor.byteLength > NSM_REQUEST_MAX_BYTES) {
      throw new NsmDeviceError('NSM_DEVICE_REQUEST_TOO_LARGE', `NSM request exceeds ${NSM_REQUEST_MAX_BYTES} bytes`, { category: 'input' });
    }
    let request: NsmRequest;
    try {
      request = decodeNsmRequest(cbor);
    } catch {
      return encodeNsmResponse(wireError('InvalidArgument'));
    }
    const response = encodeNsmResponse(await this.#answer(request));
    return response.byteLength > NSM_RESPONSE_MAX_BYTES ? encodeNsmResponse(wireError('BufferTooSmall')) : response;
  }

  close(): void {
    this.#closed = true;
  }

  /** Current PCR values as hex (for tests and the simulator's key policies). */
  pcrHex(): Map<number, string> {
    return new Map(this.#pcrs.map((p, i) => [i, toHex(p)]));
  }

  async #answer(request: NsmRequest): Promise<NsmResponse> {
    switch (request.type) {
      case 'DescribePCR':
        if (request.index >= MAX_PCRS) return wireError('InvalidIndex');
        return { type: 'DescribePCR', lock: this.#locked.has(request.index), data: this.#pcrs[request.index].slice() };
      case 'ExtendPCR': {
        if (request.index >= MAX_PCRS) return wireError('InvalidIndex');
        if (this.#locked.has(request.index)) return wireError('ReadOnlyIndex');
        this.#pcrs[request.index] = extendPcr(this.#pcrs[request.index], request.data);
        this.#extended.add(request.index);
        return { type: 'ExtendPCR', data: this.#pcrs[request.index].slice() };
      }
      case 'LockPCR':
        if (request.index >= MAX_PCRS) return wireError('InvalidIndex');
        this.#locked.add(request.index);
        return { type: 'LockPCR' };
      case 'LockPCRs':
        if (request.range > MAX_PCRS) return wireError('InvalidIndex');
        for (let i = 0; i < request.range; i++) this.#locked.add(i);
        return { type: 'LockPCRs' };
      case 'DescribeNSM':
        return {
          type: 'DescribeNSM',
          versionMajor: 1,
          versionMinor: 0,
          versionPatch: 0,
          moduleId: this.#moduleId,
          maxPcrs: MAX_PCRS,
          lockedPcrs: [...this.#locked].sort((a, b) => a - b),
          digest: 'SHA384',
        };
      case 'GetRandom':
        return { type: 'GetRandom', random: new Uint8Array(randomBytes(RANDOM_BYTES)) };
      case 'Attestation': {
        const { userData, nonce, publicKey } = request;
        if ((userData?.length ?? 0) > LIMITS.userData || (nonce?.length ?? 0) > LIMITS.nonce || (publicKey?.length ?? 0) > LIMITS.publicKey) {
          return wireError('InputTooLarge');
        }
        if (publicKey !== null && publicKey.length === 0) return wireError('InvalidArgument');
        // PCR0..15 always; PCR16+ once the application has extended them (as genuine documents show).
        const pcrs: Record<number, Uint8Array> = {};
        for (let i = 0; i < MAX_PCRS; i++) if (i < BOOT_LOCKED || this.#extended.has(i)) pcrs[i] = this.#pcrs[i];
        try {
          const document = await this.#pki.attest({ pcrs, moduleId: this.#moduleId, userData, nonce, publicKey });
          return { type: 'Attestation', document };
        } catch {
          return wireError('InternalError');
        }
      }
    }
  }
}

/** A PCR value from bytes or hex; throws RangeError when it is not 48 bytes. */
function pcrBytes(value: Uint8Array | string): Uint8Array {
  if (typeof value !== 'string') {
    if (!(value instanceof Uint8Array) || value.length !== PCR_LENGTH) throw new RangeError(`a PCR is ${PCR_LENGTH} bytes`);
    return new Uint8Array(value);
  }
  const hex = normalizePcrHex(value);
  const bytes = hex === null ? undefined : fromHex(hex);
  if (bytes === undefined || bytes.length !== PCR_LENGTH) throw new RangeError(`a PCR is ${PCR_LENGTH * 2} hex characters`);
  return bytes;
}

function wireError(error: NsmWireError): NsmResponse {
  return { type: 'Error', error };
}

/** The simulated NSM: an NsmClient over a SimulatedNsmDevice. */
export class SimulatedNsm extends NsmClient {
  /** The device behind it (PCR state), for tests and the simulator. */
  readonly device: SimulatedNsmDevice;

  constructor(options: SimulatedNsmOptions) {
    const device = new SimulatedNsmDevice(options);
    super(device);
    this.device = device;
  }

  /**
   * A simulated NSM measuring what eif-build measured: PCR0/1/2 (and PCR8 when the EIF is
   * signed) from measurements.json, PCR3/PCR4 from the parent role ARN and instance ID.
   */
  static fromMeasurements(
    pki: SimulatedNsmPki,
    measurements: Pick<Measurements, 'PCR0' | 'PCR1' | 'PCR2'> & { PCR8?: string },
    parent: { roleArn?: string; instanceId?: string; moduleId?: string } = {},
  ): SimulatedNsm {
    const pcrs: Record<number, string> = { 0: measurements.PCR0, 1: measurements.PCR1, 2: measurements.PCR2 };
    if (measurements.PCR8 !== undefined) pcrs[8] = measurements.PCR8;
    return new SimulatedNsm({ pki, pcrs, ...parent });
  }
}
