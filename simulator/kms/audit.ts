/**
 * The simulator's audit log: one JSON line per request, shaped like a CloudTrail KMS event
 * (eventSource kms.amazonaws.com, eventName, userIdentity, requestParameters, responseElements,
 * errorCode/errorMessage, additionalEventData with the attestation fields of attested calls) plus
 * the policy decision and its reason. Request parameters are built per operation from non-secret
 * fields only: no plaintext, data key, private key or credential ever reaches this file.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';

/** CloudTrail's userIdentity, as far as the simulator knows it. */
export interface AuditIdentity {
  type: 'IAMUser' | 'AssumedRole' | 'Root' | 'Unknown';
  arn?: string;
  accountId?: string;
  accessKeyId?: string;
}

/** One event; fields follow CloudTrail's names. */
export interface AuditEvent {
  eventVersion: '1.08';
  userIdentity: AuditIdentity;
  eventTime: string;
  eventSource: 'kms.amazonaws.com';
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  additionalEventData?: {
    /** CloudTrail's attestation fields: attestationDocumentModuleId, …EnclaveImageDigest, …EnclavePCR<n>. */
    recipient?: Record<string, string>;
    /** Why an attestation document was refused (its AttestationError code and message). */
    attestationError?: { code: string; message: string };
    policyDecision?: { decision: string; reason: string; statements: string[] };
  };
  errorCode?: string;
  errorMessage?: string;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: Array<{ accountId: string; type: 'AWS::KMS::Key'; ARN: string }>;
  eventType: 'AwsApiCall';
  managementEvent: boolean;
  recipientAccountId: string;
  eventCategory: 'Management';
}

/** Appends events to a JSON-lines file, in order, one write at a time. */
export class AuditLog {
  private chain: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(e: AuditEvent) => void>();

  constructor(readonly file: string) {}

  static async open(file: string): Promise<AuditLog> {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    return new AuditLog(file);
  }

  /** Queues an event; resolves once it is on disk (write errors are reported, not thrown). */
  append(event: AuditEvent): Promise<void> {
    for (const l of this.listeners) l(event);
    const line = JSON.stringify(event) + '\n';
    this.chain = this.chain.then(() => appendFile(this.file, line, { mode: 0o600 })).catch((err: unknown) => {
      process.emitWarning(`KMS simulator audit log write failed: ${String((err as Error).message ?? err)}`);
    });
    return this.chain;
  }

  /** Waits for every queued event to be written. */
  flush(): Promise<void> {
    return this.chain;
  }

  /** Subscribes to events as they are logged (tests, the sim launcher's console). */
  onEvent(listener: (e: AuditEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** A fresh event skeleton; operations fill in parameters, elements and decisions. */
export function newAuditEvent(init: {
  eventName: string;
  region: string;
  accountId: string;
  requestId: string;
  sourceIp: string;
  userAgent: string;
  at: number;
  readOnly: boolean;
}): AuditEvent {
  return {
    eventVersion: '1.08',
    userIdentity: { type: 'Unknown' },
    eventTime: new Date(init.at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: 'kms.amazonaws.com',
    eventName: init.eventName,
    awsRegion: init.region,
    sourceIPAddress: init.sourceIp,
    userAgent: init.userAgent,
    requestParameters: null,
    responseElements: null,
    requestID: init.requestId,
    eventID: randomUUID(),
    readOnly: init.readOnly,
    eventType: 'AwsApiCall',
    managementEvent: true, // CloudTrail records every KMS call as a management event
    recipientAccountId: init.accountId,
    eventCategory: 'Management',
  };
}
