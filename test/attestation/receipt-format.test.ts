import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  buildReceipt,
  canonicalClaims,
  claimsDigest,
  parseReceipt,
  parseReceiptClaims,
  ReceiptError,
  receiptAttestationBytes,
  serializeReceipt,
} from '../../attestation/receipt.js';
import { sampleClaims } from '../verify-receipt/helpers/claims.js';

/** JCS of sampleClaims(), written by hand from RFC 8785 §3.2 (sorted keys, no whitespace). */
const SAMPLE_JCS =
  '{"artifact":{"ciphertextHash":"' + 'f'.repeat(64) + '","keyCount":2,"namespaces":["payments"],' +
  '"revision":"1711101600000-a1b2c3d4","sha256":"' + 'e'.repeat(64) + '","signatureAlgorithm":"Ed25519"},' +
  '"inputs":[{"gitBlobId":"' + 'b'.repeat(40) + '","path":"clef.yaml","role":"manifest","sha256":"' + 'a'.repeat(64) + '"},' +
  '{"gitBlobId":"' + 'd'.repeat(40) + '","namespace":"payments","path":"secrets/payments/production.enc.yaml","role":"sops",' +
  '"sha256":"' + 'c'.repeat(64) + '","sopsLastModified":"2026-03-20T09:00:00Z"}],' +
  '"keys":{"ageRecipients":[],"seal":"arn:aws:kms:us-east-1:222222222222:key/seal-key","sign":null,' +
  '"signingPublicKey":"MCowBQYDK2VwAyEAIVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=",' +
  '"source":["arn:aws:kms:us-east-1:111111111111:key/src-key"],"wrap":"arn:aws:kms:us-east-1:222222222222:key/env-key"},' +
  '"request":{"commit":"0123456789abcdef0123456789abcdef01234567","environment":"production","identity":"api-gateway",' +
  '"nonce":"00112233445566778899aabbccddeeff","repository":"org/repo","requestedBy":"ci-token"},' +
  '"time":"2026-03-22T10:00:00.000Z","tool":{"name":"attested-pack","version":"0.1.0"},' +
  '"type":"attested-pack/receipt-claims/v1"}';

const DOC = Uint8Array.of(0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x41, 0x00, 0x40);

function receiptJson(mutate: (r: Record<string, unknown>) => void = () => undefined): string {
  const r = JSON.parse(JSON.stringify(buildReceipt(sampleClaims(), DOC))) as Record<string, unknown>;
  mutate(r);
  return JSON.stringify(r);
}

function claimsOf(r: Record<string, unknown>): Record<string, unknown> {
  return r.claims as Record<string, unknown>;
}

function expectMalformed(text: string, path: string | RegExp): void {
  let err: unknown;
  try {
    parseReceipt(text);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ReceiptError);
  const re = err as ReceiptError;
  expect(re.code).toBe('RECEIPT_MALFORMED');
  expect(re.exitCode).toBe(2);
  if (typeof path === 'string') expect(re.details?.path).toBe(path);
  else expect(String(re.details?.path)).toMatch(path);
  expect(re.message).toContain(String(re.details?.path));
}

describe('canonical claims (RFC 8785)', () => {
  it('are the JCS bytes of the claims', () => {
    expect(Buffer.from(canonicalClaims(sampleClaims())).toString('utf8')).toBe(SAMPLE_JCS);
  });

  it('digest is SHA-384 of those bytes', () => {
    const expected = createHash('sha384').update(SAMPLE_JCS, 'utf8').digest();
    expect(Buffer.from(claimsDigest(sampleClaims()))).toEqual(expected);
    expect(claimsDigest(sampleClaims())).toHaveLength(48);
  });

  it('do not depend on key order or whitespace in the receipt file', () => {
    const shuffled = `{ "attestation": "${Buffer.from(DOC).toString('base64')}",\n "claims": ${JSON.stringify(
      Object.fromEntries(Object.entries(sampleClaims()).reverse()),
      null,
      3,
    )}, "receiptVersion": 1 }`;
    expect(claimsDigest(parseReceipt(shuffled).claims)).toEqual(claimsDigest(sampleClaims()));
  });

  it('escape non-ASCII the JCS way (UTF-8, no \\u escapes)', () => {
    const c = sampleClaims();
    c.request.requestedBy = 'José ✓ 😀';
    expect(Buffer.from(canonicalClaims(c)).toString('utf8')).toContain('"requestedBy":"José ✓ 😀"');
  });

  it('refuse claims carrying a field the format does not have', () => {
    const c = sampleClaims() as unknown as Record<string, unknown>;
    c.note = 'unbound';
    expect(() => canonicalClaims(c as never)).toThrow(ReceiptError);
  });
});

describe('buildReceipt / serializeReceipt / parseReceipt', () => {
  it('round-trip', () => {
    const r = buildReceipt(sampleClaims(), DOC);
    expect(r.receiptVersion).toBe(1);
    expect(r.attestation).toBe(Buffer.from(DOC).toString('base64'));
    const back = parseReceipt(serializeReceipt(r));
    expect(back).toEqual(r);
    expect(receiptAttestationBytes(back)).toEqual(DOC);
    expect(serializeReceipt(r).endsWith('}\n')).toBe(true);
  });

  it('carries documents of real size (a few KiB) and refuses oversized ones', () => {
    const doc = new Uint8Array(6000).fill(7);
    expect(receiptAttestationBytes(parseReceipt(serializeReceipt(buildReceipt(sampleClaims(), doc))))).toEqual(doc);
    expect(() => buildReceipt(sampleClaims(), new Uint8Array(64 * 1024 + 1))).toThrow(ReceiptError);
    const big = receiptJson((r) => (r.attestation = Buffer.alloc(64 * 1024 + 3).toString('base64')));
    expectMalformed(big, '$.attestation');
  });

  it('refuses an empty attestation document', () => {
    expect(() => buildReceipt(sampleClaims(), new Uint8Array())).toThrow(/attestation document/);
  });

  it('accepts the optional sops fields being absent', () => {
    const text = receiptJson((r) => {
      const input = (claimsOf(r).inputs as Array<Record<string, unknown>>)[1]!;
      delete input.sopsLastModified;
      delete input.namespace;
    });
    expect(parseReceipt(text).claims.inputs[1]).not.toHaveProperty('namespace');
  });

  it('accepts an age artifact with null keys', () => {
    const text = receiptJson((r) => {
      const keys = claimsOf(r).keys as Record<string, unknown>;
      keys.wrap = null;
      keys.seal = null;
      keys.signingPublicKey = null;
      keys.ageRecipients = ['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'];
      (claimsOf(r).artifact as Record<string, unknown>).signatureAlgorithm = null;
    });
    expect(parseReceipt(text).claims.keys.wrap).toBeNull();
  });
});

describe('parseReceipt refuses', () => {
  it('text that is not JSON', () => expectMalformed('{"receiptVersion":1,', '$'));
  it('a JSON array', () => expectMalformed('[]', '$'));
  it('another receipt version', () => {
    expect(() => parseReceipt(receiptJson((r) => (r.receiptVersion = 2)))).toThrow(
      expect.objectContaining({ code: 'RECEIPT_VERSION', exitCode: 2 }),
    );
  });
  it('a missing receipt version', () => expectMalformed(receiptJson((r) => delete r.receiptVersion), '$.receiptVersion'));

  it('a duplicate key, naming where', () => {
    const text = receiptJson();
    expectMalformed(text.replace('"identity":"api-gateway"', '"identity":"api-gateway","identity":"evil"'), '$.claims.request.identity');
    expectMalformed(text.replace('{"receiptVersion":1', '{"receiptVersion":1,"receiptVersion":1'), '$.receiptVersion');
    expectMalformed(text.replace('"role":"sops"', '"role":"sops","r\\u006fle":"sops"'), '$.claims.inputs[1].role');
  });

  it('a duplicate key hidden inside a string is not a duplicate', () => {
    const c = sampleClaims();
    c.request.requestedBy = '","identity":"x';
    expect(parseReceipt(serializeReceipt(buildReceipt(c, DOC))).claims.request.requestedBy).toBe('","identity":"x');
  });

  it.each([
    ['$.extra', (r: Record<string, unknown>) => (r.extra = 1)],
    ['$.claims.extra', (r: Record<string, unknown>) => (claimsOf(r).extra = null)],
    ['$.claims.request.extra', (r: Record<string, unknown>) => ((claimsOf(r).request as Record<string, unknown>).extra = '')],
    ['$.claims.inputs[1].extra', (r: Record<string, unknown>) => ((claimsOf(r).inputs as Array<Record<string, unknown>>)[1]!.extra = 1)],
    ['$.claims.keys.extra', (r: Record<string, unknown>) => ((claimsOf(r).keys as Record<string, unknown>).extra = [])],
    ['$.claims.artifact.extra', (r: Record<string, unknown>) => ((claimsOf(r).artifact as Record<string, unknown>).extra = {})],
    ['$.claims.tool.extra', (r: Record<string, unknown>) => ((claimsOf(r).tool as Record<string, unknown>).extra = 'x')],
    ['$.claims.__proto__', (r: Record<string, unknown>) => Object.defineProperty(claimsOf(r), '__proto__', { value: {}, enumerable: true })],
  ])('an unknown field at %s', (path, mutate) => expectMalformed(receiptJson(mutate), path));

  it.each([
    ['$.claims.request', (c: Record<string, unknown>) => delete c.request],
    ['$.claims.request.nonce', (c: Record<string, unknown>) => delete (c.request as Record<string, unknown>).nonce],
    ['$.claims.keys.sign', (c: Record<string, unknown>) => delete (c.keys as Record<string, unknown>).sign],
    ['$.claims.artifact.keyCount', (c: Record<string, unknown>) => delete (c.artifact as Record<string, unknown>).keyCount],
    ['$.claims.time', (c: Record<string, unknown>) => delete c.time],
  ])('a missing field %s', (path, mutate) => expectMalformed(receiptJson((r) => mutate(claimsOf(r))), path));

  type Mut = (c: ReturnType<typeof sampleClaims> & Record<string, unknown>) => void;
  const bad: Array<[string, Mut]> = [
    ['$.claims.type', (c) => ((c as Record<string, unknown>).type = 'attested-pack/receipt-claims/v2')],
    ['$.claims.request.commit', (c) => (c.request.commit = c.request.commit.toUpperCase())],
    ['$.claims.request.commit', (c) => (c.request.commit = c.request.commit.slice(0, 12))],
    ['$.claims.request.nonce', (c) => (c.request.nonce = 'ABCD')],
    ['$.claims.request.nonce', (c) => (c.request.nonce = 'abc')],
    ['$.claims.request.nonce', (c) => (c.request.nonce = '')],
    ['$.claims.request.identity', (c) => (c.request.identity = '')],
    ['$.claims.request.repository', (c) => ((c.request as unknown as Record<string, unknown>).repository = null)],
    ['$.claims.inputs[0].path', (c) => (c.inputs[0]!.path = '/etc/clef.yaml')],
    ['$.claims.inputs[0].path', (c) => (c.inputs[0]!.path = 'a/../clef.yaml')],
    ['$.claims.inputs[0].path', (c) => (c.inputs[0]!.path = './clef.yaml')],
    ['$.claims.inputs[0].path', (c) => (c.inputs[0]!.path = 'a\\clef.yaml')],
    ['$.claims.inputs[0].path', (c) => (c.inputs[0]!.path = 'a//clef.yaml')],
    ['$.claims.inputs[0].path', (c) => (c.inputs[0]!.path = 'clef.yaml\nHEAD:other')],
    ['$.claims.inputs[0].path', (c) => (c.inputs[0]!.path = 'clef\u0000.yaml')],
    ['$.claims.inputs[0].role', (c) => ((c.inputs[0] as unknown as Record<string, unknown>).role = 'other')],
    ['$.claims.inputs[0].sha256', (c) => (c.inputs[0]!.sha256 = 'a'.repeat(63))],
    ['$.claims.inputs[0].gitBlobId', (c) => (c.inputs[0]!.gitBlobId = 'g'.repeat(40))],
    ['$.claims.inputs[0].namespace', (c) => (c.inputs[0]!.namespace = 'payments')],
    ['$.claims.inputs[1].path', (c) => (c.inputs[1]!.path = 'clef.yaml')],
    ['$.claims.inputs', (c) => (c.inputs[1] = { ...c.inputs[0]!, path: 'other/clef.yaml' })],
    ['$.claims.inputs', (c) => c.inputs.shift()],
    ['$.claims.keys.source', (c) => (c.keys.source = ['arn:aws:kms:us-east-1:111111111111:key/b', 'arn:aws:kms:us-east-1:111111111111:key/a'])],
    ['$.claims.keys.source', (c) => (c.keys.source = [c.keys.source[0]!, c.keys.source[0]!])],
    ['$.claims.keys.source[0]', (c) => (c.keys.source = ['arn:aws:s3:::bucket'])],
    ['$.claims.keys.wrap', (c) => (c.keys.wrap = 'arn:aws:kms:us-east-1:12345:key/x')],
    ['$.claims.keys.ageRecipients[0]', (c) => (c.keys.ageRecipients = ['AGE1XYZ'])],
    ['$.claims.keys.signingPublicKey', (c) => (c.keys.signingPublicKey = 'not base64!')],
    ['$.claims.keys.signingPublicKey', (c) => (c.keys.signingPublicKey = 'QQ')],
    ['$.claims.artifact.keyCount', (c) => (c.artifact.keyCount = 1.5)],
    ['$.claims.artifact.keyCount', (c) => (c.artifact.keyCount = -1)],
    ['$.claims.artifact.keyCount', (c) => ((c.artifact as unknown as Record<string, unknown>).keyCount = '2')],
    ['$.claims.artifact.namespaces', (c) => (c.artifact.namespaces = ['a', 'a'])],
    ['$.claims.artifact.signatureAlgorithm', (c) => ((c.artifact as unknown as Record<string, unknown>).signatureAlgorithm = 'RSA')],
    ['$.claims.artifact.revision', (c) => (c.artifact.revision = '')],
    ['$.claims.tool.name', (c) => ((c.tool as Record<string, unknown>).name = 'clef')],
    ['$.claims.time', (c) => (c.time = '2026-03-22T10:00:00Z')],
    ['$.claims.time', (c) => (c.time = '2026-02-30T10:00:00.000Z')],
    ['$.claims.request.requestedBy', (c) => (c.request.requestedBy = 'x\ud800y')],
  ];
  it.each(bad)('a bad value at %s', (path, mutate) => {
    expectMalformed(receiptJson((r) => mutate(claimsOf(r) as never)), path);
  });

  it.each([
    ['not base64', '@@@@'],
    ['unpadded', Buffer.from(DOC).toString('base64').replace(/=+$/, '')],
    ['base64url', Buffer.from(Uint8Array.of(0xfb, 0xff)).toString('base64url')],
    ['empty', ''],
    ['a number', 5],
  ])('an attestation that is %s', (_what, value) => {
    expectMalformed(receiptJson((r) => (r.attestation = value)), '$.attestation');
  });
});

describe('no unbound data (property)', () => {
  // Any edit of any value in the receipt file is either refused by the parser (naming a path at
  // or above the edit) or changes the attested digest; it can never ride along unbound.
  const leafPaths: Array<Array<string | number>> = [];
  const walk = (v: unknown, path: Array<string | number>): void => {
    if (Array.isArray(v)) v.forEach((e, i) => walk(e, [...path, i]));
    else if (typeof v === 'object' && v !== null) for (const [k, e] of Object.entries(v)) walk(e, [...path, k]);
    else leafPaths.push(path);
  };
  walk(sampleClaims(), []);
  const base = claimsDigest(sampleClaims());

  it('holds for random replacement values at every path', () => {
    fc.assert(
      fc.property(fc.constantFrom(...leafPaths), fc.jsonValue({ maxDepth: 2 }), (path, value) => {
        const c = sampleClaims() as unknown as Record<string | number, unknown>;
        let parent = c;
        for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
        const last = path[path.length - 1]!;
        if (JSON.stringify(parent[last]) === JSON.stringify(value)) return;
        parent[last] = value;
        const text = serializeReceipt({ receiptVersion: 1, claims: c as never, attestation: 'AA==' });
        let parsed;
        try {
          parsed = parseReceipt(text);
        } catch (err) {
          expect(err).toBeInstanceOf(ReceiptError);
          const where = String((err as ReceiptError).details?.path);
          const target = '$.claims' + path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');
          const related =
            target.startsWith(where) || where.startsWith(target) || (target.startsWith('$.claims.inputs[') && where.startsWith('$.claims.inputs['));
          expect(related, `${where} vs ${target}`).toBe(true);
          return;
        }
        expect(Buffer.from(claimsDigest(parsed.claims)).equals(Buffer.from(base))).toBe(false);
      }),
      { seed: 42, numRuns: 600 },
    );
  });

  it('parseReceiptClaims returns a copy without foreign properties', () => {
    const c = sampleClaims();
    const copy = parseReceiptClaims(c);
    expect(copy).toEqual(c);
    expect(copy).not.toBe(c);
    expect(copy.request).not.toBe(c.request);
  });
});
