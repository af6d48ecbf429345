/**
 * `enclave serve`: wires the real or simulated adapters to the server loop and runs until a
 * signal. The same code runs in both modes; only the NSM and the KMS route change:
 *   real       — /dev/nsm through the addon; KMS over TLS inside a vsock stream to the parent relay
 *   simulated  — the simulated NSM (persistent PKI in --sim-state, PCRs from measurements.json);
 *                KMS through the SDK to the simulator's loopback endpoint
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UsageError } from '../common/errors.js';
import { parseMeasurements } from '../common/measurements.js';
import { parseIntFlag } from '../common/cli-output.js';
import { startEnclaveServer, type EnclaveLogEvent, type EnclaveServer, type SealedKeyPin } from './server.js';
import { parseEnvelopeFlags, parseManifestPins, parseSourceKeyFlags, requireKeyArn, type SourceKeyPolicy } from './pack/policy.js';
import { KmsConnection } from './kms/client.js';
import type { AttestPort, WrapTargets } from './pack/pipeline.js';
import { VERSION } from '../common/version.js';
import type { ServeFlags } from './serve-options.js';

export type { ServeFlags } from './serve-options.js';

/** What the measured flags pin, checked and parsed (UsageError naming the flag otherwise). */
export interface ServeConfig {
  wrapTargets: WrapTargets;
  sourceKeys?: SourceKeyPolicy;
  manifestSha256?: readonly string[];
  signingKmsKey?: string;
  sealedKeyPin?: SealedKeyPin;
}

/** Checks the pinning flags; nothing here touches the network. */
export function serveConfigFromFlags(flags: ServeFlags): ServeConfig {
  if ((flags.wrapKey?.length ?? 0) + (flags.wrapAgeRecipient?.length ?? 0) > 0) {
    throw new UsageError('--wrap-key and --wrap-age-recipient were removed: a flat list let the host route one identity\'s secrets to another identity\'s envelope', {
      hint: 'pin one envelope per identity and environment: --envelope api-gateway/production=arn:aws:kms:…:key/… --envelope worker/dev=age1…',
    });
  }
  const signingKmsKey = flags.signingKmsKey === undefined ? undefined : requireKeyArn('--signing-kms-key', flags.signingKmsKey);
  const envelopes = parseEnvelopeFlags(flags.envelope);
  if (envelopes.size > 0 && flags.anyWrapTarget) throw new UsageError('--any-wrap-target contradicts --envelope');
  if (envelopes.size === 0 && !flags.anyWrapTarget && !flags.simulate) {
    throw new UsageError('name the envelope of every identity/environment this enclave packs: --envelope IDENTITY/ENVIRONMENT=ARN|age1… (or --any-wrap-target)', {
      hint: 'clef.yaml arrives from the host: without this map a compromised host could name its own key as the envelope, or give an identity another identity\'s secrets',
    });
  }
  const sourceKeys = parseSourceKeyFlags(flags.sourceKey);
  const manifestSha256 = parseManifestPins(flags.manifestSha256 ?? []);
  if ((flags.sealKey === undefined) !== (flags.signerPublicKey === undefined)) {
    throw new UsageError('--seal-key and --signer-public-key go together (the key the signing key is sealed under, and the public half of the only signing key accepted)');
  }
  let sealedKeyPin: SealedKeyPin | undefined;
  if (flags.sealKey !== undefined && flags.signerPublicKey !== undefined) {
    sealedKeyPin = { sealKeyArn: requireKeyArn('--seal-key', flags.sealKey), publicKeySpki: parseSignerPublicKey(flags.signerPublicKey) };
  }
  return {
    wrapTargets: envelopes.size > 0 ? envelopes : 'any',
    ...(sourceKeys ? { sourceKeys } : {}),
    ...(manifestSha256 ? { manifestSha256 } : {}),
    ...(signingKmsKey ? { signingKmsKey } : {}),
    ...(sealedKeyPin ? { sealedKeyPin } : {}),
  };
}

/** The `--signer-public-key` value: base64 of an Ed25519 SPKI (what `sealed-key create` prints). */
function parseSignerPublicKey(text: string): Uint8Array {
  const der = Buffer.from(text, 'base64');
  let ok = der.toString('base64') === text;
  if (ok) {
    try {
      ok = createPublicKey({ key: der, format: 'der', type: 'spki' }).asymmetricKeyType === 'ed25519';
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw new UsageError('--signer-public-key must be the base64 SPKI of an Ed25519 key', { hint: 'use the verify key `attested-pack sealed-key create` printed' });
  }
  return new Uint8Array(der);
}

/** Starts the server from parsed flags; resolves once it listens. */
export async function startFromFlags(flags: ServeFlags, log: (e: EnclaveLogEvent) => void): Promise<EnclaveServer> {
  const config = serveConfigFromFlags(flags);
  let nsm: AttestPort;
  let kms: KmsConnection;
  if (flags.simulate) {
    if (!flags.simState || !flags.measurements || !flags.kmsEndpoint) {
      throw new UsageError('--simulate needs --sim-state DIR, --measurements FILE and --kms-endpoint URL');
    }
    const m = parseMeasurements(await readFile(flags.measurements, 'utf8'), flags.measurements);
    const { SimulatedNsmPki } = await import('../attestation/index.js');
    const { SimulatedNsm } = await import('./nsm/index.js');
    const pki = await SimulatedNsmPki.open(flags.simState);
    nsm = new SimulatedNsm({
      pki,
      pcrs: m.PCR8 ? { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2, 8: m.PCR8 } : { 0: m.PCR0, 1: m.PCR1, 2: m.PCR2 },
      ...(flags.roleArn ? { roleArn: flags.roleArn } : {}),
    });
    kms = new KmsConnection({ mode: 'simulated', endpoint: flags.kmsEndpoint });
  } else {
    if (!flags.kmsRegion) throw new UsageError('real mode needs --kms-region (the region of the KMS keys)');
    const { RealNsm } = await import('./nsm/index.js');
    const { connectVsock } = await import('../vsock/index.js');
    nsm = new RealNsm();
    const cid = parseIntFlag('--parent-cid', flags.parentCid, 0, 0xffffffff);
    const port = parseIntFlag('--kms-relay-port', flags.kmsRelayPort, 1, 0xffffffff);
    kms = new KmsConnection({ mode: 'vsock', region: flags.kmsRegion, openRelayStream: () => connectVsock({ cid, port }) });
  }
  return startEnclaveServer({
    listen: flags.listen,
    nsm,
    kms,
    toolVersion: VERSION,
    ...(config.signingKmsKey ? { signingKmsKeyId: config.signingKmsKey } : {}),
    ...(config.sealedKeyPin ? { sealedKeyPin: config.sealedKeyPin } : {}),
    recipientKeys: {
      maxUses: parseIntFlag('--key-max-uses', flags.keyMaxUses, 1),
      maxAgeMs: parseIntFlag('--key-max-age', flags.keyMaxAge, 1) * 1000,
    },
    maxConcurrentPacks: parseIntFlag('--max-concurrent-packs', flags.maxConcurrentPacks, 1, 256),
    limits: { maxConnections: parseIntFlag('--max-connections', flags.maxConnections, 1, 4096) },
    wrapTargets: config.wrapTargets,
    ...(config.sourceKeys ? { sourceKeys: config.sourceKeys } : {}),
    ...(config.manifestSha256 ? { manifestSha256: config.manifestSha256 } : {}),
    log,
  });
}

/** Runs the server until SIGINT/SIGTERM; prints a ready line on stdout and JSON events on stderr. */
export async function serveUntilSignal(flags: ServeFlags): Promise<void> {
  const log = (e: EnclaveLogEvent): void => {
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...e }) + '\n');
  };
  const server = await startFromFlags(flags, log);
  process.stdout.write(`enclave ready on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
}
