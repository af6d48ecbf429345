// Builds the optional AF_VSOCK / NSM addon (vsock/native) during `npm install` / `npm ci`.
//
// The addon is optional: where it cannot be built (no Linux, no C compiler, no make/python3,
// no node-gyp, a compile error) this script prints ONE line saying so and exits 0, so the rest of
// attested-pack installs and works; asking for vsock:// later reports VSOCK_UNAVAILABLE with that
// same reason (kept in build/NOT_BUILT: npm hides the output of install scripts).
// Set ATTESTED_PACK_SKIP_NATIVE=1 to skip the build on purpose.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const output = join(here, 'build', 'Release', 'attested_pack_vsock.node');
/** Why the addon is missing, for vsock/addon.ts to repeat when vsock:// is asked for. */
const notBuilt = join(here, 'build', 'NOT_BUILT');
const unavailable = 'vsock:// transports and /dev/nsm will report VSOCK_UNAVAILABLE / NSM_UNAVAILABLE';

function skip(reason) {
  console.log(`attested-pack: vsock addon not built (${reason}); ${unavailable}.`);
  try {
    mkdirSync(dirname(notBuilt), { recursive: true });
    writeFileSync(notBuilt, `${reason}\n`);
  } catch {
    // the note is a courtesy; never fail the install over it
  }
  process.exit(0);
}

function has(command, args = ['--version']) {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  return result.error === undefined && result.status === 0;
}

/** Finds node-gyp: npm's own copy first (what lifecycle scripts use), then one on PATH. */
function findNodeGyp() {
  const fromEnv = process.env.npm_config_node_gyp;
  if (fromEnv && existsSync(fromEnv)) return [process.execPath, fromEnv];
  const npmDirs = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm'),
    join(dirname(process.execPath), 'node_modules', 'npm'),
  ];
  for (const dir of npmDirs) {
    try {
      const script = createRequire(join(dir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
      return [process.execPath, script];
    } catch {
      // not in this npm layout; try the next one
    }
  }
  if (has('node-gyp')) return ['node-gyp'];
  return undefined;
}

/** Uses the headers next to this Node (distribution packages) instead of downloading them. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = join(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  return [];
}

if (process.env.ATTESTED_PACK_SKIP_NATIVE === '1') skip('ATTESTED_PACK_SKIP_NATIVE=1');
if (process.platform !== 'linux') skip(`AF_VSOCK and /dev/nsm exist on Linux only, this is ${process.platform}`);
const cc = process.env.CC || 'cc';
if (!has(cc)) skip(`no C compiler (${cc}) found; install gcc or set CC`);
if (!has('make')) skip('make not found');
if (!has('python3') && !has('python')) skip('python3 (needed by node-gyp) not found');
const nodeGyp = findNodeGyp();
if (nodeGyp === undefined) skip('node-gyp not found (it ships with npm)');

rmSync(notBuilt, { force: true });
const [command, ...prefixArgs] = nodeGyp;
const result = spawnSync(command, [...prefixArgs, 'rebuild', ...nodedirArgs()], {
  cwd: here,
  encoding: 'utf8',
  env: { ...process.env, npm_config_loglevel: 'error' },
  timeout: 300_000,
});
if (result.error !== undefined || result.status !== 0 || !existsSync(output)) {
  const log = join(here, 'build', 'build.log');
  try {
    mkdirSync(dirname(log), { recursive: true });
    writeFileSync(log, `${result.stdout ?? ''}\n${result.stderr ?? ''}\n${result.error ?? ''}\n`);
  } catch {
    // the log is a courtesy; never fail the install over it
  }
  skip(`node-gyp failed, see ${log}`);
}
console.log('attested-pack: vsock addon built (vsock/native/build/Release/attested_pack_vsock.node).');
