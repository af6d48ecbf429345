/**
 * Attestation-document tamper matrix by byte-position class. A small independent CBOR walker
 * (written here, sharing no code with attestation/cbor.ts) maps every byte of a document to what
 * it belongs to — COSE structure, protected header, signature, payload structure, PCR values,
 * other payload values, leaf certificate, root (cabundle[0]), intermediates — and bits are
 * flipped at positions spread over each class. Every variant must be refused with a code of the
 * class's expected set. Run on the genuine production AWS document (AWS root, its own clock)
 * and on a simulated document carrying public_key, user_data and nonce. Under FUZZ_RUNS every
 * byte is flipped.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { awsNitroRootG1, verifyAttestationDocument, type VerifyAttestationOptions } from '../../../attestation/index.js';
import { SIM_PCRS, T0, fixedPki } from '../fixtures.js';
import { LONG_RUN, vectorsDir } from '../support.js';

type ByteClass =
  | 'COSE structure'
  | 'protected header'
  | 'signature'
  | 'payload structure'
  | 'PCR values'
  | 'payload values'
  | 'leaf certificate'
  | 'root certificate (cabundle[0])'
  | 'intermediate certificates';

/** What each class may be refused as: decided from what the bytes mean, not from running the verifier. */
const EXPECTED: Record<ByteClass, ReadonlySet<string>> = {
  'COSE structure': new Set([
    'ATTESTATION_MALFORMED_CBOR',
    'ATTESTATION_BAD_TAG',
    'ATTESTATION_BAD_COSE_STRUCTURE',
    'ATTESTATION_BAD_PROTECTED_HEADER',
    'ATTESTATION_BAD_SIGNATURE_FORMAT',
    'ATTESTATION_BAD_PAYLOAD',
  ]),
  'protected header': new Set(['ATTESTATION_BAD_PROTECTED_HEADER', 'ATTESTATION_SIGNATURE_INVALID']),
  signature: new Set(['ATTESTATION_SIGNATURE_INVALID', 'ATTESTATION_BAD_SIGNATURE_FORMAT']),
  'payload structure': new Set(['ATTESTATION_BAD_PAYLOAD', 'ATTESTATION_SIGNATURE_INVALID']),
  'PCR values': new Set(['ATTESTATION_SIGNATURE_INVALID']),
  'payload values': new Set(['ATTESTATION_SIGNATURE_INVALID', 'ATTESTATION_BAD_PAYLOAD']),
  'leaf certificate': new Set(['ATTESTATION_BAD_CERTIFICATE', 'ATTESTATION_CHAIN_INVALID', 'ATTESTATION_BAD_KEY_ALGORITHM', 'ATTESTATION_CERT_PROFILE']),
  'root certificate (cabundle[0])': new Set(['ATTESTATION_UNTRUSTED_ROOT']),
  'intermediate certificates': new Set(['ATTESTATION_BAD_CERTIFICATE', 'ATTESTATION_CHAIN_INVALID', 'ATTESTATION_BAD_KEY_ALGORITHM', 'ATTESTATION_CERT_PROFILE']),
};

/** One decoded CBOR item: where its head and its content lie, and its children. */
interface Node {
  start: number;
  contentStart: number;
  end: number;
  major: number;
  /** Text-string content (map keys). */
  text?: string;
  children: Node[];
}

/** Minimal definite-length CBOR walker (enough for COSE_Sign1 and NSM payloads). */
function walk(b: Uint8Array, pos: number): Node {
  const start = pos;
  const major = b[pos]! >> 5;
  const info = b[pos]! & 0x1f;
  pos++;
  let arg = 0;
  const view = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (info < 24) {
    arg = info;
  } else if (info === 24) {
    arg = b[pos]!;
    pos += 1;
  } else if (info === 25) {
    arg = view.readUInt16BE(pos);
    pos += 2;
  } else if (info === 26) {
    arg = view.readUInt32BE(pos);
    pos += 4;
  } else if (info === 27) {
    arg = Number(view.readBigUInt64BE(pos));
    pos += 8;
  }
  const node: Node = { start, contentStart: pos, end: pos, major, children: [] };
  if (major === 2 || major === 3) {
    node.end = pos + arg;
    if (major === 3) node.text = Buffer.from(b.subarray(pos, pos + arg)).toString('utf8');
  } else if (major === 4 || major === 5) {
    for (let i = 0; i < (major === 5 ? 2 * arg : arg); i++) {
      const child = walk(b, pos);
      node.children.push(child);
      pos = child.end;
    }
    node.end = pos;
  } else if (major === 6) {
    const child = walk(b, pos);
    node.children.push(child);
    node.end = child.end;
  }
  return node;
}

/** Classifies every byte of a document. */
function classify(doc: Uint8Array): ByteClass[] {
  const classes: ByteClass[] = new Array<ByteClass>(doc.length).fill('COSE structure');
  const mark = (from: number, to: number, c: ByteClass) => {
    for (let i = from; i < to; i++) classes[i] = c;
  };
  const cose = walk(doc, 0);
  const [prot, , payload, sig] = cose.children;
  mark(prot!.contentStart, prot!.end, 'protected header');
  mark(sig!.contentStart, sig!.end, 'signature');
  mark(payload!.contentStart, payload!.end, 'payload structure');
  const map = walk(doc, payload!.contentStart);
  for (let i = 0; i < map.children.length; i += 2) {
    const key = map.children[i]!.text;
    const value = map.children[i + 1]!;
    if (key === 'pcrs') {
      for (let j = 1; j < value.children.length; j += 2) mark(value.children[j]!.contentStart, value.children[j]!.end, 'PCR values');
    } else if (key === 'certificate') {
      mark(value.contentStart, value.end, 'leaf certificate');
    } else if (key === 'cabundle') {
      value.children.forEach((c, k) => mark(c.contentStart, c.end, k === 0 ? 'root certificate (cabundle[0])' : 'intermediate certificates'));
    } else if (key === 'timestamp') {
      mark(value.contentStart - 8, value.contentStart, 'payload values'); // the uint64 argument
    } else if (value.major === 2 || value.major === 3) {
      mark(value.contentStart, value.end, 'payload values');
    }
  }
  return classes;
}

/** Positions to flip in each class: all of them under FUZZ_RUNS, otherwise up to `per` spread evenly. */
function positions(classes: ByteClass[], per: number): Map<ByteClass, number[]> {
  const byClass = new Map<ByteClass, number[]>();
  classes.forEach((c, i) => byClass.set(c, [...(byClass.get(c) ?? []), i]));
  for (const [c, all] of byClass) {
    if (LONG_RUN || all.length <= per) continue;
    byClass.set(c, Array.from({ length: per }, (_, k) => all[Math.floor((k * (all.length - 1)) / (per - 1))]!));
  }
  return byClass;
}

interface Subject {
  label: string;
  doc: Uint8Array;
  options: VerifyAttestationOptions;
}
const subjects: Subject[] = [];

beforeAll(async () => {
  const attestationDir = path.join(vectorsDir, 'attestation');
  const manifest = JSON.parse(readFileSync(path.join(attestationDir, 'manifest.json'), 'utf8')) as {
    attestation_docs: Array<{ file: string; suggested_verification_time_ms: number; pcrs: Record<string, string> }>;
  };
  const prod = manifest.attestation_docs.find((d) => d.file === 'evervault/test-data/beta/valid-attestation-doc-bytes')!;
  subjects.push({
    label: 'genuine AWS production document',
    doc: new Uint8Array(readFileSync(path.join(attestationDir, prod.file))),
    options: { trustedRoots: [awsNitroRootG1()], at: prod.suggested_verification_time_ms, expectedPcrs: { 0: prod.pcrs['0']!, 1: prod.pcrs['1']!, 2: prod.pcrs['2']! } },
  });
  const pki = await fixedPki();
  const spki = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
  subjects.push({
    label: 'simulated document with public_key, user_data and nonce',
    doc: await pki.attest({ pcrs: SIM_PCRS, publicKey: new Uint8Array(spki), userData: new Uint8Array(48).fill(5), nonce: new Uint8Array(32).fill(6) }),
    options: { trustedRoots: [pki.trustedRoot()], at: T0, expectedPcrs: SIM_PCRS },
  });
});

describe('attestation document tamper matrix (byte-position classes)', () => {
  it('both subjects verify untampered, and every byte is classified', async () => {
    for (const s of subjects) {
      await expect(verifyAttestationDocument(s.doc, s.options)).resolves.toBeTruthy();
      const classes = new Set(classify(s.doc));
      expect(classes.size, s.label).toBe(Object.keys(EXPECTED).length);
    }
  });

  it('every flipped bit, in every class, is refused with a code of that class', async () => {
    const failures: string[] = [];
    let variants = 0;
    for (const s of subjects) {
      const summary: string[] = [];
      for (const [cls, where] of positions(classify(s.doc), 16)) {
        const codes = new Map<string, number>();
        for (const at of where) {
          for (const bit of [0x01, 0x80]) {
            const doc = Uint8Array.from(s.doc);
            doc[at] ^= bit;
            variants++;
            let got = 'ACCEPTED';
            try {
              await verifyAttestationDocument(doc, s.options);
            } catch (err) {
              got = (err as { code?: string }).code ?? 'UNTYPED';
            }
            codes.set(got, (codes.get(got) ?? 0) + 1);
            if (!EXPECTED[cls].has(got)) failures.push(`${s.label}: ${cls} byte ${at} ^${bit}: got ${got}`);
          }
        }
        summary.push(`${cls} ${where.length * 2} (${[...codes].map(([c, n]) => `${c.replace('ATTESTATION_', '')}×${n}`).join(' ')})`);
      }
      console.log(`attestation tamper matrix — ${s.label}: ${summary.join('; ')}`);
    }
    console.log(`attestation tamper matrix: ${variants} variants over ${Object.keys(EXPECTED).length} byte classes × ${subjects.length} documents, ${failures.length === 0 ? 'all rejected' : `${failures.length} NOT rejected as expected`}`);
    expect(failures).toEqual([]);
  }, LONG_RUN ? 3_600_000 : 120_000);
});
