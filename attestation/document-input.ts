/**
 * Reading attestation documents as people hand them over: raw COSE_Sign1 bytes, or the same
 * bytes as base64 text (receipts, KMS requests and evervault's files use base64).
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../common/errors.js';

const MAX_FILE_BYTES = 1024 * 1024;

/** Reads an attestation document file holding raw COSE_Sign1 bytes or their base64. */
export async function readDocumentFile(path: string): Promise<Uint8Array> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new InputError('INPUT_UNREADABLE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  if (data.length > MAX_FILE_BYTES) throw new InputError('INPUT_TOO_LARGE', `${path} is larger than ${MAX_FILE_BYTES} bytes`);
  return decodeDocumentText(new Uint8Array(data));
}

/**
 * Raw documents start with 0x84 (untagged array) or 0xd2 (tag 18) — never printable text —
 * so anything that is entirely base64 text is decoded; anything else is taken as raw bytes.
 */
export function decodeDocumentText(data: Uint8Array): Uint8Array {
  if (data.length > 0 && (data[0] === 0x84 || data[0] === 0xd2)) return data;
  const text = Buffer.from(data).toString('latin1').replace(/\s+/g, '');
  if (text.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0) {
    return new Uint8Array(Buffer.from(text, 'base64'));
  }
  if (text.length > 0 && /^[A-Za-z0-9_-]+$/.test(text)) return new Uint8Array(Buffer.from(text, 'base64url'));
  return data;
}

