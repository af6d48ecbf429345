/**
 * EIF writer and reader: the file layout checked by hand against the spec, PCRs recomputed
 * independently from the section bytes, describe(build(x)) == measurements.json, and every way a
 * file can be malformed → a typed error (or CheckCRC false for flipped bytes).
 */
import { createHash } from 'node:crypto';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMeasurements } from '../../common/measurements.js';
import { buildEif } from '../../eif-build/build.js';
import { EifError } from '../../eif-build/errors.js';
import { describeEif, inspectEif, verifyEif } from '../../eif-build/eif-reader.js';
import { encodeHeader } from '../../eif-build/header.js';
import { measureEnclaveBundle } from '../../eif-build/measure.js';
import { tempDir } from './helpers.js';

interface Sec {
  type: number;
  flags: number;
  offset: number;
  data: Buffer;
}

/** Walks an EIF by hand from the spec (independent of eif-reader.ts). */
function walk(buf: Buffer): { sections: Sec[]; numSections: number } {
  const numSections = buf.readUInt16BE(26);
  const sections: Sec[] = [];
  let pos = 548;
  while (pos < buf.length) {
    const type = buf.readUInt16BE(pos);
    const flags = buf.readUInt16BE(pos + 2);
    const size = Number(buf.readBigUInt64BE(pos + 4));
    sections.push({ type, flags, offset: pos, data: buf.subarray(pos + 12, pos + 12 + size) });
    pos += 12 + size;
  }
  return { sections, numSections };
}

const sha384 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha384');
  for (const p of parts) h.update(p);
  return h.digest();
};
const pcr = (...parts: Buffer[]): string => sha384(Buffer.alloc(48), sha384(...parts)).toString('hex');
const crcOf = (buf: Buffer): number => zlib.crc32(Buffer.concat([buf.subarray(0, 544), buf.subarray(548)])) >>> 0;

let t: { dir: string; cleanup: () => Promise<void> };
let eifPath: string;
let eif: Buffer;

beforeAll(async () => {
  t = await tempDir();
  await writeFile(join(t.dir, 'bundle.mjs'), 'export const hello = "enclave";\n');
  eifPath = join(t.dir, 'enclave.eif');
  await buildEif({
    boot: { kind: 'synthetic' },
    user: { kind: 'spec', spec: { bundlePath: join(t.dir, 'bundle.mjs'), runtime: { kind: 'reference', nodePath: process.execPath } } },
    outFile: eifPath,
    measurementsFile: join(t.dir, 'measurements.json'),
    buildTimeEpoch: 0,
  });
  eif = await readFile(eifPath);
});
afterAll(() => t.cleanup());

async function withBytes(name: string, bytes: Buffer): Promise<string> {
  const p = join(t.dir, name);
  await writeFile(p, bytes);
  return p;
}

async function errorCode(bytes: Buffer, name = 'bad.eif'): Promise<string> {
  try {
    await inspectEif(await withBytes(name, bytes));
  } catch (err) {
    expect(err).toBeInstanceOf(EifError);
    return (err as EifError).code;
  }
  return 'NO_ERROR';
}

describe('EIF layout', () => {
  it('has the 548-byte v4 header, contiguous sections in AWS order and a correct CRC', () => {
    expect(eif.subarray(0, 4).toString('latin1')).toBe('.eif');
    expect(eif.readUInt16BE(4)).toBe(4);
    expect(eif.readUInt16BE(6)).toBe(0); // x86_64
    expect(eif.readBigUInt64BE(8)).toBe(1073741824n);
    expect(eif.readBigUInt64BE(16)).toBe(2n);
    const { sections, numSections } = walk(eif);
    expect(numSections).toBe(5);
    // kernel, cmdline, metadata, ramdisk (bootstrap), ramdisk (user)
    expect(sections.map((s) => s.type)).toEqual([1, 2, 5, 3, 3]);
    sections.forEach((s, i) => {
      expect(s.flags).toBe(0);
      expect(Number(eif.readBigUInt64BE(28 + 8 * i))).toBe(s.offset);
      expect(Number(eif.readBigUInt64BE(284 + 8 * i))).toBe(s.data.length);
    });
    for (let i = numSections; i < 32; i++) expect(eif.readBigUInt64BE(28 + 8 * i) + eif.readBigUInt64BE(284 + 8 * i)).toBe(0n);
    expect(eif.readUInt32BE(544)).toBe(crcOf(eif));
    // cmdline: nitro-cli's, trimmed, no NUL; metadata: compact JSON in EifIdentityInfo key order.
    expect(sections[1]!.data.toString()).toBe('reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on');
    expect(sections[2]!.data.toString()).toBe(
      '{"ImageName":"attested-pack-enclave","ImageVersion":"0.1.0","BuildMetadata":{"BuildTime":"1970-01-01T00:00:00+00:00","BuildTool":"attested-pack","BuildToolVersion":"0.1.0","OperatingSystem":"synthetic","KernelVersion":"synthetic-not-bootable"},"DockerInfo":null,"CustomMetadata":null}',
    );
  });

  it('describe(build(x)) equals measurements.json, and both equal PCRs recomputed from the section bytes', async () => {
    const written = parseMeasurements(await readFile(join(t.dir, 'measurements.json'), 'utf8'));
    const inspected = await inspectEif(eifPath);
    const d = inspected.description;
    const [kernel, cmdline, , boot, user] = walk(eif).sections.map((s) => s.data) as [Buffer, Buffer, Buffer, Buffer, Buffer];
    const expected = { PCR0: pcr(kernel, cmdline, boot, user), PCR1: pcr(kernel, cmdline, boot), PCR2: pcr(user) };
    expect({ PCR0: d.Measurements.PCR0, PCR1: d.Measurements.PCR1, PCR2: d.Measurements.PCR2 }).toEqual(expected);
    expect({ PCR0: written.PCR0, PCR1: written.PCR1, PCR2: written.PCR2 }).toEqual(expected);
    expect(written.PCR8).toBeUndefined();
    expect(written.eifSha256).toBe(createHash('sha256').update(eif).digest('hex'));
    expect(inspected.eifSha256).toBe(written.eifSha256);
    expect(written.arch).toBe('x86_64');
    expect(written.buildInputs.bootBlobs).toMatch(/NOT BOOTABLE/);
    expect(d).toMatchObject({ EifVersion: 4, IsSigned: false, CheckCRC: true, ImageName: 'attested-pack-enclave', Measurements: { HashAlgorithm: 'Sha384 { ... }' } });
    expect(d.SignatureCheck).toBeUndefined();
    expect(Object.keys(d)).toEqual(['EifVersion', 'Measurements', 'IsSigned', 'CheckCRC', 'ImageName', 'ImageVersion', 'Metadata']);
    expect(d.Metadata).toMatchObject({ BuildTime: '1970-01-01T00:00:00+00:00', BuildTool: 'attested-pack', DockerInfo: null });
  });

  it('the worker-thread hashing path and the single-thread path give the same, independently recomputed results', async () => {
    const [kernel, cmdline, , boot, user] = walk(eif).sections.map((s) => s.data) as [Buffer, Buffer, Buffer, Buffer, Buffer];
    const expected = { PCR0: pcr(kernel, cmdline, boot, user), PCR1: pcr(kernel, cmdline, boot), PCR2: pcr(user) };
    const fileSha = createHash('sha256').update(eif).digest('hex');
    for (const parallelHashing of ['always', 'never'] as const) {
      const i = await inspectEif(eifPath, { parallelHashing });
      const m = i.description.Measurements;
      expect({ PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2 }).toEqual(expected);
      expect(i.eifSha256).toBe(fileSha);
      expect(i.description.CheckCRC).toBe(true);
    }
    // A flipped byte in the user ramdisk changes PCR0 and PCR2 (not PCR1) on the threaded path too.
    const flipped = Buffer.from(eif);
    const userOffset = walk(eif).sections[4]!.offset + 12;
    flipped[userOffset] = flipped[userOffset]! ^ 0xff;
    const fp = join(t.dir, 'flipped-threaded.eif');
    await writeFile(fp, flipped);
    const f = (await inspectEif(fp, { parallelHashing: 'always' })).description;
    const [, , , , user2] = walk(flipped).sections.map((s) => s.data) as [Buffer, Buffer, Buffer, Buffer, Buffer];
    expect(f.CheckCRC).toBe(false);
    expect(f.Measurements.PCR0).toBe(pcr(kernel, cmdline, boot, user2));
    expect(f.Measurements.PCR1).toBe(expected.PCR1);
    expect(f.Measurements.PCR2).toBe(pcr(user2));
  });

  it('measureEnclaveBundle measures the same image without writing it, and tracks the bundle bytes', async () => {
    const bundle = join(t.dir, 'bundle.mjs');
    const m = await measureEnclaveBundle({ bundlePath: bundle, buildTimeEpoch: 0 });
    const written = parseMeasurements(await readFile(join(t.dir, 'measurements.json'), 'utf8'));
    expect(m).toEqual(written);
    await writeFile(join(t.dir, 'bundle2.mjs'), 'export const hello = "enclavf";\n');
    const m2 = await measureEnclaveBundle({ bundlePath: join(t.dir, 'bundle2.mjs'), buildTimeEpoch: 0 });
    expect(m2.PCR0).not.toBe(m.PCR0);
    expect(m2.PCR2).not.toBe(m.PCR2);
    expect(m2.PCR1).toBe(m.PCR1); // boot blobs unchanged
    expect(m.buildInputs.nodeRuntime).toMatch(/^sha256:[0-9a-f]{64} \(referenced, NOT in the image/);
  });

  it('aarch64 sets header flag bit 0 and uses the aarch64 cmdline', async () => {
    const p = join(t.dir, 'arm.eif');
    const r = await buildEif({ arch: 'aarch64', boot: { kind: 'synthetic' }, user: { kind: 'archive', path: join(t.dir, 'bundle.mjs') }, outFile: p });
    const buf = await readFile(p);
    expect(buf.readUInt16BE(6)).toBe(1);
    expect(walk(buf).sections[1]!.data.toString()).toBe('reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on root=/dev/ram0');
    const i = await inspectEif(p);
    expect(i.arch).toBe('aarch64');
    expect(r.measurements.arch).toBe('aarch64');
  });

  it('streams a large image (64 MiB ramdisk) with equal measurements from build and describe', async () => {
    const big = join(t.dir, 'big.cpio');
    await writeFile(big, 'head');
    await truncate(big, 64 * 1024 * 1024); // sparse: cheap to create
    const p = join(t.dir, 'big.eif');
    const r = await buildEif({ boot: { kind: 'synthetic' }, user: { kind: 'archive', path: big }, outFile: p });
    const d = await describeEif(p); // ≥ 32 MiB measured: the worker-thread path
    expect(d.CheckCRC).toBe(true);
    expect(d.Measurements.PCR0).toBe(r.measurements.PCR0);
    expect(d.Measurements.PCR2).toBe(r.measurements.PCR2);
    // And against PCRs recomputed here from the section bytes (independent of both).
    const [kernel, cmdline, , boot, user] = walk(await readFile(p)).sections.map((s) => s.data) as [Buffer, Buffer, Buffer, Buffer, Buffer];
    expect(d.Measurements).toMatchObject({ PCR0: pcr(kernel, cmdline, boot, user), PCR1: pcr(kernel, cmdline, boot), PCR2: pcr(user) });
  }, 120_000); // hashes 64 MiB several times; generous for loaded CI machines
});

describe('malformed EIFs → typed errors', () => {
  const set16 = (b: Buffer, off: number, v: number): Buffer => {
    const c = Buffer.from(b);
    c.writeUInt16BE(v, off);
    return c;
  };
  const set64 = (b: Buffer, off: number, v: bigint): Buffer => {
    const c = Buffer.from(b);
    c.writeBigUInt64BE(v, off);
    return c;
  };
  const off = (i: number): bigint => eif.readBigUInt64BE(28 + 8 * i);
  const size = (i: number): bigint => eif.readBigUInt64BE(284 + 8 * i);

  it('truncated files', async () => {
    expect(await errorCode(eif.subarray(0, 300))).toBe('EIF_TRUNCATED');
    expect(await errorCode(eif.subarray(0, 548))).toBe('EIF_TRUNCATED');
    expect(await errorCode(eif.subarray(0, eif.length - 1))).toBe('EIF_TRUNCATED');
    expect(await errorCode(Buffer.alloc(0))).toBe('EIF_TRUNCATED');
  });

  it('bad magic and unsupported versions', async () => {
    expect(await errorCode(Buffer.concat([Buffer.from('.elf'), eif.subarray(4)]))).toBe('EIF_BAD_MAGIC');
    expect(await errorCode(Buffer.from('PK\x03\x04 not an eif'))).toBe('EIF_BAD_MAGIC');
    expect(await errorCode(set16(eif, 4, 5))).toBe('EIF_BAD_VERSION');
    expect(await errorCode(set16(eif, 4, 1))).toBe('EIF_BAD_VERSION');
    expect(await errorCode(set16(eif, 6, 2))).toBe('EIF_BAD_HEADER');
  });

  it('section sizes that disagree with the header', async () => {
    expect(await errorCode(set64(eif, 284 + 8, size(1) + 1n))).toBe('EIF_SECTION_SIZE_MISMATCH');
    const sec1 = Number(off(1));
    expect(await errorCode(set64(eif, sec1 + 4, size(1) - 1n))).toBe('EIF_SECTION_SIZE_MISMATCH');
  });

  it('overlapping, out-of-order and non-contiguous sections', async () => {
    expect(await errorCode(set64(eif, 28 + 16, off(2) - 4n))).toBe('EIF_SECTION_OVERLAP');
    expect(await errorCode(set64(eif, 28, 500n))).toBe('EIF_SECTION_OVERLAP'); // kernel inside the header
    const swapped = set64(set64(eif, 28 + 8, off(2)), 28 + 16, off(1));
    expect(await errorCode(swapped)).toBe('EIF_SECTION_ORDER');
    expect(await errorCode(set64(eif, 28 + 32, off(4) + 8n))).toBe('EIF_SECTION_ORDER'); // gap
    // A ramdisk where the kernel must be: AWS requires ramdisks after the kernel.
    expect(await errorCode(set16(eif, 548, 3))).toBe('EIF_SECTION_ORDER');
  });

  it('more than 32 sections, too few, invalid types, trailing data, missing sections', async () => {
    expect(await errorCode(set16(eif, 26, 33))).toBe('EIF_TOO_MANY_SECTIONS');
    expect(await errorCode(set16(eif, 26, 1))).toBe('EIF_TOO_MANY_SECTIONS');
    expect(() => encodeHeader('x86_64', new Array(33).fill(1))).toThrow(expect.objectContaining({ code: 'EIF_TOO_MANY_SECTIONS' }));
    expect(await errorCode(set16(eif, Number(off(1)), 9))).toBe('EIF_BAD_SECTION');
    expect(await errorCode(set16(eif, Number(off(1)) + 2, 1))).toBe('EIF_BAD_SECTION');
    expect(await errorCode(Buffer.concat([eif, Buffer.from('x')]))).toBe('EIF_TRAILING_DATA');
    // Declaring 4 sections leaves the user ramdisk as trailing data.
    expect(await errorCode(set64(set64(set16(eif, 26, 4), 28 + 32, 0n), 284 + 32, 0n))).toBe('EIF_TRAILING_DATA');
    // Stale table entry beyond num_sections.
    expect(await errorCode(set64(eif, 28 + 8 * 31, 1n))).toBe('EIF_BAD_HEADER');
    // cmdline section retyped as a second kernel.
    expect(await errorCode(set16(eif, Number(off(1)), 1))).toBe('EIF_MISSING_SECTION');
  });

  it('a metadata section that is not JSON is a typed error when the CRC is right', async () => {
    const m = Number(off(2)) + 12;
    const bad = Buffer.from(eif);
    bad[m] = 0x5b; // '{' → '['
    bad.writeUInt32BE(crcOf(bad), 544);
    expect(await errorCode(bad)).toBe('EIF_BAD_METADATA');
  });

  it('a missing file is a typed error', async () => {
    await expect(describeEif(join(t.dir, 'nope.eif'))).rejects.toBeInstanceOf(EifError);
  });
});

describe('CRC on the hashing worker (many chunks)', () => {
  it('chunk CRCs from the worker combine to the header CRC; a flip in any chunk, or in the bytes between, is caught', async () => {
    // A user ramdisk of ~13 MiB spans four 4 MiB worker chunks plus local header bytes in between.
    const dir = join(t.dir, 'big-tree');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'rootfs'), { recursive: true });
    await writeFile(join(dir, 'cmd'), '/bin/true\n');
    await writeFile(join(dir, 'env'), '');
    await writeFile(join(dir, 'rootfs', 'payload.bin'), createHash('sha512').update('seed').digest().toString('hex').repeat(100_000));
    const big = join(t.dir, 'big.eif');
    await buildEif({ boot: { kind: 'synthetic' }, user: { kind: 'tree', dir }, outFile: big, buildTimeEpoch: 0 });
    const bytes = await readFile(big);
    expect(bytes.readUInt32BE(544)).toBe(crcOf(bytes));
    expect((await inspectEif(big, { parallelHashing: 'always' })).description.CheckCRC).toBe(true);
    expect((await describeEif(big)).CheckCRC).toBe(true);
    const user = walk(bytes).sections[4]!;
    for (const at of [user.offset + 12 + 5 * 2 ** 20 + 7, user.offset + 12 + user.data.length - 1, user.offset + 3, 600]) {
      const flipped = Buffer.from(bytes);
      flipped[at] = flipped[at]! ^ 0x01;
      const fp = join(t.dir, `big-flipped-${at}.eif`);
      await writeFile(fp, flipped);
      const d = await inspectEif(fp, { parallelHashing: 'always' }).then((i) => i.description, (e: unknown) => e);
      if (d instanceof EifError) continue; // a flip in a header field can be a typed structural error instead
      expect((d as { CheckCRC: boolean }).CheckCRC).toBe(false);
    }
  }, 60_000);
});

describe('CRC', () => {
  it('any flipped byte is caught: CheckCRC false or a typed error, never a silent pass', async () => {
    const p = join(t.dir, 'flip.eif');
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: eif.length - 1 }), fc.integer({ min: 1, max: 255 }), async (pos, mask) => {
        const b = Buffer.from(eif);
        b[pos]! ^= mask;
        await writeFile(p, b);
        try {
          const d = await describeEif(p);
          expect(d.CheckCRC).toBe(false);
        } catch (err) {
          expect(err).toBeInstanceOf(EifError);
        }
      }),
      { seed: 42, numRuns: 120 },
    );
  });

  it('flips inside each section report CheckCRC false with the structure intact', async () => {
    for (const s of walk(eif).sections) {
      if (s.type === 5) continue; // metadata flips may break JSON; covered above
      const b = Buffer.from(eif);
      b[s.offset + 12 + Math.floor(s.data.length / 2)]! ^= 0x01;
      const flipped = await withBytes('flip2.eif', b);
      expect((await describeEif(flipped)).CheckCRC).toBe(false);
      await expect(verifyEif(flipped)).rejects.toMatchObject({ code: 'EIF_CRC_MISMATCH' });
    }
    const hdrFlip = Buffer.from(eif);
    hdrFlip[544]! ^= 0x80; // the CRC field itself
    expect((await describeEif(await withBytes('flip3.eif', hdrFlip))).CheckCRC).toBe(false);
  });
});
