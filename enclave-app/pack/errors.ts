/** Errors of the pack pipeline itself (the parts it uses raise their own: ClefError, SopsError, KmsError). */
import { AttestedPackError, type ErrorOptions } from '../../common/errors.js';

export type PackErrorCode =
  /** A request field is missing, malformed or out of range (names the field). */
  | 'PACK_BAD_REQUEST'
  /** The request asked for `kms` signing but the enclave has no signing key. */
  | 'PACK_SIGNING_NOT_CONFIGURED'
  /** The request asked for `sealed` signing but the key is not unsealed (says why). */
  | 'PACK_SIGNING_NOT_READY'
  /** The input uses a SOPS or Clef feature the enclave does not pack (e.g. multi-document YAML). */
  | 'PACK_UNSUPPORTED'
  /** clef.yaml names an envelope (KMS key or age recipient) the enclave may not wrap for. */
  | 'PACK_WRAP_TARGET_REFUSED'
  /** A SOPS file is encrypted under a KMS key the enclave was not told to decrypt with. */
  | 'PACK_SOURCE_KEY_REFUSED'
  /** clef.yaml is not one of the manifests the image pins (`--manifest-sha256`). */
  | 'PACK_MANIFEST_REFUSED'
  /** An unseal request for a sealed key (seal key or public key) other than the one the image pins. */
  | 'PACK_SEALED_KEY_REFUSED'
  /** The enclave is at its concurrency limit. */
  | 'PACK_BUSY';

export class PackError extends AttestedPackError {
  declare readonly code: PackErrorCode;
  constructor(code: PackErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, {
      ...options,
      category: options.category ?? (code === 'PACK_BAD_REQUEST' || code === 'PACK_UNSUPPORTED' ? 'input' : code === 'PACK_BUSY' ? 'unavailable' : 'rejected'),
    });
  }
}
