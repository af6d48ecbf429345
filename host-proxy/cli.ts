/**
 * CLI commands of host-proxy/ (registered by cli/main.ts):
 *   attested-pack host-proxy --config proxy.yaml [--insecure-local]   run the proxy
 *   attested-pack pack --proxy URL --identity ID --environment ENV …   pack through it (CI)
 */
import type { Command } from 'commander';
import { parseIntFlag, processIo, runCommand } from '../common/cli-output.js';
import { UsageError } from '../common/errors.js';

interface HostProxyFlags {
  config?: string;
  insecureLocal?: boolean;
  json?: boolean;
}

interface PackFlags {
  proxy: string;
  identity: string;
  environment: string;
  repo: string;
  out?: string;
  receipt?: string;
  measurements?: string;
  root: string[];
  token?: string;
  githubOidc?: string;
  signing: string;
  ttl?: string;
  allowDirty?: boolean;
  repository?: string;
  retries: string;
  timeout: string;
  allowHttp?: boolean;
  json?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds `host-proxy` and `pack` to the program. */
export function registerHostProxyCommands(program: Command): void {
  program
    .command('host-proxy')
    .description('run the host proxy: the HTTPS API CI calls, the enclave link and the KMS relay')
    .option('--config <file>', 'proxy.yaml (see README "Host proxy"); environment overrides ATTESTED_PACK_PROXY_* apply on top')
    .option('--insecure-local', 'allow running without authentication, on a loopback address only')
    .option('--json', 'print the listening address as JSON')
    .action(async (flags: HostProxyFlags) => {
      await runCommand(flags.json === true, async () => {
        const { loadProxyConfig } = await import('./config.js');
        const { startHostProxy } = await import('./start.js');
        const config = await loadProxyConfig(flags.config, { env: process.env, insecureLocal: flags.insecureLocal === true });
        const handle = await startHostProxy(config);
        const relay = handle.relay ? `${handle.relay.url} → ${config.relay?.upstream}` : 'off';
        if (flags.json) processIo.stdout(JSON.stringify({ ok: true, url: handle.url, enclave: config.enclave.url, relay: handle.relay?.url ?? null }) + '\n');
        else processIo.stderr(`host proxy listening on ${handle.url} (enclave ${config.enclave.url}; KMS relay ${relay})\n`);
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGTERM', stop);
            process.off('SIGINT', stop);
            processIo.stderr('host proxy stopping: finishing accepted packs…\n');
            void handle.close().then(resolve, resolve);
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        return 0;
      });
    });

  program
    .command('pack')
    .description('pack a Clef service identity × environment inside the enclave, through the host proxy; writes the artifact and its receipt')
    .requiredOption('--proxy <url>', 'host proxy base URL, e.g. https://packer.internal:8443')
    .requiredOption('--identity <name>', 'Clef service identity')
    .requiredOption('--environment <name>', 'Clef environment')
    .option('--repo <dir>', 'directory holding clef.yaml, inside a git checkout', '.')
    .option('--out <file>', 'artifact path (default: .clef/packed/<identity>/<environment>.age.json, as clef pack)')
    .option('--receipt <file>', 'receipt path (default: <artifact>.receipt.json)')
    .option('--measurements <file>', 'verify the receipt against this measurements.json before writing anything')
    .option('--root <pem>', 'trusted root for --measurements (repeatable; default: the AWS Nitro root G1)', collect, [])
    .option('--token <token>', 'proxy bearer token (prefer the ATTESTED_PACK_TOKEN environment variable: argv is visible to other processes)')
    .option('--github-oidc <audience>', 'authenticate with a GitHub Actions OIDC token for this audience (needs permissions: id-token: write)')
    .option('--signing <mode>', 'artifact signing: sealed (default: proves the enclave signed), kms (proves the KMS key, not the enclave) or none', 'sealed')
    .option('--ttl <seconds>', 'artifact lifetime in seconds (sets expiresAt)')
    .option('--allow-dirty', 'pack HEAD even if tracked files have uncommitted changes')
    .option('--repository <owner/name>', 'repository named in the receipt (default: GITHUB_REPOSITORY, else the origin remote)')
    .option('--retries <n>', 'retries on 503/429/connection refused (see README "Retry policy")', '4')
    .option('--timeout <seconds>', 'per-attempt deadline', '300')
    .option('--allow-http', 'allow a plain-http proxy URL that is not loopback')
    .option('--json', 'print the result as JSON')
    .action(async (flags: PackFlags) => {
      await runCommand(flags.json === true, async () => {
        if (!['kms', 'sealed', 'none'].includes(flags.signing)) throw new UsageError(`--signing must be kms, sealed or none, got ${JSON.stringify(flags.signing)}`);
        const { runPackClient } = await import('./client/pack-client.js');
        const result = await runPackClient(
          {
            proxy: flags.proxy,
            identity: flags.identity,
            environment: flags.environment,
            repoDir: flags.repo,
            signing: flags.signing as 'kms' | 'sealed' | 'none',
            allowDirty: flags.allowDirty === true,
            allowHttp: flags.allowHttp === true,
            retries: parseIntFlag('--retries', flags.retries, 0, 10),
            timeoutMs: 1000 * parseIntFlag('--timeout', flags.timeout, 1, 3600),
            roots: flags.root,
            ...(flags.out !== undefined ? { out: flags.out } : {}),
            ...(flags.receipt !== undefined ? { receipt: flags.receipt } : {}),
            ...(flags.measurements !== undefined ? { measurements: flags.measurements } : {}),
            ...(flags.token !== undefined ? { token: flags.token } : {}),
            ...(flags.githubOidc !== undefined ? { githubOidcAudience: flags.githubOidc } : {}),
            ...(flags.ttl !== undefined ? { ttlSeconds: parseIntFlag('--ttl', flags.ttl, 1, 31_536_000) } : {}),
            ...(flags.repository !== undefined ? { repository: flags.repository } : {}),
          },
          { progress: (line) => processIo.stderr(`attested-pack: ${line}\n`) },
        );
        if (flags.json) {
          processIo.stdout(JSON.stringify({ ok: true, ...result }, null, 2) + '\n');
        } else {
          const lines = [
            result.keyCount !== null && result.namespaceCount !== null ? `Artifact packed: ${result.keyCount} keys from ${result.namespaceCount} namespace(s).` : 'Artifact packed.',
            `Output: ${result.output}`,
            `Receipt: ${result.receipt}`,
            `Size: ${(result.artifactSize / 1024).toFixed(1)} KB`,
            ...(result.revision ? [`Revision: ${result.revision}`] : []),
            `Commit: ${result.commit}`,
            `Artifact sha256: ${result.artifactSha256}`,
            result.verified ? 'Receipt: verified against the expected measurements' : 'Receipt: not verified here (pass --measurements, or run verify-receipt)',
          ];
          processIo.stdout(lines.join('\n') + '\n');
        }
        return 0;
      });
    });
}
