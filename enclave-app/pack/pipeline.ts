/**
 * The pack step, as a function of its ports. Read top to bottom, it is the order the data moves:
 *
 *   1. check the request                      5. merge into Clef's {namespace: {key: value}}
 *   2. parse clef.yaml, resolve the scope      6. re-wrap into a Clef artifact v1 and sign it
 *   3. attest our ephemeral recipient key      7. build the receipt claims, attest them
 *   4. per scoped file, in parallel: attested  8. zero every buffer that held a key or plaintext
 *      KMS Decrypt → data key → SOPS decrypt
 *      with MAC check
 *
 * The critical path holds one dependent KMS round trip (two with KMS signing): the artifact's DEK
 * does not depend on any plaintext, so it is drawn and its KMS `Encrypt` starts before step 3 and
 * runs alongside the Decrypts; step 6 only waits for it. KMS `Sign` needs the ciphertext, so it
 * follows the Decrypts; a sealed signature is local; step 7's attestation is the only step after
 * signing. test/enclave-app/pack/critical-path.test.ts checks this order in the KMS simulator.
 *
 * Only files inside the identity's scope are decrypted (extra files in the request are ignored
 * and never reach KMS). Nothing returned holds plaintext: the artifact is ciphertext, the
 * receipt holds hashes and ARNs.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { posix } from 'node:path';
import { fileDigests, zeroize, toHex } from '../../common/bytes.js';
import { isAttestedPackError } from '../../common/errors.js';
import { buildReceipt, claimsDigest, serializeReceipt } from '../../attestation/receipt.js';
import type { ReceiptClaims, ReceiptInput } from '../../attestation/receipt-types.js';
import {
  parseManifestCached,
  resolvePackScope,
  mergeScopedValues,
  packArtifact,
  startKmsWrap,
  createDigestSigner,
  createEd25519Signer,
  type ArtifactSigner,
  type NamespaceValues,
  type PackScope,
  type PendingKmsWrap,
  type ScopedCell,
} from '../clef/index.js';
import { decryptSopsFile, loadSopsFile, readSopsMetadata, sopsFileMetadata, type LoadedSopsFile, type SopsDecrypted } from '../sops/index.js';
import type { KmsPort, RecipientMaterial } from '../kms/client.js';
import type { PackRequest, PackResponse, SigningMode } from '../protocol.js';
import type { RecipientKeyRing } from './recipient-keys.js';
import { PackError } from './errors.js';
import { toNamespaceValues } from './sops-to-clef.js';
import { validatePackRequest } from './validate.js';
import { cellName, checkEnvelope, checkManifest, checkSourceKeys, sourceKeysFor, type EnvelopePolicy, type SourceKeyPolicy } from './policy.js';
import { BUNDLED_SOURCE } from '../source.js';

/** A full KMS key or alias ARN, as receipts record them. */
const KMS_KEY_ARN = /^arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)\/[A-Za-z0-9/_+=.@-]+$/;

/** The NSM as the pipeline needs it (real /dev/nsm or simulated). */
export interface AttestPort {
  attest(req: { userData?: Uint8Array; nonce?: Uint8Array; publicKey?: Uint8Array }): Promise<Uint8Array>;
}

/** How artifacts are signed, as configured on the enclave (the request picks the mode). */
export interface SigningSetup {
  /** KMS key (ECC_NIST_P256, Sign only) for mode `kms`. */
  kmsKeyId?: string;
  /** The unsealed Ed25519 key for mode `sealed` (see sealed-key.ts), with its SPKI and sealing key. */
  sealed?: { privateKey: KeyObject; publicKeySpki: Uint8Array; sealKeyId: string };
  /** Why sealed signing is unavailable, when it is (reported to the caller). */
  sealedUnavailableReason?: string;
}

export interface PackPorts {
  /** KMS bound to this request's forwarded credentials. */
  kms: KmsPort;
  nsm: AttestPort;
  recipientKeys: RecipientKeyRing;
  signing: SigningSetup;
  /** Epoch milliseconds. */
  now: () => number;
  randomBytes?: (n: number) => Uint8Array;
  /** Tool version recorded in the receipt. */
  toolVersion: string;
  /** Source revision recorded in the receipt (`tool.source`); default: what `eif bundle` stamped in, if anything. */
  toolSource?: string;
  /** Cache of KMS signing public keys (SPKI DER) by key ARN. */
  publicKeyCache?: Map<string, Uint8Array>;
  /**
   * Where the enclave may re-wrap secrets: one envelope per identity × environment (policy.ts).
   * clef.yaml arrives from the (untrusted) host, so without this map a caller could name its own
   * age key or KMS key as the artifact's envelope — or give an identity whose envelope it can open
   * a scope it never had — and receive every secret in it. 'any' opts out (tests, experiments);
   * `enclave serve` requires an explicit choice outside simulation.
   */
  wrapTargets?: WrapTargets;
  /**
   * KMS keys the SOPS files may be encrypted under (absent: any), for every cell or per cell. The
   * host forwards the AWS credentials, so it could otherwise slip in a SOPS file under a key it
   * owns and have its own values packed, or feed another environment's files to this cell.
   */
  sourceKeys?: SourceKeyPolicy | readonly string[];
  /** SHA-256 (hex) of the only clef.yaml contents accepted (absent: any; policy.ts checkManifest). */
  manifestSha256?: readonly string[];
}

/** The artifact envelopes the enclave is allowed to produce: identity/environment → envelope. */
export type WrapTargets = 'any' | EnvelopePolicy;

/** Refuses an envelope that is not the one pinned for this identity × environment, before anything is decrypted. */
export function checkWrapTarget(scope: PackScope, targets: WrapTargets | undefined): void {
  checkEnvelope(scope, targets);
}

/** Runs one pack. Throws typed errors (PackError, ClefError, SopsError, KmsError, …). */
export async function runPack(request: PackRequest, ports: PackPorts): Promise<PackResponse> {
  // 1. The request is well-formed and within limits.
  validatePackRequest(request);

  // 2. clef.yaml → the scope: which cells to read and how to wrap the artifact.
  // Cell paths in clef.yaml are relative to its directory; request and receipt paths are repo-relative.
  checkManifest(request.manifest.content, ports.manifestSha256);
  const manifest = parseManifestCached(request.manifest.content);
  const manifestDir = posix.dirname(request.manifest.path);
  const repoPath = (cellPath: string): string => (manifestDir === '.' ? cellPath : posix.join(manifestDir, cellPath));
  const byPath = new Map(request.files.map((f) => [f.path, f.content]));
  // Each SOPS file is parsed once per pack, whether its metadata is read first (source-key pins) or not.
  const loaded = new Map<string, LoadedSopsFile>();
  const sopsFile = (cell: { path: string; format: LoadedSopsFile['format'] }): LoadedSopsFile => {
    const path = repoPath(cell.path);
    let file = loaded.get(path);
    if (file === undefined) {
      file = loadSopsFile(byPath.get(path)!, cell.format);
      loaded.set(path, file);
    }
    return file;
  };
  const scope = resolvePackScope(manifest, request.identity, request.environment, {
    fileExists: (p) => byPath.has(repoPath(p)),
  });

  // The image's pins, before any KMS call: this cell's envelope, and the keys its files are under.
  checkWrapTarget(scope, ports.wrapTargets);
  const allowedSourceKeys = sourceKeysFor(ports.sourceKeys, request.identity, request.environment);
  checkSourceKeys(
    allowedSourceKeys
      ? scope.files.map((cell) => ({ path: repoPath(cell.path), kmsArns: sopsFileMetadata(sopsFile(cell)).kms.map((k) => k.arn) }))
      : [],
    allowedSourceKeys,
    cellName(request.identity, request.environment),
  );

  // The signer is resolved before anything is decrypted: a mode that cannot be honoured must not
  // cost a single plaintext.
  const signer = await signerFor(request.options.signing, ports);

  // The artifact's DEK is wrapped (KMS Encrypt) while steps 3–5 run; packArtifact takes it over.
  let pendingWrap: PendingKmsWrap | undefined =
    scope.envelope.kind === 'kms'
      ? startKmsWrap({
          keyId: scope.envelope.keyId,
          wrapKey: async (dek, keyId) => {
            const out = await ports.kms.encrypt({ keyId, plaintext: dek });
            return { wrappedKey: out.ciphertextBlob, keyId: out.keyId };
          },
          ...(ports.randomBytes ? { randomBytes: ports.randomBytes } : {}),
        })
      : undefined;

  const sourceKeys = new Set<string>();
  let decrypted: Array<{ cell: ScopedCell; result: SopsDecrypted }> = [];
  let merged: { plaintext: Uint8Array; namespaces: string[]; keyCount: number } | undefined;
  try {
    // 3. One attestation document carrying our recipient key serves every KMS call of this pack
    //    (and of the key's next packs for up to a minute: it binds only the key, see recipient-keys.ts).
    const key = await ports.recipientKeys.acquire();
    const recipient: RecipientMaterial = {
      attestationDocument: await ports.recipientKeys.documentFor(key, ports.nsm, () => ports.nsm.attest({ publicKey: key.spkiDer })),
      privateKey: key.privateKey,
      spkiDer: key.spkiDer,
    };

    // 4. Decrypt each scoped file (in parallel), recording the KMS keys that actually worked.
    // allSettled: when one file fails, wait for the others before unwinding (no KMS call or
    // decryption outlives the pack), then report the first failure.
    const settled = await Promise.allSettled(
      scope.files.map(async (cell) => {
        // SOPS tries every key source and reports SOPS_NO_KEY; when KMS said why, that is the answer.
        let kmsFailure: unknown;
        try {
          const result = await decryptSopsFile(sopsFile(cell), {
            kms: async (req) => {
              if (!KMS_KEY_ARN.test(req.arn)) {
                throw (kmsFailure ??= new PackError('PACK_UNSUPPORTED', `${repoPath(cell.path)}: the sops kms entry "${req.arn.slice(0, 200)}" is not a full KMS key or alias ARN`, {
                  details: { path: repoPath(cell.path) },
                  hint: 'the receipt names every key by ARN: re-encrypt the file with `sops --kms arn:aws:kms:REGION:ACCOUNT:key/ID`',
                }));
              }
              if (allowedSourceKeys && !allowedSourceKeys.includes(req.arn)) {
                throw (kmsFailure ??= new PackError('PACK_SOURCE_KEY_REFUSED', `${repoPath(cell.path)} is encrypted under ${req.arn}, which this enclave does not decrypt with`, {
                  details: { path: repoPath(cell.path) },
                  hint: 'start the enclave with --source-key ARN for every key your SOPS files use',
                }));
              }
              try {
                const dataKey = await ports.kms.decryptForRecipient({
                  ciphertextBlob: req.ciphertextBlob,
                  keyId: req.arn,
                  ...(req.context ? { encryptionContext: req.context } : {}),
                  recipient,
                });
                sourceKeys.add(req.arn);
                return dataKey;
              } catch (err) {
                kmsFailure ??= err;
                throw err;
              }
            },
            // Clef stores strings: the unauthenticated `type:` tag must not decide anything here.
          }, { values: 'text' });
          return { cell, result };
        } catch (err) {
          if (isAttestedPackError(err) && err.code === 'SOPS_NO_KEY' && isAttestedPackError(kmsFailure)) throw kmsFailure;
          throw err;
        }
      }),
    );
    decrypted = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    // 5. Merge exactly the scope's values, in manifest order, as Clef serialises them.
    const values: NamespaceValues[] = decrypted.map(({ cell, result }) => toNamespaceValues(cell, result));
    merged = mergeScopedValues(scope, values);

    // 6. Re-wrap and sign.
    const handedOver = pendingWrap;
    pendingWrap = undefined;
    const packed = await packArtifact({
      identity: request.identity,
      environment: request.environment,
      plaintext: merged.plaintext,
      envelope: scope.envelope,
      ...(handedOver ? { pendingWrap: handedOver } : {}),
      ...(signer ? { signer: signer.signer } : {}),
      ...(request.options.ttlSeconds === undefined ? {} : { ttlSeconds: request.options.ttlSeconds }),
      now: ports.now,
      ...(ports.randomBytes ? { randomBytes: ports.randomBytes } : {}),
    });

    // 7. The receipt: claims → SHA-384(JCS) as user_data, the caller's nonce as nonce.
    const toolSource = ports.toolSource ?? BUNDLED_SOURCE;
    const claims: ReceiptClaims = {
      type: 'attested-pack/receipt-claims/v1',
      request: {
        identity: request.identity,
        environment: request.environment,
        commit: request.commit.toLowerCase(),
        repository: request.repository,
        nonce: toHex(request.nonce),
        requestedBy: request.requestedBy,
      },
      inputs: receiptInputs(request, scope, decrypted, repoPath),
      keys: {
        source: [...sourceKeys].sort(),
        wrap: scope.envelope.kind === 'kms' ? (packed.artifact.envelope?.keyId ?? scope.envelope.keyId) : null,
        ageRecipients: scope.envelope.kind === 'age' ? [...scope.envelope.recipients] : [],
        sign: signer?.kmsKeyId ?? null,
        seal: signer?.sealKeyId ?? null,
        signingPublicKey: signer ? Buffer.from(signer.publicKeySpki).toString('base64') : null,
      },
      artifact: {
        sha256: packed.sha256,
        revision: packed.artifact.revision,
        ciphertextHash: packed.artifact.ciphertextHash,
        keyCount: merged.keyCount,
        namespaces: [...merged.namespaces].sort(),
        signatureAlgorithm: packed.artifact.signatureAlgorithm ?? null,
      },
      tool: { name: 'attested-pack', version: ports.toolVersion, ...(toolSource === undefined ? {} : { source: toolSource }) },
      time: new Date(ports.now()).toISOString(),
    };
    const document = await ports.nsm.attest({ userData: claimsDigest(claims), nonce: request.nonce });
    const receipt = buildReceipt(claims, document);
    return { artifact: packed.bytes, receipt: new Uint8Array(Buffer.from(serializeReceipt(receipt), 'utf8')) };
  } finally {
    // 8. Plaintext buffers die here whatever happened above; an unused DEK too, once its wrap settled.
    if (merged) zeroize(merged.plaintext);
    await pendingWrap?.discard();
  }
}

/** The inputs list: clef.yaml first, then every decrypted SOPS file in manifest order. */
function receiptInputs(
  request: PackRequest,
  scope: PackScope,
  decrypted: ReadonlyArray<{ cell: ScopedCell; result: SopsDecrypted }>,
  repoPath: (cellPath: string) => string,
): ReceiptInput[] {
  const inputs: ReceiptInput[] = [
    { path: request.manifest.path, role: 'manifest', ...digests(request.manifest.content) },
  ];
  const byPath = new Map(decrypted.map((d) => [d.cell.path, d]));
  for (const cell of scope.files) {
    const d = byPath.get(cell.path);
    const path = repoPath(cell.path);
    const content = request.files.find((f) => f.path === path)!.content;
    inputs.push({
      path,
      role: 'sops',
      ...digests(content),
      sopsLastModified: d?.result.metadata.lastModified ?? readSopsMetadata(content, cell.format).lastModified,
      namespace: cell.namespace,
    });
  }
  return inputs;
}

/** SHA-256 and git blob id (`git hash-object`) of a file's bytes. */
export function digests(content: Uint8Array): { sha256: string; gitBlobId: string } {
  return fileDigests(content);
}

interface ResolvedSigner {
  signer: ArtifactSigner;
  publicKeySpki: Uint8Array;
  kmsKeyId?: string;
  sealKeyId?: string;
}

/** The signer for the requested mode, or a clear error when that mode is not set up. */
async function signerFor(mode: SigningMode, ports: PackPorts): Promise<ResolvedSigner | undefined> {
  if (mode === 'none') return undefined;
  if (mode === 'kms') {
    const keyId = ports.signing.kmsKeyId;
    if (!keyId || !KMS_KEY_ARN.test(keyId)) {
      throw new PackError('PACK_SIGNING_NOT_CONFIGURED', 'KMS signing was requested but the enclave has no signing key configured', {
        hint: 'start the enclave with --signing-kms-key ARN, or request signing "sealed" or "none"',
      });
    }
    let spki = ports.publicKeyCache?.get(keyId);
    if (!spki) {
      spki = await ports.kms.getPublicKey(keyId);
      ports.publicKeyCache?.set(keyId, spki);
    }
    const signer = createDigestSigner(async (digest) => (await ports.kms.signDigest({ keyId, digest })).signature, publicKeyObject(spki));
    return { signer, publicKeySpki: spki, kmsKeyId: keyId };
  }
  const sealed = ports.signing.sealed;
  if (!sealed) {
    throw new PackError(
      'PACK_SIGNING_NOT_READY',
      `sealed signing was requested but the signing key is not unsealed${ports.signing.sealedUnavailableReason ? `: ${ports.signing.sealedUnavailableReason}` : ''}`,
      {
        hint: 'the sealed key unseals only inside an enclave whose measurements its KMS key policy names; regenerate the policy or use --signing kms',
      },
    );
  }
  let signer = sealedSigners.get(sealed.privateKey);
  if (!signer) sealedSigners.set(sealed.privateKey, (signer = createEd25519Signer(sealed.privateKey)));
  return { signer, publicKeySpki: sealed.publicKeySpki, sealKeyId: sealed.sealKeyId };
}

/** One signer per unsealed key (KeyObjects are immutable): its public half is derived once. */
const sealedSigners = new WeakMap<KeyObject, ArtifactSigner>();

/**
 * KMS signing public keys as KeyObjects, by their exact SPKI bytes (base64), so the packer's check
 * of each new signature does not re-import the key. Bounded: a handful of signing keys at most.
 */
const kmsVerifyKeys = new Map<string, KeyObject>();
function publicKeyObject(spki: Uint8Array): KeyObject | Uint8Array {
  const id = Buffer.from(spki).toString('base64');
  let key = kmsVerifyKeys.get(id);
  if (!key) {
    try {
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    } catch {
      return spki; // unusable: the packer's own check reports it (CLEF_SIGNING_FAILED)
    }
    if (kmsVerifyKeys.size >= 16) kmsVerifyKeys.clear();
    kmsVerifyKeys.set(id, key);
  }
  return key;
}
