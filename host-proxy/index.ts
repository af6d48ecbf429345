/**
 * host-proxy/: the service CI runners call on the parent instance — fastify API (auth, limits,
 * queue, metrics, OpenAPI), the enclave client, parent-role credentials, the KMS egress relay —
 * and the `attested-pack pack` client with its retry policy. Read in data order:
 * config → server (plugins/auth, plugins/pack) → enclave-queue → enclave-client; client/pack-client.
 */
export { HostProxyError, EnclaveError, ProxyAnswerError, httpStatusFor, categoryOfStatus, type HostProxyErrorCode } from './errors.js';
export {
  loadProxyConfig,
  parseProxyConfig,
  isLoopbackHost,
  parseHostPort,
  ENV_OVERRIDES,
  type ProxyConfig,
  type TokenRule,
  type OidcAllowRule,
  type GithubOidcConfig,
  type CredentialsConfig,
  type RelayConfig,
  type LogLevel,
} from './config.js';
export { buildServer, buildAuthenticator, REDACTED_LOG_PATHS, type ServerDeps } from './server.js';
export { startHostProxy, type StartHostProxyOptions, type HostProxyHandle } from './start.js';
export { EnclaveClient, type EnclaveClientOptions } from './enclave-client.js';
export type { EnclaveLink, EnclaveCalls, EnclaveCallType } from './enclave-link.js';
export { EnclaveQueue } from './enclave-queue.js';
export { TokenBuckets, type RateDecision } from './token-bucket.js';
export { createProxyMetrics, type ProxyMetrics } from './metrics.js';
export { CachedCredentials, credentialSourceFor, type CredentialSource, type CredentialProvider, type AwsCredentials } from './credentials.js';
export { startKmsRelay, checkRelayUpstream, type KmsRelay, type KmsRelayOptions } from './kms-relay.js';
export { readSealedKeyFile } from './sealed-key.js';
export { Authenticator } from './auth/authenticator.js';
export { GithubOidcVerifier, looksLikeJwt, type GithubClaims } from './auth/github-oidc.js';
export { StaticTokens, hashToken } from './auth/static-tokens.js';
export { authorizePack, LOCAL_PRINCIPAL, type Principal, type Grant } from './auth/principal.js';
export { toPackRequest, type PackHttpRequest, type PackHttpResponse } from './plugins/pack.js';
export { runPackClient, packEndpoint, checkAnswer, type PackClientOptions, type PackClientDeps, type PackClientResult } from './client/pack-client.js';
export { collectPackInputs, type PackInputs } from './client/git-inputs.js';
export { requestGithubOidcToken } from './client/github-oidc-token.js';
export { conventionalArtifactPath, defaultReceiptPath } from './client/paths.js';
export { DEFAULT_RETRY_POLICY, isRetryable, parseRetryAfter, retryDelayMs, type RetryPolicy } from './client/retry.js';
