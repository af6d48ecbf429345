/**
 * Requests a GitHub Actions OIDC token for an audience, the way @actions/core does: GET
 * `$ACTIONS_ID_TOKEN_REQUEST_URL&audience=…` with `Authorization: bearer
 * $ACTIONS_ID_TOKEN_REQUEST_TOKEN`. The job needs `permissions: id-token: write`.
 */
import { HostProxyError } from '../errors.js';

/** Fetches the OIDC token (never logged; only sent to the proxy). */
export async function requestGithubOidcToken(audience: string, env: NodeJS.ProcessEnv, fetchImpl: typeof fetch = fetch): Promise<string> {
  const base = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!base || !bearer) {
    throw new HostProxyError('OIDC_TOKEN_UNAVAILABLE', 'ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set: no GitHub OIDC token can be requested', {
      category: 'input',
      hint: 'run inside GitHub Actions with `permissions: id-token: write` on the job, or pass --token',
    });
  }
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new HostProxyError('OIDC_TOKEN_UNAVAILABLE', 'ACTIONS_ID_TOKEN_REQUEST_URL is not a URL', { category: 'input' });
  }
  url.searchParams.set('audience', audience);
  let res: Response;
  try {
    res = await fetchImpl(url, { headers: { authorization: `bearer ${bearer}`, accept: 'application/json; api-version=2.0' }, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new HostProxyError('OIDC_TOKEN_UNAVAILABLE', 'the GitHub OIDC token endpoint did not answer', { cause: err, hint: 'retry the job' });
  }
  if (!res.ok) {
    throw new HostProxyError('OIDC_TOKEN_UNAVAILABLE', `the GitHub OIDC token endpoint answered HTTP ${res.status}`, {
      category: res.status === 401 || res.status === 403 ? 'rejected' : 'unavailable',
      hint: 'check `permissions: id-token: write` on the job',
    });
  }
  let value: unknown;
  try {
    value = ((await res.json()) as { value?: unknown }).value;
  } catch {
    value = undefined;
  }
  if (typeof value !== 'string' || value.length === 0) {
    throw new HostProxyError('OIDC_TOKEN_UNAVAILABLE', 'the GitHub OIDC token endpoint answered without a token', { hint: 'retry the job' });
  }
  return value;
}
