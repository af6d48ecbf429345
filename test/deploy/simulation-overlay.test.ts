/**
 * deploy render with the simulation overlay (what `attested-pack sim` renders its demo deploy file
 * with): only the transport flags and the proxy's listener/credentials change; every pin in the
 * /cmd, every key policy and the expectations are byte for byte the AWS rendering's. The sim's own
 * run through this path is test/simulator/sim-cli.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDeployFile } from '../../deploy/file.js';
import { imageCmd, renderDeployment, serveArgs, type SimulationOverlay } from '../../deploy/render.js';
import { parseProxyConfig } from '../../host-proxy/config.js';
import type { Measurements } from '../../common/measurements.js';
import { PARENT_ROLE, deployDoc, yamlOf } from './helpers.js';

const overlay: SimulationOverlay = {
  nsmDir: '/s/nsm',
  measurementsPath: '/s/enclave/measurements.json',
  kmsEndpoint: 'http://127.0.0.1:4599',
  socketPath: '/s/enclave.sock',
  proxy: { listen: '127.0.0.1:0', credentials: { accessKeyId: 'AKIASIMULATORENCLAVE', secretAccessKey: 'demo-secret' }, logLevel: 'warn', packTimeoutSeconds: 60 },
};

const measurements: Measurements = { PCR0: 'a'.repeat(96), PCR1: 'b'.repeat(96), PCR2: 'c'.repeat(96), eifSha256: 'd'.repeat(64), arch: 'x86_64', buildInputs: {} };

function config(): ReturnType<typeof parseDeployFile> {
  const doc = deployDoc();
  doc.access = { tokens: [{ name: 'ci', sha256: 'e'.repeat(64), identities: ['*'], environments: ['*'] }] };
  return parseDeployFile(yamlOf(doc));
}

describe('deploy render with the simulation overlay', () => {
  it('swaps only the transport flags: the same pins follow, in the same order', () => {
    const c = config();
    const aws = serveArgs(c);
    const sim = serveArgs(c, overlay);
    expect(aws.slice(0, 7)).toEqual(['serve', '--listen', 'vsock://ANY:5000', '--kms-region', c.region, '--kms-relay-port', '8000']);
    expect(sim.slice(0, 12)).toEqual([
      'serve',
      '--simulate',
      '--sim-state',
      '/s/nsm',
      '--measurements',
      '/s/enclave/measurements.json',
      '--role-arn',
      PARENT_ROLE,
      '--kms-endpoint',
      'http://127.0.0.1:4599',
      '--listen',
      'unix:///s/enclave.sock',
    ]);
    expect(sim.slice(12)).toEqual(aws.slice(7));
    expect(sim.slice(12)).toEqual(expect.arrayContaining(['--envelope', '--source-key', '--seal-key', '--signer-public-key', c.signer.publicKey]));
    expect(imageCmd(c, overlay).slice(2)).toEqual(sim);
  });

  it('policies and expectations are the AWS rendering\'s byte for byte; no build script or launch template', () => {
    const c = config();
    const aws = renderDeployment(c, { measurements });
    const sim = renderDeployment(c, { measurements, simulation: overlay });
    const derived = [...aws.keys()].filter((p) => p.startsWith('policies/') || p === 'expectations.json');
    expect(derived.length).toBeGreaterThan(5);
    for (const p of derived) expect(sim.get(p), p).toBe(aws.get(p));
    expect([...sim.keys()].filter((p) => !aws.has(p))).toEqual([]);
    for (const p of ['image/build.sh', 'launch/parent.tf', 'launch/parent.cfn.json']) expect(sim.has(p), p).toBe(false);
    expect(sim.get('image/cmd.json')).not.toBe(aws.get('image/cmd.json'));
  });

  it('proxy.yaml: loopback, the enclave socket, static demo credentials, no relay; the same access rules; host-proxy accepts it', () => {
    const c = config();
    const text = renderDeployment(c, { simulation: overlay }).get('proxy.yaml')!;
    const p = parseProxyConfig(parse(text), { source: 'proxy.yaml', env: {} });
    expect(p.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(p.enclave.url).toBe('unix:///s/enclave.sock');
    expect(p.credentials).toMatchObject({ source: 'static', accessKeyId: 'AKIASIMULATORENCLAVE' });
    expect(p.relay).toBeUndefined();
    expect(p.signing).toEqual({ sealedKeyFile: c.signer.sealedKeyFile });
    expect(p.auth.tokens).toEqual([expect.objectContaining({ name: 'ci', sha256: 'e'.repeat(64), repositories: [c.repository] })]);
    // The AWS rendering of the same file: IMDS credentials and the vsock relay to KMS.
    const aws = parseProxyConfig(parse(renderDeployment(c).get('proxy.yaml')!), { source: 'proxy.yaml', env: {} });
    expect(aws.credentials).toMatchObject({ source: 'imds' });
    expect(aws.relay).toBeDefined();
    expect(aws.auth.tokens).toEqual(p.auth.tokens);
  });
});
