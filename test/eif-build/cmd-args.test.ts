/** `eif rootfs --arg`: the enclave's serve flags go into /cmd, so they are part of the image (PCR2). */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/attested-pack.mjs', import.meta.url));

function rootfs(dir: string, args: string[]): { cmd: string; sha256: string } {
  const r = spawnSync(
    process.execPath,
    [bin, 'eif', 'rootfs', '--bundle', join(dir, 'b.mjs'), '--no-node', '--no-addons', '--tree', join(dir, `t${args.length}`), '-o', join(dir, `u${args.length}.cpio`), '--json', ...args.flatMap((a) => ['--arg', a])],
    { encoding: 'utf8', timeout: 60_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return { cmd: readFileSync(join(dir, `t${args.length}`, 'cmd'), 'utf8'), sha256: (JSON.parse(r.stdout) as { sha256?: string }).sha256 ?? r.stdout };
}

describe('eif rootfs --arg', () => {
  it('appends the arguments to /cmd after node and the bundle, one per line, and changes the ramdisk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ap-cmd-'));
    writeFileSync(join(dir, 'b.mjs'), 'console.log(1)\n');
    const plain = rootfs(dir, []);
    expect(plain.cmd).toBe('/usr/bin/node\n/app/enclave.mjs\n');
    const served = rootfs(dir, ['serve', '--envelope', 'api-gateway/production=arn:aws:kms:us-east-1:111122223333:key/x']);
    expect(served.cmd).toBe('/usr/bin/node\n/app/enclave.mjs\nserve\n--envelope\napi-gateway/production=arn:aws:kms:us-east-1:111122223333:key/x\n');
    expect(served.sha256).not.toBe(plain.sha256);
  });

  it('refuses an argument with a newline (init splits /cmd on newlines)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ap-cmd-'));
    writeFileSync(join(dir, 'b.mjs'), 'console.log(1)\n');
    const r = spawnSync(process.execPath, [bin, 'eif', 'rootfs', '--bundle', join(dir, 'b.mjs'), '--no-node', '--no-addons', '-o', join(dir, 'u.cpio'), '--arg', 'a\nb'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('newline');
  });
});
