/** Shared helpers of the SOPS codec tests: the interop vectors, their keys and a tree → expected.json view. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SopsBytes,
  SopsComment,
  SopsFloat,
  SopsInt,
  SopsMap,
  SopsTime,
  goFormatFloatF,
  parseAgeIdentities,
  splitArmoredKeys,
  type SopsFormat,
  type SopsValue,
} from '../../../enclave-app/sops/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** test/vectors/sops relative to the repository root. */
export const VECTORS = path.resolve(repoRoot, 'test/vectors/sops');

/** One entry of expected.json. */
export interface ExpectedVector {
  format: SopsFormat;
  sops_version: string;
  decrypt_with: string;
  data_key_hex: string;
  computed_mac: string;
  mac_matches: boolean;
  plaintext: unknown;
}

export const expected: Record<string, ExpectedVector> = JSON.parse(readFileSync(path.join(VECTORS, 'expected.json'), 'utf8'));

/** Bytes of a vector file. */
export function vector(name: string): Buffer {
  return readFileSync(path.join(VECTORS, name));
}

/** Every age identity of the vector keys. */
export const AGE_IDENTITIES = ['flux.agekey.txt', 'flux-global.agekey.txt', 'humphd-sops-age.agekey.txt'].flatMap((f) =>
  parseAgeIdentities(readFileSync(path.join(VECTORS, 'keys', f), 'utf8')),
);

/** Every PGP private key block of the vector keys. */
export const PGP_KEYS = ['sops_functional_tests_key.asc', 'flux-pgp.asc'].flatMap((f) => splitArmoredKeys(readFileSync(path.join(VECTORS, 'keys', f), 'utf8')));

/** The tree in expected.json's notation: {$map: [[k, v]]}, {$int}, {$float}; comments left out. */
export function toExpectedJson(v: SopsValue): unknown {
  if (v instanceof SopsMap) return { $map: v.items().map((i) => [i.key, toExpectedJson(i.value)]) };
  if (Array.isArray(v)) return v.filter((x) => !(x instanceof SopsComment)).map(toExpectedJson);
  if (v instanceof SopsInt) return { $int: v.value.toString() };
  if (v instanceof SopsFloat) return { $float: goFormatFloatF(v.value) };
  if (v instanceof SopsBytes) return { $bytes: Buffer.from(v.bytes).toString('hex') };
  if (v instanceof SopsTime) return { $time: v.text };
  if (v instanceof SopsComment) return { $comment: v.text };
  return v;
}

/** All comment texts of a map at one level, in order. */
export function commentsOf(m: SopsValue): string[] {
  if (!(m instanceof SopsMap)) return [];
  return m.entries.filter((e): e is SopsComment => e instanceof SopsComment).map((c) => c.text);
}

/** The IVs of every ENC[...] value of a file, in file order (values first, the MAC last). */
export function ivsOf(text: string): Buffer[] {
  return [...text.matchAll(/,iv:([A-Za-z0-9+/=]+),tag:/g)].map((m) => Buffer.from(m[1], 'base64'));
}
