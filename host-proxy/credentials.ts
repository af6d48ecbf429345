/**
 * The parent role's AWS credentials, forwarded with each pack so the enclave can call KMS.
 * Fetched from IMDSv2 or the SDK's default chain, cached until shortly before they expire,
 * and never logged (they only ever travel inside the enclave request).
 */
import type { ForwardedCredentials } from '../enclave-app/protocol.js';
import type { CredentialsConfig } from './config.js';
import { HostProxyError } from './errors.js';

/** What an AWS SDK credential provider resolves to (the subset we use). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** An AWS SDK credential provider (e.g. `fromInstanceMetadata()`). */
export type CredentialProvider = () => Promise<AwsCredentials>;

/** Supplies the credentials forwarded with one pack (undefined: forward none). */
export interface CredentialSource {
  get(): Promise<ForwardedCredentials | undefined>;
}

/** Caches a provider's credentials until `refreshBeforeMs` before their expiration. */
export class CachedCredentials implements CredentialSource {
  private cached: AwsCredentials | undefined;
  private pending: Promise<AwsCredentials> | undefined;

  constructor(
    private readonly provider: CredentialProvider,
    private readonly region: string,
    private readonly options: { now?: () => number; refreshBeforeMs?: number } = {},
  ) {}

  async get(): Promise<ForwardedCredentials> {
    const creds = this.fresh() ?? (await this.refresh());
    return {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}),
      region: this.region,
    };
  }

  private fresh(): AwsCredentials | undefined {
    const c = this.cached;
    if (!c) return undefined;
    if (!c.expiration) return c;
    const now = (this.options.now ?? Date.now)();
    return c.expiration.getTime() - (this.options.refreshBeforeMs ?? 5 * 60_000) > now ? c : undefined;
  }

  private refresh(): Promise<AwsCredentials> {
    // Concurrent packs share one provider call.
    this.pending ??= this.provider()
      .then((c) => {
        this.cached = c;
        return c;
      })
      .catch((err: unknown) => {
        throw new HostProxyError('CREDENTIALS_UNAVAILABLE', 'could not obtain the parent instance role credentials', {
          hint: 'check the instance profile (IMDSv2 must be reachable with hop limit ≥ 1) or the credentials settings',
          cause: err,
          retryAfterSeconds: 5,
        });
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}

/** Builds the credential source a configuration asks for. */
export async function credentialSourceFor(config: CredentialsConfig): Promise<CredentialSource> {
  switch (config.source) {
    case 'none':
      return { get: () => Promise.resolve(undefined) };
    case 'static': {
      const fixed: ForwardedCredentials = {
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey,
        ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
        region: config.region,
      };
      return { get: () => Promise.resolve({ ...fixed }) };
    }
    case 'imds': {
      const { fromInstanceMetadata } = await import('@aws-sdk/credential-providers');
      return new CachedCredentials(fromInstanceMetadata({ timeout: 2000, maxRetries: 2 }), config.region);
    }
    case 'chain': {
      const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
      return new CachedCredentials(fromNodeProviderChain(), config.region);
    }
  }
}
