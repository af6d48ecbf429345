/**
 * Fuzzing the two binary codecs on the enclave boundary: the host↔enclave frame decoder
 * (vsock/frames.ts: 4-byte length + strict CBOR) fed mutated frame streams in random chunk
 * splits, and the /dev/nsm response/request codec (enclave-app/nsm). Oracles: only FrameError /
 * NsmError come out; a failed decoder stays failed; the decoder never buffers more than it was
 * given, nor more than one maximal frame; hostile lengths allocate nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, decodeStrictCbor, encodeFrame, toEnvelope } from '../../../vsock/index.js';
import { decodeNsmRequest, decodeNsmResponse, encodeNsmRequest, encodeNsmResponse, type NsmRequest, type NsmResponse } from '../../../enclave-app/nsm/index.js';
import { ALLOCATION_BOUND, Tally, allocatedBytes, bytesOf, classify, expectTypedRejection, mutationsOf, params, runs, timeoutFor } from '../support.js';

const FRAME_CODES: ReadonlySet<string> = new Set(['FRAME_TOO_LARGE', 'FRAME_MALFORMED', 'FRAME_TRUNCATED']);
const NSM_CODES: ReadonlySet<string> = new Set(['NSM_MALFORMED']);

/** Protocol-shaped envelopes: what the host and enclave really exchange, in a few sizes. */
const seeds: Uint8Array[] = [
  encodeFrame({ v: 1, id: 1, type: 'hello', body: { versions: [1], client: 'host-proxy' } }),
  encodeFrame({ v: 1, id: 2, type: 'health', body: {} }),
  encodeFrame({ v: 1, id: 3, type: 'attest', body: { nonce: new Uint8Array(32).fill(1) } }),
  encodeFrame({
    v: 1,
    id: 4,
    type: 'pack',
    body: {
      identity: 'api',
      environment: 'dev',
      commit: 'a'.repeat(40),
      repository: 'org/repo',
      nonce: new Uint8Array(32),
      requestedBy: 'ci',
      manifest: { path: 'clef.yaml', content: new Uint8Array(Buffer.from('version: 1\n')) },
      files: [{ path: 'secrets/a/dev.enc.yaml', content: new Uint8Array(300).fill(0x61) }],
      options: { signing: 'none', ttlSeconds: 3600 },
      credentials: { accessKeyId: 'AKIA', secretAccessKey: 'x', region: 'us-east-1' },
    },
  }),
  encodeFrame({ v: 1, id: 5, type: 'error', body: { code: 'SOPS_MAC_MISMATCH', message: 'm', category: 'rejected', floats: [1.5, -0, 1e300], big: 2 ** 53 - 1, neg: -7, t: true, n: null } }),
];
/** A stream of several frames back to back, so mutations can hit frame boundaries too. */
const streams = [Buffer.concat(seeds), Buffer.concat([seeds[3]!, seeds[1]!]), ...seeds];

/** Feeds `bytes` to a fresh decoder in chunks cut at `cuts`, then ends the stream. */
function decodeStream(bytes: Uint8Array, cuts: number[], maxFrameBytes: number | undefined): unknown[] {
  const d = new FrameDecoder(maxFrameBytes === undefined ? {} : { maxFrameBytes });
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const out: unknown[] = [];
  let from = 0;
  let pushed = 0;
  for (const to of [...points, bytes.length]) {
    const chunk = bytes.subarray(from, to);
    from = to;
    try {
      out.push(...d.push(chunk));
    } catch (err) {
      // Failed for good: every later call throws the same error.
      expect(() => d.push(Uint8Array.of(0))).toThrow(err as Error);
      expect(() => d.end()).toThrow(err as Error);
      throw err;
    }
    pushed += chunk.byteLength;
    // Never holds more than it was given, nor more than one maximal frame.
    expect(d.bufferedBytes).toBeLessThanOrEqual(Math.min(pushed, 4 + (maxFrameBytes ?? 16 * 1024 * 1024)));
  }
  d.end();
  for (const v of out) {
    try {
      toEnvelope(v);
    } catch (err) {
      expectTypedRejection(err, FRAME_CODES);
    }
  }
  return out;
}

describe('frame decoder fuzzing', () => {
  it('the seed stream decodes to the seed envelopes in any chunking', () => {
    const values = decodeStream(streams[0]!, [1, 2, 3, 7, 100, 101], undefined);
    expect(values.map((v) => toEnvelope(v).type)).toEqual(['hello', 'health', 'attest', 'pack', 'error']);
  });

  const n = runs(2000);
  it(`${n} mutated frame streams in random chunkings → frames or a FrameError, bounded buffering`, () => {
    const tally = new Tally('FrameDecoder');
    fc.assert(
      fc.property(
        mutationsOf(streams.length),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.option(fc.constantFrom(16, 64, 512, 4096), { nil: undefined }),
        (m, cuts, max) => classify(tally, () => decodeStream(bytesOf(streams, m), cuts, max), FRAME_CODES),
      ),
      params(n),
    );
    tally.print();
    expect(tally.accepted).toBeGreaterThan(0);
    expect(tally.codes.size).toBeGreaterThan(1);
  }, timeoutFor(n, 5));

  // An extra next to the mutated streams above.
  const nRaw = runs(1000);
  it(`${nRaw} random byte streams → frames or a FrameError`, () => {
    const tally = new Tally('FrameDecoder (random bytes)');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) =>
        classify(tally, () => decodeStream(bytes, cuts, 256), FRAME_CODES),
      ),
      params(nRaw),
    );
    tally.print();
  }, timeoutFor(nRaw, 5));

  it('hostile lengths: a 4 GiB frame header and CBOR heads announcing 2^32..2^64 items allocate nothing', () => {
    const hostile: Uint8Array[] = [Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xa0)];
    for (const major of [2, 3, 4, 5]) {
      hostile.push(Uint8Array.of(0, 0, 0, 9, (major << 5) | 27, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
      hostile.push(Uint8Array.of(0, 0, 0, 5, (major << 5) | 26, 0xff, 0xff, 0xff, 0xff));
    }
    hostile.push(Buffer.concat([Buffer.from([0, 1, 0x86, 0xa0]), Buffer.alloc(100_000, 0x81)])); // 100 000 nested arrays
    for (const bytes of hostile) {
      const before = allocatedBytes();
      expect(() => decodeStream(bytes, [], undefined)).toThrow();
      try {
        decodeStream(bytes, [], undefined);
      } catch (err) {
        expectTypedRejection(err, FRAME_CODES);
      }
      expect(allocatedBytes() - before).toBeLessThan(ALLOCATION_BOUND);
    }
    console.log(`frame hostile lengths: ${hostile.length} streams refused with typed errors, no large allocation`);
  });

  it('strict CBOR refuses prototype-changing keys and tags a lenient decoder would honour', () => {
    const proto = Buffer.concat([Buffer.from([0xa1, 0x69]), Buffer.from('__proto__'), Buffer.from([0xa1, 0x61, 0x78, 0x01])]);
    expect(() => decodeStrictCbor(proto)).toThrow(expect.objectContaining({ code: 'FRAME_MALFORMED' }));
    // cbor-x tag 105 (record definition) and 28 (shared reference) never reach cbor-x.
    for (const tagged of [Uint8Array.of(0xd8, 0x69, 0x80), Uint8Array.of(0xd8, 0x1c, 0xa0), Uint8Array.of(0xc1, 0x00)]) {
      expect(() => decodeStrictCbor(tagged)).toThrow(expect.objectContaining({ code: 'FRAME_MALFORMED' }));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// NSM codec

const responses: NsmResponse[] = [
  { type: 'DescribePCR', lock: true, data: new Uint8Array(48).fill(3) },
  { type: 'ExtendPCR', data: new Uint8Array(48) },
  { type: 'LockPCR' },
  { type: 'LockPCRs' },
  { type: 'DescribeNSM', versionMajor: 1, versionMinor: 0, versionPatch: 0, moduleId: 'i-0123-enc0123', maxPcrs: 32, lockedPcrs: [0, 1, 2, 3, 4, 8], digest: 'SHA384' },
  { type: 'Attestation', document: new Uint8Array(600).fill(0x84) },
  { type: 'GetRandom', random: new Uint8Array(256).fill(9) },
  { type: 'Error', error: 'InvalidArgument' },
];
const requests: NsmRequest[] = [
  { type: 'DescribePCR', index: 16 },
  { type: 'ExtendPCR', index: 16, data: new Uint8Array(20) },
  { type: 'LockPCR', index: 16 },
  { type: 'LockPCRs', range: 20 },
  { type: 'DescribeNSM' },
  { type: 'Attestation', userData: new Uint8Array(48), nonce: new Uint8Array(32), publicKey: null },
  { type: 'GetRandom' },
];

describe('NSM codec fuzzing', () => {
  const encodedResponses = responses.map(encodeNsmResponse);
  const encodedRequests = requests.map(encodeNsmRequest);

  it('every seed round-trips', () => {
    encodedResponses.forEach((b, i) => expect(decodeNsmResponse(b)).toEqual(responses[i]));
    encodedRequests.forEach((b, i) => expect(decodeNsmRequest(b)).toEqual(requests[i]));
  });

  const n = runs(2000);
  it(`decodeNsmResponse: ${n} mutated responses → a response or NSM_MALFORMED`, () => {
    const tally = new Tally('decodeNsmResponse');
    fc.assert(
      fc.property(mutationsOf(encodedResponses.length), (m) => classify(tally, () => decodeNsmResponse(bytesOf(encodedResponses, m)), NSM_CODES)),
      params(n),
    );
    tally.print();
    expect(tally.codes.get('NSM_MALFORMED')).toBeGreaterThan(0);
  }, timeoutFor(n, 3));

  // An extra: requests are what the simulated device reads (the real one is AWS's).
  const nReq = runs(1000);
  it(`decodeNsmRequest (the simulated device's input): ${nReq} mutated requests → a request or NSM_MALFORMED`, () => {
    const tally = new Tally('decodeNsmRequest');
    fc.assert(
      fc.property(mutationsOf(encodedRequests.length), (m) => classify(tally, () => decodeNsmRequest(bytesOf(encodedRequests, m)), NSM_CODES)),
      params(nReq),
    );
    tally.print();
  }, timeoutFor(nReq, 3));

  it('hostile lengths in NSM answers allocate nothing', () => {
    const before = allocatedBytes();
    for (const major of [2, 3, 4, 5]) {
      const bytes = Buffer.concat([Buffer.from([0xa1, 0x6b]), Buffer.from('Attestation'), Buffer.from([0xa1, 0x68]), Buffer.from('document'), Buffer.from([(major << 5) | 27, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]);
      try {
        decodeNsmResponse(bytes);
        throw new Error('accepted');
      } catch (err) {
        expectTypedRejection(err, NSM_CODES);
      }
    }
    expect(allocatedBytes() - before).toBeLessThan(ALLOCATION_BOUND);
  });
});
