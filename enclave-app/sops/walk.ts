/**
 * The two tree walks of sops (sops.go walkBranch/walkSlice, Tree.Encrypt/Decrypt): visit every
 * leaf in document order with its path, decide with the rules whether it is encrypted, and feed
 * the MAC. One pass per file; the path string (the AAD) is built incrementally, so a file with
 * thousands of keys costs one AES operation and one hash update per value.
 */
import { createHash, type Hash } from 'node:crypto';
import { zeroize } from '../../common/bytes.js';
import { SopsError, describePath } from './errors.js';
import { ValueCipher, decodeTyped, decodeUtf8, parseEncryptedValue, valueToBytes, type SopsValueType } from './cipher.js';
import type { EncryptionRules } from './rules.js';
import { SopsBytes, SopsComment, SopsMap, type SopsMapEntry, type SopsValue } from './tree.js';

/** SHA-256("sops"): written first into the MAC when `mac_only_encrypted` is set. */
export const MAC_ONLY_ENCRYPTED_INIT = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

interface Frame {
  path: string[];
  /** `join(path, ":") + ":"` — the AAD of values directly under this node. */
  aad: string;
  /** Some component of `path` matched a path rule. */
  matched: boolean;
}

interface WalkContext {
  cipher: ValueCipher;
  rules: EncryptionRules;
  macOnlyEncrypted: boolean;
  hash: Hash;
}

/**
 * How decrypted values are read:
 *  - `typed` (sops): by their `type:` tag (int, float, bool, time, …), as `sops decrypt` does;
 *  - `text` (the pack path): by their bytes alone, whatever the tag says.
 * The tag is not covered by the MAC (nor by the value's AAD), so anyone who can edit the file can
 * change it. In `typed` mode a tag that does not fit the value is reported only after the MAC
 * was verified; in `text` mode it never decides anything (see textValue).
 */
export type ValueReading = 'typed' | 'text';

interface DecryptContext extends WalkContext {
  reading: ValueReading;
  /** The first value whose tag did not fit its bytes (typed mode), reported after the MAC check. */
  misfit?: SopsError;
}

/**
 * A value read by its bytes only (the pack path: Clef stores strings). The result, its success and
 * its length do not depend on the `type:` tag, so flipping a tag teaches the host nothing about
 * the secret: text stays text (invalid UTF-8 is kept as bytes, as a `str` value is), except that
 * the exact bytes `True`/`False` under a `bool` tag read as the boolean sops wrote (Clef's
 * String() then yields `true`/`false`: same length, only ever inside the encrypted artifact).
 */
export function textValue(type: SopsValueType, pt: Buffer): SopsValue {
  if (type === 'bool') {
    const s = pt.toString('latin1');
    if (s === 'True') return true;
    if (s === 'False') return false;
  }
  const text = decodeUtf8(pt);
  return text === undefined ? new SopsBytes(Uint8Array.from(pt), 'str') : text;
}

function newHash(macOnlyEncrypted: boolean): Hash {
  const h = createHash('sha512');
  if (macOnlyEncrypted) h.update(MAC_ONLY_ENCRYPTED_INIT);
  return h;
}

function child(ctx: WalkContext, f: Frame, key: string): Frame {
  return {
    path: [...f.path, key],
    aad: f.path.length === 0 ? key + ':' : f.aad + key + ':',
    matched: f.matched || (ctx.rules.usesPath && ctx.rules.componentMatches(key)),
  };
}

const ROOT: Frame = { path: [], aad: ':', matched: false };

function hashLeaf(ctx: WalkContext, v: SopsValue): void {
  // Strings (almost every leaf) are hashed as UTF-8 without an intermediate Buffer.
  if (typeof v === 'string') {
    ctx.hash.update(v, 'utf8');
    return;
  }
  const { bytes } = valueToBytes(v);
  ctx.hash.update(bytes);
  zeroize(bytes);
}

// ---------------------------------------------------------------------------------------------
// Decrypt

/** Result of decrypting the branches of a file: the plaintext tree and the MAC computed over it. */
export interface DecryptWalkResult {
  branches: SopsMap[];
  macHex: string;
  /**
   * Typed mode: the first value whose `type:` tag did not fit its bytes. The caller throws it only
   * after the MAC matched, so the answer to "is this secret an int?" never comes before (or
   * instead of) the integrity answer.
   */
  misfit?: SopsError;
}

/**
 * Decrypts every branch (a new tree is built; the input is not modified) and computes the MAC
 * over the authenticated plaintext bytes of each value (for files sops wrote these are exactly
 * the bytes sops hashes: its typed values re-encode to the same text).
 */
export function decryptBranches(
  branches: readonly SopsMap[],
  cipher: ValueCipher,
  rules: EncryptionRules,
  macOnlyEncrypted: boolean,
  reading: ValueReading = 'typed',
): DecryptWalkResult {
  const ctx: DecryptContext = { cipher, rules, macOnlyEncrypted, hash: newHash(macOnlyEncrypted), reading };
  const out = branches.map((b) => decryptMap(ctx, b, ROOT, []));
  return { branches: out, macHex: ctx.hash.digest('hex').toUpperCase(), ...(ctx.misfit ? { misfit: ctx.misfit } : {}) };
}

/** Opens one `ENC[…]` value, feeds its raw bytes to the MAC and reads it per `ctx.reading`. */
function openValue(ctx: DecryptContext, s: string, f: Frame, hashed: boolean): SopsValue {
  if (s === '') return '';
  const ev = parseEncryptedValue(s, f.path);
  const pt = ctx.cipher.open(ev, f.aad, f.path);
  try {
    // sops never hashes a value that decrypts to a comment; that depends on the tag alone.
    if (hashed && ev.type !== 'comment') ctx.hash.update(pt);
    if (ctx.reading === 'text') return textValue(ev.type, pt);
    try {
      return decodeTyped(ev.type, pt, f.path);
    } catch (err) {
      if (!(err instanceof SopsError)) throw err;
      ctx.misfit ??= err;
      return '';
    }
  } finally {
    zeroize(pt);
  }
}

function decryptLeaf(ctx: DecryptContext, v: SopsValue, f: Frame, stack: string[][]): SopsValue {
  const isComment = v instanceof SopsComment;
  const encrypted = ctx.rules.shouldEncrypt(f.matched, stack, isComment);
  let out: SopsValue = v;
  if (encrypted) {
    if (v instanceof SopsComment) {
      // Old sops wrote comments in clear: a comment that does not decrypt is kept as it is.
      try {
        const d = ctx.cipher.decrypt(v.text, f.aad, f.path);
        out = d instanceof SopsComment ? d : typeof d === 'string' ? new SopsComment(d) : v;
      } catch (err) {
        if (!(err instanceof SopsError)) throw err;
        out = v;
      }
    } else if (typeof v === 'string') {
      // Hashed here, from the authenticated bytes (never from a value the tag decoded).
      return openValue(ctx, v, f, true);
    } else {
      throw new SopsError('SOPS_BAD_VALUE', `value at ${describePath(f.path)} should be encrypted but is not a string`, {
        details: { path: [...f.path] },
      });
    }
  }
  if ((!ctx.macOnlyEncrypted || encrypted) && !(out instanceof SopsComment)) hashLeaf(ctx, out);
  return out;
}

function decryptValue(ctx: DecryptContext, v: SopsValue, f: Frame, stack: string[][]): SopsValue {
  if (v instanceof SopsMap) return decryptMap(ctx, v, f, stack);
  if (Array.isArray(v)) return decryptSeq(ctx, v, f, stack);
  if (v === null) return null;
  return decryptLeaf(ctx, v, f, stack);
}

function decryptMap(ctx: DecryptContext, m: SopsMap, f: Frame, parentStack: string[][]): SopsMap {
  const stack = [...parentStack, [] as string[]];
  const top = stack.length - 1;
  const entries: SopsMapEntry[] = [];
  for (const e of m.entries) {
    if (e instanceof SopsComment) {
      stack[top] = [...stack[top], e.text];
      const d = decryptLeaf(ctx, e, f, stack);
      entries.push(d instanceof SopsComment ? d : new SopsComment(String(d)));
      continue;
    }
    const value = decryptValue(ctx, e.value, child(ctx, f, e.key), stack);
    entries.push({ key: e.key, value });
    stack[top] = [];
  }
  return new SopsMap(entries);
}

function decryptSeq(ctx: DecryptContext, s: readonly SopsValue[], f: Frame, parentStack: string[][]): SopsValue[] {
  const stack = [...parentStack, [] as string[]];
  const top = stack.length - 1;
  const out: SopsValue[] = [];
  for (const v of s) {
    const isComment = v instanceof SopsComment;
    if (isComment) stack[top] = [...stack[top], v.text];
    out.push(decryptValue(ctx, v, f, stack));
    if (!isComment) stack[top] = [];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encrypt

/** Supplies the IV of each encrypted value, in walk order (values first, then the MAC). */
export type IvSource = () => Uint8Array;

/** Result of encrypting the branches: the encrypted tree and the MAC over the plaintext. */
export interface EncryptWalkResult {
  branches: SopsMap[];
  macHex: string;
}

interface EncryptContext extends WalkContext {
  nextIv: IvSource;
  encryptComments: boolean;
}

/** Encrypts every branch (input untouched) and computes the MAC over the plaintext, like `Tree.Encrypt`. */
export function encryptBranches(
  branches: readonly SopsMap[],
  cipher: ValueCipher,
  rules: EncryptionRules,
  macOnlyEncrypted: boolean,
  nextIv: IvSource,
  encryptComments = true,
): EncryptWalkResult {
  const ctx: EncryptContext = { cipher, rules, macOnlyEncrypted, hash: newHash(macOnlyEncrypted), nextIv, encryptComments };
  const out = branches.map((b) => encryptMap(ctx, b, ROOT, []));
  return { branches: out, macHex: ctx.hash.digest('hex').toUpperCase() };
}

/** Encrypts one leaf; returns the ENC string (or "" for empty values). */
export function sealLeaf(cipher: ValueCipher, v: SopsValue, aad: string, nextIv: IvSource): string {
  const { type, bytes } = valueToBytes(v);
  try {
    if (bytes.length === 0) return '';
    return cipher.seal(type, bytes, aad, nextIv());
  } finally {
    zeroize(bytes);
  }
}

function encryptLeaf(ctx: EncryptContext, v: SopsValue, f: Frame, stack: string[][]): SopsValue {
  const isComment = v instanceof SopsComment;
  const encrypted = ctx.rules.shouldEncrypt(f.matched, stack, isComment) && (!isComment || ctx.encryptComments);
  if ((!ctx.macOnlyEncrypted || encrypted) && !isComment) hashLeaf(ctx, v);
  if (!encrypted) return v;
  return sealLeaf(ctx.cipher, v, f.aad, ctx.nextIv);
}

function encryptValue(ctx: EncryptContext, v: SopsValue, f: Frame, stack: string[][]): SopsValue {
  if (v instanceof SopsMap) return encryptMap(ctx, v, f, stack);
  if (Array.isArray(v)) return encryptSeq(ctx, v, f, stack);
  if (v === null) return null;
  return encryptLeaf(ctx, v, f, stack);
}

function encryptMap(ctx: EncryptContext, m: SopsMap, f: Frame, parentStack: string[][]): SopsMap {
  const stack = [...parentStack, [] as string[]];
  const top = stack.length - 1;
  const entries: SopsMapEntry[] = [];
  for (const e of m.entries) {
    if (e instanceof SopsComment) {
      stack[top] = [...stack[top], e.text];
      const r = encryptLeaf(ctx, e, f, stack);
      // In a map the encrypted comment stays a comment line: `#ENC[...]`.
      entries.push(r instanceof SopsComment ? r : new SopsComment(String(r)));
      continue;
    }
    if (typeof e.key !== 'string') {
      throw new SopsError('SOPS_ENCRYPT_FAILED', `non-string key under ${describePath(f.path)}`);
    }
    entries.push({ key: e.key, value: encryptValue(ctx, e.value, child(ctx, f, e.key), stack) });
    stack[top] = [];
  }
  return new SopsMap(entries);
}

function encryptSeq(ctx: EncryptContext, s: readonly SopsValue[], f: Frame, parentStack: string[][]): SopsValue[] {
  const stack = [...parentStack, [] as string[]];
  const top = stack.length - 1;
  const out: SopsValue[] = [];
  for (const v of s) {
    const isComment = v instanceof SopsComment;
    if (isComment) stack[top] = [...stack[top], v.text];
    // In a list sops stores an encrypted comment as a plain string item (walkSlice does not re-wrap it).
    out.push(encryptValue(ctx, v, f, stack));
    if (!isComment) stack[top] = [];
  }
  return out;
}
