/**
 * The two tree walks of sops (sops.go walkBranch/walkSlice, Tree.Encrypt/Decrypt): visit every
 * leaf in document order with its path, decide with the rules whether it is encrypted, and feed
 * the MAC. One pass per file; the path string (the AAD) is built incrementally, so a file with
 * thousands of keys costs one AES operation and one hash update per value.
 */
import { createHash, type Hash } from 'node:crypto';
import { zeroize } from '../../common/bytes.js';
import { SopsError, describePath } from './errors.js';
import { ValueCipher, valueToBytes } from './cipher.js';
import type { EncryptionRules } from './rules.js';
import { SopsComment, SopsMap, type SopsMapEntry, type SopsValue } from './tree.js';

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
}

/** Decrypts every branch (a new tree is built; the input is not modified) and computes the MAC. */
export function decryptBranches(
  branches: readonly SopsMap[],
  cipher: ValueCipher,
  rules: EncryptionRules,
  macOnlyEncrypted: boolean,
): DecryptWalkResult {
  const ctx: WalkContext = { cipher, rules, macOnlyEncrypted, hash: newHash(macOnlyEncrypted) };
  const out = branches.map((b) => decryptMap(ctx, b, ROOT, []));
  return { branches: out, macHex: ctx.hash.digest('hex').toUpperCase() };
}

function decryptLeaf(ctx: WalkContext, v: SopsValue, f: Frame, stack: string[][]): SopsValue {
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
      out = ctx.cipher.decrypt(v, f.aad, f.path);
    } else {
      throw new SopsError('SOPS_BAD_VALUE', `value at ${describePath(f.path)} should be encrypted but is not a string`, {
        details: { path: [...f.path] },
      });
    }
  }
  if ((!ctx.macOnlyEncrypted || encrypted) && !(out instanceof SopsComment)) hashLeaf(ctx, out);
  return out;
}

function decryptValue(ctx: WalkContext, v: SopsValue, f: Frame, stack: string[][]): SopsValue {
  if (v instanceof SopsMap) return decryptMap(ctx, v, f, stack);
  if (Array.isArray(v)) return decryptSeq(ctx, v, f, stack);
  if (v === null) return null;
  return decryptLeaf(ctx, v, f, stack);
}

function decryptMap(ctx: WalkContext, m: SopsMap, f: Frame, parentStack: string[][]): SopsMap {
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

function decryptSeq(ctx: WalkContext, s: readonly SopsValue[], f: Frame, parentStack: string[][]): SopsValue[] {
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
