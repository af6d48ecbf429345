/**
 * What every KMS operation of the simulator shares: finding a key from any KeyId form (key ID,
 * key ARN, alias name, alias ARN), verifying a Recipient document, asking the key policy (through
 * kms-policies' evaluator) and recording the decision in the audit event, refusing keys in the
 * wrong state, and shaping KeyMetadata.
 */
import { evaluatePolicy, statementLabel as label, type PolicyDecision } from '../../kms-policies/index.js';
import type { AuditEvent } from './audit.js';
import { KmsApiError } from './errors.js';
import {
  encryptionAlgorithmsFor,
  signingAlgorithmsFor,
  type EncryptionAlgorithm,
  type KeyUsage,
} from './key-material.js';
import { auditRecipientFields, describeAttestationFailure, type RecipientDocumentVerifier, type RecipientRequest, type VerifiedRecipient } from './recipient.js';
import type { KmsState, KeyRecord } from './state.js';
import type { SimCredential } from './sigv4.js';
import type { Input } from './wire.js';

/** The authenticated caller. */
export interface Caller {
  credential: SimCredential;
  arn: string;
  accountId: string;
  /** The account administrator: may CreateKey, and is what an account-root key-policy principal names. */
  isAdmin: boolean;
}

/** One KMS call being served. */
export interface Call {
  op: string;
  input: Input;
  caller: Caller;
  audit: AuditEvent;
  sim: SimCore;
}

/** An operation: validates input, authorises, acts, returns the JSON response body. */
export type OpHandler = (call: Call) => Promise<Record<string, unknown>>;

/** Extra inputs to a key-policy decision. */
export interface AuthorizeExtra {
  encryptionContext?: Record<string, string>;
  attestation?: VerifiedRecipient;
  conditionKeys?: Record<string, string | string[]>;
}

/** Shared services of the simulator (one per running instance). */
export class SimCore {
  constructor(
    readonly state: KmsState,
    readonly region: string,
    readonly accountId: string,
    readonly verifier: RecipientDocumentVerifier,
    readonly now: () => number,
  ) {}

  keyArn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`;
  }

  aliasArn(aliasName: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:${aliasName}`;
  }

  /** Resolves any KeyId form to a key; NotFoundException otherwise (as KMS). */
  resolveKey(keyIdParam: string, opts: { allowAlias?: boolean } = {}): KeyRecord {
    const allowAlias = opts.allowAlias ?? true;
    const arn = /^arn:aws[\w-]*:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/.exec(keyIdParam);
    let ref = keyIdParam;
    if (arn) {
      const [, region, account, resource] = arn;
      if (region !== this.region || account !== this.accountId) throw this.notFound(keyIdParam);
      ref = resource!.startsWith('key/') ? resource!.slice(4) : resource!;
    }
    if (ref.startsWith('alias/')) {
      if (!allowAlias) throw new KmsApiError('NotFoundException', `Invalid keyId '${keyIdParam}': specify a key ID or key ARN`);
      const a = this.state.getAlias(ref);
      const k = a && this.state.getKey(a.targetKeyId);
      if (!k) throw new KmsApiError('NotFoundException', `Alias '${this.aliasArn(ref)}' is not found.`);
      return k;
    }
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(ref)) {
      throw new KmsApiError('NotFoundException', `Invalid keyId '${keyIdParam}'`);
    }
    const k = this.state.getKey(ref);
    if (!k) throw this.notFound(this.keyArn(ref));
    return k;
  }

  private notFound(what: string): KmsApiError {
    return new KmsApiError('NotFoundException', `Key '${what}' does not exist`);
  }

  /** Records the key a call is about (CloudTrail `resources`). */
  noteResource(call: Call, key: KeyRecord): void {
    call.audit.resources = [...(call.audit.resources ?? []), { accountId: key.accountId, type: 'AWS::KMS::Key', ARN: key.arn }];
  }

  /**
   * Verifies a Recipient document before anything of it is trusted. A document that fails is an
   * AccessDeniedException (never a plaintext); the audit event records why.
   */
  async verifyRecipient(call: Call, recipient: RecipientRequest, action: string, resource: string): Promise<VerifiedRecipient> {
    let v: VerifiedRecipient;
    try {
      v = await this.verifier.verify(recipient.attestationDocument, this.now());
    } catch (err) {
      call.audit.additionalEventData = { ...call.audit.additionalEventData, attestationError: describeAttestationFailure(err) };
      throw accessDenied(call.caller, action, resource, 'because the attestation document in the Recipient parameter could not be verified');
    }
    call.audit.additionalEventData = { ...call.audit.additionalEventData, recipient: auditRecipientFields(v) };
    return v;
  }

  /** Asks the key policy; records the decision; throws AccessDeniedException unless allowed. */
  authorize(call: Call, action: string, key: KeyRecord, extra: AuthorizeExtra = {}): PolicyDecision {
    const decision = evaluatePolicy(this.state.policyOf(key), {
      action,
      resource: key.arn,
      principal: { arn: call.caller.arn, accountId: call.caller.accountId, isAccountAdmin: call.caller.isAdmin },
      ...(extra.attestation ? { recipientAttestation: { pcrs: extra.attestation.pcrs } } : {}),
      ...(extra.encryptionContext ? { encryptionContext: extra.encryptionContext } : {}),
      ...(extra.conditionKeys ? { extraConditionKeys: extra.conditionKeys } : {}),
    });
    call.audit.additionalEventData = {
      ...call.audit.additionalEventData,
      policyDecision: { decision: decision.decision, reason: decision.reason, statements: decision.deciding.map(label) },
    };
    if (!decision.allowed) {
      throw accessDenied(
        call.caller,
        action,
        key.arn,
        decision.decision === 'explicit-deny' ? 'with an explicit deny in a resource-based policy' : `because no resource-based policy allows the ${action} action`,
      );
    }
    return decision;
  }

  /** Refuses keys that cannot be used now (Disabled, PendingDeletion) or for this usage. */
  requireUsable(key: KeyRecord, usage?: KeyUsage): void {
    if (key.keyState === 'Disabled') throw new KmsApiError('DisabledException', `${key.arn} is disabled.`);
    if (key.keyState === 'PendingDeletion') throw new KmsApiError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    if (usage && key.keyUsage !== usage) {
      throw new KmsApiError('InvalidKeyUsageException', `${key.arn} key usage is ${key.keyUsage} which is not valid for this operation.`);
    }
  }

  /** Checks that an encryption algorithm fits the key. */
  requireEncryptionAlgorithm(key: KeyRecord, alg: EncryptionAlgorithm): void {
    const allowed = encryptionAlgorithmsFor(key.keySpec, key.keyUsage) ?? [];
    if (!allowed.includes(alg)) {
      throw new KmsApiError('InvalidKeyUsageException', `Algorithm ${alg} is incompatible with key spec ${key.keySpec}.`);
    }
  }

  /** Key material bytes. */
  material(key: KeyRecord): Buffer {
    return Buffer.from(key.material, 'base64');
  }

  /** DescribeKey's KeyMetadata. */
  metadata(key: KeyRecord): Record<string, unknown> {
    const enc = encryptionAlgorithmsFor(key.keySpec, key.keyUsage);
    const sig = signingAlgorithmsFor(key.keySpec, key.keyUsage);
    return {
      AWSAccountId: key.accountId,
      KeyId: key.keyId,
      Arn: key.arn,
      CreationDate: key.creationDate / 1000,
      Enabled: key.keyState === 'Enabled',
      Description: key.description,
      KeyUsage: key.keyUsage,
      KeyState: key.keyState,
      ...(key.deletionDate === undefined ? {} : { DeletionDate: key.deletionDate / 1000, PendingDeletionWindowInDays: key.pendingWindowInDays }),
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      ...(enc ? { EncryptionAlgorithms: enc } : {}),
      ...(sig ? { SigningAlgorithms: sig } : {}),
      MultiRegion: false,
    };
  }
}

/** The AccessDeniedException KMS sends, with its "User: … is not authorized to perform: …" message. */
export function accessDenied(caller: Caller, action: string, resource: string, because: string): KmsApiError {
  return new KmsApiError('AccessDeniedException', `User: ${caller.arn} is not authorized to perform: ${action} on resource: ${resource} ${because}`);
}

/** Puts a secret into the response: as CiphertextForRecipient when attested, otherwise in `field`. */
export function secretField(
  body: Record<string, unknown>,
  field: string,
  secret: Buffer,
  attestation: VerifiedRecipient | undefined,
  build: (plaintext: Buffer, spki: Uint8Array) => Uint8Array,
): Record<string, unknown> {
  if (attestation) {
    // The plaintext field is omitted entirely (SDK-C fails on "Plaintext": null; reference §3.1).
    body.CiphertextForRecipient = Buffer.from(build(secret, attestation.publicKeySpki)).toString('base64');
  } else {
    body[field] = secret.toString('base64');
  }
  return body;
}
