/**
 * The PCR0 and PCR1/PCR2 SHA-384 chains of an EIF, fed chunk by chunk by the reader. Small
 * images hash on the calling thread; large ones hand each chunk to one worker thread (the
 * PCR1/PCR2 chain, and every other chunk's CRC-32) through a small fixed ring of shared buffers while the
 * calling thread reads and hashes PCR0, so the two SHA-384 passes over the same bytes run
 * side by side. (A second worker for PCR0 was measured slower on the 2-core benchmark machine:
 * three busy threads on two cores.) Memory stays constant: at most RING_SLOTS chunks are in
 * flight whatever the image size.
 */
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { PcrHasher, pcrFromDigest } from './pcr.js';
import { InternalError } from '../common/errors.js';

/** Which PCR chains a chunk of section data extends (PCR0 always; PCR1 or PCR2 as well). */
export type PcrTarget = 'pcr1' | 'pcr2';

/** The three PCR values (and, with `chunkCrcs`, the CRC-32 of each submitted chunk in order). */
export interface PcrValues {
  pcr0: Buffer;
  pcr1: Buffer;
  pcr2: Buffer;
  crcs?: number[];
}

/** Where the reader reads section data into and hands it over for PCR hashing. */
export interface PcrStreams {
  /**
   * True when the streams also compute the CRC-32 of every submitted chunk (on the worker, so the
   * calling thread only reads and hashes PCR0): `finish()` then returns them in submission order
   * and the reader combines them with `crc32Combine` instead of checksumming those bytes itself.
   */
  readonly chunkCrcs: boolean;
  /** A buffer to read the next chunk into (waits until one is free). */
  buffer(): Promise<Buffer>;
  /**
   * Hashes `buf[0, length)` (a buffer from `buffer()`) into PCR0 and `target`; with `crc` (only
   * when `chunkCrcs`), also takes the chunk's CRC-32, returned by `finish()` in submission order.
   */
  submit(buf: Buffer, length: number, target: PcrTarget, crc?: boolean): void;
  /** Waits for every chunk and returns the PCRs; the streams cannot be used afterwards. */
  finish(): Promise<PcrValues>;
  /** Releases threads (safe to call more than once, and after a failure). */
  close(): Promise<void>;
}

/** Chunk size of the parallel path: large reads, few messages. */
export const PARALLEL_CHUNK = 4 * 1024 * 1024;
/** Chunks in flight at once (memory bound: RING_SLOTS × PARALLEL_CHUNK). */
const RING_SLOTS = 4;
/** Below this many PCR bytes, starting threads costs more than it saves. */
export const PARALLEL_THRESHOLD = 32 * 1024 * 1024;

/** Hashing on the calling thread, into one reusable buffer of `chunkSize`. */
export function inlinePcrStreams(chunkSize: number): PcrStreams {
  const buf = Buffer.allocUnsafe(chunkSize);
  const h0 = new PcrHasher();
  const h1 = new PcrHasher();
  const h2 = new PcrHasher();
  return {
    chunkCrcs: false,
    buffer: () => Promise.resolve(buf),
    submit(b, length, target) {
      const chunk = b.subarray(0, length);
      h0.update(chunk);
      (target === 'pcr1' ? h1 : h2).update(chunk);
    },
    finish: () => Promise.resolve({ pcr0: h0.finish(), pcr1: h1.finish(), pcr2: h2.finish() }),
    close: () => Promise.resolve(),
  };
}

// The worker is plain CommonJS evaluated from a string, so it runs the same from sources (tsx),
// compiled output and a single-file bundle alike. It keeps named SHA-384 chains, hashes the slot
// it is told to, acknowledges the slot, and answers `digest` with every chain's digest.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { crc32 } = require('node:zlib');
const slots = workerData.slots.map((s) => Buffer.from(s));
const chains = new Map();
const chain = (name) => {
  let h = chains.get(name);
  if (!h) { h = createHash('sha384'); chains.set(name, h); }
  return h;
};
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    const chunk = slots[m.slot].subarray(0, m.length);
    chain(m.name).update(chunk);
    parentPort.postMessage({ op: 'done', slot: m.slot, crc: m.crc ? crc32(chunk) >>> 0 : undefined });
  } else if (m.op === 'digest') {
    const digests = {};
    for (const name of m.names) digests[name] = chain(name).digest();
    parentPort.postMessage({ op: 'digests', digests });
  }
});
`;

interface WorkerReply {
  op: 'done' | 'digests';
  slot?: number;
  crc?: number;
  digests?: Record<string, Uint8Array>;
}

/** One worker thread holding named SHA-384 chains over the shared ring. */
class ChainWorker {
  private readonly worker: Worker;
  private failure: Error | undefined;
  private digestWaiter: { resolve: (d: Record<string, Uint8Array>) => void; reject: (e: Error) => void } | undefined;

  constructor(slots: SharedArrayBuffer[], onDone: (slot: number, crc: number | undefined) => void, onFailure: (e: Error) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { slots } });
    const fail = (e: Error): void => {
      this.failure ??= e;
      this.digestWaiter?.reject(e);
      this.digestWaiter = undefined;
      onFailure(e);
    };
    this.worker.on('message', (m: WorkerReply) => {
      if (m.op === 'done' && m.slot !== undefined) onDone(m.slot, m.crc);
      else if (m.op === 'digests' && m.digests) {
        this.digestWaiter?.resolve(m.digests);
        this.digestWaiter = undefined;
      }
    });
    this.worker.on('error', (e) => fail(e));
    this.worker.on('exit', (code) => fail(new Error(`hash worker exited (code ${code})`)));
  }

  update(slot: number, length: number, name: string, crc: boolean): void {
    this.worker.postMessage({ op: 'update', slot, length, name, crc });
  }

  digests(names: string[]): Promise<Record<string, Uint8Array>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.digestWaiter = { resolve, reject };
      this.worker.postMessage({ op: 'digest', names });
    });
  }

  async terminate(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/** Node's native CRC-32 (Node ≥ 20.15 / 22.2), which the worker needs to take the CRC over. */
const WORKER_CRC = typeof (zlib as { crc32?: unknown }).crc32 === 'function';

/**
 * PCR0 on the calling thread; PCR1 and PCR2 — and the CRC-32 of the chunks the reader asks for,
 * where Node has zlib.crc32 — on one worker thread, over a ring of shared chunks. Both threads
 * then run one SHA-384 over every byte; the reader splits the CRC between them (every other
 * chunk) so neither waits for the other on two cores.
 */
export function parallelPcrStreams(): PcrStreams {
  const slots = Array.from({ length: RING_SLOTS }, () => new SharedArrayBuffer(PARALLEL_CHUNK));
  const views: Buffer[] = slots.map((s) => Buffer.from(s));
  const pending = new Array<number>(RING_SLOTS).fill(0);
  const waiters = new Map<number, () => void>();
  let failure: Error | undefined;
  let next = 0;
  const crcs: number[] = [];
  const onDone = (slot: number, crc: number | undefined): void => {
    // One worker answers in submission order, so the CRCs line up with the chunks that asked.
    if (crc !== undefined) crcs.push(crc);
    if (--pending[slot]! === 0) {
      const w = waiters.get(slot);
      waiters.delete(slot);
      w?.();
    }
  };
  const onFailure = (e: Error): void => {
    failure ??= e;
    for (const w of waiters.values()) w();
    waiters.clear();
  };
  const h0 = new PcrHasher();
  const pcr12Worker = new ChainWorker(slots, onDone, onFailure);
  const broken = (): InternalError => new InternalError('a PCR hashing thread failed', { cause: failure });
  let closed = false;

  return {
    chunkCrcs: WORKER_CRC,
    async buffer() {
      const slot = next;
      next = (next + 1) % RING_SLOTS;
      if (pending[slot]! > 0) await new Promise<void>((resolve) => waiters.set(slot, resolve));
      if (failure) throw broken();
      return views[slot]!;
    },
    submit(buf, length, target, crc = false) {
      const slot = views.indexOf(buf);
      if (slot < 0) throw new InternalError('submit() needs a buffer from buffer()');
      pending[slot] = 1;
      pcr12Worker.update(slot, length, target, WORKER_CRC && crc);
      h0.update(buf.subarray(0, length));
    },
    async finish() {
      // Messages to one worker are handled in order, so the digests come after every update.
      const b = await pcr12Worker.digests(['pcr1', 'pcr2']).catch(() => {
        throw broken();
      });
      return { pcr0: h0.finish(), pcr1: pcrFromDigest(b['pcr1']!), pcr2: pcrFromDigest(b['pcr2']!), ...(WORKER_CRC ? { crcs } : {}) };
    },
    async close() {
      if (closed) return;
      closed = true;
      await pcr12Worker.terminate();
    },
  };
}
