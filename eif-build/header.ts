/**
 * EIF v4 binary layout (reference eif-format.md §1): a 548-byte big-endian header with a
 * 32-slot section table and a CRC-32, then contiguous `12-byte section header ‖ data` pairs.
 */
import { EifError } from './errors.js';

export const EIF_MAGIC = Buffer.from('.eif', 'latin1');
export const EIF_VERSION = 4;
export const EIF_HEADER_SIZE = 548;
export const SECTION_HEADER_SIZE = 12;
export const MAX_SECTIONS = 32;
/** Offset of the CRC-32 field: the CRC covers everything except these 4 bytes. */
export const CRC_OFFSET = 544;
/** Written by AWS's EifBuilder; unused by the hypervisor. */
export const DEFAULT_MEM = 1024 * 1024 * 1024;
export const DEFAULT_CPUS = 2;
/** Header flag bit 0: aarch64 image. */
export const FLAG_ARM64 = 1;

/** EifSectionType values. */
export const SectionType = { kernel: 1, cmdline: 2, ramdisk: 3, signature: 4, metadata: 5 } as const;
export type SectionTypeName = keyof typeof SectionType;
const TYPE_NAMES: Record<number, SectionTypeName> = { 1: 'kernel', 2: 'cmdline', 3: 'ramdisk', 4: 'signature', 5: 'metadata' };

/** The CPU architecture an EIF is for. */
export type EifArch = 'x86_64' | 'aarch64';

/** The parsed fixed header. */
export interface EifHeader {
  version: number;
  flags: number;
  arch: EifArch;
  defaultMem: bigint;
  defaultCpus: bigint;
  numSections: number;
  sectionOffsets: number[];
  sectionSizes: number[];
  crc32: number;
}

/** Encodes the header for the given section sizes (data sizes, without section headers); CRC left 0. */
export function encodeHeader(arch: EifArch, sizes: number[]): Buffer {
  if (sizes.length < 2 || sizes.length > MAX_SECTIONS) {
    throw new EifError('EIF_TOO_MANY_SECTIONS', `an EIF holds 2..${MAX_SECTIONS} sections, not ${sizes.length}`);
  }
  const h = Buffer.alloc(EIF_HEADER_SIZE);
  EIF_MAGIC.copy(h, 0);
  h.writeUInt16BE(EIF_VERSION, 4);
  h.writeUInt16BE(arch === 'aarch64' ? FLAG_ARM64 : 0, 6);
  h.writeBigUInt64BE(BigInt(DEFAULT_MEM), 8);
  h.writeBigUInt64BE(BigInt(DEFAULT_CPUS), 16);
  h.writeUInt16BE(0, 24);
  h.writeUInt16BE(sizes.length, 26);
  let off = EIF_HEADER_SIZE;
  sizes.forEach((size, i) => {
    h.writeBigUInt64BE(BigInt(off), 28 + 8 * i);
    h.writeBigUInt64BE(BigInt(size), 284 + 8 * i);
    off += SECTION_HEADER_SIZE + size;
  });
  return h;
}

/** Encodes one 12-byte section header. */
export function encodeSectionHeader(type: SectionTypeName, size: number): Buffer {
  const b = Buffer.alloc(SECTION_HEADER_SIZE);
  b.writeUInt16BE(SectionType[type], 0);
  b.writeUInt16BE(0, 2);
  b.writeBigUInt64BE(BigInt(size), 4);
  return b;
}

function u64(b: Buffer, off: number, what: string): number {
  const v = b.readBigUInt64BE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new EifError('EIF_BAD_HEADER', `${what} is implausibly large`);
  return Number(v);
}

/** Parses and checks the fixed header; the section table is checked against the file by the reader. */
export function parseHeader(h: Buffer): EifHeader {
  if (h.length < EIF_HEADER_SIZE) {
    throw new EifError('EIF_TRUNCATED', `file is ${h.length} bytes, shorter than the ${EIF_HEADER_SIZE}-byte EIF header`);
  }
  if (!h.subarray(0, 4).equals(EIF_MAGIC)) {
    throw new EifError('EIF_BAD_MAGIC', 'not an EIF: the file does not start with ".eif"', {
      hint: 'pass an enclave image file built by nitro-cli or `attested-pack eif build`',
    });
  }
  const version = h.readUInt16BE(4);
  // v2 introduced the CRC that every check here relies on; v4 is current (metadata section).
  if (version < 2 || version > EIF_VERSION) {
    throw new EifError('EIF_BAD_VERSION', `unsupported EIF version ${version} (this reader handles 2..${EIF_VERSION})`);
  }
  const flags = h.readUInt16BE(6);
  if ((flags & ~FLAG_ARM64) !== 0) throw new EifError('EIF_BAD_HEADER', `unknown EIF header flags 0x${flags.toString(16)}`);
  const numSections = h.readUInt16BE(26);
  if (numSections > MAX_SECTIONS) {
    throw new EifError('EIF_TOO_MANY_SECTIONS', `header declares ${numSections} sections; at most ${MAX_SECTIONS} are allowed`);
  }
  if (numSections < 2) {
    throw new EifError('EIF_TOO_MANY_SECTIONS', `header declares ${numSections} sections; an EIF needs at least a kernel and a ramdisk`);
  }
  const sectionOffsets: number[] = [];
  const sectionSizes: number[] = [];
  for (let i = 0; i < MAX_SECTIONS; i++) {
    const off = u64(h, 28 + 8 * i, `section_offsets[${i}]`);
    const size = u64(h, 284 + 8 * i, `section_sizes[${i}]`);
    if (i < numSections) {
      sectionOffsets.push(off);
      sectionSizes.push(size);
    } else if (off !== 0 || size !== 0) {
      throw new EifError('EIF_BAD_HEADER', `unused section slot ${i} is not zero`);
    }
  }
  return {
    version,
    flags,
    arch: flags & FLAG_ARM64 ? 'aarch64' : 'x86_64',
    defaultMem: h.readBigUInt64BE(8),
    defaultCpus: h.readBigUInt64BE(16),
    numSections,
    sectionOffsets,
    sectionSizes,
    crc32: h.readUInt32BE(CRC_OFFSET),
  };
}

/** A parsed section header. */
export interface SectionHeader {
  type: SectionTypeName;
  flags: number;
  size: number;
}

/** Parses a 12-byte section header, rejecting unknown types and non-zero flags. */
export function parseSectionHeader(b: Buffer, index: number): SectionHeader {
  const typeNum = b.readUInt16BE(0);
  const type = TYPE_NAMES[typeNum];
  if (!type) throw new EifError('EIF_BAD_SECTION', `section ${index} has invalid type ${typeNum}`);
  const flags = b.readUInt16BE(2);
  if (flags !== 0) throw new EifError('EIF_BAD_SECTION', `section ${index} has non-zero flags 0x${flags.toString(16)}`);
  return { type, flags, size: u64(b, 4, `section ${index} size`) };
}
