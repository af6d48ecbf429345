/**
 * The launcher's parts on their own, mostly the ways they fail: the enclave child that dies or
 * stays silent, Ctrl-C while it starts, leftovers from a crashed run (only our own child is
 * ended), the state-directory lock, a taken proxy port, the proxy configuration (token stored
 * hashed only), socket paths that would overflow sun_path, and the printed account.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadProxyConfig } from '../../host-proxy/index.js';
import {
  endStaleEnclave,
  enclaveServeArgs,
  formatSimAccount,
  shellWord,
  simPaths,
  startEnclaveProcess,
  startSimProxy,
  verifyWithCli,
  writeProxyConfig,
  type SimSummary,
} from '../../simulator/sim/index.js';
import { lockStateDir } from '../../simulator/sim/state-lock.js';
import { processAlive, repoRoot, tempDir } from '../e2e/helpers.js';

let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await tempDir('ap-sim-parts-');
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A long-lived node process whose command line names `marker`. */
async function sleeper(marker: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', marker], { stdio: 'ignore' });
  children.push(c);
  await new Promise((r) => c.once('spawn', r));
  return c;
}

function enclaveOptions(name: string, bundlePath: string) {
  const d = join(dir, name);
  return {
    bundlePath,
    measurementsPath: join(d, 'measurements.json'),
    nsmDir: join(d, 'nsm'),
    kmsEndpoint: 'http://127.0.0.1:9',
    socketPath: join(d, 'enclave.sock'),
    logPath: join(d, 'logs', 'enclave.log'),
    pidPath: join(d, 'enclave.pid'),
  };
}


/** A run's summary for the account formatter: nothing produced, no checks, unless `over` says so. */
function simSummary(over: Partial<SimSummary> & Pick<SimSummary, 'ok' | 'checks'>): SimSummary {
  return {
    stateDir: '/tmp/s',
    identity: 'api-gateway',
    environment: 'production',
    repository: 'example/demo-secrets',
    artifact: null,
    receipt: null,
    measurements: null,
    demoRepo: null,
    commit: null,
    nsmRoot: '/tmp/s/nsm-root.pem',
    signPublicKey: null,
    sealedKey: null,
    keys: null,
    pcr0: null,
    reused: null,
    verifyReceiptArgs: null,
    verifyReceiptFlags: null,
    deployFile: null,
    expectations: null,
    ...over,
  };
}
describe('the enclave child', () => {
  it('exits before listening → SIM_ENCLAVE_START_FAILED with the last log lines; no pid file left', async () => {
    const bundle = join(dir, 'crash.mjs');
    await writeFile(bundle, "process.stderr.write(JSON.stringify({ level: 'error', event: 'boot.failed', code: 'TEST_CRASH' }) + '\\n'); process.exit(3);\n");
    const o = enclaveOptions('crash', bundle);
    await mkdir(join(dir, 'crash'), { recursive: true });
    const err = await startEnclaveProcess(o).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string; hint?: string },
    );
    expect(err?.code).toBe('SIM_ENCLAVE_START_FAILED');
    expect(err?.message).toContain('exit code 3');
    expect(err?.message).toContain('TEST_CRASH');
    expect(err?.hint).toContain(o.logPath);
    expect(existsSync(o.pidPath)).toBe(false);
  });

  it('stays silent → SIM_ENCLAVE_START_FAILED after the deadline, and the child is ended', async () => {
    const bundle = join(dir, 'silent.mjs');
    await writeFile(bundle, 'setTimeout(() => {}, 60000);\n');
    const o = enclaveOptions('silent', bundle);
    await mkdir(join(dir, 'silent'), { recursive: true });
    const err = await startEnclaveProcess({ ...o, readyTimeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err?.code).toBe('SIM_ENCLAVE_START_FAILED');
    expect(err?.message).toContain('did not report ready');
    expect(existsSync(o.pidPath)).toBe(false);
  });

  it('Ctrl-C while it starts → SIM_INTERRUPTED, and the child is ended', async () => {
    const bundle = join(dir, 'slow.mjs');
    await writeFile(bundle, 'setTimeout(() => {}, 60000);\n');
    const o = enclaveOptions('slow', bundle);
    await mkdir(join(dir, 'slow'), { recursive: true });
    const abort = new AbortController();
    const started = startEnclaveProcess({ ...o, signal: abort.signal });
    // Wait for the child to exist (its pid file), however slow the machine is.
    for (let i = 0; i < 300 && !existsSync(o.pidPath); i++) await new Promise((r) => setTimeout(r, 50));
    const pid = Number(readFileSync(o.pidPath, 'utf8'));
    abort.abort();
    const err = await started.then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).toBe('SIM_INTERRUPTED');
    expect(processAlive(pid)).toBe(false);
  });

  it('serves the measured bundle with the simulation flags', () => {
    const o = { ...enclaveOptions('args', '/s/enclave/enclave.mjs'), signingKmsKey: 'arn:aws:kms:us-east-1:111122223333:key/x' };
    expect(enclaveServeArgs(o)).toEqual([
      '/s/enclave/enclave.mjs',
      'serve',
      '--simulate',
      '--sim-state',
      o.nsmDir,
      '--measurements',
      o.measurementsPath,
      '--kms-endpoint',
      'http://127.0.0.1:9',
      '--listen',
      `unix://${o.socketPath}`,
      '--signing-kms-key',
      'arn:aws:kms:us-east-1:111122223333:key/x',
    ]);
  });
});

describe('leftovers of a crashed run', () => {
  it('a live process named in the pid file is ended only if its command line is this state\'s bundle', async () => {
    const bundle = join(dir, 'state-a', 'enclave', 'enclave.mjs');
    const pidPath = join(dir, 'a.pid');
    const stranger = await sleeper(join(dir, 'something-else.mjs'));
    await writeFile(pidPath, `${stranger.pid}\n`);
    expect(await endStaleEnclave(pidPath, bundle)).toBe(false);
    expect(processAlive(stranger.pid!)).toBe(true);
    expect(existsSync(pidPath)).toBe(false);

    const leftover = await sleeper(bundle);
    const exited = new Promise((r) => leftover.once('exit', r));
    await writeFile(pidPath, `${leftover.pid}\n`);
    expect(await endStaleEnclave(pidPath, bundle)).toBe(true);
    await exited;
    expect(processAlive(leftover.pid!)).toBe(false);
  });

  it('a pid file naming nothing, or garbage, is just removed', async () => {
    const pidPath = join(dir, 'b.pid');
    await writeFile(pidPath, 'not a pid\n');
    expect(await endStaleEnclave(pidPath, '/x/enclave.mjs')).toBe(false);
    expect(existsSync(pidPath)).toBe(false);
    expect(await endStaleEnclave(pidPath, '/x/enclave.mjs')).toBe(false);
  });
});

describe('the state directory lock', () => {
  it('a second sim on the same state directory is refused (SIM_STATE_BUSY naming the pid); a dead owner\'s lock is taken over', async () => {
    const lock = join(dir, 'sim.lock');
    const owner = await sleeper('lock-owner');
    await writeFile(lock, `${owner.pid}\n`);
    const err = await lockStateDir(lock, dir).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string; exitCode?: number },
    );
    expect(err?.code).toBe('SIM_STATE_BUSY');
    expect(err?.message).toContain(String(owner.pid));
    expect(err?.exitCode).toBe(3);

    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    const release = await lockStateDir(lock, dir);
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(process.pid));
    // Held by this process now: a second taker (even this process) is refused.
    await expect(lockStateDir(lock, dir)).rejects.toMatchObject({ code: 'SIM_STATE_BUSY' });
    await release();
    expect(existsSync(lock)).toBe(false);
  });
});

describe('the simulation proxy', () => {
  const credentials = { accessKeyId: 'AKIASIMULATORENCLAVE', secretAccessKey: 'attested-pack-simulator-enclave-secret', region: 'us-east-1' };

  it('proxy.yaml holds only the token\'s SHA-256 (mode 0600) and host-proxy\'s own loader accepts it', async () => {
    const configPath = join(dir, 'proxy.yaml');
    const token = await writeProxyConfig({ configPath, logPath: join(dir, 'p.log'), port: 0, enclaveUrl: 'unix:///tmp/x.sock', credentials, logLevel: 'info' });
    const text = readFileSync(configPath, 'utf8');
    expect(text).not.toContain(token);
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    const doc = parseYaml(text) as { auth: { tokens: Array<{ sha256: string }> } };
    expect(doc.auth.tokens[0]!.sha256).toBe(createHash('sha256').update(token).digest('hex'));
    const config = await loadProxyConfig(configPath, { env: {} });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.enclave.url).toBe('unix:///tmp/x.sock');
    expect(config.credentials).toMatchObject({ source: 'static', accessKeyId: credentials.accessKeyId });
    expect(config.signing).toBeUndefined();
    // A fresh token every run; the sealed key file is named so `host-proxy --config` unseals it too.
    const sealedKeyFile = join(dir, 'sealed-signing-key.json');
    const again = await writeProxyConfig({ configPath, logPath: join(dir, 'p.log'), port: 0, enclaveUrl: 'unix:///tmp/x.sock', credentials, logLevel: 'info', sealedKeyFile });
    expect(again).not.toBe(token);
    expect((await loadProxyConfig(configPath, { env: {} })).signing).toEqual({ sealedKeyFile });
  });

  it('a taken --port → SIM_PORT_IN_USE (exit 3) with a hint', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const err = await startSimProxy({ configPath: join(dir, 'busy.yaml'), logPath: join(dir, 'busy.log'), port, enclaveUrl: 'unix:///tmp/x.sock', credentials, logLevel: 'info' }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; hint?: string; exitCode?: number },
      );
      expect(err?.code).toBe('SIM_PORT_IN_USE');
      expect(err?.exitCode).toBe(3);
      expect(err?.hint).toContain('--port');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe('paths, commands and the account', () => {
  it('the enclave socket stays in the state directory unless that would overflow sun_path', () => {
    expect(simPaths('/tmp/s').enclaveSocket).toBe('/tmp/s/enclave.sock');
    const deep = `/tmp/${'d'.repeat(120)}`;
    const p = simPaths(deep);
    expect(Buffer.byteLength(p.enclaveSocket)).toBeLessThanOrEqual(100);
    expect(p.enclaveSocket.startsWith(deep)).toBe(false);
    expect(simPaths(deep).enclaveSocket).toBe(p.enclaveSocket);
    expect(simPaths(`${deep}x`).enclaveSocket).not.toBe(p.enclaveSocket);
  });

  it('shell words are quoted only when needed', () => {
    expect(shellWord('/tmp/a-b_c.json')).toBe('/tmp/a-b_c.json');
    expect(shellWord('/tmp/with space')).toBe("'/tmp/with space'");
    expect(shellWord("it's")).toBe("'it'\\''s'");
  });

  it('a failed run\'s account shows ✘ with the code, the hint, and no "try next"', () => {
    const summary = simSummary({
      ok: false,
      checks: [
        { name: 'kms-simulator', title: 'KMS simulator', status: 'pass', evidence: 'http://127.0.0.1:1' },
        { name: 'enclave', title: 'enclave running', status: 'fail', evidence: 'the enclave exited before listening (exit code 1)', code: 'SIM_ENCLAVE_START_FAILED' },
      ],
      error: { code: 'SIM_ENCLAVE_START_FAILED', message: 'the enclave exited', hint: 'see /tmp/s/logs/enclave.log' },
    });
    const text = formatSimAccount(summary, { colour: false, projectRoot: repoRoot });
    expect(text).toContain('✔ KMS simulator');
    expect(text).toMatch(/✘ enclave running +\[SIM_ENCLAVE_START_FAILED\] the enclave exited before listening/);
    expect(text).toContain('hint: see /tmp/s/logs/enclave.log');
    expect(text).not.toContain('Try next');
    expect(text).not.toContain('\x1b[');
    expect(formatSimAccount(summary, { colour: true, projectRoot: repoRoot })).toContain('\x1b[31m✘');
  });

  it('"Try next" names npm start in a checkout and the installed bin and sources in an installed package', () => {
    const summary = simSummary({
      ok: true,
      artifact: '/tmp/s/out/a.json',
      receipt: '/tmp/s/out/a.receipt.json',
      measurements: '/tmp/s/enclave/measurements.json',
      demoRepo: '/tmp/s/demo-repo',
      commit: 'a'.repeat(40),
      checks: [{ name: 'kms-simulator', title: 'KMS simulator', status: 'pass', evidence: 'http://127.0.0.1:1' }],
      verifyReceiptArgs: ['/tmp/s/out/a.receipt.json', '--expect', '/tmp/s/deploy/expectations.json'],
      verifyReceiptFlags: ['/tmp/s/out/a.receipt.json', '--measurements', '/tmp/s/enclave/measurements.json'],
      deployFile: '/tmp/s/deploy/attested-pack.deploy.yaml',
      expectations: '/tmp/s/deploy/expectations.json',
    });
    const checkout = formatSimAccount(summary, { colour: false, projectRoot: repoRoot });
    expect(checkout).toContain('npm start -- --keep-policies   # policies still name the old PCR0');
    expect(checkout).toContain('edit a string in enclave-app/server.ts');
    const installedRoot = '/opt/prefix/lib/node_modules/attested-pack';
    const installed = formatSimAccount(summary, { colour: false, projectRoot: installedRoot });
    expect(installed).not.toContain('npm start');
    expect(installed).toContain('attested-pack sim --keep-policies # policies still name the old PCR0');
    expect(installed).toContain(`edit a string in ${installedRoot}/enclave-app/server.ts`);
    expect(installed).toContain('pack by hand: attested-pack sim --keep-running');
    expect(installed).toContain(`node ${installedRoot}/bin/verify-receipt.mjs`);
  });

  it('verify-receipt through the launcher reports unreadable input as an error, never a report', async () => {
    const r = await verifyWithCli([join(dir, 'no-such-receipt.json'), '--measurements', join(dir, 'nope.json')]);
    expect(r.code).toBe(2);
    expect(r.report).toBeUndefined();
    expect(r.error).toMatch(/^[A-Z_]+: /);
  });
});
