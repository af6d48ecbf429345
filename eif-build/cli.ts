/** CLI commands of eif-build/ (registered by cli/main.ts): `attested-pack eif …`. */
import type { Command } from 'commander';
import { runCommand } from '../common/cli-output.js';
import { UsageError } from '../common/errors.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function parseArch(v: string | undefined): 'x86_64' | 'aarch64' {
  if (v === undefined || v === 'x86_64') return 'x86_64';
  if (v === 'aarch64') return 'aarch64';
  throw new UsageError(`--arch must be x86_64 or aarch64, got ${JSON.stringify(v)}`);
}

function pcrLines(m: { PCR0: string; PCR1: string; PCR2: string; PCR8?: string }): string {
  return (['PCR0', 'PCR1', 'PCR2', 'PCR8'] as const)
    .filter((k) => m[k] !== undefined)
    .map((k) => `${k}  ${m[k]}\n`)
    .join('');
}

/** The addon(s) the vsock build left in this attested-pack package (checkout or installed), if it was built. */
async function defaultAddons(): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { attestedPackRoot } = await import('../common/package-root.js');
  const root = attestedPackRoot();
  if (root === undefined) return [];
  const dir = join(root, 'vsock/native/build/Release');
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.node')).sort().map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** The enclave entry shipped in this attested-pack package (so `eif bundle` works from any directory). */
async function defaultEntry(relative: string): Promise<string> {
  const { join } = await import('node:path');
  const { attestedPackRoot } = await import('../common/package-root.js');
  const root = attestedPackRoot();
  if (root === undefined) throw new UsageError('cannot find the attested-pack package this command runs from: pass --entry FILE');
  return join(root, relative);
}

interface RootfsFlags {
  bundle?: string;
  addon?: string[];
  addons?: boolean;
  node?: string | boolean;
  libDir?: string[];
  env?: string[];
  arg?: string[];
}

async function rootfsSpecFromFlags(o: RootfsFlags) {
  if (!o.bundle) throw new UsageError('--bundle FILE is required (make one with `attested-pack eif bundle`)');
  const addonPaths = o.addons === false ? [] : (o.addon ?? (await defaultAddons()));
  const nodePath = typeof o.node === 'string' ? o.node : process.execPath;
  return {
    bundlePath: o.bundle,
    addonPaths,
    runtime: o.node === false ? { kind: 'reference' as const, nodePath } : { kind: 'include' as const, nodePath, libraryDirs: o.libDir ?? [] },
    env: o.env ?? [],
    // /cmd = node, the bundle, then these arguments (e.g. `serve --listen vsock://ANY:5000
    // --kms-region R --envelope ID/ENV=ARN`): part of the image, so part of PCR2.
    ...(o.arg && o.arg.length > 0 ? { cmd: ['/usr/bin/node', '/app/enclave.mjs', ...o.arg] } : {}),
  };
}

interface LockedFlags {
  locked?: string | boolean;
  projectRoot: string;
  lock?: string;
  libRoot?: string;
  tree?: string;
  sourceRevision?: string;
  blobs?: string;
  arg?: string[];
  out: string;
  measurements: string;
  signKey?: string;
  signCert?: string;
  syntheticBootBlobs?: boolean;
  rootfs?: string;
  userRamdisk?: string;
  bundle?: string;
  node?: string | boolean;
  addon?: string[];
  kernel?: string;
  json?: boolean;
}

/** `eif build --locked [release|simulation]`: every input from the checkout and the lock, checked. */
async function lockedBuildCommand(o: LockedFlags): Promise<number> {
  const kind = o.locked === true || o.locked === 'release' ? 'release' : o.locked === 'simulation' ? 'simulation' : undefined;
  if (kind === undefined) throw new UsageError(`--locked takes release or simulation, got ${JSON.stringify(o.locked)}`);
  const conflicting = [o.rootfs, o.userRamdisk, o.bundle, o.addon, o.kernel, typeof o.node === 'string' ? o.node : undefined].some((x) => x !== undefined);
  if (conflicting) throw new UsageError('--locked takes its inputs from the lock: drop --rootfs/--user-ramdisk/--bundle/--addon/--node/--kernel');
  if (o.syntheticBootBlobs && o.blobs) throw new UsageError('--synthetic-boot-blobs and --blobs exclude each other');
  if (Boolean(o.signKey) !== Boolean(o.signCert)) throw new UsageError('--sign-key and --sign-cert go together');
  const { readFile } = await import('node:fs/promises');
  const { resolve } = await import('node:path');
  const { lockedBuild } = await import('./lock.js');
  const r = await lockedBuild({
    projectRoot: resolve(o.projectRoot),
    kind,
    ...(o.lock ? { lockPath: o.lock } : {}),
    ...(o.blobs ? { blobsDir: o.blobs } : {}),
    ...(o.libRoot ? { libRoot: o.libRoot } : {}),
    ...(o.syntheticBootBlobs ? { syntheticBootBlobs: true } : {}),
    ...(o.tree ? { treeDir: o.tree } : {}),
    ...(o.sourceRevision ? { sourceRevision: o.sourceRevision } : {}),
    ...(o.arg ? { args: o.arg } : {}),
    outFile: o.out,
    measurementsFile: o.measurements,
    ...(o.signKey && o.signCert ? { signer: { keyPem: await readFile(o.signKey, 'utf8'), certPem: await readFile(o.signCert, 'utf8') } } : {}),
  });
  const m = r.measurements;
  if (o.json) {
    process.stdout.write(JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', ...r.pcrs }, eifPath: r.eifPath, measurementsPath: o.measurements, eifSha256: m.eifSha256, size: r.size, kind, source: r.source ?? null }, null, 2) + '\n');
  } else {
    process.stdout.write(`${r.eifPath} (${r.size} bytes, sha256 ${m.eifSha256})\n${pcrLines(m)}measurements written to ${o.measurements}\nlocked ${kind} image, every input matched the lock; source ${r.source ?? 'unknown (not a git checkout)'}\n`);
    if (o.syntheticBootBlobs && kind === 'release') process.stdout.write('note: synthetic boot blobs — this image is NOT BOOTABLE\n');
    if (kind === 'simulation') process.stdout.write('note: simulation image — synthetic boot blobs, runtime referenced by hash: NOT BOOTABLE\n');
  }
  return 0;
}

/** Adds this module's commands to the program. */
export function registerEifCommands(program: Command): void {
  const eif = program.command('eif').description('Build, sign, measure and describe AWS Nitro Enclave image files (EIF), reproducibly');

  eif
    .command('bundle')
    .description('Bundle the enclave app into one deterministic, self-contained JS file (+ esbuild metafile)')
    .option('--entry <file>', 'enclave entry point (default: enclave-app/enclave-main.ts of this attested-pack installation)')
    .option('-o, --out <file>', 'output bundle', 'build/enclave/enclave.mjs')
    .option('--project-root <dir>', 'root for relative paths (default: nearest package.json above the entry)')
    .option('--json', 'machine-readable output')
    .action(async (o: { entry?: string; out: string; projectRoot?: string; json?: boolean }) => {
      await runCommand(Boolean(o.json), async () => {
        const { bundleEnclave, DEFAULT_ENCLAVE_ENTRY } = await import('./bundle.js');
        const entry = o.entry ?? (await defaultEntry(DEFAULT_ENCLAVE_ENTRY));
        const r = await bundleEnclave({ entry, outFile: o.out, ...(o.projectRoot ? { projectRoot: o.projectRoot } : {}) });
        const out = { bundlePath: r.bundlePath, metafilePath: r.metafilePath, sha256: r.sha256, inputs: Object.keys(r.metafile.inputs).length };
        process.stdout.write(o.json ? JSON.stringify(out, null, 2) + '\n' : `bundle   ${r.bundlePath}\nsha256   ${r.sha256}\nmetafile ${r.metafilePath} (${out.inputs} inputs)\n`);
      });
    });

  eif
    .command('rootfs')
    .description('Lay out the user ramdisk (Node runtime, bundle, addon, /cmd, /env, init directories) as a deterministic newc cpio')
    .option('--bundle <file>', 'the enclave bundle (from `eif bundle`)')
    .option('--addon <file>', 'native addon to copy next to the bundle (repeatable; default: vsock/native/build/Release/*.node if built)', collect)
    .option('--no-addons', 'include no native addon')
    .option('--node <path>', 'node binary to include with its shared libraries (default: the running node)')
    .option('--no-node', 'do not include a Node runtime (reference it by hash only; simulation images)')
    .option('--lib-dir <dir>', 'extra directory to search for shared libraries (repeatable)', collect)
    .option('--env <KEY=VALUE>', 'line for /env (repeatable)', collect)
    .option('--arg <value>', 'argument after `node /app/enclave.mjs` in /cmd, e.g. --arg serve --arg --envelope --arg api-gateway/production=ARN (repeatable)', collect)
    .option('-o, --out <file>', 'write the cpio archive here')
    .option('--tree <dir>', 'also write the tree (cmd, env, rootfs/) here, for `eif build --rootfs DIR`')
    .option('--json', 'machine-readable output')
    .action(async (o: RootfsFlags & { out?: string; tree?: string; json?: boolean }) => {
      await runCommand(Boolean(o.json), async () => {
        if (!o.out && !o.tree) throw new UsageError('pass -o FILE (cpio archive) and/or --tree DIR');
        const { planRootfs, userRamdisk, writeTree } = await import('./rootfs.js');
        const { sourceDateEpoch } = await import('./metadata.js');
        const { writeSourceToFile } = await import('./write-source.js');
        const plan = await planRootfs(await rootfsSpecFromFlags(o));
        const archive = userRamdisk(plan.entries, sourceDateEpoch());
        let sha256: string | undefined;
        if (o.out) sha256 = await writeSourceToFile(archive, o.out);
        if (o.tree) await writeTree(plan, o.tree);
        const out = { archive: o.out ?? null, tree: o.tree ?? null, size: archive.size, sha256: sha256 ?? null, entries: plan.entries.length, files: plan.files.map((f) => f.imagePath) };
        process.stdout.write(o.json ? JSON.stringify(out, null, 2) + '\n' : `${o.out ? `archive ${o.out} (${archive.size} bytes, sha256 ${sha256})\n` : ''}${o.tree ? `tree    ${o.tree}\n` : ''}entries ${plan.entries.length}: ${plan.files.map((f) => f.imagePath).join(' ')}\n`);
      });
    });

  eif
    .command('bootstrap-ramdisk')
    .description('Write the bootstrap ramdisk (dev/, init, nsm.ko) exactly as nitro-cli/linuxkit lays it out')
    .requiredOption('--init <file>', 'init blob')
    .option('--nsm <file>', 'nsm.ko blob (omit for kernels with NSM built in)')
    .requiredOption('-o, --out <file>', 'output cpio')
    .option('--json', 'machine-readable output')
    .action(async (o: { init: string; nsm?: string; out: string; json?: boolean }) => {
      await runCommand(Boolean(o.json), async () => {
        const { fileSource } = await import('./byte-source.js');
        const { bootstrapRamdisk } = await import('./bootstrap-ramdisk.js');
        const { writeSourceToFile } = await import('./write-source.js');
        const archive = bootstrapRamdisk({ init: await fileSource(o.init, 'init'), ...(o.nsm ? { nsm: await fileSource(o.nsm, 'nsm.ko') } : {}) });
        const sha256 = await writeSourceToFile(archive, o.out);
        process.stdout.write(o.json ? JSON.stringify({ archive: o.out, size: archive.size, sha256 }, null, 2) + '\n' : `archive ${o.out} (${archive.size} bytes, sha256 ${sha256})\n`);
      });
    });

  eif
    .command('build')
    .description('Build an EIF v4 (kernel, cmdline, metadata, ramdisks, optional signature) and write measurements.json')
    .option('--arch <arch>', 'x86_64 or aarch64', 'x86_64')
    .option('--kernel <file>', 'kernel (default: <blobs>/bzImage or Image)')
    .option('--kernel-config <file>', 'kernel .config for metadata (default: <kernel>.config)')
    .option('--cmdline <file>', 'kernel cmdline file, trimmed as nitro-cli does (default: <blobs>/cmdline)')
    .option('--init <file>', 'init (default: <blobs>/init)')
    .option('--nsm <file>', 'nsm.ko (default: <blobs>/nsm.ko)')
    .option('--no-nsm', 'no nsm.ko (kernels with NSM built in)')
    .option('--blobs <dir>', 'blobs directory (default: $NITRO_CLI_BLOBS or /usr/share/nitro_enclaves/blobs/<arch>)')
    .option('--synthetic-boot-blobs', 'use fixed, NOT BOOTABLE stand-in kernel/init/nsm.ko (local simulation); recorded in buildInputs')
    .option('--rootfs <dir>', 'staged user-ramdisk tree (cmd, env, rootfs/) from `eif rootfs --tree`')
    .option('--user-ramdisk <file>', 'ready user ramdisk cpio (from `eif rootfs -o`)')
    .option('--bundle <file>', 'build the user ramdisk from this bundle directly (with --addon/--node/--no-node/--env)')
    .option('--addon <file>', 'native addon (repeatable)', collect)
    .option('--no-addons', 'include no native addon')
    .option('--node <path>', 'node binary to include (default: the running node)')
    .option('--no-node', 'reference the Node runtime by hash instead of including it')
    .option('--lib-dir <dir>', 'extra shared-library directory (repeatable)', collect)
    .option('--env <KEY=VALUE>', 'line for /env (repeatable)', collect)
    .option('--arg <value>', 'argument after `node /app/enclave.mjs` in /cmd (repeatable; with --bundle)', collect)
    .requiredOption('-o, --out <file>', 'output EIF')
    .option('--measurements <file>', 'write measurements.json here', 'measurements.json')
    .option('--sign-key <pem>', 'EC private key (PEM) to sign PCR0 with')
    .option('--sign-cert <pem>', 'certificate (PEM) of the signing key; its hash becomes PCR8')
    .option('--image-name <name>', 'metadata ImageName', 'attested-pack-enclave')
    .option('--image-version <version>', 'metadata ImageVersion')
    .option('--locked [kind]', 'build from the checkout and eif-build/image.lock.json, refusing any input that drifted: release (default) or simulation')
    .option('--project-root <dir>', 'the checkout for --locked', '.')
    .option('--lock <file>', 'lock file for --locked (default: <project-root>/eif-build/image.lock.json)')
    .option('--lib-root <dir>', 'with --locked: directory holding the locked Debian library paths (default /)')
    .option('--tree <dir>', 'with --locked: also write the user ramdisk as a tree (cmd, env, rootfs/), e.g. to chroot into rootfs/')
    .option('--source-revision <commit>', 'with --locked outside a git checkout (e.g. Nix): the commit to stamp into the bundle')
    .option('--json', 'machine-readable output')
    .action(async (o: RootfsFlags & {
      locked?: string | boolean; projectRoot: string; lock?: string; libRoot?: string; tree?: string; sourceRevision?: string;
      arch: string; kernel?: string; kernelConfig?: string; cmdline?: string; init?: string; nsm?: string | boolean; blobs?: string;
      syntheticBootBlobs?: boolean; rootfs?: string; userRamdisk?: string; out: string; measurements: string;
      signKey?: string; signCert?: string; imageName: string; imageVersion?: string; json?: boolean;
    }) => {
      await runCommand(Boolean(o.json), async () => {
        if (o.locked !== undefined) return lockedBuildCommand(o);
        const arch = parseArch(o.arch);
        const sources = [o.rootfs, o.userRamdisk, o.bundle].filter((x) => x !== undefined);
        if (sources.length !== 1) throw new UsageError('pass exactly one of --rootfs DIR, --user-ramdisk FILE or --bundle FILE');
        if (Boolean(o.signKey) !== Boolean(o.signCert)) throw new UsageError('--sign-key and --sign-cert go together');
        const explicitBlobs = [o.kernel, o.cmdline, o.init, typeof o.nsm === 'string' ? o.nsm : undefined, o.blobs].some((x) => x !== undefined);
        if (o.syntheticBootBlobs && explicitBlobs) throw new UsageError('--synthetic-boot-blobs cannot be combined with blob paths');
        const { readFile } = await import('node:fs/promises');
        const { buildEif } = await import('./build.js');
        const boot = o.syntheticBootBlobs
          ? ({ kind: 'synthetic' } as const)
          : ({
              kind: 'blobs',
              paths: {
                ...(o.kernel ? { kernel: o.kernel } : {}),
                ...(o.kernelConfig ? { kernelConfig: o.kernelConfig } : {}),
                ...(o.cmdline ? { cmdline: o.cmdline } : {}),
                ...(o.init ? { init: o.init } : {}),
                ...(typeof o.nsm === 'string' ? { nsm: o.nsm } : {}),
                withNsm: o.nsm !== false,
              },
              env: o.blobs ? { ...process.env, NITRO_CLI_BLOBS: o.blobs } : process.env,
            } as const);
        const user = o.rootfs
          ? ({ kind: 'tree', dir: o.rootfs } as const)
          : o.userRamdisk
            ? ({ kind: 'archive', path: o.userRamdisk } as const)
            : ({ kind: 'spec', spec: await rootfsSpecFromFlags(o) } as const);
        const r = await buildEif({
          arch,
          boot,
          user,
          outFile: o.out,
          measurementsFile: o.measurements,
          ...(o.signKey && o.signCert ? { signer: { keyPem: await readFile(o.signKey, 'utf8'), certPem: await readFile(o.signCert, 'utf8') } } : {}),
          imageName: o.imageName,
          ...(o.imageVersion ? { imageVersion: o.imageVersion } : {}),
        });
        const m = r.measurements;
        if (o.json) {
          process.stdout.write(JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', ...r.pcrs }, eifPath: r.eifPath, measurementsPath: o.measurements, eifSha256: m.eifSha256, size: r.size }, null, 2) + '\n');
        } else {
          process.stdout.write(`${r.eifPath} (${r.size} bytes, sha256 ${m.eifSha256})\n${pcrLines(m)}measurements written to ${o.measurements}\n`);
          if (o.syntheticBootBlobs) process.stdout.write('note: synthetic boot blobs — this image is NOT BOOTABLE (simulation only)\n');
        }
      });
    });

  eif
    .command('lock')
    .description('Compute the input lock (eif-build/image.lock.json) from this machine: pinned runtime, its Debian libraries, addon, bundle closure, blobs, /cmd, /env')
    .option('--project-root <dir>', 'the attested-pack checkout', '.')
    .option('--lib-root <dir>', 'where the runtime libraries are found (default /)')
    .option('--blobs <dir>', 'nitro-cli blobs, to record their SHA-256 next to the git blob ids')
    .option('--write', 'write eif-build/image.lock.json (otherwise print it)')
    .option('--json', 'machine-readable output')
    .action(async (o: { projectRoot: string; libRoot?: string; blobs?: string; write?: boolean; json?: boolean }) => {
      await runCommand(Boolean(o.json), async () => {
        const { join, resolve } = await import('node:path');
        const { generateImageLock, writeImageLock, IMAGE_LOCK_PATH } = await import('./lock.js');
        const root = resolve(o.projectRoot);
        const lock = await generateImageLock({ projectRoot: root, ...(o.libRoot ? { libRoot: o.libRoot } : {}), ...(o.blobs ? { blobsDir: o.blobs } : {}) });
        if (o.write) await writeImageLock(join(root, IMAGE_LOCK_PATH), lock);
        process.stdout.write(o.write && !o.json ? `wrote ${IMAGE_LOCK_PATH}\n` : JSON.stringify(lock, null, 2) + '\n');
      });
    });

  eif
    .command('describe')
    .description('Describe an EIF like `nitro-cli describe-eif`: version, PCRs, signature, CRC, metadata (streams any size)')
    .argument('<eif>', 'the enclave image file')
    .option('--json', 'machine-readable output (the same JSON nitro-cli prints)')
    .action(async (file: string, o: { json?: boolean }) => {
      await runCommand(Boolean(o.json), async () => {
        const { describeEif } = await import('./eif-reader.js');
        const d = await describeEif(file);
        // nitro-cli always prints JSON; the human form is the same, pretty-printed.
        process.stdout.write(JSON.stringify(d, null, o.json ? 2 : 4) + '\n');
        return d.CheckCRC && d.SignatureCheck !== false ? 0 : 1;
      });
    });

  eif
    .command('pcr')
    .description('PCR of a file or signing certificate, like `nitro-cli pcr`: SHA384(0^48 ‖ SHA384(bytes))')
    .option('--input <file>', 'any file')
    .option('--signing-certificate <pem>', 'certificate: hashes its DER (this is PCR8)')
    .option('--json', 'machine-readable output')
    .action(async (o: { input?: string; signingCertificate?: string; json?: boolean }) => {
      await runCommand(Boolean(o.json), async () => {
        if (Boolean(o.input) === Boolean(o.signingCertificate)) throw new UsageError('pass exactly one of --input or --signing-certificate');
        const { readFile } = await import('node:fs/promises');
        const { pcrOfBytes } = await import('./pcr.js');
        const { pcr8OfCertificate } = await import('./signature.js');
        const value = o.input ? pcrOfBytes(await readFile(o.input)).toString('hex') : pcr8OfCertificate(await readFile(o.signingCertificate!, 'utf8')).toString('hex');
        process.stdout.write(o.json ? JSON.stringify({ HashAlgorithm: 'Sha384 { ... }', PCR: value }, null, 2) + '\n' : `${value}\n`);
      });
    });
}
