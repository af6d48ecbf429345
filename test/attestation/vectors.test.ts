/**
 * Genuine AWS Nitro attestation documents (test/vectors/attestation): each verifies at its
 * suggested time with the PCRs the manifest lists, fails with the real clock, and the mock-root
 * document is refused. Expected values come from manifest.json and the evervault test specs,
 * not from our own code.
 */
import { describe, expect, it } from 'vitest';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { verifyAttestationDocument } from '../../attestation/verify.js';
import { awsNitroRootG1, trustedRootFromPem, AWS_NITRO_ROOT_G1_SHA256, AWS_NITRO_ROOT_G1_PEM } from '../../attestation/roots.js';
import { decodeCoseSign1 } from '../../attestation/cose.js';
import { parseAttestationPayload } from '../../attestation/payload.js';
import { instanceIdFromModuleId, pcr4ForInstanceId } from '../../attestation/pcr.js';
import {
  attestationVectors,
  byFile,
  debugDocs,
  docBytes,
  expectCode,
  genuineDocs,
  manifest,
  manifestPcrs,
  mockDoc,
  productionDocs,
} from './helpers.js';

const aws = [awsNitroRootG1()];
const ZERO = '0'.repeat(96);

describe('AWS Nitro root G1', () => {
  it('embedded PEM equals the vector file and hashes to the pinned SHA-256', () => {
    const fromFile = trustedRootFromPem(readFileSync(path.join(attestationVectors, 'AWS_NitroEnclaves_Root-G1.pem'), 'utf8'));
    expect(fromFile.sha256).toBe('641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b');
    expect(awsNitroRootG1().sha256).toBe(AWS_NITRO_ROOT_G1_SHA256);
    expect(Buffer.compare(awsNitroRootG1().der, fromFile.der)).toBe(0);
    expect(new X509Certificate(AWS_NITRO_ROOT_G1_PEM).subject.split('\n').join(', ')).toBe('C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves');
  });

  it('every genuine document carries the pinned root as cabundle[0]', () => {
    for (const d of genuineDocs) {
      const p = parseAttestationPayload(decodeCoseSign1(docBytes(d)).payload);
      expect(createHash('sha256').update(p.cabundle[0]).digest('hex'), d.file).toBe(AWS_NITRO_ROOT_G1_SHA256);
    }
  });
});

describe('genuine documents', () => {
  it('decoded bytes match the manifest hashes', () => {
    for (const d of manifest.attestation_docs) {
      expect(createHash('sha256').update(docBytes(d)).digest('hex'), d.file).toBe(d.sha256_of_decoded_bytes);
    }
  });

  for (const d of productionDocs) {
    it(`verifies at its suggested time with its listed PCRs: ${d.file}`, async () => {
      const v = await verifyAttestationDocument(docBytes(d), {
        trustedRoots: aws,
        at: d.suggested_verification_time_ms,
        expectedPcrs: manifestPcrs(d),
        maxAgeMs: 5_000,
      });
      expect(v.moduleId).toBe(d.module_id);
      expect(v.timestamp).toBe(d.timestamp_ms);
      expect(v.debugMode).toBe(false);
      expect(v.rootSha256).toBe(AWS_NITRO_ROOT_G1_SHA256);
      expect(v.chainSubjects).toHaveLength(5);
      expect(v.chainSubjects[4]).toBe('C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves');
      expect(v.publicKey?.length ?? null).toBe(d.public_key_len);
      expect(v.userData?.length ?? null).toBe(d.user_data_len);
      expect(v.nonce?.length ?? null).toBe(d.nonce_len);
      for (const [i, hex] of v.pcrs) expect(hex).toBe(d.pcrs[String(i)] ?? ZERO);
    });
  }

  for (const d of genuineDocs) {
    it(`fails with the real clock (certificate expired): ${d.file}`, async () => {
      const err = await expectCode(
        verifyAttestationDocument(docBytes(d), { trustedRoots: aws, at: Date.now(), expectedPcrs: manifestPcrs(d), allowDebug: true }),
        'ATTESTATION_CERT_EXPIRED',
      );
      expect(err.details?.position).toBeDefined();
    });

    it(`fails one second before its leaf is valid: ${d.file}`, async () => {
      const p = parseAttestationPayload(decodeCoseSign1(docBytes(d)).payload);
      const leafFrom = new X509Certificate(p.certificate).validFrom;
      await expectCode(
        verifyAttestationDocument(docBytes(d), {
          trustedRoots: aws,
          at: Date.parse(leafFrom) - 1000,
          expectedPcrs: manifestPcrs(d),
          allowDebug: true,
          futureSkewMs: 24 * 3_600_000,
        }),
        'ATTESTATION_CERT_NOT_YET_VALID',
      );
    });

    it(`PCR4 = SHA384(0^48 ‖ instance id from module_id): ${d.file}`, () => {
      const id = instanceIdFromModuleId(d.module_id);
      expect(id).not.toBeNull();
      expect(pcr4ForInstanceId(id!)).toBe(d.pcrs['4']);
    });
  }

  for (const d of debugDocs) {
    it(`debug document is rejected by default and accepted with allowDebug: ${d.file}`, async () => {
      const options = { trustedRoots: aws, at: d.suggested_verification_time_ms, expectedPcrs: { 0: ZERO, 1: ZERO, 2: ZERO, 8: ZERO } };
      await expectCode(verifyAttestationDocument(docBytes(d), options), 'ATTESTATION_DEBUG_MODE');
      const v = await verifyAttestationDocument(docBytes(d), { ...options, allowDebug: true });
      expect(v.debugMode).toBe(true);
      expect(v.pcrs.get(3)).toBe(d.pcrs['3']);
    });
  }

  it('the mock-root document (Marlin custom.bin) is rejected: untrusted root, at any time', async () => {
    for (const at of [mockDoc.suggested_verification_time_ms, Date.now()]) {
      await expectCode(
        verifyAttestationDocument(docBytes(mockDoc), { trustedRoots: aws, at, expectedPcrs: manifestPcrs(mockDoc), allowDebug: true }),
        'ATTESTATION_UNTRUSTED_ROOT',
      );
    }
  });
});

describe('evervault test specs (expected outcomes from evervault, not from us)', () => {
  const specDir = path.join(attestationVectors, 'evervault/test-specs');
  const coseFor = (specFile: string): ReturnType<typeof byFile> =>
    specFile.includes('debug-mode') ? byFile('debug-mode-cert-containing') : byFile('non-debug-cert-containing');
  const specs = ['beta', 'ga'].flatMap((dir) =>
    [
      'valid_attestation_doc_check_pcr8_only_time_sensitive.json',
      'valid_attestation_doc_in_cert_der_encoding_time_sensitive.json',
      'valid_attestation_doc_in_cert_incorrect_pcrs_time_sensitive.json',
      'valid_attestation_doc_in_cert_time_sensitive.json',
      'valid_attestation_doc_in_non_debug_mode_with_correct_pcrs_time_sensitive.json',
      'valid_attestation_doc_ga.json',
    ]
      .map((f) => path.join(specDir, dir, f))
      .filter((f) => {
        try {
          readFileSync(f);
          return true;
        } catch {
          return false;
        }
      }),
  );

  it('finds all six specs', () => expect(specs).toHaveLength(6));

  for (const specPath of specs) {
    it(`agrees with ${path.basename(specPath)}`, async () => {
      const spec = JSON.parse(readFileSync(specPath, 'utf8')) as {
        file?: string;
        attestationDoc?: string;
        pcrs: Record<string, string>;
        shouldPcrsMatch: boolean;
      };
      const d = spec.attestationDoc ? byFile('valid-attestation-doc-base64') : coseFor(spec.file!);
      const expectedPcrs = Object.fromEntries(Object.entries(spec.pcrs).map(([k, v]) => [Number(k.replace('pcr', '')), v]));
      const run = verifyAttestationDocument(docBytes(d), {
        trustedRoots: aws,
        at: d.suggested_verification_time_ms,
        expectedPcrs,
        allowDebug: true,
      });
      if (spec.shouldPcrsMatch) {
        await expect(run).resolves.toBeDefined();
      } else {
        // The spec's "incorrect" PCRs include non-hex garbage: we refuse it as unusable options
        // rather than comparing; either way the document does not pass.
        const err = await run.then(
          () => null,
          (e: unknown) => e as { code: string },
        );
        expect(['ATTESTATION_PCR_MISMATCH', 'ATTESTATION_INVALID_OPTIONS']).toContain(err?.code);
      }
    });
  }

  it('the extracted .cose files are the documents in the carrying certificates (longest SAN DNS label, hex)', () => {
    const beta = path.join(attestationVectors, 'evervault/test-data/beta');
    const pairs: Array<[string, string]> = [
      ['non-debug-cert-containing-attestation-document-18-1-23-der.crt', 'non-debug-cert-containing'],
      ['non-debug-cert-containing-attestation-document-18-1-23.pem', 'non-debug-cert-containing'],
      ['debug-mode-cert-containing-attestation-doc-18-1-23.pem', 'debug-mode-cert-containing'],
    ];
    for (const [carrier, fragment] of pairs) {
      const cert = new X509Certificate(readFileSync(path.join(beta, carrier)));
      const labels = (cert.subjectAltName ?? '')
        .split(', ')
        .filter((s) => s.startsWith('DNS:'))
        .map((s) => s.slice(4).split('.')[0]);
      const longest = labels.reduce((a, b) => (b.length > a.length ? b : a), '');
      expect(Buffer.compare(Buffer.from(longest, 'hex'), Buffer.from(docBytes(byFile(fragment)))), carrier).toBe(0);
    }
  });

  it('user_data binds the TLS key: equals the SPKI of the carrying / GA certificate', async () => {
    const beta = path.join(attestationVectors, 'evervault/test-data/beta');
    const cases: Array<[string, ReturnType<typeof byFile>]> = [
      [path.join(beta, 'non-debug-cert-containing-attestation-document-18-1-23-der.crt'), byFile('non-debug-cert-containing')],
      [path.join(attestationVectors, 'evervault/test-data/valid-certificate.der'), byFile('valid-attestation-doc-base64')],
    ];
    for (const [certPath, d] of cases) {
      const spki = new X509Certificate(readFileSync(certPath)).publicKey.export({ format: 'der', type: 'spki' });
      const v = await verifyAttestationDocument(docBytes(d), {
        trustedRoots: aws,
        at: d.suggested_verification_time_ms,
        expectedPcrs: 'skip',
        allowDebug: true,
        expectedUserData: new Uint8Array(spki),
      });
      expect(v.userData?.length).toBe(spki.length);
    }
  });
});
