/**
 * Just enough ELF to find what a dynamically linked executable needs at run time: its program
 * interpreter (PT_INTERP) and its DT_NEEDED libraries, resolved the way glibc's loader would on a
 * stock system (DT_RPATH/DT_RUNPATH with $ORIGIN, then the multiarch default directories),
 * recursively. We parse the ELF ourselves rather than run `ldd` so that the result does not
 * depend on executing the binary or on LD_LIBRARY_PATH, and reads touch only headers.
 */
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { EifError } from './errors.js';

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const EM_X86_64 = 62;
const EM_AARCH64 = 183;

/** What an ELF file asks of the dynamic loader. */
export interface ElfDynamicInfo {
  machine: 'x86_64' | 'aarch64';
  interpreter: string | undefined;
  needed: string[];
  rpath: string[];
  runpath: string[];
}

async function readAt(fh: FileHandle, pos: number, len: number, what: string): Promise<Buffer> {
  const b = Buffer.alloc(len);
  const { bytesRead } = await fh.read(b, 0, len, pos);
  if (bytesRead !== len) throw new EifError('EIF_RUNTIME', `truncated ELF: ${what}`);
  return b;
}

/** Reads PT_INTERP and the dynamic section of a 64-bit little-endian ELF (x86_64 or aarch64). */
export async function readElfDynamic(path: string): Promise<ElfDynamicInfo> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new EifError('EIF_RUNTIME', `cannot open ${path}`, { cause: err });
  }
  try {
    const eh = await readAt(fh, 0, 64, 'ELF header');
    if (eh.readUInt32BE(0) !== 0x7f454c46) throw new EifError('EIF_RUNTIME', `${path} is not an ELF file`);
    if (eh[4] !== 2 || eh[5] !== 1) throw new EifError('EIF_RUNTIME', `${path} is not a 64-bit little-endian ELF`);
    const em = eh.readUInt16LE(18);
    if (em !== EM_X86_64 && em !== EM_AARCH64) throw new EifError('EIF_RUNTIME', `${path} is for machine ${em}, not x86_64 or aarch64`);
    const phoff = Number(eh.readBigUInt64LE(32));
    const phentsize = eh.readUInt16LE(54);
    const phnum = eh.readUInt16LE(56);
    if (phentsize < 56 || phnum > 4096) throw new EifError('EIF_RUNTIME', `${path} has an implausible program header table`);
    const ph = await readAt(fh, phoff, phentsize * phnum, 'program headers');
    const loads: Array<{ vaddr: number; offset: number; filesz: number }> = [];
    let interpreter: string | undefined;
    let dyn: { offset: number; size: number } | undefined;
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      const type = ph.readUInt32LE(o);
      const offset = Number(ph.readBigUInt64LE(o + 8));
      const vaddr = Number(ph.readBigUInt64LE(o + 16));
      const filesz = Number(ph.readBigUInt64LE(o + 32));
      if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
      if (type === PT_DYNAMIC) dyn = { offset, size: filesz };
      if (type === PT_INTERP) {
        if (filesz > 4096) throw new EifError('EIF_RUNTIME', `${path} has an implausible PT_INTERP`);
        interpreter = (await readAt(fh, offset, filesz, 'PT_INTERP')).toString('latin1').replace(/\0.*$/s, '');
      }
    }
    const machine = em === EM_X86_64 ? 'x86_64' : 'aarch64';
    if (!dyn) return { machine, interpreter, needed: [], rpath: [], runpath: [] };
    if (dyn.size > 1024 * 1024) throw new EifError('EIF_RUNTIME', `${path} has an implausible dynamic section`);
    const d = await readAt(fh, dyn.offset, dyn.size, 'dynamic section');
    const entries: Array<[number, number]> = [];
    for (let o = 0; o + 16 <= d.length; o += 16) {
      const tag = Number(d.readBigInt64LE(o));
      if (tag === DT_NULL) break;
      entries.push([tag, Number(d.readBigUInt64LE(o + 8))]);
    }
    const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
    const strsz = entries.find(([t]) => t === DT_STRSZ)?.[1];
    if (strtabAddr === undefined || strsz === undefined) throw new EifError('EIF_RUNTIME', `${path} has no dynamic string table`);
    // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD segments.
    const seg = loads.find((l) => strtabAddr >= l.vaddr && strtabAddr < l.vaddr + l.filesz);
    if (!seg || strsz > 16 * 1024 * 1024) throw new EifError('EIF_RUNTIME', `${path}: cannot locate the dynamic string table`);
    const strtab = await readAt(fh, seg.offset + (strtabAddr - seg.vaddr), strsz, 'dynamic string table');
    const str = (off: number): string => {
      const end = strtab.indexOf(0, off);
      if (off >= strtab.length || end < 0) throw new EifError('EIF_RUNTIME', `${path}: bad string table offset`);
      return strtab.toString('utf8', off, end);
    };
    const list = (tag: number): string[] => entries.filter(([t]) => t === tag).flatMap(([, v]) => str(v).split(':').filter((s) => s !== ''));
    return {
      machine,
      interpreter,
      needed: entries.filter(([t]) => t === DT_NEEDED).map(([, v]) => str(v)),
      rpath: list(DT_RPATH),
      runpath: list(DT_RUNPATH),
    };
  } finally {
    await fh.close();
  }
}

/** glibc's default search directories on Debian/Ubuntu multiarch and RHEL-style systems. */
export function defaultLibraryDirs(machine: 'x86_64' | 'aarch64'): string[] {
  const triplet = machine === 'x86_64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu';
  return [`/lib/${triplet}`, `/usr/lib/${triplet}`, '/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib'];
}

/** One file the runtime needs, by the absolute path the loader will open inside the image. */
export interface RuntimeFile {
  /** Absolute path inside the image (where the loader looks). */
  imagePath: string;
  /** Where its bytes come from on this machine (symlinks resolved). */
  hostPath: string;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * The executable's interpreter and the transitive closure of its DT_NEEDED libraries, each at the
 * path the loader finds it at on this machine. Sorted by image path for determinism.
 */
export async function resolveRuntimeClosure(executable: string, extraLibraryDirs: string[] = []): Promise<RuntimeFile[]> {
  const root = await readElfDynamic(executable);
  const files = new Map<string, RuntimeFile>();
  const interpreterBase = root.interpreter ? posix.basename(root.interpreter) : undefined;
  if (root.interpreter) {
    files.set(root.interpreter, { imagePath: root.interpreter, hostPath: await realpath(root.interpreter).catch(() => root.interpreter!) });
  }
  const visited = new Set<string>();
  const queue: Array<{ name: string; from: string; info: ElfDynamicInfo }> = root.needed.map((name) => ({ name, from: executable, info: root }));
  while (queue.length > 0) {
    const { name, from, info } = queue.shift()!;
    // The loader satisfies a DT_NEEDED naming itself with itself (as ldd shows).
    if (name === interpreterBase || visited.has(name)) continue;
    visited.add(name);
    const origin = dirname(from);
    const expand = (dirs: string[]): string[] => dirs.map((d) => d.replace(/\$(ORIGIN|\{ORIGIN\})/g, origin));
    const search = [...(info.runpath.length === 0 ? expand(info.rpath) : []), ...expand(info.runpath), ...extraLibraryDirs, ...defaultLibraryDirs(root.machine)];
    let found: string | undefined;
    if (name.includes('/')) found = (await isFile(name)) ? name : undefined;
    else for (const dir of search) if (await isFile(join(dir, name))) { found = join(dir, name); break; }
    if (!found) {
      throw new EifError('EIF_RUNTIME', `shared library ${name} (needed by ${from}) was not found`, {
        hint: `searched ${search.join(', ')}; pass --lib-dir DIR or a statically linked node with --node`,
      });
    }
    const hostPath = await realpath(found);
    files.set(found, { imagePath: found, hostPath });
    const lib = await readElfDynamic(hostPath);
    for (const n of lib.needed) queue.push({ name: n, from: found, info: lib });
  }
  return [...files.values()].sort((a, b) => (a.imagePath < b.imagePath ? -1 : a.imagePath > b.imagePath ? 1 : 0));
}
