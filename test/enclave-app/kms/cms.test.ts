import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  constants,
  createCipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import {
  decryptCiphertextForRecipient,
  parseCiphertextForRecipient,
  CmsError,
  CMS_FAILURE_MESSAGE,
} from '../../../enclave-app/kms/cms.js';
import { KmsError } from '../../../enclave-app/kms/errors.js';
import { buildEnvelope, der, ktri, oaepAlgId, algId, OIDS, hex, type EnvelopeSpec } from './ber-tools.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const vectors = path.resolve(repoRoot, 'test/vectors/kms-recipient');
const read = (p: string): Buffer => readFileSync(path.join(vectors, p));

const enclaverBer = read('enclaver/ciphertext_for_recipient.ber');
const enclaverKey = createPrivateKey(read('enclaver/recipient_private_key.pem'));
const enclaverSpki = read('enclaver/recipient_public_key_spki.der');

/** Our own recipient key (reused by every test in this file: RSA keygen is the slow part). */
let ownKey: KeyObject;
let ownSpki: Buffer;
let otherKey: { publicKey: KeyObject; privateKey: KeyObject };

beforeAll(() => {
  const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
  ownKey = k.privateKey;
  ownSpki = k.publicKey.export({ format: 'der', type: 'spki' });
  // "Another key": the enclaver vector's published key (no second key generation needed).
  otherKey = { privateKey: enclaverKey, publicKey: createPublicKey(enclaverKey) };
});

const rid = (spki: Uint8Array): Buffer => createHash('sha256').update(spki).digest();

/** Valid envelope fields for our own key, with knobs for the mutation under test. */
function envelopeFor(
  plaintext: Uint8Array,
  opts: {
    spki?: Uint8Array;
    encryptTo?: KeyObject;
    cek?: Buffer;
    rawPadded?: Buffer;
    oaepHash?: string;
  } = {},
): EnvelopeSpec & { ridBytes: Buffer } {
  const cek = opts.cek ?? randomBytes(32);
  const iv = randomBytes(16);
  const encryptedKey = publicEncrypt(
    { key: opts.encryptTo ?? ownKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: opts.oaepHash ?? 'sha256' },
    cek,
  );
  let ct: Buffer;
  if (opts.rawPadded) {
    const c = createCipheriv(`aes-${cek.byteLength * 8}-cbc`, cek, iv);
    c.setAutoPadding(false);
    ct = Buffer.concat([c.update(opts.rawPadded), c.final()]);
  } else {
    const c = createCipheriv(`aes-${cek.byteLength * 8}-cbc`, cek, iv);
    ct = Buffer.concat([c.update(plaintext), c.final()]);
  }
  return { ridBytes: rid(opts.spki ?? ownSpki), encryptedKey, iv, chunks: [ct] };
}

function expectUniformFailure(fn: () => unknown): CmsError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CmsError);
  expect(caught).toBeInstanceOf(KmsError);
  const e = caught as CmsError;
  expect(e.code).toBe('KMS_BAD_RECIPIENT_RESPONSE');
  expect(e.message).toBe(CMS_FAILURE_MESSAGE);
  return e;
}

describe('decryptCiphertextForRecipient: interop vectors', () => {
  it('decrypts the enclaver vector to "Hello, World"', () => {
    const out = decryptCiphertextForRecipient(enclaverBer, enclaverKey, enclaverSpki);
    expect(Buffer.from(out).toString('utf8')).toBe('Hello, World');
  });

  it('extracts rid, IV and content of the enclaver vector as its README lists them', () => {
    const parts = parseCiphertextForRecipient(enclaverBer);
    expect(Buffer.from(parts.rid).toString('hex')).toBe('fb09e9af2940ddcf0d2bbf6358c983af46fc5fdcedbca251d54ceab4d069cd89');
    expect(Buffer.from(parts.iv).toString('hex')).toBe('2c2ff1116ae6f8573fd58fd44f980624');
    expect(Buffer.from(parts.ciphertext).toString('hex')).toBe('263a97b73a5ef0ad5db0274af9fc290c');
  });

  it('parses the SDK-C real-KMS vector with constructed [0] content to its expected fields', () => {
    const parts = parseCiphertextForRecipient(read('sdk-c-cms/input_ber.ber'));
    expect(Buffer.from(parts.encryptedKey).equals(read('sdk-c-cms/encrypted_key_out.bin'))).toBe(true);
    expect(Buffer.from(parts.iv).equals(read('sdk-c-cms/iv_out.bin'))).toBe(true);
    expect(Buffer.from(parts.ciphertext).equals(read('sdk-c-cms/ciphertext_out.bin'))).toBe(true);
  });

  it('parses the SDK-C real-KMS vector with primitive [0] content to its expected fields', () => {
    const parts = parseCiphertextForRecipient(read('sdk-c-cms/input_ber_w_ctx.ber'));
    expect(Buffer.from(parts.encryptedKey).equals(read('sdk-c-cms/encrypted_key_out_w_ctx.bin'))).toBe(true);
    expect(Buffer.from(parts.iv).equals(read('sdk-c-cms/iv_out_w_ctx.bin'))).toBe(true);
    expect(Buffer.from(parts.ciphertext).equals(read('sdk-c-cms/ciphertext_out_w_ctx.bin'))).toBe(true);
  });

  it('refuses the SDK-C vectors for our key (their rid is not SHA-256 of our SPKI)', () => {
    expectUniformFailure(() => decryptCiphertextForRecipient(read('sdk-c-cms/input_ber.ber'), ownKey, ownSpki));
    expectUniformFailure(() => decryptCiphertextForRecipient(read('sdk-c-cms/input_ber_w_ctx.ber'), ownKey, ownSpki));
  });
});

describe('decryptCiphertextForRecipient: accepted encodings', () => {
  it('accepts a constructed [0] with several OCTET STRING chunks', () => {
    const plaintext = randomBytes(100);
    const spec = envelopeFor(plaintext);
    const ct = Buffer.concat(spec.chunks);
    const out = decryptCiphertextForRecipient(
      buildEnvelope({ ...spec, chunks: [ct.subarray(0, 32), ct.subarray(32, 48), ct.subarray(48)] }),
      ownKey,
      ownSpki,
    );
    expect(Buffer.from(out).equals(plaintext)).toBe(true);
  });

  it('accepts a primitive [0] IMPLICIT content', () => {
    const plaintext = Buffer.from('primitive content form');
    const out = decryptCiphertextForRecipient(
      buildEnvelope({ ...envelopeFor(plaintext), contentForm: 'primitive' }),
      ownKey,
      ownSpki,
    );
    expect(Buffer.from(out).toString()).toBe('primitive content form');
  });

  it('accepts a definite-length (DER) outer encoding too, as OpenSSL does', () => {
    const plaintext = Buffer.from('der outer');
    const out = decryptCiphertextForRecipient(buildEnvelope({ ...envelopeFor(plaintext), definiteOuter: true }), ownKey, ownSpki);
    expect(Buffer.from(out).toString()).toBe('der outer');
  });

  it('decrypts a full 16-byte padding block (plaintext a multiple of 16)', () => {
    const plaintext = randomBytes(32);
    const out = decryptCiphertextForRecipient(buildEnvelope(envelopeFor(plaintext)), ownKey, ownSpki);
    expect(Buffer.from(out).equals(plaintext)).toBe(true);
  });
});

describe('decryptCiphertextForRecipient: checklist 28 (structure and recipient)', () => {
  const p = Buffer.from('secret data key material 32 byte');
  const cases: Array<[string, () => Buffer]> = [
    ['contentType data instead of envelopedData', () => buildEnvelope({ ...envelopeFor(p), contentType: OIDS.data })],
    ['EnvelopedData version 0', () => buildEnvelope({ ...envelopeFor(p), version: 0 })],
    ['EnvelopedData version 3', () => buildEnvelope({ ...envelopeFor(p), version: 3 })],
    ['zero recipientInfos', () => buildEnvelope({ ...envelopeFor(p), recipients: [] })],
    [
      'two recipientInfos',
      () => {
        const s = envelopeFor(p);
        const one = ktri({ rid: der(0x80, s.ridBytes), encryptedKey: s.encryptedKey });
        return buildEnvelope({ ...s, recipients: [one, one] });
      },
    ],
    ['KeyTransRecipientInfo version 0 (issuerAndSerialNumber form)', () => buildEnvelope({ ...envelopeFor(p), ktriVersion: 0 })],
    [
      'rid as issuerAndSerialNumber instead of [0] subjectKeyIdentifier',
      () => buildEnvelope({ ...envelopeFor(p), rid: der(0x30, der(0x30), der(0x02, [1])) }),
    ],
    ['rid = SHA-256 of another SPKI', () => buildEnvelope(envelopeFor(p, { spki: otherKey.publicKey.export({ format: 'der', type: 'spki' }) }))],
    ['rid of 20 bytes (a SHA-1 SKI)', () => buildEnvelope({ ...envelopeFor(p), rid: der(0x80, randomBytes(20)) })],
    ['trailing bytes after the final end-of-contents', () => buildEnvelope({ ...envelopeFor(p), trailing: Uint8Array.of(0) })],
    ['an extra unprotectedAttrs-like element', () => {
      const s = buildEnvelope(envelopeFor(p));
      // insert "a1 00" just before the EnvelopedData's end-of-contents (3rd pair from the end)
      return Buffer.concat([s.subarray(0, s.byteLength - 6), Uint8Array.of(0xa1, 0x00), s.subarray(s.byteLength - 6)]);
    }],
    ['EncryptedContentInfo contentType other than data', () => buildEnvelope({ ...envelopeFor(p), eciType: OIDS.envelopedData })],
    ['missing encryptedContent', () => {
      const s = envelopeFor(p);
      return buildEnvelope({ ...s, chunks: [] });
    }],
  ];
  for (const [name, make] of cases) {
    it(`rejects ${name}`, () => {
      expectUniformFailure(() => decryptCiphertextForRecipient(make(), ownKey, ownSpki));
    });
  }

  it('rejects the enclaver vector presented to a key whose SPKI differs', () => {
    expectUniformFailure(() => decryptCiphertextForRecipient(enclaverBer, enclaverKey, ownSpki));
  });

  it('rejects every single-byte OID alteration in the enclaver vector', () => {
    const oids = [OIDS.envelopedData, OIDS.rsaesOaep, OIDS.sha256, OIDS.mgf1, OIDS.data, OIDS.aes256cbc];
    let altered = 0;
    for (const oid of oids) {
      const needle = Buffer.concat([Uint8Array.of(0x06, oid.byteLength), oid]);
      for (let at = enclaverBer.indexOf(needle); at >= 0; at = enclaverBer.indexOf(needle, at + 1)) {
        const m = Buffer.from(enclaverBer);
        m[at + needle.byteLength - 1]! ^= 0x01; // last byte of the OID
        expectUniformFailure(() => decryptCiphertextForRecipient(m, enclaverKey, enclaverSpki));
        altered++;
      }
    }
    expect(altered).toBe(7); // sha256 appears twice (hash and MGF1 hash)
  });

  it('rejects every strict prefix of a valid response (truncation)', () => {
    const valid = buildEnvelope(envelopeFor(Buffer.from('x')));
    expect(Buffer.from(decryptCiphertextForRecipient(valid, ownKey, ownSpki)).toString()).toBe('x');
    for (let n = 0; n < valid.byteLength; n++) {
      expectUniformFailure(() => decryptCiphertextForRecipient(valid.subarray(0, n), ownKey, ownSpki));
    }
  });

  it('rejects non-minimal lengths and indefinite length on a primitive element', () => {
    const s = envelopeFor(p);
    // version INTEGER encoded with a long-form length 81 01
    const valid = buildEnvelope(s);
    const nonMinimal = Buffer.from(valid.toString('hex').replace('3080020102', '308002810102'), 'hex');
    expect(nonMinimal.equals(valid)).toBe(false);
    expectUniformFailure(() => decryptCiphertextForRecipient(nonMinimal, ownKey, ownSpki));
    const primIndef = Buffer.from(valid.toString('hex').replace('3080020102', '30800280020000'), 'hex');
    expectUniformFailure(() => decryptCiphertextForRecipient(primIndef, ownKey, ownSpki));
  });
});

describe('decryptCiphertextForRecipient: checklist 29 (algorithms, IV, length, padding)', () => {
  const p = Buffer.from('data key');
  const cases: Array<[string, () => Buffer]> = [
    ['rsaEncryption (PKCS#1 v1.5) key transport', () => buildEnvelope({ ...envelopeFor(p), keyEncAlg: algId(OIDS.rsaEncryption) })],
    [
      'RSAES-OAEP with default (SHA-1) parameters',
      () => buildEnvelope({ ...envelopeFor(p, { oaepHash: 'sha1' }), keyEncAlg: der(0x30, der(0x06, OIDS.rsaesOaep), der(0x30)) }),
    ],
    ['RSAES-OAEP with SHA-1 hash and MGF1-SHA-1', () => buildEnvelope({ ...envelopeFor(p), keyEncAlg: oaepAlgId(OIDS.sha1, OIDS.sha1) })],
    ['RSAES-OAEP with SHA-256 hash but MGF1-SHA-1', () => buildEnvelope({ ...envelopeFor(p), keyEncAlg: oaepAlgId(OIDS.sha256, OIDS.sha1) })],
    ['RSAES-OAEP with SHA-384', () => buildEnvelope({ ...envelopeFor(p), keyEncAlg: oaepAlgId(OIDS.sha384, OIDS.sha384) })],
    [
      'RSAES-OAEP params with an explicit pSource',
      () =>
        buildEnvelope({
          ...envelopeFor(p),
          keyEncAlg: der(
            0x30,
            der(0x06, OIDS.rsaesOaep),
            der(
              0x30,
              der(0xa0, algId(OIDS.sha256)),
              der(0xa1, der(0x30, der(0x06, OIDS.mgf1), algId(OIDS.sha256))),
              der(0xa2, der(0x30, der(0x06, hex('2a864886f70d010109')), der(0x04))),
            ),
          ),
        }),
    ],
    ['aes-128-cbc content encryption', () => buildEnvelope({ ...envelopeFor(p), contentAlgOid: OIDS.aes128cbc })],
    ['an 8-byte IV', () => buildEnvelope({ ...envelopeFor(p), iv: randomBytes(8) })],
    ['a 17-byte IV', () => buildEnvelope({ ...envelopeFor(p), iv: randomBytes(17) })],
    ['ciphertext not a multiple of 16', () => {
      const s = envelopeFor(p);
      return buildEnvelope({ ...s, chunks: [Buffer.concat([...s.chunks, Uint8Array.of(1)])] });
    }],
    ['a 16-byte (AES-128 sized) content key', () => buildEnvelope(envelopeFor(p, { cek: randomBytes(16) }))],
    ['padding byte 0', () => buildEnvelope(envelopeFor(p, { rawPadded: Buffer.concat([Buffer.alloc(15, 0x41), Uint8Array.of(0)]) }))],
    ['padding byte 17', () => buildEnvelope(envelopeFor(p, { rawPadded: Buffer.concat([Buffer.alloc(31, 0x41), Uint8Array.of(17)]) }))],
    [
      'inconsistent padding bytes',
      () => buildEnvelope(envelopeFor(p, { rawPadded: Buffer.concat([Buffer.alloc(12, 0x41), Uint8Array.of(4, 3, 4, 4)]) })),
    ],
  ];
  for (const [name, make] of cases) {
    it(`rejects ${name}`, () => {
      expectUniformFailure(() => decryptCiphertextForRecipient(make(), ownKey, ownSpki));
    });
  }

  it('accepts the maximal valid padding (a full block of 0x10)', () => {
    const out = decryptCiphertextForRecipient(
      buildEnvelope(envelopeFor(Buffer.alloc(0), { rawPadded: Buffer.concat([Buffer.alloc(16, 0x41), Buffer.alloc(16, 16)]) })),
      ownKey,
      ownSpki,
    );
    expect(Buffer.from(out).equals(Buffer.alloc(16, 0x41))).toBe(true);
  });
});

describe('decryptCiphertextForRecipient: checklist 30 (uniform failure)', () => {
  it('rejects content encrypted to a different key even when rid names ours', () => {
    const p = Buffer.from('not for us');
    expectUniformFailure(() => decryptCiphertextForRecipient(buildEnvelope(envelopeFor(p, { encryptTo: otherKey.publicKey })), ownKey, ownSpki));
  });

  it('gives one message for OAEP failure, bad padding and malformed structure alike', () => {
    const p = Buffer.from('x');
    const errs = [
      expectUniformFailure(() => decryptCiphertextForRecipient(buildEnvelope(envelopeFor(p, { encryptTo: otherKey.publicKey })), ownKey, ownSpki)),
      expectUniformFailure(() =>
        decryptCiphertextForRecipient(buildEnvelope(envelopeFor(p, { rawPadded: Buffer.alloc(16, 0x41) })), ownKey, ownSpki),
      ),
      expectUniformFailure(() => decryptCiphertextForRecipient(Buffer.from('not ber at all'), ownKey, ownSpki)),
      expectUniformFailure(() => decryptCiphertextForRecipient(new Uint8Array(0), ownKey, ownSpki)),
    ];
    expect(new Set(errs.map((e) => `${e.code}|${e.message}|${e.hint}`)).size).toBe(1);
    for (const e of errs) expect(JSON.stringify(e.toJSON())).not.toMatch(/padding|oaep|rid/i);
  });

  it('refuses a non-RSA private key uniformly', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expectUniformFailure(() => decryptCiphertextForRecipient(enclaverBer, ec.privateKey, enclaverSpki));
  });
});
