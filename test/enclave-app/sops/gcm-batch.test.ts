/**
 * The batch opener of SOPS values (enclave-app/sops/gcm-batch.ts) and the addon function behind
 * it (vsock/native/aes_gcm.c). Both backends — OpenSSL through the addon and node:crypto — must
 * decrypt exactly what an independent encryption (createCipheriv) produced, refuse a tampered
 * value by its index, and leave no plaintext in the destination when they refuse. The addon's
 * own checks must reject every layout that points outside its buffers before decrypting anything.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { GCM_LAYOUT_STRIDE, GcmBatch, gcmBackend, openGcmBatch, type GcmBackend } from '../../../enclave-app/sops/gcm-batch.js';
import { loadVsockAddon, VSOCK_ADDON_ENV } from '../../../vsock/addon.js';
import { missingVsockAddon } from '../../tools.js';

const noAddon = missingVsockAddon();
const backends: GcmBackend[] = noAddon === undefined ? ['node', 'openssl'] : ['node'];

interface Plain {
  pt: Uint8Array;
  aad: string;
}

/** Encrypts each value with createCipheriv (32-byte IVs as sops uses) and lays them out in a batch. */
function seal(key: Buffer, values: Plain[], viaBase64: boolean): { batch: GcmBatch; expected: Buffer } {
  const batch = new GcmBatch(32);
  for (const v of values) {
    const iv = randomBytes(32);
    const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    c.setAAD(Buffer.from(v.aad, 'utf8'));
    const ct = Buffer.concat([c.update(v.pt), c.final()]);
    const tag = c.getAuthTag();
    if (viaBase64 && ct.length > 0) batch.addBase64(ct.toString('base64'), iv.toString('base64'), tag.toString('base64'), v.aad);
    else batch.addBytes(ct, iv, tag, v.aad);
  }
  return { batch, expected: Buffer.concat(values.map((v) => v.pt)) };
}

const valuesArb = fc.array(
  fc.record({ pt: fc.uint8Array({ maxLength: 80 }), aad: fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 6 })) }),
  { minLength: 1, maxLength: 25 },
);

describe('openGcmBatch: every backend decrypts what createCipheriv encrypted', () => {
  it.each(backends)('%s: plaintexts land at their dstRange, in order, for any values and AADs', (backend) => {
    fc.assert(
      fc.property(valuesArb, fc.boolean(), (values, viaBase64) => {
        const key = randomBytes(32);
        const { batch, expected } = seal(key, values, viaBase64);
        const dst = Buffer.alloc(batch.dstLength);
        expect(openGcmBatch(key, batch, dst, backend)).toBe(-1);
        expect(dst.equals(expected)).toBe(true);
        values.forEach((v, i) => {
          const [a, b] = batch.dstRange(i);
          expect(Buffer.from(dst.subarray(a, b)).equals(Buffer.from(v.pt))).toBe(true);
        });
      }),
      { seed: 7, numRuns: 150 },
    );
  });

  it.each(backends)('%s: an empty batch opens to nothing', (backend) => {
    const batch = new GcmBatch(32);
    expect(openGcmBatch(randomBytes(32), batch, Buffer.alloc(0), backend)).toBe(-1);
  });

  it('addBase64 and addBytes lay out the same bytes', () => {
    const values = [{ pt: Buffer.from('secret-one'), aad: 'a:' }, { pt: Buffer.from('two'), aad: 'b:c:' }];
    const iv = randomBytes(32);
    const tag = randomBytes(16);
    const a = new GcmBatch(32);
    const b = new GcmBatch(32);
    for (const v of values) {
      a.addBytes(v.pt, iv, tag, v.aad);
      b.addBase64(v.pt.toString('base64'), iv.toString('base64'), tag.toString('base64'), v.aad);
    }
    expect(a.src.subarray(0, a.srcLength).equals(b.src.subarray(0, b.srcLength))).toBe(true);
    expect(a.layout.subarray(0, 2 * GCM_LAYOUT_STRIDE)).toEqual(b.layout.subarray(0, 2 * GCM_LAYOUT_STRIDE));
  });

  it('addBase64 refuses fields whose text does not decode to the length it promises, and stays usable', () => {
    const b = new GcmBatch(32);
    const iv = Buffer.alloc(32).toString('base64');
    const tag = Buffer.alloc(16).toString('base64');
    expect(() => b.addBase64('aGVsbG8=', Buffer.alloc(31).toString('base64'), tag, 'k:')).toThrow(RangeError);
    expect(() => b.addBase64('aGVsbG8', iv, tag, 'k:')).toThrow(/whole base64 quanta/);
    expect(() => b.addBytes(Buffer.from('x'), Buffer.alloc(32), Buffer.alloc(15), 'k:')).toThrow(RangeError);
    expect([b.count, b.srcLength, b.dstLength]).toEqual([0, 0, 0]);
    expect(b.addBase64('aGVsbG8=', iv, tag, 'k:')).toBe(0);
    expect([b.srcLength, b.dstLength]).toEqual([5 + 32 + 16, 5]);
  });

  it('grows its buffers past their first size without losing earlier values', () => {
    const key = randomBytes(32);
    const values = Array.from({ length: 300 }, (_, i) => ({ pt: randomBytes(20 + (i % 40)), aad: `KEY_${i}:`.repeat(1 + (i % 5)) }));
    const { batch, expected } = seal(key, values, true);
    for (const backend of backends) {
      const dst = Buffer.alloc(batch.dstLength);
      expect(openGcmBatch(key, batch, dst, backend)).toBe(-1);
      expect(dst.equals(expected)).toBe(true);
    }
  });
});

describe('openGcmBatch: a value that does not authenticate', () => {
  const tamperArb = fc.record({
    values: valuesArb,
    victim: fc.nat(),
    part: fc.constantFrom('data', 'iv', 'tag', 'aad', 'key'),
    bit: fc.nat({ max: 7 }),
  });

  it.each(backends)('%s: returns the index of the first bad value and zeroes the whole destination', (backend) => {
    fc.assert(
      fc.property(tamperArb, ({ values, victim, part, bit }) => {
        const key = randomBytes(32);
        const { batch } = seal(key, values, false);
        const i = victim % values.length;
        const o = i * GCM_LAYOUT_STRIDE;
        const l = batch.layout;
        let openKey = key;
        if (part === 'data' && l[o + 1]! > 0) batch.src[l[o]!] ^= 1 << bit;
        else if (part === 'iv') batch.src[l[o + 2]!] ^= 1 << bit;
        else if (part === 'tag' || part === 'data') batch.src[l[o + 3]! + 15] ^= 1 << bit;
        else if (part === 'aad') {
          if (l[o + 5] === 0) batch.src[l[o + 3]!] ^= 1 << bit; // no AAD to flip: the tag instead
          else batch.aad[l[o + 4]!] ^= 1 << bit;
        } else openKey = Buffer.from(key.map((x, k) => (k === 0 ? x ^ (1 << bit) : x)));
        const dst = Buffer.alloc(batch.dstLength, 0xa5);
        const failed = openGcmBatch(openKey, batch, dst, backend);
        expect(failed).toBe(part === 'key' ? 0 : i);
        expect(dst.every((x) => x === 0)).toBe(true);
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it.skipIf(noAddon !== undefined)('the two backends agree on which value fails', () => {
    const key = randomBytes(32);
    const values = Array.from({ length: 50 }, (_, i) => ({ pt: Buffer.from(`value ${i}`), aad: `K${i}:` }));
    const { batch } = seal(key, values, true);
    batch.src[batch.layout[17 * GCM_LAYOUT_STRIDE + 3]!] ^= 0x80;
    batch.src[batch.layout[30 * GCM_LAYOUT_STRIDE]!] ^= 0x01;
    const answers = backends.map((b) => openGcmBatch(key, batch, Buffer.alloc(batch.dstLength), b));
    expect(answers).toEqual([17, 17]);
  });

  it('refuses a destination of the wrong size', () => {
    const key = randomBytes(32);
    const { batch } = seal(key, [{ pt: Buffer.from('abc'), aad: 'k:' }], false);
    expect(() => openGcmBatch(key, batch, Buffer.alloc(2))).toThrow(/dstLength/);
  });
});

describe('which backend runs', () => {
  const saved = process.env[VSOCK_ADDON_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[VSOCK_ADDON_ENV];
    else process.env[VSOCK_ADDON_ENV] = saved;
  });

  it.skipIf(noAddon !== undefined)('auto takes OpenSSL where the addon is loaded', () => {
    expect(gcmBackend()).toBe('openssl');
  });

  it('without the addon: auto falls back to node:crypto and still decrypts; openssl is refused', () => {
    process.env[VSOCK_ADDON_ENV] = '/nonexistent/attested_pack_vsock.node';
    expect(gcmBackend()).toBe('node');
    const key = randomBytes(32);
    const { batch, expected } = seal(key, [{ pt: Buffer.from('fallback'), aad: 'k:' }], true);
    const dst = Buffer.alloc(batch.dstLength);
    expect(openGcmBatch(key, batch, dst)).toBe(-1);
    expect(dst.equals(expected)).toBe(true);
    expect(() => openGcmBatch(key, batch, Buffer.alloc(batch.dstLength), 'openssl')).toThrow(/needs the addon/);
  });
});

describe.skipIf(noAddon !== undefined)('aesGcmOpenBatch (the addon): argument checks before any decryption', () => {
  type Open = (key: Uint8Array, src: Uint8Array, layout: Uint32Array, aad: Uint8Array, dst: Uint8Array, ivLength: number) => number;
  const open = (): Open => loadVsockAddon().aesGcmOpenBatch!;
  const key = randomBytes(32);
  // One good value at the start of src: 8 bytes of data, IV at 8, tag at 40.
  const { batch } = seal(key, [{ pt: Buffer.from('8 bytes!'), aad: 'k:' }], false);
  const src = batch.src.subarray(0, batch.srcLength);
  const aad = batch.aad.subarray(0, batch.aadLength);
  const good = Array.from(batch.layout.subarray(0, GCM_LAYOUT_STRIDE));
  const rangeError = (f: () => unknown) => {
    let caught: unknown;
    try {
      f();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect((caught as { code?: string }).code).toBe('AES_GCM_ARGS');
  };

  it('opens the well-formed call (the baseline the cases below change one thing of)', () => {
    const dst = Buffer.alloc(8);
    expect(open()(key, src, Uint32Array.from(good), aad, dst, 32)).toBe(-1);
    expect(dst.toString()).toBe('8 bytes!');
  });

  const U32_MAX = 0xffffffff;
  const cases: Array<[string, (l: number[]) => void]> = [
    ['data past the end of src', (l) => (l[0] = src.length - 4)],
    ['data length wrapping the offset', (l) => (l[1] = U32_MAX)],
    ['IV past the end of src', (l) => (l[2] = src.length - 31)],
    ['IV offset at 2^32 - 1', (l) => (l[2] = U32_MAX)],
    ['tag past the end of src', (l) => (l[3] = src.length - 15)],
    ['AAD past the end of aad', (l) => (l[5] = aad.length + 1)],
    ['AAD offset at 2^32 - 1', (l) => (l[4] = U32_MAX)],
    ['plaintext past the end of dst', (l) => (l[6] = 1)],
  ];
  it.each(cases)('layout with %s: RangeError AES_GCM_ARGS, destination untouched', (_name, change) => {
    const l = [...good];
    change(l);
    const dst = Buffer.alloc(8, 0xaa);
    rangeError(() => open()(key, src, Uint32Array.from(l), aad, dst, 32));
    expect(dst.every((x) => x === 0xaa)).toBe(true);
  });

  it('rejects a key that is not 32 bytes, a layout that is not whole entries, a bad IV length and wrong types', () => {
    const dst = Buffer.alloc(8, 0xaa);
    rangeError(() => open()(key.subarray(0, 31), src, Uint32Array.from(good), aad, dst, 32));
    rangeError(() => open()(key, src, Uint32Array.from(good.slice(0, 6)), aad, dst, 32));
    rangeError(() => open()(key, src, Uint32Array.from(good), aad, dst, 0));
    rangeError(() => open()(key, src, Uint32Array.from(good), aad, dst, 65));
    rangeError(() => open()(key, src, Int32Array.from(good) as unknown as Uint32Array, aad, dst, 32));
    rangeError(() => open()(key, 'not bytes' as unknown as Uint8Array, Uint32Array.from(good), aad, dst, 32));
    rangeError(() => (open() as unknown as (...a: unknown[]) => number)(key, src, Uint32Array.from(good)));
    expect(dst.every((x) => x === 0xaa)).toBe(true);
  });

  it('checks every entry before decrypting any: a bad second entry leaves the first undecrypted', () => {
    const l = [...good, ...good];
    l[GCM_LAYOUT_STRIDE] = src.length; // second entry's data starts at the end, length 8: outside
    const dst = Buffer.alloc(8, 0xaa);
    rangeError(() => open()(key, src, Uint32Array.from(l), aad, dst, 32));
    expect(dst.every((x) => x === 0xaa)).toBe(true);
  });
});
