/**
 * The EIF v4 metadata section (reference eif-format.md §4): compact JSON in EifIdentityInfo's
 * declaration order. Not measured by any PCR, but part of the file hash and CRC, so every field
 * is fixed by the inputs: the build time comes from SOURCE_DATE_EPOCH (or 0), never the clock.
 */
import { EifError } from './errors.js';

/** The tool name and version recorded in BuildMetadata. Keep the version equal to package.json. */
export const BUILD_TOOL = 'attested-pack';
export const BUILD_TOOL_VERSION = '0.1.0';

/** EifIdentityInfo as serialised by AWS's builder. */
export interface EifMetadata {
  ImageName: string;
  ImageVersion: string;
  BuildMetadata: {
    BuildTime: string;
    BuildTool: string;
    BuildToolVersion: string;
    OperatingSystem: string;
    KernelVersion: string;
  };
  DockerInfo: unknown;
  CustomMetadata: unknown;
}

/** Seconds since the epoch to `YYYY-MM-DDTHH:MM:SS+00:00` (UTC, independent of TZ). */
export function formatBuildTime(epochSeconds: number): string {
  if (!Number.isSafeInteger(epochSeconds) || epochSeconds < 0) {
    throw new EifError('EIF_BAD_METADATA', `build time must be a non-negative whole number of seconds, got ${epochSeconds}`);
  }
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** The build time: SOURCE_DATE_EPOCH when set (reproducible-builds.org convention), else 0. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return 0;
  if (!/^\d+$/.test(v)) throw new EifError('EIF_BAD_METADATA', `SOURCE_DATE_EPOCH must be a whole number of seconds, got ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * OperatingSystem and KernelVersion from a kernel `.config` (line 3, e.g.
 * `# Linux/x86_64 4.14.256-209.484.amzn2.x86_64 Kernel Configuration`), split as nitro-cli does.
 */
export function kernelInfoFromConfig(configText: string): { OperatingSystem: string; KernelVersion: string } {
  const line = configText.split('\n')[2] ?? '';
  const words = line.split(/[ /-]/).filter((w) => w !== '' && w !== '#');
  return { OperatingSystem: words[0] ?? 'unknown', KernelVersion: words[2] ?? 'unknown' };
}

/** Inputs for the metadata section. */
export interface MetadataInput {
  imageName: string;
  imageVersion: string;
  buildTimeEpoch: number;
  operatingSystem: string;
  kernelVersion: string;
  customMetadata?: unknown;
}

/** Builds the metadata object in the exact key order AWS writes. */
export function buildMetadata(m: MetadataInput): EifMetadata {
  return {
    ImageName: m.imageName,
    ImageVersion: m.imageVersion,
    BuildMetadata: {
      BuildTime: formatBuildTime(m.buildTimeEpoch),
      BuildTool: BUILD_TOOL,
      BuildToolVersion: BUILD_TOOL_VERSION,
      OperatingSystem: m.operatingSystem,
      KernelVersion: m.kernelVersion,
    },
    DockerInfo: null,
    CustomMetadata: m.customMetadata ?? null,
  };
}

/** Serialises metadata as compact JSON (byte-identical to serde_json::to_vec for this shape). */
export function encodeMetadata(m: EifMetadata): Buffer {
  return Buffer.from(JSON.stringify(m), 'utf8');
}

/** Parses a metadata section; throws EIF_BAD_METADATA when it is not an EifIdentityInfo object. */
export function parseMetadata(bytes: Uint8Array): EifMetadata {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new EifError('EIF_BAD_METADATA', 'the metadata section is not UTF-8 JSON', { cause: err });
  }
  const o = v as Partial<EifMetadata> | null;
  const bm = o?.BuildMetadata as Record<string, unknown> | undefined;
  if (
    typeof o !== 'object' ||
    o === null ||
    Array.isArray(o) ||
    typeof o.ImageName !== 'string' ||
    typeof o.ImageVersion !== 'string' ||
    typeof bm !== 'object' ||
    bm === null ||
    !['BuildTime', 'BuildTool', 'BuildToolVersion', 'OperatingSystem', 'KernelVersion'].every((k) => typeof bm[k] === 'string')
  ) {
    throw new EifError('EIF_BAD_METADATA', 'the metadata section lacks ImageName, ImageVersion or BuildMetadata fields');
  }
  return { ...(o as EifMetadata), DockerInfo: o.DockerInfo ?? null, CustomMetadata: o.CustomMetadata ?? null };
}
