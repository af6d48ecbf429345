// The /dev/nsm CBOR codec against bytes assembled by hand from RFC 8949 and serde's externally
// tagged enum rules (reference §5.2), not from our encoder.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeNsmRequest,
  decodeNsmResponse,
  encodeNsmRequest,
  encodeNsmResponse,
  NsmClient,
  NsmError,
  NSM_WIRE_ERRORS,
  type NsmRequest,
  type NsmResponse,
} from '../../../enclave-app/nsm/index.js';
import { NsmDeviceError, type NsmDevice } from '../../../vsock/index.js';

// --- hand assembly: text/byte strings and maps with shortest-form heads -----------------------
const h = (major: number, n: number): string => {
  const m = major << 5;
  if (n < 24) return (m | n).toString(16).padStart(2, '0');
  if (n < 256) return (m | 24).toString(16) + n.toString(16).padStart(2, '0');
  return (m | 25).toString(16) + n.toString(16).padStart(4, '0');
};
const t = (s: string): string => h(3, Buffer.byteLength(s)) + Buffer.from(s).toString('hex');
const b = (hex: string): string => h(2, hex.length / 2) + hex;
const u = (n: number): string => h(0, n);
const m = (...pairs: Array<[string, string]>): string => h(5, pairs.length) + pairs.map(([k, v]) => t(k) + v).join('');
const NULL = 'f6';
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const hexOf = (x: Uint8Array): string => Buffer.from(x).toString('hex');

const REQUESTS: Array<[string, NsmRequest, string]> = [
  ['DescribeNSM (bare string)', { type: 'DescribeNSM' }, t('DescribeNSM')],
  ['GetRandom (bare string)', { type: 'GetRandom' }, t('GetRandom')],
  ['DescribePCR', { type: 'DescribePCR', index: 16 }, m(['DescribePCR', m(['index', u(16)])])],
  ['ExtendPCR', { type: 'ExtendPCR', index: 300, data: bytes('0102') }, m(['ExtendPCR', m(['index', u(300)], ['data', b('0102')])])],
  ['LockPCR', { type: 'LockPCR', index: 17 }, m(['LockPCR', m(['index', u(17)])])],
  ['LockPCRs', { type: 'LockPCRs', range: 32 }, m(['LockPCRs', m(['range', u(32)])])],
  [
    'Attestation with all fields null',
    { type: 'Attestation', userData: null, nonce: null, publicKey: null },
    m(['Attestation', m(['user_data', NULL], ['nonce', NULL], ['public_key', NULL])]),
  ],
  [
    'Attestation with fields (and a 0-byte user_data)',
    { type: 'Attestation', userData: new Uint8Array(0), nonce: bytes('aabb'), publicKey: bytes('30'.repeat(30)) },
    m(['Attestation', m(['user_data', b('')], ['nonce', b('aabb')], ['public_key', b('30'.repeat(30))])]),
  ],
];

const DOC = '84' + '44a1013822' + 'a0' + '43010203' + '4100'; // any bytes: the codec does not parse documents
const RESPONSES: Array<[string, NsmResponse, string]> = [
  ['DescribePCR', { type: 'DescribePCR', lock: true, data: new Uint8Array(48) }, m(['DescribePCR', m(['lock', 'f5'], ['data', b('00'.repeat(48))])])],
  ['ExtendPCR', { type: 'ExtendPCR', data: bytes('11'.repeat(48)) }, m(['ExtendPCR', m(['data', b('11'.repeat(48))])])],
  ['LockPCR (bare string)', { type: 'LockPCR' }, t('LockPCR')],
  ['LockPCRs (bare string)', { type: 'LockPCRs' }, t('LockPCRs')],
  [
    'DescribeNSM',
    {
      type: 'DescribeNSM',
      versionMajor: 1,
      versionMinor: 0,
      versionPatch: 0,
      moduleId: 'i-0123456789abcdef0-enc0123456789abcdef',
      maxPcrs: 32,
      lockedPcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
      digest: 'SHA384',
    },
    m([
      'DescribeNSM',
      m(
        ['version_major', u(1)],
        ['version_minor', u(0)],
        ['version_patch', u(0)],
        ['module_id', t('i-0123456789abcdef0-enc0123456789abcdef')],
        ['max_pcrs', u(32)],
        ['locked_pcrs', h(4, 16) + Array.from({ length: 16 }, (_, i) => u(i)).join('')],
        ['digest', t('SHA384')],
      ),
    ]),
  ],
  ['Attestation', { type: 'Attestation', document: bytes(DOC) }, m(['Attestation', m(['document', b(DOC)])])],
  ['GetRandom', { type: 'GetRandom', random: bytes('ab'.repeat(256)) }, m(['GetRandom', m(['random', b('ab'.repeat(256))])])],
  ...NSM_WIRE_ERRORS.map((e): [string, NsmResponse, string] => [`Error(${e})`, { type: 'Error', error: e }, m(['Error', t(e)])]),
];

function nsmError(f: () => unknown): NsmError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(NsmError);
    return err as NsmError;
  }
  throw new Error('expected an NsmError');
}

describe('NSM requests', () => {
  it.each(REQUESTS)('%s encodes exactly like serde and decodes back', (_name, request, hex) => {
    expect(hexOf(encodeNsmRequest(request))).toBe(hex);
    expect(decodeNsmRequest(bytes(hex))).toEqual(request);
  });

  it('the all-null Attestation request matches the reference bytes', () => {
    // a1 6b "Attestation" a3 69 "user_data" f6 65 "nonce" f6 6a "public_key" f6 (reference §5.2: null is f6)
    expect(hexOf(encodeNsmRequest({ type: 'Attestation', userData: null, nonce: null, publicKey: null }))).toBe(
      'a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e6365f66a7075626c69635f6b6579f6',
    );
  });

  it('refuses out-of-range indices and non-byte data before anything is sent', () => {
    expect(nsmError(() => encodeNsmRequest({ type: 'DescribePCR', index: 65536 })).code).toBe('NSM_INVALID_ARGUMENT');
    expect(nsmError(() => encodeNsmRequest({ type: 'LockPCRs', range: -1 })).code).toBe('NSM_INVALID_ARGUMENT');
    expect(nsmError(() => encodeNsmRequest({ type: 'LockPCR', index: 1.5 })).code).toBe('NSM_INVALID_ARGUMENT');
    expect(nsmError(() => encodeNsmRequest({ type: 'ExtendPCR', index: 16, data: 'text' as unknown as Uint8Array })).code).toBe('NSM_INVALID_ARGUMENT');
  });

  it('rejects malformed requests (what the simulated device receives) with NSM_MALFORMED', () => {
    for (const hex of [
      'ff',
      t('Attestation'), // struct variant without fields
      t('Nope'),
      m(['DescribeNSM', m()]), // unit variant with fields
      m(['DescribePCR', m(['index', t('16')])]),
      m(['DescribePCR', m()]),
      m(['ExtendPCR', m(['index', u(16)], ['data', t('x')])]),
      m(['Attestation', m(['user_data', NULL], ['nonce', NULL])]),
      m(['LockPCRs', m(['range', '1a00010000'])]), // 65536
      h(5, 2) + t('LockPCR') + m(['index', u(1)]) + t('GetRandom') + NULL,
      'd818' + t('GetRandom'), // tagged
    ]) {
      expect(nsmError(() => decodeNsmRequest(bytes(hex))).code).toBe('NSM_MALFORMED');
    }
  });
});

describe('NSM responses', () => {
  it.each(RESPONSES)('%s decodes from serde bytes and encodes back identically', (_name, response, hex) => {
    expect(decodeNsmResponse(bytes(hex))).toEqual(response);
    expect(hexOf(encodeNsmResponse(response))).toBe(hex);
  });

  it('byte fields decode as plain Uint8Array', () => {
    const r = decodeNsmResponse(bytes(m(['GetRandom', m(['random', b('0102')])])));
    expect(r).toMatchObject({ type: 'GetRandom' });
    const random = (r as { random: Uint8Array }).random;
    expect(random).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(random)).toBe(false);
  });

  it('accepts unknown extra fields the way serde does, but never missing or mistyped ones', () => {
    const extra = m(['ExtendPCR', m(['data', b('00')], ['future', u(1)])]);
    expect(decodeNsmResponse(bytes(extra))).toEqual({ type: 'ExtendPCR', data: bytes('00') });
    for (const hex of [
      '',
      'ff',
      '00',
      t('Attestation'),
      t('Unknown'),
      m(['LockPCR', m()]),
      m(['Error', t('NoSuchCode')]),
      m(['Error', u(1)]),
      m(['Attestation', m()]),
      m(['Attestation', m(['document', t('not bytes')])]),
      m(['DescribePCR', m(['lock', u(1)], ['data', b('00')])]),
      m(['DescribeNSM', m(['version_major', u(1)])]),
      m([
        'DescribeNSM',
        m(['version_major', u(1)], ['version_minor', u(0)], ['version_patch', u(0)], ['module_id', t('x')], ['max_pcrs', u(32)], ['locked_pcrs', h(4, 1) + t('0')], ['digest', t('SHA384')]),
      ]),
      m([
        'DescribeNSM',
        m(['version_major', u(1)], ['version_minor', u(0)], ['version_patch', u(0)], ['module_id', t('x')], ['max_pcrs', u(32)], ['locked_pcrs', h(4, 0)], ['digest', t('MD5')]),
      ]),
      h(5, 2) + t('LockPCR') + NULL + t('LockPCRs') + NULL,
      'd81c' + t('LockPCR'),
    ]) {
      const err = nsmError(() => decodeNsmResponse(bytes(hex)));
      expect(err.code).toBe('NSM_MALFORMED');
      expect(err.category).toBe('internal');
    }
  });

  it('random bytes never make the decoder throw anything but NsmError (fast-check, seed 42)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (input) => {
        try {
          decodeNsmResponse(input);
        } catch (err) {
          if (!(err instanceof NsmError)) throw err;
        }
      }),
      { seed: 42, numRuns: 2000 },
    );
  });
});

/** A stand-in device answering fixed bytes: tests the client's mapping, not a module of ours. */
function fixedDevice(answer: Uint8Array | Error): NsmDevice & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  return {
    sent,
    async request(cbor: Uint8Array) {
      sent.push(cbor);
      if (answer instanceof Error) throw answer;
      return answer;
    },
    close() {},
  };
}

describe('NsmClient error mapping', () => {
  const expected: Record<string, [string, string]> = {
    Success: ['NSM_UNEXPECTED_RESPONSE', 'internal'],
    InvalidArgument: ['NSM_INVALID_ARGUMENT', 'input'],
    InvalidIndex: ['NSM_INVALID_INDEX', 'input'],
    InvalidResponse: ['NSM_UNEXPECTED_RESPONSE', 'internal'],
    ReadOnlyIndex: ['NSM_READ_ONLY_INDEX', 'rejected'],
    InvalidOperation: ['NSM_INVALID_OPERATION', 'input'],
    BufferTooSmall: ['NSM_BUFFER_TOO_SMALL', 'internal'],
    InputTooLarge: ['NSM_INPUT_TOO_LARGE', 'input'],
    InternalError: ['NSM_INTERNAL_ERROR', 'internal'],
  };

  it.each(NSM_WIRE_ERRORS)('Error(%s) becomes a typed NsmError', async (variant) => {
    const client = new NsmClient(fixedDevice(bytes(m(['Error', t(variant)]))));
    const err = await client.attest({ nonce: bytes('01') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsmError);
    expect((err as NsmError).code).toBe(expected[variant][0]);
    expect((err as NsmError).category).toBe(expected[variant][1]);
    expect((err as NsmError).details).toEqual({ nsmError: variant, operation: 'Attestation' });
  });

  it('sends the serde bytes and returns the document', async () => {
    const device = fixedDevice(bytes(m(['Attestation', m(['document', b(DOC)])])));
    const document = await new NsmClient(device).attest({ userData: bytes('aa') });
    expect(hexOf(document)).toBe(DOC);
    expect(hexOf(device.sent[0])).toBe(m(['Attestation', m(['user_data', b('aa')], ['nonce', NULL], ['public_key', NULL])]));
  });

  it('an answer of the wrong kind is NSM_UNEXPECTED_RESPONSE; garbage is NSM_MALFORMED', async () => {
    const wrong = await new NsmClient(fixedDevice(bytes(t('LockPCR')))).getRandom().catch((e: unknown) => e);
    expect((wrong as NsmError).code).toBe('NSM_UNEXPECTED_RESPONSE');
    const garbage = await new NsmClient(fixedDevice(bytes('ffff'))).describe().catch((e: unknown) => e);
    expect((garbage as NsmError).code).toBe('NSM_MALFORMED');
  });

  it('device failures become NSM_UNAVAILABLE / NSM_INPUT_TOO_LARGE / NSM_IO', async () => {
    const cases: Array<[NsmDeviceError, string]> = [
      [new NsmDeviceError('NSM_DEVICE_UNAVAILABLE', 'open /dev/nsm failed: ENOENT'), 'NSM_UNAVAILABLE'],
      [new NsmDeviceError('NSM_DEVICE_REQUEST_TOO_LARGE', 'too large'), 'NSM_INPUT_TOO_LARGE'],
      [new NsmDeviceError('NSM_DEVICE_IO', 'NSM ioctl failed: EIO'), 'NSM_IO'],
    ];
    for (const [deviceError, code] of cases) {
      const err = await new NsmClient(fixedDevice(deviceError)).getRandom().catch((e: unknown) => e);
      expect((err as NsmError).code).toBe(code);
    }
  });

  it('describe() returns the description without the variant tag', async () => {
    const [, response, hex] = RESPONSES.find(([name]) => name === 'DescribeNSM')!;
    const { type: _type, ...description } = response as Extract<NsmResponse, { type: 'DescribeNSM' }>;
    expect(await new NsmClient(fixedDevice(bytes(hex))).describe()).toEqual(description);
  });
});
