/**
 * The age key source: sops stores the data key (or a Shamir share) as an ASCII-armored age file
 * per recipient. X25519 (`age1…`) and the post-quantum hybrid (`age1pq1…`) work through the
 * `age-encryption` package; SSH and plugin recipients do not.
 */
import { Decrypter, Encrypter, armor } from 'age-encryption';
import { SopsError } from '../errors.js';

/**
 * Reads age identities from a keys.txt-style text (as sops reads SOPS_AGE_KEY_FILE / SOPS_AGE_KEY):
 * `#` comment lines and blank lines ignored, one or more whitespace-separated identities per line.
 */
export function parseAgeIdentities(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    for (const id of t.split(/\s+/)) if (id) out.push(id);
  }
  return out;
}

/** Decrypts an `enc` armored age file with any of the identities. */
export async function ageUnwrap(enc: string, identities: readonly string[]): Promise<Uint8Array> {
  let file: Uint8Array;
  try {
    file = armor.decode(enc);
  } catch {
    throw new SopsError('SOPS_BAD_METADATA', 'the age stanza is not a valid armored age file');
  }
  const d = new Decrypter();
  for (const id of identities) {
    if (!/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(id)) {
      throw new SopsError('SOPS_UNSUPPORTED', 'an age identity is not an AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1… key (plugins and SSH keys are not supported)');
    }
    try {
      d.addIdentity(id);
    } catch {
      throw new SopsError('SOPS_UNSUPPORTED', 'an age identity could not be parsed');
    }
  }
  try {
    return await d.decrypt(file);
  } catch (err) {
    const msg = err instanceof Error ? err.message : '';
    throw new SopsError('SOPS_NO_KEY', /no identity matched/i.test(msg) ? 'no age identity matched this recipient' : 'age decryption failed');
  }
}

/** Encrypts a payload to one age recipient and armors it (sops: one recipient per entry, 64-column lines). */
export async function ageWrap(recipient: string, payload: Uint8Array): Promise<string> {
  const e = new Encrypter();
  try {
    e.addRecipient(recipient);
  } catch {
    throw new SopsError('SOPS_ENCRYPT_FAILED', `unsupported or invalid age recipient ${JSON.stringify(recipient.slice(0, 80))}`, {
      hint: 'use an age1… (X25519) or age1pq1… (post-quantum hybrid) recipient',
    });
  }
  return armor.encode(await e.encrypt(payload));
}
