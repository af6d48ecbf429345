/**
 * Writes an EIF v4 and measures it, streaming (reference eif-format.md §8 "buildEif").
 *
 * Pass 1 streams every section once: PCR0/1/2 hashers and the CRC of everything after the
 * header. Only then are PCR0 (hence the signature section and its size) and the header known;
 * the header's CRC is spliced in front with crc32Combine. Pass 2 streams the final bytes once
 * more into the SHA-256 of the file and, when asked, into the output file (temp + rename), and
 * re-checks the CRC so an input that changed between the passes is an error, not a bad image.
 * Memory stays bounded by the chunk size whatever the ramdisk sizes are.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink, mkdir, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { bufferSource, readAll, writeFully, type ByteSource } from './byte-source.js';
import { crc32, crc32Combine } from './crc32.js';
import { EifError } from './errors.js';
import { CRC_OFFSET, EIF_HEADER_SIZE, encodeHeader, encodeSectionHeader, type EifArch, type SectionTypeName } from './header.js';
import { encodeMetadata, type EifMetadata } from './metadata.js';
import { PcrHasher } from './pcr.js';
import { buildSignatureSection, pcr8OfCertificate } from './signature.js';

/** The PCR values of an image, lower-case hex. PCR8 only for signed images. */
export interface EifPcrs {
  PCR0: string;
  PCR1: string;
  PCR2: string;
  PCR8?: string;
}

/** A signing key and its certificate (PEM). */
export interface EifSigner {
  keyPem: string | Uint8Array;
  certPem: string | Uint8Array;
}

/** Everything that goes into the image file, in its section order. */
export interface EifContents {
  arch: EifArch;
  kernel: ByteSource;
  /** The kernel command line exactly as it goes into the image (callers trim it, as nitro-cli does). */
  cmdline: string;
  metadata: EifMetadata;
  /** ramdisk[0] is the bootstrap ramdisk (PCR1); the rest form PCR2. */
  ramdisks: ByteSource[];
  signer?: EifSigner;
}

/** What writing (or only measuring) an image produced. */
export interface WrittenEif {
  pcrs: EifPcrs;
  eifSha256: string;
  size: number;
  crc32: number;
  /** SHA-256 of each section's data, in file order (kernel, cmdline, metadata, ramdisks…, signature). */
  sectionSha256: string[];
  /** Set when an output file was written. */
  path?: string;
}

interface Section {
  type: SectionTypeName;
  source: ByteSource;
}

/** Collects small writes into large ones; the file is written through one handle. */
class BufferedFile {
  private buf = Buffer.allocUnsafe(1024 * 1024);
  private used = 0;
  constructor(private readonly fh: FileHandle) {}
  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength >= this.buf.length) {
      await this.flush();
      await writeFully(this.fh, chunk);
      return;
    }
    if (this.used + chunk.byteLength > this.buf.length) await this.flush();
    this.buf.set(chunk, this.used);
    this.used += chunk.byteLength;
  }
  async flush(): Promise<void> {
    if (this.used > 0) await writeFully(this.fh, this.buf.subarray(0, this.used));
    this.used = 0;
  }
}

/** Builds, measures and (when `outFile` is given) writes an EIF. */
export async function writeEif(contents: EifContents, outFile?: string): Promise<WrittenEif> {
  if (contents.ramdisks.length < 1) throw new EifError('EIF_MISSING_SECTION', 'an EIF needs at least one ramdisk');
  const cmdline = Buffer.from(contents.cmdline, 'utf8');
  if (cmdline.includes(0)) throw new EifError('EIF_BAD_SECTION', 'the kernel command line must not contain NUL bytes');
  const sections: Section[] = [
    { type: 'kernel', source: contents.kernel },
    { type: 'cmdline', source: bufferSource(cmdline, 'cmdline') },
    { type: 'metadata', source: bufferSource(encodeMetadata(contents.metadata), 'metadata') },
    ...contents.ramdisks.map((source): Section => ({ type: 'ramdisk', source })),
  ];

  // Pass 1: PCRs and the CRC of everything after the header.
  const h0 = new PcrHasher();
  const h1 = new PcrHasher();
  const h2 = new PcrHasher();
  let crcRest = 0;
  let restLength = 0;
  let ramdiskIndex = 0;
  const sectionSha256: string[] = [];
  for (const s of sections) {
    const sh = encodeSectionHeader(s.type, s.source.size);
    crcRest = crc32(sh, crcRest);
    const sectionHash = createHash('sha256');
    let n = 0;
    for await (const chunk of s.source.chunks()) {
      n += chunk.byteLength;
      crcRest = crc32(chunk, crcRest);
      sectionHash.update(chunk);
      if (s.type === 'kernel' || s.type === 'cmdline') {
        h0.update(chunk);
        h1.update(chunk);
      } else if (s.type === 'ramdisk') {
        h0.update(chunk);
        (ramdiskIndex === 0 ? h1 : h2).update(chunk);
      }
    }
    if (n !== s.source.size) {
      throw new EifError('EIF_INPUT_CHANGED', `${s.source.label} produced ${n} bytes, expected ${s.source.size}`);
    }
    if (s.type === 'ramdisk') ramdiskIndex++;
    restLength += sh.length + n;
    sectionSha256.push(sectionHash.digest('hex'));
  }
  const pcr0 = h0.finish();
  const pcrs: EifPcrs = { PCR0: pcr0.toString('hex'), PCR1: h1.finish().toString('hex'), PCR2: h2.finish().toString('hex') };

  // The signature section (if any) goes last, so it can be added once PCR0 is known.
  if (contents.signer) {
    const sig = buildSignatureSection(pcr0, contents.signer.keyPem, contents.signer.certPem);
    sections.push({ type: 'signature', source: bufferSource(sig, 'signature') });
    sectionSha256.push(createHash('sha256').update(sig).digest('hex'));
    pcrs.PCR8 = pcr8OfCertificate(typeof contents.signer.certPem === 'string' ? contents.signer.certPem : Buffer.from(contents.signer.certPem)).toString('hex');
  }
  const header = encodeHeader(contents.arch, sections.map((s) => s.source.size));
  let crc = crc32Combine(crc32(header.subarray(0, CRC_OFFSET)), crcRest, restLength);
  const last = sections[sections.length - 1]!;
  if (last.type === 'signature') {
    const sig = await readAll(last.source);
    crc = crc32(sig, crc32(encodeSectionHeader('signature', sig.length), crc));
  }
  header.writeUInt32BE(crc, CRC_OFFSET);

  // Pass 2: final bytes → SHA-256 (and the file), re-checking the CRC.
  const sha = createHash('sha256');
  let crcCheck = crc32(header.subarray(0, CRC_OFFSET));
  let size = 0;
  let tmp: string | undefined;
  let fh: FileHandle | undefined;
  let out: BufferedFile | undefined;
  try {
    if (outFile !== undefined) {
      await mkdir(dirname(outFile), { recursive: true });
      tmp = join(dirname(outFile), `.${basename(outFile)}.${randomBytes(6).toString('hex')}.tmp`);
      fh = await open(tmp, 'wx', 0o644);
      out = new BufferedFile(fh);
    }
    const emit = async (chunk: Uint8Array, inCrc: boolean): Promise<void> => {
      sha.update(chunk);
      if (inCrc) crcCheck = crc32(chunk, crcCheck);
      size += chunk.byteLength;
      if (out) await out.write(chunk);
    };
    await emit(header, false);
    for (const s of sections) {
      await emit(encodeSectionHeader(s.type, s.source.size), true);
      let n = 0;
      for await (const chunk of s.source.chunks()) {
        n += chunk.byteLength;
        await emit(chunk, true);
      }
      if (n !== s.source.size) throw new EifError('EIF_INPUT_CHANGED', `${s.source.label} changed size during the build`);
    }
    if (crcCheck !== crc) {
      throw new EifError('EIF_INPUT_CHANGED', 'an input changed between the measuring and the writing pass', {
        hint: 'do not modify build inputs during `eif build`; run it again',
      });
    }
    if (fh && out && tmp !== undefined && outFile !== undefined) {
      await out.flush();
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, outFile);
      tmp = undefined;
    }
  } finally {
    if (fh) await fh.close().catch(() => undefined);
    if (tmp !== undefined) await unlink(tmp).catch(() => undefined);
  }
  if (size !== EIF_HEADER_SIZE + restLength + (last.type === 'signature' ? 12 + last.source.size : 0)) {
    throw new EifError('EIF_INPUT_CHANGED', 'the written image size differs from the planned size');
  }
  return { pcrs, eifSha256: sha.digest('hex'), size, crc32: crc, sectionSha256, ...(outFile === undefined ? {} : { path: outFile }) };
}
