/**
 * The receipt format (version 1): what a pack proves, as data. The enclave builds it, the
 * host proxy passes it through, verify-receipt checks it. Canonicalised with RFC 8785 (JCS);
 * `user_data` of the attestation document = SHA-384(JCS(claims)), `nonce` = the caller's nonce.
 * All hashes are lower-case hex; all times are ISO-8601 UTC strings with milliseconds.
 */

/** Who asked for the pack, for what, from where. */
export interface ReceiptRequest {
  /** Clef service identity name. */
  identity: string;
  /** Clef environment name. */
  environment: string;
  /** Full 40-hex git commit SHA the inputs were read from. */
  commit: string;
  /** Repository name as the caller states it (e.g. `org/repo`); '' when unknown. */
  repository: string;
  /** The caller's fresh nonce, lower-case hex (also the attestation document's `nonce`). */
  nonce: string;
  /** Who the host proxy authenticated (token name or OIDC `sub`), '' in local use. */
  requestedBy: string;
}

/** One input file: `clef.yaml` or a SOPS file the pack read. */
export interface ReceiptInput {
  /** Repo-relative POSIX path. */
  path: string;
  /** 'manifest' for clef.yaml, 'sops' for an encrypted file. */
  role: 'manifest' | 'sops';
  /** SHA-256 of the file bytes. */
  sha256: string;
  /** `git hash-object` of the file bytes: sha1("blob <size>\0" ‖ bytes). */
  gitBlobId: string;
  /** SOPS `lastmodified` (sops files only). */
  sopsLastModified?: string;
  /** Clef namespace of this cell (sops files only). */
  namespace?: string;
}

/** The KMS keys the pack actually used. */
export interface ReceiptKeys {
  /** Key ARNs that decrypted SOPS data keys, sorted, unique. */
  source: string[];
  /** Key that wrapped the artifact DEK (KMS envelope), or null for age artifacts. */
  wrap: string | null;
  /** age recipients of an age artifact, or [] for KMS artifacts. */
  ageRecipients: string[];
  /** KMS signing key ARN (mode `kms`), or null. */
  sign: string | null;
  /** KMS key that sealed the Ed25519 signing key (mode `sealed`), or null. */
  seal: string | null;
  /** base64 SPKI DER of the key that signed the artifact, or null when unsigned. */
  signingPublicKey: string | null;
}

/** The artifact the pack produced. */
export interface ReceiptArtifact {
  /** SHA-256 of the exact artifact file bytes. */
  sha256: string;
  revision: string;
  /** The artifact's own `ciphertextHash`. */
  ciphertextHash: string;
  keyCount: number;
  namespaces: string[];
  signatureAlgorithm: 'Ed25519' | 'ECDSA_SHA256' | null;
}

export interface ReceiptClaims {
  /** Always `attested-pack/receipt-claims/v1`. */
  type: 'attested-pack/receipt-claims/v1';
  request: ReceiptRequest;
  inputs: ReceiptInput[];
  keys: ReceiptKeys;
  artifact: ReceiptArtifact;
  /**
   * `source` (optional, absent in older receipts): the attested-pack commit the enclave image was
   * built from (40 hex, `+dirty` if the checkout had uncommitted changes); measured in PCR2.
   */
  tool: { name: 'attested-pack'; version: string; source?: string };
  /** When the enclave finished the pack. */
  time: string;
}

export interface Receipt {
  receiptVersion: 1;
  claims: ReceiptClaims;
  /** base64 of the COSE_Sign1 attestation document whose user_data binds the claims. */
  attestation: string;
}
