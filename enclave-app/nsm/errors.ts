/**
 * NsmError: every failure of the Nitro Security Module adapter, with one code per NSM
 * `ErrorCode` variant (nsm-api src/api/mod.rs) plus the adapter's own (unavailable device,
 * undecodable answers).
 */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../../common/errors.js';

/** The `ErrorCode` variants the NSM answers with, spelled as on the wire. */
export const NSM_WIRE_ERRORS = [
  'Success',
  'InvalidArgument',
  'InvalidIndex',
  'InvalidResponse',
  'ReadOnlyIndex',
  'InvalidOperation',
  'BufferTooSmall',
  'InputTooLarge',
  'InternalError',
] as const;
/** One NSM `ErrorCode` variant. */
export type NsmWireError = (typeof NSM_WIRE_ERRORS)[number];

/** Codes of NsmError. */
export type NsmErrorCode =
  /** No /dev/nsm (not inside a Nitro Enclave), no addon, or no permission. */
  | 'NSM_UNAVAILABLE'
  /** The NSM answered `Error(InvalidArgument)`. */
  | 'NSM_INVALID_ARGUMENT'
  /** `Error(InvalidIndex)`: PCR index out of range. */
  | 'NSM_INVALID_INDEX'
  /** `Error(ReadOnlyIndex)`: the PCR is locked. */
  | 'NSM_READ_ONLY_INDEX'
  /** `Error(InvalidOperation)`. */
  | 'NSM_INVALID_OPERATION'
  /** `Error(BufferTooSmall)`. */
  | 'NSM_BUFFER_TOO_SMALL'
  /** `Error(InputTooLarge)`, or the request exceeded the 4096-byte device limit. */
  | 'NSM_INPUT_TOO_LARGE'
  /** `Error(InternalError)`. */
  | 'NSM_INTERNAL_ERROR'
  /** `Error(InvalidResponse)`, `Error(Success)`, or an answer of the wrong kind. */
  | 'NSM_UNEXPECTED_RESPONSE'
  /** An answer (or a request given to the simulated device) that is not valid NSM CBOR. */
  | 'NSM_MALFORMED'
  /** The ioctl itself failed. */
  | 'NSM_IO';

/** A failure to get an answer from the NSM, or an error answer from it. */
export class NsmError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'unavailable';
  declare readonly code: NsmErrorCode;
  constructor(code: NsmErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}

const WIRE_TO_CODE: Readonly<Record<NsmWireError, NsmErrorCode>> = {
  Success: 'NSM_UNEXPECTED_RESPONSE',
  InvalidArgument: 'NSM_INVALID_ARGUMENT',
  InvalidIndex: 'NSM_INVALID_INDEX',
  InvalidResponse: 'NSM_UNEXPECTED_RESPONSE',
  ReadOnlyIndex: 'NSM_READ_ONLY_INDEX',
  InvalidOperation: 'NSM_INVALID_OPERATION',
  BufferTooSmall: 'NSM_BUFFER_TOO_SMALL',
  InputTooLarge: 'NSM_INPUT_TOO_LARGE',
  InternalError: 'NSM_INTERNAL_ERROR',
};

/** Turns an `Error(<variant>)` answer to `operation` into an NsmError. */
export function nsmErrorFromWire(variant: NsmWireError, operation: string): NsmError {
  const code = WIRE_TO_CODE[variant];
  const category: ErrorCategory =
    code === 'NSM_READ_ONLY_INDEX'
      ? 'rejected'
      : code === 'NSM_INTERNAL_ERROR' || code === 'NSM_UNEXPECTED_RESPONSE' || code === 'NSM_BUFFER_TOO_SMALL'
        ? 'internal'
        : 'input';
  return new NsmError(code, `NSM refused ${operation}: ${variant}`, { category, details: { nsmError: variant, operation } });
}
