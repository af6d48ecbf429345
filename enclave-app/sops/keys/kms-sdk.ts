/**
 * The KMS key source for the operator CLI: `Encrypt`/`Decrypt` through @aws-sdk/client-kms with
 * the default credential chain (or an `aws_profile`), the region taken from the key ARN, and an
 * optional endpoint (the local KMS simulator). The SDK is imported lazily: only commands that
 * meet a KMS key pay for loading it. The enclave does not use this file (it has its attested client).
 */
import { SopsError } from '../errors.js';
import { kmsRegionFromArn, type KmsUnwrap, type KmsWrap } from './kms.js';

/** Where and how to reach KMS. */
export interface SdkKmsOptions {
  /** Endpoint override, e.g. the simulator's `http://127.0.0.1:4599`. */
  endpoint?: string;
  /** Region when the ARN has none (aliases); default AWS_REGION / AWS_DEFAULT_REGION. */
  region?: string;
  /**
   * Environment to take static credentials from (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
   * AWS_SESSION_TOKEN) and the region; when it has no access key the SDK's default chain is used.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

function sdkFailure(op: string, arn: string, err: unknown): SopsError {
  const e = err as { name?: unknown; $metadata?: { httpStatusCode?: unknown }; code?: unknown };
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const status = typeof e?.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const network = status === undefined || status >= 500 || /Timeout|Network|ECONN|EHOSTUNREACH|ENOTFOUND|CredentialsProviderError/i.test(name + String(e?.code ?? ''));
  return new SopsError(op === 'Encrypt' ? 'SOPS_ENCRYPT_FAILED' : 'SOPS_NO_KEY', `KMS ${op} with ${arn} failed: ${name}${status ? ` (HTTP ${status})` : ''}`, {
    category: network ? 'unavailable' : 'rejected',
    hint: network ? 'check network access, the --kms-endpoint and AWS credentials' : 'check the key policy and the encryption context',
  });
}

/** Builds KMS wrap/unwrap functions backed by the AWS SDK. */
export async function createSdkKms(opts: SdkKmsOptions = {}): Promise<{ wrap: KmsWrap; unwrap: KmsUnwrap }> {
  const { KMSClient, EncryptCommand, DecryptCommand } = await import('@aws-sdk/client-kms');
  const clients = new Map<string, InstanceType<typeof KMSClient>>();
  const client = async (arn: string, profile?: string): Promise<InstanceType<typeof KMSClient>> => {
    const env = opts.env ?? process.env;
    const region = kmsRegionFromArn(arn) ?? opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (!region) throw new SopsError('SOPS_UNSUPPORTED', `cannot tell the AWS region of ${arn}; set AWS_REGION`);
    const id = `${region}\u0000${profile ?? ''}`;
    let c = clients.get(id);
    if (!c) {
      const credentials = profile
        ? (await import('@aws-sdk/credential-providers')).fromIni({ profile })
        : env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
          ? {
              accessKeyId: env.AWS_ACCESS_KEY_ID,
              secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
              ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
            }
          : undefined;
      c = new KMSClient({
        region,
        ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
        ...(credentials ? { credentials } : {}),
        maxAttempts: 2,
      });
      clients.set(id, c);
    }
    return c;
  };
  const wrap: KmsWrap = async (req) => {
    const c = await client(req.arn, req.awsProfile);
    try {
      const out = await c.send(
        new EncryptCommand({
          KeyId: req.arn,
          Plaintext: req.plaintext,
          ...(req.context ? { EncryptionContext: req.context } : {}),
        }),
      );
      if (!out.CiphertextBlob) throw new SopsError('SOPS_ENCRYPT_FAILED', `KMS Encrypt with ${req.arn} returned no ciphertext`);
      return Buffer.from(out.CiphertextBlob).toString('base64');
    } catch (err) {
      if (err instanceof SopsError) throw err;
      throw sdkFailure('Encrypt', req.arn, err);
    }
  };
  const unwrap: KmsUnwrap = async (req) => {
    const c = await client(req.arn, req.awsProfile);
    try {
      const out = await c.send(
        new DecryptCommand({
          KeyId: req.arn,
          CiphertextBlob: req.ciphertextBlob,
          ...(req.context ? { EncryptionContext: req.context } : {}),
        }),
      );
      if (!out.Plaintext) throw new SopsError('SOPS_NO_KEY', `KMS Decrypt with ${req.arn} returned no plaintext`);
      return out.Plaintext;
    } catch (err) {
      if (err instanceof SopsError) throw err;
      throw sdkFailure('Decrypt', req.arn, err);
    }
  };
  return { wrap, unwrap };
}
