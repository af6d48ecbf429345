/**
 * Clef's check of an age public key in clef.yaml (packages/core/src/recipients/validator.ts):
 * trimmed, `age1` prefix, at least 10 characters, bech32 characters after the prefix. It
 * does not verify the bech32 checksum — a bad checksum only fails later, at encryption.
 */

const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const MIN_LENGTH = 10;

/** Validates an age recipient the way Clef's manifest parser does; returns the trimmed key or a reason. */
export function checkAgeRecipient(input: string): { ok: true; key: string } | { ok: false; reason: string } {
  const key = input.trim();
  if (!key.startsWith('age1')) {
    return { ok: false, reason: `an age public key must start with 'age1' (got '${key.slice(0, 10)}…')` };
  }
  if (key.length < MIN_LENGTH) {
    return { ok: false, reason: `the age public key is too short (${key.length} characters, at least ${MIN_LENGTH})` };
  }
  for (const ch of key.slice(4)) {
    if (!BECH32_CHARSET.includes(ch)) {
      return { ok: false, reason: `invalid character '${ch}' in the age public key (only lower-case bech32 after 'age1')` };
    }
  }
  return { ok: true, key };
}
