/**
 * `claims.tool.source` (optional, added for `attested-pack audit`): receipts without it stay
 * valid v1 receipts with unchanged canonical bytes; with it, only a 40-hex commit (optionally
 * `+dirty`) is accepted, and it is bound by user_data like every other claim.
 */
import { describe, expect, it } from 'vitest';
import { buildReceipt, canonicalClaims, claimsDigest, parseReceipt, ReceiptError } from '../../attestation/receipt.js';
import { sampleClaims } from '../verify-receipt/helpers/claims.js';

const DOC = Uint8Array.of(0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x41, 0x00, 0x40);
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

function withSource(source: unknown): string {
  const r = JSON.parse(JSON.stringify(buildReceipt(sampleClaims(), DOC))) as { claims: { tool: Record<string, unknown> } };
  r.claims.tool.source = source;
  return JSON.stringify(r);
}

describe('claims.tool.source', () => {
  it('is optional: a receipt without it parses to the same claims and the same canonical bytes as before', () => {
    const parsed = parseReceipt(JSON.stringify(buildReceipt(sampleClaims(), DOC)));
    expect(Object.hasOwn(parsed.claims.tool, 'source')).toBe(false);
    expect(Buffer.from(canonicalClaims(parsed.claims)).toString('utf8')).toContain('"tool":{"name":"attested-pack","version":"0.1.0"}');
  });

  it('accepts a commit and a commit+dirty, and binds it (a different source is a different digest)', () => {
    expect(parseReceipt(withSource(COMMIT)).claims.tool.source).toBe(COMMIT);
    expect(parseReceipt(withSource(`${COMMIT}+dirty`)).claims.tool.source).toBe(`${COMMIT}+dirty`);
    const a = parseReceipt(withSource(COMMIT)).claims;
    const b = parseReceipt(withSource(`${COMMIT}+dirty`)).claims;
    expect(Buffer.from(claimsDigest(a)).equals(Buffer.from(claimsDigest(b)))).toBe(false);
    expect(Buffer.from(claimsDigest(a)).equals(Buffer.from(claimsDigest(sampleClaims())))).toBe(false);
  });

  it.each([
    ['a short commit', COMMIT.slice(0, 12)],
    ['upper-case hex', COMMIT.toUpperCase()],
    ['another suffix', `${COMMIT}+modified`],
    ['a tag', 'v0.1.0'],
    ['an empty string', ''],
    ['a number', 42],
    ['null', null],
  ])('rejects %s with RECEIPT_MALFORMED naming the field', (_what, value) => {
    let err: unknown;
    try {
      parseReceipt(withSource(value));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ReceiptError);
    expect((err as ReceiptError).code).toBe('RECEIPT_MALFORMED');
    expect((err as ReceiptError).message).toContain('$.claims.tool.source');
  });
});
