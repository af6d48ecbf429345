/**
 * Shared machinery of the security suite: how many cases a property runs (fixed seeds in
 * `npm test`, `FUZZ_RUNS` for `npm run fuzz`), a byte-mutation arbitrary for "mutated genuine
 * input" fuzzing, the one oracle every parser must satisfy (only typed, non-internal errors come
 * out), and the vector paths.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { isAttestedPackError, type AttestedPackError } from '../../common/errors.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const vectorsDir = path.resolve(repoRoot, 'test/vectors');

/** Cases per property in `npm test`: the issue asks for at least 2,000 per fuzz target. */
export const DEFAULT_RUNS = 2000;

const fuzzRunsEnv = Number(process.env.FUZZ_RUNS ?? '');
/** True under `npm run fuzz` (long runs). */
export const LONG_RUN = Number.isSafeInteger(fuzzRunsEnv) && fuzzRunsEnv > 0;

/** Number of cases for a property: its `npm test` count, raised to FUZZ_RUNS for long runs. */
export function runs(base = DEFAULT_RUNS): number {
  return LONG_RUN ? Math.max(base, fuzzRunsEnv) : base;
}

/** The seed: fixed (42) unless FUZZ_SEED asks for another stream (long runs explore more). */
export const SEED = Number.isSafeInteger(Number(process.env.FUZZ_SEED)) && process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 42;

/** fast-check parameters for a property with `n` cases. */
export function params(n: number): { seed: number; numRuns: number; endOnFailure: true } {
  return { seed: SEED, numRuns: n, endOnFailure: true };
}

/**
 * Vitest timeout for a test running `n` cases at most `msPerCase` each on a slow CI core. It
 * bounds a hang (a case that never ends fails the test) without asserting any duration.
 */
export function timeoutFor(n: number, msPerCase: number): number {
  return Math.max(60_000, Math.ceil(n * msPerCase) + 30_000);
}

/**
 * The oracle: what a public parser throws must be an AttestedPackError (checked with
 * isAttestedPackError, so duplicated module instances count) and not a wrapped crash
 * (`INTERNAL`, `SOPS_INTERNAL`, … — a raw exception caught at a boundary is still a bug). Where
 * `allowedCodes` is given, the code must be one of them. (A module may still file a documented
 * code under the 'internal' category, e.g. NSM_MALFORMED: the trusted NSM answered nonsense.)
 */
export function expectTypedRejection(err: unknown, allowedCodes?: ReadonlySet<string>): AttestedPackError {
  if (!isAttestedPackError(err)) {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new Error(`untyped error escaped a public parser: ${what}`, { cause: err });
  }
  const cause = (err as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? ` (cause ${cause.name}: ${cause.message})` : '';
  expect(err.code === 'INTERNAL' || err.code.endsWith('_INTERNAL'), `${err.code} is a wrapped crash: ${err.message}${causeText}`).toBe(false);
  if (allowedCodes) expect(allowedCodes.has(err.code), `unexpected code ${err.code}: ${err.message}`).toBe(true);
  return err;
}

/** Tallies outcomes of a fuzz target so the test output shows what was exercised. */
export class Tally {
  readonly codes = new Map<string, number>();
  accepted = 0;
  cases = 0;

  constructor(readonly name: string) {}

  ok(): void {
    this.cases++;
    this.accepted++;
  }

  rejected(code: string): void {
    this.cases++;
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
  }

  /** One line: `fuzz <name>: N cases, A accepted, R rejected (typed) — CODE×n, …`. */
  print(): void {
    const top = [...this.codes.entries()].sort((a, b) => b[1] - a[1]);
    const list = top.slice(0, 8).map(([c, n]) => `${c}×${n}`).join(', ');
    const more = top.length > 8 ? `, +${top.length - 8} more codes` : '';
    console.log(`fuzz ${this.name}: ${this.cases} cases, ${this.accepted} accepted, ${this.cases - this.accepted} rejected with typed errors (${list}${more}); 0 crashes`);
  }
}

/** Runs `f`, classifying its outcome into `tally`; anything but success or a typed error fails. */
export function classify(tally: Tally, f: () => unknown, allowedCodes?: ReadonlySet<string>): void {
  try {
    f();
  } catch (err) {
    tally.rejected(expectTypedRejection(err, allowedCodes).code);
    return;
  }
  tally.ok();
}

/** Async variant of `classify`. */
export async function classifyAsync(tally: Tally, f: () => Promise<unknown>, allowedCodes?: ReadonlySet<string>): Promise<void> {
  try {
    await f();
  } catch (err) {
    tally.rejected(expectTypedRejection(err, allowedCodes).code);
    return;
  }
  tally.ok();
}

// ---------------------------------------------------------------------------------------------
// Byte mutations of genuine inputs

/** One edit; positions are taken modulo the current length so every edit applies. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'word'; at: number; width: 1 | 2 | 4 | 8; value: bigint };

/** Values that break length fields: zero, one, boundaries, and "allocate the world" sizes. */
const INTERESTING: readonly bigint[] = [0n, 1n, 23n, 24n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0xffffn, 0x10000n, 0x7fffffffn, 0xffffffffn, 0x1_0000_0000n, 0x7fffffffffffffffn, 0xffffffffffffffffn];

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('word' as const),
      at: fc.nat(),
      width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
      value: fc.oneof(fc.constantFrom(...INTERESTING), fc.bigInt({ min: 0n, max: 0xffffffffffffffffn })),
    }),
  },
);

/** Applies edits in order to a copy of `base`. */
export function applyMutations(base: Uint8Array, edits: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(base);
  for (const m of edits) {
    const len = b.length;
    const at = len === 0 ? 0 : m.at % len;
    switch (m.kind) {
      case 'flip':
        if (len > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (len > 0) b[at] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at, at + m.length), b.subarray(at + m.length)]);
        break;
      case 'word': {
        if (len === 0) break;
        const w = Buffer.alloc(8);
        w.writeBigUInt64BE(m.value & 0xffffffffffffffffn);
        const bytes = w.subarray(8 - m.width);
        const start = Math.min(at, Math.max(0, len - m.width));
        b = Buffer.from(b);
        bytes.copy(b, start, 0, Math.min(m.width, len - start));
        break;
      }
    }
  }
  return new Uint8Array(b);
}

/** A mutated genuine input, described (not materialised) so counterexamples print small. */
export interface MutatedCase {
  /** Index of the base input. */
  base: number;
  edits: Mutation[];
}

/** 1..4 edits of one of `count` base inputs; materialise with `bytesOf`. */
export function mutationsOf(count: number): fc.Arbitrary<MutatedCase> {
  return fc.record({ base: fc.nat({ max: count - 1 }), edits: fc.array(mutationArb, { minLength: 1, maxLength: 4 }) });
}

/** The bytes of a mutated case. */
export function bytesOf(bases: readonly Uint8Array[], m: MutatedCase): Uint8Array {
  return applyMutations(bases[m.base]!, m.edits);
}

/** Memory a parser may have allocated: ArrayBuffers and heap (RSS is too noisy for one case). */
export function allocatedBytes(): number {
  const m = process.memoryUsage();
  return m.arrayBuffers + m.heapUsed;
}

/** Generous bound for "did not allocate what a hostile length field asked for" checks. */
export const ALLOCATION_BOUND = 128 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Structure-aware JSON mutations (for receipts, artifacts, measurements, HTTP bodies)

/** A JSON path: object keys and array indices from the root. */
export type JsonPath = Array<string | number>;

/** Every path of a JSON value, containers included (the root is `[]`). */
export function jsonPaths(value: unknown, at: JsonPath = []): JsonPath[] {
  const out: JsonPath[] = [at];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...jsonPaths(v, [...at, i])));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(...jsonPaths(v, [...at, k]));
  return out;
}

/** Paths of the leaves only (strings, numbers, booleans, null, empty containers). */
export function jsonLeafPaths(value: unknown, at: JsonPath = []): JsonPath[] {
  if (Array.isArray(value)) return value.length === 0 ? [at] : value.flatMap((v, i) => jsonLeafPaths(v, [...at, i]));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    return entries.length === 0 ? [at] : entries.flatMap(([k, v]) => jsonLeafPaths(v, [...at, k]));
  }
  return [at];
}

/** The value at `path`. */
export function getPath(value: unknown, path: JsonPath): unknown {
  let v: unknown = value;
  for (const p of path) v = (v as Record<string | number, unknown>)[p];
  return v;
}

/** A deep copy with the value at `path` replaced (`undefined` deletes a key / removes an element). */
export function setPath(value: unknown, path: JsonPath, next: unknown): unknown {
  if (path.length === 0) return next;
  const copy: unknown = structuredClone(value);
  const parent = getPath(copy, path.slice(0, -1)) as Record<string | number, unknown> | unknown[];
  const last = path[path.length - 1]!;
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete (parent as Record<string, unknown>)[last as string];
  } else if (Array.isArray(parent)) {
    parent[Number(last)] = next;
  } else {
    Object.defineProperty(parent, last, { value: next, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

/** One structural edit of a JSON document. */
export type JsonEdit =
  | { kind: 'replace'; path: number; value: unknown }
  | { kind: 'delete'; path: number }
  | { kind: 'addKey'; path: number; key: string; value: unknown }
  | { kind: 'stringEdit'; path: number; at: number; text: string };

/** Keys worth trying: prototype names, near-misses of real ones, empty. */
const KEY_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', '', 'x', 'claims', 'nonce', 'revokedAt', 'signature', 'PCR0', 'envelope'];

export const jsonEditArb: fc.Arbitrary<JsonEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('replace' as const), path: fc.nat(), value: fc.jsonValue({ maxDepth: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), path: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('addKey' as const), path: fc.nat(), key: fc.oneof(fc.constantFrom(...KEY_NAMES), fc.string({ maxLength: 8 })), value: fc.jsonValue({ maxDepth: 1 }) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('stringEdit' as const), path: fc.nat(), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom('\n', '\u0000', '\ud800', '=', '/', '..', 'A', '0')) }) },
);

/** Applies edits in order; paths are indices (modulo) into the current document's paths. */
export function applyJsonEdits(doc: unknown, edits: readonly JsonEdit[]): unknown {
  let v = doc;
  for (const e of edits) {
    const paths = jsonPaths(v);
    const path = paths[e.path % paths.length]!;
    const here = getPath(v, path);
    switch (e.kind) {
      case 'replace':
        v = setPath(v, path, e.value);
        break;
      case 'delete':
        if (path.length > 0) v = setPath(v, path, undefined);
        break;
      case 'addKey':
        if (typeof here === 'object' && here !== null && !Array.isArray(here)) {
          // defineProperty, so "__proto__" becomes an own key as JSON.parse would make it.
          const copy = structuredClone(here) as Record<string, unknown>;
          Object.defineProperty(copy, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
          v = setPath(v, path, copy);
        } else if (Array.isArray(here)) {
          v = setPath(v, path, [...(structuredClone(here) as unknown[]), e.value]);
        }
        break;
      case 'stringEdit':
        if (typeof here === 'string') {
          const at = here.length === 0 ? 0 : e.at % (here.length + 1);
          v = setPath(v, path, here.slice(0, at) + e.text + here.slice(at + (e.at % 2)));
        }
        break;
    }
  }
  return v;
}
