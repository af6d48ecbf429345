/**
 * Reads an EIF the way a careful loader should (reference eif-format.md §1.3, §8 "describeEif"):
 * checks the header and the whole section table first — contiguous, in order, sizes that agree,
 * a kernel first, one cmdline, at least one ramdisk, nothing after the last section — then streams
 * the data once in bounded chunks for the CRC, PCR0/1/2, the file's SHA-256, and keeps only the
 * (small, capped) metadata and signature sections in memory. Constant memory for any image size.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { READ_CHUNK } from './byte-source.js';
import { crc32, crc32Combine } from './crc32.js';
import { EifError } from './errors.js';
import { InternalError } from '../common/errors.js';
import {
  CRC_OFFSET,
  EIF_HEADER_SIZE,
  EIF_MAGIC,
  parseHeader,
  parseSectionHeader,
  SECTION_HEADER_SIZE,
  type EifArch,
  type EifHeader,
  type SectionTypeName,
} from './header.js';
import { parseMetadata, type EifMetadata } from './metadata.js';
import { pcrOfBytes } from './pcr.js';
import { inlinePcrStreams, PARALLEL_THRESHOLD, parallelPcrStreams, type PcrValues } from './pcr-streams.js';
import { signingCertificateInfo, type SigningCertificateInfo } from './certificate-info.js';
import { decodeSignatureSection, encodePcrInfo, SIGNATURE_MAX_SIZE, verifyCose } from './signature.js';

/** nitro-cli prints the Rust Debug form of the hasher it used. */
export const HASH_ALGORITHM = 'Sha384 { ... }';
/** Metadata above this size is refused rather than buffered (nitro-cli's CustomMetadata is ≤ 4 KiB). */
const METADATA_MAX_SIZE = 1024 * 1024;

/** The JSON `nitro-cli describe-eif` prints, field for field. */
export interface EifDescription {
  EifVersion: number;
  Measurements: { HashAlgorithm: string; PCR0: string; PCR1: string; PCR2: string; PCR8?: string };
  IsSigned: boolean;
  SigningCertificate?: SigningCertificateInfo;
  CheckCRC: boolean;
  SignatureCheck?: boolean;
  ImageName?: string;
  ImageVersion?: string;
  Metadata?: Record<string, unknown>;
}

/** One section as found in the file. */
export interface EifSectionInfo {
  type: SectionTypeName;
  /** Offset of the 12-byte section header. */
  offset: number;
  /** Size of the data. */
  size: number;
}

/** Everything the reader learned: the nitro-cli description plus layout facts for our own tools. */
export interface EifInspection {
  description: EifDescription;
  arch: EifArch;
  header: EifHeader;
  sections: EifSectionInfo[];
  metadata: EifMetadata | undefined;
  fileSize: number;
  eifSha256: string;
}

async function readExactly(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const b = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(b, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  if (got !== length) throw new EifError('EIF_TRUNCATED', `file ends at byte ${position + got}, inside a structure that needs ${length} bytes at ${position}`);
  return b;
}

/** Step 1: the fixed header (magic before length, so a short non-EIF says "not an EIF"). */
async function readHeader(fh: FileHandle, fileSize: number): Promise<{ raw: Buffer; header: EifHeader }> {
  const raw = Buffer.alloc(Math.min(EIF_HEADER_SIZE, fileSize));
  if (raw.length > 0) await fh.read(raw, 0, raw.length, 0);
  if (raw.length >= 4 && !raw.subarray(0, 4).equals(EIF_MAGIC)) {
    throw new EifError('EIF_BAD_MAGIC', 'not an EIF: the file does not start with ".eif"', {
      hint: 'pass an enclave image file built by nitro-cli or `attested-pack eif build`',
    });
  }
  return { raw, header: parseHeader(raw) };
}

/** Step 2: the section table against the file — contiguous, ordered, sizes agreeing, in bounds. */
async function readSectionTable(fh: FileHandle, header: EifHeader, fileSize: number): Promise<EifSectionInfo[]> {
  const sections: EifSectionInfo[] = [];
  let pos = EIF_HEADER_SIZE;
  let prevStart = -1;
  for (let i = 0; i < header.numSections; i++) {
    const off = header.sectionOffsets[i]!;
    if (off <= prevStart) {
      throw new EifError('EIF_SECTION_ORDER', `section ${i} starts at ${off}, before section ${i - 1} (at ${prevStart})`);
    }
    if (off < pos) {
      throw new EifError('EIF_SECTION_OVERLAP', `section ${i} starts at ${off}, inside the previous section (which ends at ${pos})`);
    }
    if (off > pos) {
      throw new EifError('EIF_SECTION_ORDER', `section ${i} starts at ${off} but the previous one ends at ${pos}: sections must be contiguous`);
    }
    if (off + SECTION_HEADER_SIZE > fileSize) throw new EifError('EIF_TRUNCATED', `section ${i}'s header lies beyond the end of the file`);
    const sh = parseSectionHeader(await readExactly(fh, SECTION_HEADER_SIZE, off), i);
    if (sh.size !== header.sectionSizes[i]) {
      throw new EifError('EIF_SECTION_SIZE_MISMATCH', `section ${i} (${sh.type}) says ${sh.size} bytes but the EIF header says ${header.sectionSizes[i]}`);
    }
    if (off + SECTION_HEADER_SIZE + sh.size > fileSize) {
      throw new EifError('EIF_TRUNCATED', `section ${i} (${sh.type}) needs ${sh.size} bytes but the file ends first`);
    }
    sections.push({ type: sh.type, offset: off, size: sh.size });
    prevStart = off;
    pos = off + SECTION_HEADER_SIZE + sh.size;
  }
  if (pos !== fileSize) throw new EifError('EIF_TRAILING_DATA', `${fileSize - pos} bytes follow the last section`);
  return sections;
}

/** Step 3: which sections may appear, how often and in which order. */
function checkSectionKinds(header: EifHeader, sections: EifSectionInfo[]): void {
  const count = (t: SectionTypeName): number => sections.filter((s) => s.type === t).length;
  if (sections[0]?.type !== 'kernel') throw new EifError('EIF_SECTION_ORDER', 'the first section must be the kernel');
  if (count('kernel') !== 1) throw new EifError('EIF_MISSING_SECTION', 'an EIF has exactly one kernel section');
  if (count('cmdline') !== 1) throw new EifError('EIF_MISSING_SECTION', 'an EIF has exactly one cmdline section');
  if (count('ramdisk') < 1) throw new EifError('EIF_MISSING_SECTION', 'an EIF has at least one ramdisk section');
  if (count('signature') > 1) throw new EifError('EIF_MISSING_SECTION', 'an EIF has at most one signature section');
  if (count('metadata') > 1) throw new EifError('EIF_MISSING_SECTION', 'an EIF has at most one metadata section');
  if (header.version >= 4 && count('metadata') !== 1) throw new EifError('EIF_MISSING_SECTION', 'an EIF v4 must have a metadata section');
  if (header.version < 4 && count('metadata') > 0) throw new EifError('EIF_BAD_SECTION', `metadata sections need EIF v4, this is v${header.version}`);
  if (header.version < 3 && count('signature') > 0) throw new EifError('EIF_BAD_SECTION', `signature sections need EIF v3, this is v${header.version}`);
  const sig = sections.find((s) => s.type === 'signature');
  if (sig && sig.size > SIGNATURE_MAX_SIZE) throw new EifError('EIF_BAD_SIGNATURE', `the signature section is larger than ${SIGNATURE_MAX_SIZE} bytes`);
  const meta = sections.find((s) => s.type === 'metadata');
  if (meta && meta.size > METADATA_MAX_SIZE) throw new EifError('EIF_BAD_METADATA', `the metadata section is larger than ${METADATA_MAX_SIZE} bytes`);
}

/** How inspectEif hashes (tests force either path; the default picks by image size). */
export interface InspectOptions {
  /** 'auto' (default): worker threads for images with ≥ 32 MiB of measured data. */
  parallelHashing?: 'auto' | 'always' | 'never';
}

/** Reads, checks and measures an EIF file; throws EifError for structural problems. */
export async function inspectEif(path: string, opts: InspectOptions = {}): Promise<EifInspection> {
  const r = await readAndMeasure(path, opts, true);
  return { ...r, eifSha256: r.eifSha256! };
}

/**
 * One streaming pass over the file: CRC-32 and the PCR chains always, the file's SHA-256 only
 * when asked (`describeEif` does not need it, and it costs half a SHA-384 per byte).
 */
async function readAndMeasure(path: string, opts: InspectOptions, fileSha256: boolean): Promise<Omit<EifInspection, 'eifSha256'> & { eifSha256: string | undefined }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new EifError('EIF_BLOB_MISSING', `cannot open ${path}`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new EifError('EIF_BLOB_MISSING', `${path} is not a regular file`, { hint: 'pass the path of an .eif file' });
    const fileSize = st.size;
    const { raw, header } = await readHeader(fh, fileSize);
    const sections = await readSectionTable(fh, header, fileSize);
    checkSectionKinds(header, sections);

    // Step 4: stream everything once; large images hash PCR0 and PCR1/PCR2 on worker threads.
    const sha = fileSha256 ? createHash('sha256').update(raw) : undefined;
    // The CRC in file order: runs checksummed here, and chunks the PCR worker checksummed
    // (`pcrs.chunkCrcs`), combined at the end.
    const crcParts: Array<{ crc: number; length: number } | { chunk: number; length: number }> = [];
    let crc = crc32(raw.subarray(0, CRC_OFFSET));
    let crcLength = CRC_OFFSET;
    let chunks = 0;
    let measuredChunks = 0;
    const localCrc = (b: Uint8Array): void => {
      crc = crc32(b, crc);
      crcLength += b.length;
    };
    const workerCrc = (length: number): void => {
      if (crcLength > 0) crcParts.push({ crc, length: crcLength });
      crcParts.push({ chunk: chunks++, length });
      crc = 0;
      crcLength = 0;
    };
    const pcrBytes = sections.reduce((n, s) => (s.type === 'kernel' || s.type === 'cmdline' || s.type === 'ramdisk' ? n + s.size : n), 0);
    const parallel = opts.parallelHashing === 'always' || (opts.parallelHashing !== 'never' && pcrBytes >= PARALLEL_THRESHOLD);
    const pcrs = parallel ? parallelPcrStreams() : inlinePcrStreams(READ_CHUNK);
    const keepBuffer = Buffer.allocUnsafe(READ_CHUNK);
    let ramdiskIndex = 0;
    let metadataBytes: Buffer | undefined;
    let signatureBytes: Buffer | undefined;
    let pcrValues: PcrValues;
    try {
      for (const s of sections) {
        const sh = await readExactly(fh, SECTION_HEADER_SIZE, s.offset);
        sha?.update(sh);
        localCrc(sh);
        const measured = s.type === 'kernel' || s.type === 'cmdline' || s.type === 'ramdisk';
        const target = s.type === 'ramdisk' && ramdiskIndex > 0 ? 'pcr2' : 'pcr1';
        const keep: Buffer[] = [];
        let pos = s.offset + SECTION_HEADER_SIZE;
        const end = pos + s.size;
        while (pos < end) {
          const buf = measured ? await pcrs.buffer() : keepBuffer;
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
          if (bytesRead === 0) throw new EifError('EIF_TRUNCATED', `file shrank while reading section ${s.type}`);
          const chunk = buf.subarray(0, bytesRead);
          pos += bytesRead;
          // Every other measured chunk is checksummed by the PCR worker: it already extends one
          // SHA-384 chain as the calling thread does (plus the read), so the CRC is split to keep
          // the two threads even.
          const crcOnWorker = measured && pcrs.chunkCrcs && measuredChunks++ % 2 === 0;
          if (measured) pcrs.submit(buf, bytesRead, target, crcOnWorker);
          sha?.update(chunk);
          if (crcOnWorker) workerCrc(bytesRead);
          else localCrc(chunk);
          if (!measured) keep.push(Buffer.from(chunk));
        }
        if (s.type === 'ramdisk') ramdiskIndex++;
        if (s.type === 'metadata') metadataBytes = Buffer.concat(keep);
        if (s.type === 'signature') signatureBytes = Buffer.concat(keep);
      }
      pcrValues = await pcrs.finish();
    } finally {
      await pcrs.close();
    }
    if (crcLength > 0) crcParts.push({ crc, length: crcLength });
    let fileCrc = 0;
    for (const part of crcParts) {
      const partCrc = 'crc' in part ? part.crc : pcrValues.crcs?.[part.chunk];
      if (partCrc === undefined) throw new InternalError('a PCR hashing thread returned no CRC for a chunk');
      fileCrc = crc32Combine(fileCrc, partCrc, part.length);
    }
    const checkCrc = fileCrc === header.crc32;
    const pcr0 = pcrValues.pcr0;
    const measurements: EifDescription['Measurements'] = {
      HashAlgorithm: HASH_ALGORITHM,
      PCR0: pcr0.toString('hex'),
      PCR1: pcrValues.pcr1.toString('hex'),
      PCR2: pcrValues.pcr2.toString('hex'),
    };

    // Step 5: interpret metadata and signature. On a corrupted file (bad CRC), the corruption is
    // the cause worth reporting, not the parse error it led to.
    const interpret = <T>(f: () => T): T => {
      try {
        return f();
      } catch (err) {
        if (!checkCrc && err instanceof EifError) {
          throw new EifError('EIF_CRC_MISMATCH', `the image is corrupted (CRC mismatch) and its ${err.message}`, { cause: err });
        }
        throw err;
      }
    };
    const metadata = metadataBytes === undefined ? undefined : interpret(() => parseMetadata(metadataBytes!));
    const description: EifDescription = { EifVersion: header.version, Measurements: measurements, IsSigned: signatureBytes !== undefined, CheckCRC: checkCrc };
    if (signatureBytes !== undefined) {
      const decoded = interpret(() => decodeSignatureSection(signatureBytes!));
      measurements.PCR8 = pcrOfBytes(decoded.certificate.raw).toString('hex');
      description.SigningCertificate = signingCertificateInfo(decoded.certificate);
      let signerKey;
      try {
        signerKey = decoded.certificate.publicKey;
      } catch (err) {
        throw new EifError('EIF_BAD_SIGNATURE', 'the signing certificate\'s public key cannot be read', { cause: err, hint: 'the signature section is corrupt or was not written by a compatible signer' });
      }
      const check = verifyCose(decoded.coseSign1, signerKey);
      description.SignatureCheck = check.valid && check.payload !== undefined && Buffer.from(check.payload).equals(encodePcrInfo(0, pcr0));
    }
    // Re-insert in nitro-cli's field order.
    const ordered: EifDescription = {
      EifVersion: description.EifVersion,
      Measurements: measurements,
      IsSigned: description.IsSigned,
      ...(description.SigningCertificate ? { SigningCertificate: description.SigningCertificate } : {}),
      CheckCRC: checkCrc,
      ...(description.SignatureCheck === undefined ? {} : { SignatureCheck: description.SignatureCheck }),
      ...(metadata ? { ImageName: metadata.ImageName, ImageVersion: metadata.ImageVersion, Metadata: describeMetadata(metadata) } : {}),
    };
    return { description: ordered, arch: header.arch, header, sections, metadata, fileSize, eifSha256: sha?.digest('hex') };
  } finally {
    await fh.close();
  }
}

/** nitro-cli's MetadataDescribeInfo: build fields, DockerInfo, and CustomMetadata flattened in. */
function describeMetadata(m: EifMetadata): Record<string, unknown> {
  const custom = m.CustomMetadata;
  return {
    BuildTime: m.BuildMetadata.BuildTime,
    BuildTool: m.BuildMetadata.BuildTool,
    BuildToolVersion: m.BuildMetadata.BuildToolVersion,
    OperatingSystem: m.BuildMetadata.OperatingSystem,
    KernelVersion: m.BuildMetadata.KernelVersion,
    DockerInfo: m.DockerInfo,
    ...(custom !== null && typeof custom === 'object' && !Array.isArray(custom) ? (custom as Record<string, unknown>) : {}),
  };
}

/** `nitro-cli describe-eif` in TypeScript: the description only. */
export async function describeEif(path: string): Promise<EifDescription> {
  return (await readAndMeasure(path, {}, false)).description;
}

/** Like describeEif but fails closed: a CRC mismatch or a failed signature check is an error. */
export async function verifyEif(path: string): Promise<EifInspection> {
  const r = await inspectEif(path);
  if (!r.description.CheckCRC) {
    throw new EifError('EIF_CRC_MISMATCH', `${path} is corrupted: its CRC-32 does not match its contents`, { category: 'rejected' });
  }
  if (r.description.IsSigned && r.description.SignatureCheck !== true) {
    throw new EifError('EIF_BAD_SIGNATURE', `${path} has a signature that does not verify against its PCR0`, { category: 'rejected' });
  }
  return r;
}
