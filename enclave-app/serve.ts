/**
 * `enclave serve`: wires the real or simulated adapters to the server loop and runs until a
 * signal. The same code runs in both modes; only the NSM and the KMS route change:
 *   real       — /dev/nsm through the addon; KMS over TLS inside a vsock stream to the parent relay
 *   simulated  — the simulated NSM (persistent PKI in --sim-state, PCRs from measurements.json);
 *                KMS through the SDK to the simulator's loopback endpoint
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../common/errors.js';
import { parseMeasurements } from '../common/measurements.js';
import { parseIntFlag } from '../common/cli-output.js';
import { startEnclaveServer, type EnclaveLogEvent, type EnclaveServer } from './server.js';
import { KmsConnection } from './kms/client.js';
import type { AttestPort, WrapTargets } from './pack/pipeline.js';
import { VERSION } from '../common/version.js';
import type { ServeFlags } from './serve-options.js';

export type { ServeFlags } from './serve-options.js';

/** Starts the server from parsed flags; resolves once it listens. */
export async function startFromFlags(flags: ServeFlags, log: (e: EnclaveLogEvent) => void): Promise<EnclaveServer> {
  if (flags.signingKmsKey !== undefined && !/^arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)\/[A-Za-z0-9/_+=.@-]+$/.test(flags.signingKmsKey)) {
    throw new UsageError('--signing-kms-key must be a full KMS key or alias ARN (receipts name keys by ARN)');
  }
  const listed = flags.wrapKey.length + flags.wrapAgeRecipient.length > 0;
  if (listed && flags.anyWrapTarget) throw new UsageError('--any-wrap-target contradicts --wrap-key / --wrap-age-recipient');
  if (!listed && !flags.anyWrapTarget && !flags.simulate) {
    throw new UsageError('name the envelopes this enclave may wrap artifacts for: --wrap-key ARN and/or --wrap-age-recipient R (or --any-wrap-target)', {
      hint: 'clef.yaml arrives from the host: without this list a compromised host could name its own key as the envelope',
    });
  }
  const wrapTargets: WrapTargets = listed ? { kmsKeys: flags.wrapKey, ageRecipients: flags.wrapAgeRecipient } : 'any';
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
    ...(flags.signingKmsKey ? { signingKmsKeyId: flags.signingKmsKey } : {}),
    recipientKeys: {
      maxUses: parseIntFlag('--key-max-uses', flags.keyMaxUses, 1),
      maxAgeMs: parseIntFlag('--key-max-age', flags.keyMaxAge, 1) * 1000,
    },
    maxConcurrentPacks: parseIntFlag('--max-concurrent-packs', flags.maxConcurrentPacks, 1, 256),
    wrapTargets,
    ...(flags.sourceKey.length > 0 ? { sourceKeys: flags.sourceKey } : {}),
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
