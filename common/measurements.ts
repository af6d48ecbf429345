/**
 * `measurements.json`: what eif-build writes and kms-policies, the simulator and
 * verify-receipt read. One parser, strict, so a typo in a PCR never turns into a pass.
 */
import { InputError } from './errors.js';

/** The measurements of one enclave image. PCR values are lower-case hex SHA-384 (96 chars). */
export interface Measurements {
  PCR0: string;
  PCR1: string;
  PCR2: string;
  /** Present only for signed EIFs. */
  PCR8?: string;
  /** SHA-256 of the EIF file bytes, lower-case hex. */
  eifSha256: string;
  arch: 'x86_64' | 'aarch64';
  /** Build inputs (name → sha256 hex or a descriptive string) for auditors. */
  buildInputs: Record<string, string>;
}

const PCR_RE = /^[0-9a-f]{96}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

/** Error raised for an unusable measurements.json. */
export class MeasurementsError extends InputError {}

/** Parses and validates measurements.json text (or an already parsed object). */
export function parseMeasurements(input: string | unknown, source = 'measurements.json'): Measurements {
  let obj: unknown = input;
  if (typeof input === 'string') {
    try {
      obj = JSON.parse(input);
    } catch {
      throw new MeasurementsError('MEASUREMENTS_INVALID', `${source} is not valid JSON`, {
        hint: 'pass the measurements.json written by `attested-pack eif build`',
      });
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new MeasurementsError('MEASUREMENTS_INVALID', `${source} must be a JSON object`);
  }
  const m = obj as Record<string, unknown>;
  const pcr = (name: 'PCR0' | 'PCR1' | 'PCR2' | 'PCR8', optional: boolean): string | undefined => {
    const v = m[name];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || !PCR_RE.test(v.toLowerCase())) {
      throw new MeasurementsError('MEASUREMENTS_INVALID', `${source}: ${name} must be 96 hex characters (SHA-384)`, {
        hint: 'regenerate it with `attested-pack eif build --measurements FILE`',
      });
    }
    return v.toLowerCase();
  };
  const eifSha256 = m.eifSha256;
  if (typeof eifSha256 !== 'string' || !SHA256_RE.test(eifSha256.toLowerCase())) {
    throw new MeasurementsError('MEASUREMENTS_INVALID', `${source}: eifSha256 must be 64 hex characters`);
  }
  if (m.arch !== 'x86_64' && m.arch !== 'aarch64') {
    throw new MeasurementsError('MEASUREMENTS_INVALID', `${source}: arch must be "x86_64" or "aarch64"`);
  }
  const buildInputs = m.buildInputs ?? {};
  if (
    typeof buildInputs !== 'object' ||
    buildInputs === null ||
    Array.isArray(buildInputs) ||
    Object.values(buildInputs).some((v) => typeof v !== 'string')
  ) {
    throw new MeasurementsError('MEASUREMENTS_INVALID', `${source}: buildInputs must map names to strings`);
  }
  const pcr8 = pcr('PCR8', true);
  return {
    PCR0: pcr('PCR0', false)!,
    PCR1: pcr('PCR1', false)!,
    PCR2: pcr('PCR2', false)!,
    ...(pcr8 === undefined ? {} : { PCR8: pcr8 }),
    eifSha256: eifSha256.toLowerCase(),
    arch: m.arch,
    buildInputs: buildInputs as Record<string, string>,
  };
}
