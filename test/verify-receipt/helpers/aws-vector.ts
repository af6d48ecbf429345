/** A genuine AWS Nitro attestation document from test/vectors, and a receipt built around it. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { buildReceipt } from '../../../attestation/receipt.js';
import { decodeCoseSign1 } from '../../../attestation/cose.js';
import { parseAttestationPayload } from '../../../attestation/payload.js';
import type { Receipt } from '../../../attestation/receipt-types.js';
import { sampleClaims } from './claims.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const VECTORS = resolve(repoRoot, 'test/vectors/attestation');

interface ManifestDoc {
  file: string;
  timestamp_ms: number;
  pcrs: Record<string, string>;
}

/** The production (non-debug) evervault document with user_data (120 bytes) and a 256-byte nonce. */
export const AWS_DOC_FILE = 'evervault/extracted-from-certs/non-debug-cert-containing-attestation-document-18-1-23-der.crt.cose';

export interface AwsVectorReceipt {
  document: Uint8Array;
  timestamp: number;
  /** Non-zero PCRs listed by the vector manifest (index → hex). */
  pcrs: Record<number, string>;
  receipt: Receipt;
}

/** Builds a receipt whose attestation is the genuine AWS document; its claims carry the document's nonce. */
export function awsVectorReceipt(file = AWS_DOC_FILE): AwsVectorReceipt {
  const manifest = JSON.parse(readFileSync(join(VECTORS, 'manifest.json'), 'utf8')) as { attestation_docs: ManifestDoc[] };
  const entry = manifest.attestation_docs.find((d) => d.file === file)!;
  const document = new Uint8Array(readFileSync(join(VECTORS, file)));
  const payload = parseAttestationPayload(decodeCoseSign1(document).payload);
  const claims = sampleClaims();
  claims.request.nonce = Buffer.from(payload.nonce!).toString('hex');
  const pcrs: Record<number, string> = {};
  for (const [k, v] of Object.entries(entry.pcrs)) pcrs[Number(k)] = v;
  return { document, timestamp: entry.timestamp_ms, pcrs, receipt: buildReceipt(claims, document) };
}
