/**
 * Fuzzing the EIF reader (eif-build): inspectEif / describeEif / verifyEif on byte-mutated small
 * images (one unsigned, one signed with the vectors' throwaway EIF-signing certificate), each
 * mutation written to a file on tmpfs. Oracle: a description or an EifError; never an untyped
 * error, and hostile section sizes in the header never make the reader allocate them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferSource, buildMetadata, crc32, describeEif, inspectEif, verifyEif, writeEif, type EifContents } from '../../../eif-build/index.js';
import { ALLOCATION_BOUND, Tally, allocatedBytes, classifyAsync, expectTypedRejection, bytesOf, mutationsOf, params, runs, timeoutFor, vectorsDir } from '../support.js';

let dir: string;
let images: Uint8Array[] = [];

const CODES: ReadonlySet<string> = new Set([
  'EIF_TRUNCATED',
  'EIF_BAD_MAGIC',
  'EIF_BAD_VERSION',
  'EIF_BAD_HEADER',
  'EIF_SECTION_SIZE_MISMATCH',
  'EIF_SECTION_OVERLAP',
  'EIF_SECTION_ORDER',
  'EIF_TOO_MANY_SECTIONS',
  'EIF_BAD_SECTION',
  'EIF_MISSING_SECTION',
  'EIF_TRAILING_DATA',
  'EIF_CRC_MISMATCH',
  'EIF_BAD_SIGNATURE',
  'EIF_BAD_METADATA',
]);

function contents(signed: boolean): EifContents {
  const signing = path.join(vectorsDir, 'eif', 'test-signing');
  return {
    arch: 'x86_64',
    kernel: bufferSource(Buffer.from('not a kernel, a fuzzing seed\n'), 'kernel'),
    cmdline: 'reboot=k panic=30 pci=off',
    metadata: buildMetadata({ imageName: 'fuzz', imageVersion: '1', buildTimeEpoch: 0, operatingSystem: 'synthetic', kernelVersion: 'none', customMetadata: { k: 'v' } }),
    ramdisks: [bufferSource(Buffer.from('bootstrap ramdisk'), 'boot'), bufferSource(Buffer.from('user ramdisk'), 'user')],
    ...(signed
      ? { signer: { keyPem: readFileSync(path.join(signing, 'test-signing-key.pem')), certPem: readFileSync(path.join(signing, 'test-signing-cert.pem')) } }
      : {}),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ap-security-eif-'));
  for (const signed of [false, true]) {
    const file = path.join(dir, `seed-${signed ? 'signed' : 'unsigned'}.eif`);
    await writeEif(contents(signed), file);
    images.push(new Uint8Array(await readFile(file)));
  }
});
afterAll(async () => {
  images = [];
  await rm(dir, { recursive: true, force: true });
});

describe('EIF reader fuzzing (mutated small images)', () => {
  it('the seeds are valid images (signed one with a verifying signature)', async () => {
    const unsigned = await verifyEif(path.join(dir, 'seed-unsigned.eif'));
    const signed = await verifyEif(path.join(dir, 'seed-signed.eif'));
    expect(unsigned.description.IsSigned).toBe(false);
    expect(signed.description.SignatureCheck).toBe(true);
  });

  const n = runs(2000);
  it(`inspectEif / describeEif / verifyEif: ${n} mutated images → a description or an EifError`, async () => {
    const tally = new Tally('inspectEif');
    let crcCaught = 0;
    let i = 0;
    const file = path.join(dir, 'case.eif');
    await fc.assert(
      fc.asyncProperty(
        mutationsOf(images.length),
        async (m) => {
          const bytes = bytesOf(images, m);
          await writeFile(file, bytes);
          const reader = [inspectEif, describeEif, verifyEif][i++ % 3]!;
          await classifyAsync(
            tally,
            async () => {
              const r = await reader(file);
              // A mutated image that still parses must be flagged as corrupted, unless the mutation
              // left the bytes identical (e.g. a bit flipped twice).
              const description = 'description' in r ? r.description : r;
              if (description.CheckCRC) expect(Buffer.from(bytes).equals(Buffer.from(images[m.base]!))).toBe(true);
              else crcCaught++;
            },
            CODES,
          );
        },
      ),
      params(n),
    );
    tally.print();
    console.log(`fuzz inspectEif: ${crcCaught} mutated images parsed but were flagged CheckCRC=false`);
    expect(tally.codes.size).toBeGreaterThan(3);
  }, timeoutFor(n, 20));
});

describe('hostile EIF headers', () => {
  it('section sizes and offsets of 2^32..2^64 are refused without allocating them', async () => {
    const base = Buffer.from(images[0]!);
    const file = path.join(dir, 'hostile.eif');
    let count = 0;
    for (const value of [0xffffffffn, 0x1_0000_0000n, 0x7fffffffffffffffn, 0xffffffffffffffffn]) {
      // Header layout (eif-format.md): offsets table at 28, sizes table at 284, 32 slots of u64 each.
      for (const [table, slot] of [[28, 0], [28, 1], [284, 0], [284, 2], [284, 4]] as const) {
        const b = Buffer.from(base);
        b.writeBigUInt64BE(value, table + 8 * slot);
        await writeFile(file, b);
        const before = allocatedBytes();
        await inspectEif(file).then(
          () => {
            throw new Error(`accepted a header with ${value} at ${table}+${slot}`);
          },
          (err: unknown) => expectTypedRejection(err, CODES),
        );
        expect(allocatedBytes() - before).toBeLessThan(ALLOCATION_BOUND);
        count++;
      }
    }
    console.log(`EIF hostile header fields: ${count} images refused with typed errors, no large allocation`);
  });

  it('a missing file is a typed error', async () => {
    await inspectEif(path.join(dir, 'absent.eif')).then(
      () => {
        throw new Error('opened a missing file');
      },
      (err: unknown) => expectTypedRejection(err),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Bugs this suite found in eif-build, fixed since (see SECURITY.md "Findings of the security suite").

/** `c` as the CBOR uint the signature section uses for each PEM byte (one byte below 24, else 0x18 c). */
const cborUintBytes = (text: string): Buffer => Buffer.from([...Buffer.from(text, 'latin1')].flatMap((c) => (c < 24 ? [c] : [0x18, c])));

describe('eif-build bugs found by the security suite (fixed)', () => {
  it('eif-reader: a signing certificate with an off-curve public key is EIF_BAD_SIGNATURE, not a raw OpenSSL "decode error"', async () => {
    // Take the signed seed, flip one bit of the certificate's EC point (the certificate still
    // parses; only reading its public key fails), re-encode the PEM in place and fix the CRC.
    const certPem = readFileSync(path.join(vectorsDir, 'eif', 'test-signing', 'test-signing-cert.pem'), 'latin1');
    const der = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    const point = der.indexOf(Buffer.from('03620004', 'hex'));
    expect(point).toBeGreaterThan(0);
    der[point + 10] ^= 0x01;
    const badPem = certPem.replace(/(-----BEGIN CERTIFICATE-----\n)[\s\S]*(\n-----END CERTIFICATE-----)/, (_m, a: string, b: string) =>
      a + der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd() + b,
    );
    const image = Buffer.from(images[1]!);
    const at = image.indexOf(cborUintBytes(certPem.trimEnd()));
    expect(at).toBeGreaterThan(0);
    const replacement = cborUintBytes(badPem.trimEnd());
    expect(replacement.length).toBe(cborUintBytes(certPem.trimEnd()).length);
    replacement.copy(image, at);
    image.writeUInt32BE(crc32(image.subarray(548), crc32(image.subarray(0, 544))), 544);
    const file = path.join(dir, 'off-curve.eif');
    await writeFile(file, image);
    await inspectEif(file).then(
      () => {
        throw new Error('described an image whose signing key cannot be read');
      },
      (err: unknown) => expect(expectTypedRejection(err, CODES).code).toBe('EIF_BAD_SIGNATURE'),
    );
  });

  it('eif-reader: inspectEif on a directory is a typed EifError, not a raw EISDIR', async () => {
    await inspectEif(dir).then(
      () => {
        throw new Error('read a directory as an EIF');
      },
      (err: unknown) => expectTypedRejection(err),
    );
  });
});
