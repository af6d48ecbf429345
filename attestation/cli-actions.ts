/**
 * Bodies of `attested-pack attestation inspect|verify`, loaded lazily by cli.ts. They read the
 * document (raw or base64), turn flags into verification options, and print results for
 * people or as JSON. Rejections throw AttestationError (exit 1); unusable flags throw
 * UsageError (exit 2) — including "no expected PCRs", because verification fails closed.
 */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { InputError, UsageError } from '../common/errors.js';
import { readDocumentFile } from './document-input.js';
import { processIo, parseIntFlag } from '../common/cli-output.js';
import { fromHex, toHex } from '../common/bytes.js';
import { parseMeasurements } from '../common/measurements.js';
import { decodeCoseSign1 } from './cose.js';
import { parseAttestationPayload, type AttestationPayload } from './payload.js';
import { awsNitroRootG1, pemToDerList, trustedRootFromDer, type TrustedRoot } from './roots.js';
import { verifyAttestationDocument, type VerifiedAttestation, type VerifyAttestationOptions } from './verify.js';
import { isDebugMode, normalizePcrHex } from './pcr.js';
import { parseCertificate } from './x509.js';

const hexOrNull = (b: Uint8Array | null): string | null => (b === null ? null : toHex(b));
const iso = (ms: number): string => new Date(ms).toISOString();

function describeCertificate(der: Uint8Array): Record<string, unknown> {
  const sha256 = createHash('sha256').update(der).digest('hex');
  try {
    const c = parseCertificate(der);
    return { subject: c.subject, notBefore: iso(c.notBefore), notAfter: iso(c.notAfter), sha256 };
  } catch {
    return { subject: null, error: 'not a valid certificate', sha256 };
  }
}

/** `attestation inspect`: decoded fields, explicitly NOT verified. */
export async function inspectCommand(file: string, opts: { json: boolean }): Promise<number> {
  const bytes = await readDocumentFile(file);
  const cose = decodeCoseSign1(bytes);
  const p: AttestationPayload = parseAttestationPayload(cose.payload);
  const pcrs = Object.fromEntries([...p.pcrs].map(([i, v]) => [String(i), toHex(v)]));
  const out = {
    verified: false,
    tagged: cose.tagged,
    protectedHeader: toHex(cose.protectedBytes),
    documentSha256: createHash('sha256').update(bytes).digest('hex'),
    moduleId: p.moduleId,
    digest: p.digest,
    timestamp: p.timestamp,
    timestampIso: iso(p.timestamp),
    pcrs,
    debugMode: isDebugMode(p.pcrs),
    certificate: describeCertificate(p.certificate),
    cabundle: p.cabundle.map(describeCertificate),
    publicKey: hexOrNull(p.publicKey),
    userData: hexOrNull(p.userData),
    nonce: hexOrNull(p.nonce),
    signature: toHex(cose.signature),
  };
  if (opts.json) {
    processIo.stdout(JSON.stringify({ ok: true, ...out }, null, 2) + '\n');
    return 0;
  }
  const lines = [
    'attestation document (decoded only — NOT verified; use `attestation verify`)',
    `  module_id   ${out.moduleId}`,
    `  digest      ${out.digest}`,
    `  timestamp   ${out.timestampIso} (${out.timestamp})`,
    `  debug mode  ${out.debugMode ? 'yes (PCR0/1/2 all zero)' : 'no'}`,
    ...Object.entries(pcrs).map(([i, v]) => `  PCR${i.padEnd(9)} ${v}`),
    `  public_key  ${out.publicKey === null ? 'null' : `${p.publicKey!.length} bytes ${out.publicKey}`}`,
    `  user_data   ${out.userData === null ? 'null' : `${p.userData!.length} bytes ${out.userData}`}`,
    `  nonce       ${out.nonce === null ? 'null' : `${p.nonce!.length} bytes ${out.nonce}`}`,
    `  leaf        ${String(out.certificate.subject)} (${String(out.certificate.notBefore)} .. ${String(out.certificate.notAfter)})`,
    ...out.cabundle.map((c, i) => `  cabundle[${i}] ${String(c.subject)} (${String(c.notBefore)} .. ${String(c.notAfter)})`),
  ];
  processIo.stdout(lines.join('\n') + '\n');
  return 0;
}

/** Turns the PCR flags and measurements.json into the expected-PCR map; fails closed when empty. */
async function expectedPcrsFrom(opts: Record<string, unknown>): Promise<Record<number, string>> {
  const expected: Record<number, string> = {};
  const put = (index: number, value: string, source: string): void => {
    const hex = normalizePcrHex(value);
    if (hex === null) throw new UsageError(`${source}: PCR${index} must be 96 hex characters (SHA-384)`);
    if (expected[index] !== undefined && expected[index] !== hex) {
      throw new UsageError(`PCR${index} is given twice with different values`);
    }
    expected[index] = hex;
  };
  for (let i = 0; i <= 8; i++) {
    const v = opts[`pcr${i}`];
    if (typeof v === 'string') put(i, v, `--pcr${i}`);
  }
  for (const spec of (opts.pcr as string[] | undefined) ?? []) {
    const m = /^(\d{1,2})=(.*)$/.exec(spec);
    if (!m || Number(m[1]) > 31) throw new UsageError(`--pcr expects INDEX=HEX with INDEX 0..31, got ${JSON.stringify(spec)}`);
    put(Number(m[1]), m[2], '--pcr');
  }
  if (typeof opts.measurements === 'string') {
    let text: string;
    try {
      text = await readFile(opts.measurements, 'utf8');
    } catch (err) {
      throw new InputError('INPUT_UNREADABLE', `cannot read ${opts.measurements}`, { cause: err });
    }
    const m = parseMeasurements(text, opts.measurements);
    put(0, m.PCR0, opts.measurements);
    put(1, m.PCR1, opts.measurements);
    put(2, m.PCR2, opts.measurements);
    if (m.PCR8 !== undefined) put(8, m.PCR8, opts.measurements);
  }
  if (Object.keys(expected).length === 0) {
    throw new UsageError('no expected PCRs: verification never passes without measurements', {
      hint: 'pass --measurements measurements.json (from `attested-pack eif build`) or --pcr0/--pcr1/--pcr2 HEX',
    });
  }
  // PCR0 is the image: without it any enclave image with the right kernel, role or signer passes
  // (the same rule as verify-receipt).
  if (expected[0] === undefined) {
    throw new UsageError('--pcr0 is required: PCR0 is the enclave image itself (PCR1/2/3/4/8 alone do not pin it)', {
      hint: 'pass --pcr0 HEX (or --measurements measurements.json) together with the other PCRs',
    });
  }
  return expected;
}

async function rootsFrom(opts: Record<string, unknown>): Promise<TrustedRoot[]> {
  if (typeof opts.root !== 'string') return [awsNitroRootG1()];
  let pem: string;
  try {
    pem = await readFile(opts.root, 'utf8');
  } catch (err) {
    throw new InputError('INPUT_UNREADABLE', `cannot read ${opts.root}`, { cause: err });
  }
  const ders = pemToDerList(pem);
  if (ders.length === 0) throw new UsageError(`--root ${opts.root} holds no PEM certificate`);
  return ders.map(trustedRootFromDer);
}

function verificationTime(value: unknown, bytes: Uint8Array): number {
  if (value === undefined) return Date.now();
  if (typeof value !== 'string') throw new UsageError('--at needs a value');
  if (value === 'document') {
    // The timestamp is signed, so verifying "as of" it is safe once the signature checks out;
    // if the document cannot even be decoded, verification below reports why.
    try {
      return parseAttestationPayload(decodeCoseSign1(bytes).payload).timestamp;
    } catch {
      return Date.now();
    }
  }
  if (/^\d+$/.test(value)) return parseIntFlag('--at', value, 1);
  const t = Date.parse(value);
  if (!Number.isFinite(t) || !/^\d{4}-\d{2}-\d{2}/.test(value)) {
    throw new UsageError(`--at must be ISO-8601 (e.g. 2024-12-13T07:38:00Z), epoch ms, or 'document'; got ${JSON.stringify(value)}`);
  }
  return t;
}

function hexFlag(name: string, value: unknown): Uint8Array | undefined {
  if (value === undefined) return undefined;
  const bytes = typeof value === 'string' ? fromHex(value.trim().replace(/^0x/i, '')) : undefined;
  if (!bytes) throw new UsageError(`${name} must be hex`);
  return bytes;
}

function verifiedJson(v: VerifiedAttestation): Record<string, unknown> {
  return {
    moduleId: v.moduleId,
    digest: v.digest,
    timestamp: v.timestamp,
    timestampIso: iso(v.timestamp),
    pcrs: Object.fromEntries([...v.pcrs].map(([i, h]) => [String(i), h])),
    debugMode: v.debugMode,
    publicKey: hexOrNull(v.publicKey),
    userData: hexOrNull(v.userData),
    nonce: hexOrNull(v.nonce),
    certificateSha256: createHash('sha256').update(v.certificate).digest('hex'),
    chainSubjects: v.chainSubjects,
    rootSha256: v.rootSha256,
  };
}

/** `attestation verify`: exit 0 verified, 1 rejected (code + reason), 2 usage. */
export async function verifyCommand(file: string, opts: Record<string, unknown>): Promise<number> {
  const expectedPcrs = await expectedPcrsFrom(opts);
  const trustedRoots = await rootsFrom(opts);
  const maxAgeMs = opts.maxAge === undefined ? undefined : parseIntFlag('--max-age', String(opts.maxAge), 0) * 1000;
  const expectedNonce = hexFlag('--nonce', opts.nonce);
  const expectedUserData = hexFlag('--user-data', opts.userData);
  const bytes = await readDocumentFile(file);
  const at = verificationTime(opts.at, bytes);
  const options: VerifyAttestationOptions = {
    trustedRoots,
    at,
    expectedPcrs,
    allowDebug: opts.allowDebug === true,
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
    ...(expectedNonce === undefined ? {} : { expectedNonce }),
    ...(expectedUserData === undefined ? {} : { expectedUserData }),
  };
  const v = await verifyAttestationDocument(bytes, options);
  const json = verifiedJson(v);
  if (opts.json) {
    processIo.stdout(JSON.stringify({ ok: true, verifiedAt: iso(at), verified: json }, null, 2) + '\n');
    return 0;
  }
  const aws = v.rootSha256 === awsNitroRootG1().sha256;
  const lines = [
    `verified: ${v.moduleId}${v.debugMode ? ' (DEBUG MODE — allowed by --allow-debug)' : ''}`,
    `  timestamp  ${iso(v.timestamp)} (checked at ${iso(at)})`,
    `  root       ${v.chainSubjects[v.chainSubjects.length - 1]} sha256 ${v.rootSha256}${aws ? ' (AWS Nitro Enclaves Root-G1)' : ' (NOT the AWS root)'}`,
    `  matched    ${Object.keys(expectedPcrs).map((i) => `PCR${i}`).join(', ')}`,
  ];
  processIo.stdout(lines.join('\n') + '\n');
  return 0;
}
