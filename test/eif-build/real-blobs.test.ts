/**
 * PCR1 against nitro-cli's own values, with AWS's real boot blobs. PCR1 covers only the kernel,
 * the trimmed cmdline and the bootstrap ramdisk, so a byte-exact linuxkit-style bootstrap cpio
 * must reproduce vectors.json's PCR1 for the same kernel/init/nsm.ko. The blobs (> 4 MiB kernel)
 * are not distributed with the vectors; this runs wherever $NITRO_CLI_BLOBS (or nitro-cli's
 * install directory) holds them, identified by their git blob ids, and says why when it cannot.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootstrapRamdisk } from '../../eif-build/bootstrap-ramdisk.js';
import { fileSource } from '../../eif-build/byte-source.js';
import { gitBlobId } from '../../eif-build/blobs.js';
import { PcrHasher } from '../../eif-build/pcr.js';
import { buildEif } from '../../eif-build/build.js';
import { eifVectorsDir } from './helpers.js';
import { skipReason } from '../tools.js';

interface Generation {
  PCR1: string;
  initId: string;
}
type Arch = 'x86_64' | 'aarch64';

const vectors = JSON.parse(readFileSync(join(eifVectorsDir, 'vectors.json'), 'utf8')) as {
  nitro_cli_tests_hello_v1: Record<string, Record<string, { PCR1?: string } | Record<string, string>>>;
};
const sections = vectors.nitro_cli_tests_hello_v1;
const current = Object.entries(sections).find(([k]) => k.startsWith('at_commit_'))![1] as Record<string, Record<string, string>>;
const v123 = sections['at_tag_v1.2.3'] as Record<string, Record<string, string>>;
const ids = current.blob_git_ids!;

const kernelFile = (arch: Arch): string => (arch === 'x86_64' ? 'bzImage' : 'Image');
const candidates = [process.env.NITRO_CLI_BLOBS, '/usr/share/nitro_enclaves/blobs/x86_64', '/usr/share/nitro_enclaves/blobs/aarch64'].filter(
  (d): d is string => d !== undefined && d !== '' && existsSync(d),
);

interface Found {
  dir: string;
  arch: Arch;
  generation: Generation;
}

/** Finds a blobs directory whose kernel, cmdline and nsm.ko match the vectors' git blob ids. */
async function findBlobs(): Promise<{ found?: Found; reason: string }> {
  if (candidates.length === 0) return { reason: 'NITRO_CLI_BLOBS is not set and /usr/share/nitro_enclaves/blobs/<arch> does not exist' };
  const notes: string[] = [];
  for (const dir of candidates) {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      const k = join(dir, kernelFile(arch));
      if (!existsSync(k)) continue;
      const id = async (f: string): Promise<string | undefined> => (existsSync(join(dir, f)) ? gitBlobId(await fileSource(join(dir, f))) : undefined);
      if ((await id(kernelFile(arch))) !== ids[`${arch}/${kernelFile(arch)}`]) { notes.push(`${k}: kernel git blob id does not match`); continue; }
      if ((await id('nsm.ko')) !== ids[`${arch}/nsm.ko`]) { notes.push(`${dir}/nsm.ko: git blob id does not match`); continue; }
      if ((await id('cmdline')) !== ids[`${arch}/cmdline`]) { notes.push(`${dir}/cmdline: git blob id does not match`); continue; }
      const init = await id('init');
      const generations: Generation[] = [
        { PCR1: current[arch]!.PCR1!, initId: ids[`${arch}/init`]! },
        { PCR1: v123[arch]!.PCR1!, initId: v123.blob_git_ids![`${arch}/init`]! },
      ];
      const generation = generations.find((g) => g.initId === init);
      if (!generation) { notes.push(`${dir}/init: git blob id ${init} is neither the current nor the v1.2.3 init`); continue; }
      return { found: { dir, arch, generation }, reason: '' };
    }
  }
  return { reason: `no directory with matching blobs (${notes.join('; ') || `looked in ${candidates.join(', ')}`})` };
}

const probe = await findBlobs();
const noBlobs = skipReason(probe.found ? undefined : `needs the AWS nitro-cli blobs (kernel > 4 MiB, not in the repository): ${probe.reason}`);

describe('PCR1 with the real nitro-cli blobs', () => {
  // The only test of this suite allowed to skip: the kernel blob cannot ship with the repository.
  it.skipIf(noBlobs)('kernel ‖ trimmed cmdline ‖ bootstrap ramdisk gives nitro-cli PCR1', async () => {
    const { dir, arch, generation } = probe.found!;
    const h = new PcrHasher();
    for await (const c of (await fileSource(join(dir, kernelFile(arch)))).chunks()) h.update(c);
    h.update(Buffer.from(readFileSync(join(dir, 'cmdline'), 'utf8').trim()));
    const boot = bootstrapRamdisk({ init: await fileSource(join(dir, 'init')), nsm: await fileSource(join(dir, 'nsm.ko')) });
    for await (const c of boot.chunks()) h.update(c);
    expect(h.finish().toString('hex')).toBe(generation.PCR1);
    // And through the whole builder (blobs from the directory, any user ramdisk).
    const r = await buildEif({ arch, boot: { kind: 'blobs', env: { NITRO_CLI_BLOBS: dir } }, user: { kind: 'archive', path: join(dir, 'cmdline') } });
    expect(r.measurements.PCR1).toBe(generation.PCR1);
  });
});
