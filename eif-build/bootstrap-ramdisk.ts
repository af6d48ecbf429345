/**
 * The bootstrap ramdisk (ramdisk[0], measured into PCR1): exactly what nitro-cli's linuxkit
 * build emits for its `files:` list — `dev/` (0755), `init` (0755), `nsm.ko` (0755), all uid/gid 0
 * and mtime 1492533000 — so that with AWS's blobs and kernel, PCR1 equals nitro-cli's.
 */
import type { ByteSource } from './byte-source.js';
import { cpioArchive, LINUXKIT_INO_START, LINUXKIT_MTIME, type CpioArchive, type CpioEntry } from './cpio.js';

/** The bootstrap blobs: init (PID 1) and, for kernels without built-in NSM, nsm.ko. */
export interface BootstrapInputs {
  init: ByteSource;
  /** Omit for kernels ≥ 6.8 with the NSM driver built in; init skips a missing /nsm.ko. */
  nsm?: ByteSource;
}

/** Lays out the bootstrap ramdisk as a streamable cpio archive. */
export function bootstrapRamdisk(inputs: BootstrapInputs): CpioArchive {
  const entries: CpioEntry[] = [
    { kind: 'dir', name: 'dev', mode: 0o755 },
    { kind: 'file', name: 'init', mode: 0o755, source: inputs.init },
  ];
  if (inputs.nsm) entries.push({ kind: 'file', name: 'nsm.ko', mode: 0o755, source: inputs.nsm });
  return cpioArchive(entries, { mtime: LINUXKIT_MTIME, inoStart: LINUXKIT_INO_START }, 'bootstrap ramdisk');
}
