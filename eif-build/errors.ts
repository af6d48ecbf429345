/** The one error class of eif-build: every malformed image, missing blob or failed build step. */
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';

/** Stable codes callers branch on (closed union). */
export type EifErrorCode =
  /** The file ends before the header or a section does. */
  | 'EIF_TRUNCATED'
  /** The first four bytes are not ".eif". */
  | 'EIF_BAD_MAGIC'
  /** A header version this reader does not understand. */
  | 'EIF_BAD_VERSION'
  /** Header fields outside the section table are inconsistent (unused slots, flags). */
  | 'EIF_BAD_HEADER'
  /** A section header's size disagrees with the EIF header's size table. */
  | 'EIF_SECTION_SIZE_MISMATCH'
  /** A section starts inside the previous one. */
  | 'EIF_SECTION_OVERLAP'
  /** Sections are not laid out in increasing, contiguous order, or in an order the loader rejects. */
  | 'EIF_SECTION_ORDER'
  /** More than 32 sections, or fewer than the minimum. */
  | 'EIF_TOO_MANY_SECTIONS'
  /** A section type outside 1..5 or non-zero section flags. */
  | 'EIF_BAD_SECTION'
  /** A required section (kernel, cmdline, ramdisk, metadata for v4) is missing or duplicated. */
  | 'EIF_MISSING_SECTION'
  /** Bytes after the last section. */
  | 'EIF_TRAILING_DATA'
  /** The CRC-32 in the header does not match the file (raised by verifyEif, reported by describe). */
  | 'EIF_CRC_MISMATCH'
  /** The signature section cannot be decoded or its certificate/COSE_Sign1 is malformed. */
  | 'EIF_BAD_SIGNATURE'
  /** The metadata section is not the JSON object EIF v4 requires. */
  | 'EIF_BAD_METADATA'
  /** A boot blob (kernel, cmdline, init, nsm.ko) is not where it was looked for. */
  | 'EIF_BLOB_MISSING'
  /** A blob exists but is not the expected one (git blob id mismatch). */
  | 'EIF_BLOB_MISMATCH'
  /** The signing key and certificate do not belong together, or the key type is unsupported. */
  | 'EIF_SIGNING_KEY'
  /** An input file changed size or content while the image was being built. */
  | 'EIF_INPUT_CHANGED'
  /** An input cannot go into a newc cpio (too large, bad name, unsupported file type). */
  | 'EIF_CPIO_UNSUPPORTED'
  /** The Node runtime's ELF could not be parsed or one of its shared libraries was not found. */
  | 'EIF_RUNTIME'
  /** The esbuild bundle failed or is not self-contained/deterministic. */
  | 'EIF_BUNDLE'
  /** The rootfs directory lacks what init needs (/cmd, /env) or has unusable entries. */
  | 'EIF_ROOTFS'
  /** eif-build/image.lock.json is unreadable or not the lock format. */
  | 'EIF_LOCK_INVALID'
  /** An input of the locked build differs from what the lock records (file, locked and found hash named). */
  | 'EIF_LOCK_DRIFT'
  /** An input the locked build needs is not on this machine (pinned runtime, libraries, compiler, blobs). */
  | 'EIF_LOCK_INPUT_MISSING';

/** Error raised by eif-build; `code` says which rule failed. */
export class EifError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
  declare readonly code: EifErrorCode;
  constructor(code: EifErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
  }
}
