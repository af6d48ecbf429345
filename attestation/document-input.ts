/**
 * Reading attestation documents as people hand them over: raw COSE_Sign1 bytes, the same
 * bytes as base64 text (KMS requests and evervault's files use base64), or an attested-pack
 * receipt (`receipt.json`), whose `attestation` field holds the document in base64.
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../common/errors.js';

const MAX_FILE_BYTES = 1024 * 1024;

/** Where a document came from: the file itself, or the `attestation` field of a receipt. */
export type DocumentSource = 'document' | 'receipt';

/** Reads an attestation document file holding raw COSE_Sign1 bytes or their base64. */
export async function readDocumentFile(path: string): Promise<Uint8Array> {
  return (await readDocumentInput(path)).bytes;
}

/**
 * Reads an attestation document, or the document inside a receipt JSON (its `attestation`
 * field), saying which: the caller tells the user it read a receipt's field.
 */
export async function readDocumentInput(path: string): Promise<{ bytes: Uint8Array; source: DocumentSource }> {
  const data = await readFileBounded(path);
  const receiptDocument = attestationOfReceiptJson(data, path);
  if (receiptDocument !== undefined) return { bytes: receiptDocument, source: 'receipt' };
  return { bytes: decodeDocumentText(data), source: 'document' };
}

/** The base64 `attestation` field of a JSON object, decoded; undefined when `data` is not JSON text. */
function attestationOfReceiptJson(data: Uint8Array, path: string): Uint8Array | undefined {
  const text = Buffer.from(data).toString('utf8').trim();
  if (!text.startsWith('{')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const attestation = (v as { attestation?: unknown }).attestation;
  if (typeof attestation !== 'string' || attestation.length === 0) {
    throw new InputError('INPUT_NOT_A_DOCUMENT', `${path} is JSON without an \`attestation\` field: neither a receipt nor an attestation document`, {
      hint: 'pass a receipt.json written by the pack step, or the attestation document itself (raw COSE_Sign1 bytes or base64)',
    });
  }
  return decodeDocumentText(new Uint8Array(Buffer.from(attestation, 'latin1')));
}

async function readFileBounded(path: string): Promise<Uint8Array> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new InputError('INPUT_UNREADABLE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  if (data.length > MAX_FILE_BYTES) throw new InputError('INPUT_TOO_LARGE', `${path} is larger than ${MAX_FILE_BYTES} bytes`);
  return new Uint8Array(data);
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

