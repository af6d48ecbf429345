/**
 * The two tree walks of sops (sops.go walkBranch/walkSlice, Tree.Encrypt/Decrypt): visit every
 * leaf in document order with its path, decide with the rules whether it is encrypted, and feed
 * the MAC. One pass per file; the path string (the AAD) is built incrementally. Decryption lays
 * every encrypted value out in one batch during the walk and opens them all in one call after it
 * (gcm-batch.ts), then hashes the plaintexts into the MAC in document order and fills them in.
 */
import { isAscii } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { zeroize } from '../../common/bytes.js';
import { SopsError, describePath } from './errors.js';
import { IV_LENGTH, ValueCipher, addEncryptedValue, authenticationFailed, decodeTyped, decodeUtf8, valueToBytes, type SopsValueType } from './cipher.js';
import { GcmBatch, openGcmBatch, type GcmBackend } from './gcm-batch.js';
import type { EncryptionRules } from './rules.js';
import { SopsBytes, SopsComment, SopsMap, type SopsMapEntry, type SopsMapItem, type SopsValue } from './tree.js';

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
  dataKey: Uint8Array;
  backend: GcmBackend;
  /** Every encrypted value of the file, in document order, opened in one call once the walk ends. */
  batch: GcmBatch;
  /** The values of `batch`, same order and index, with where each one goes in the new tree. */
  pending: Pending[];
  /** The MAC's input in document order: batch values (hashed once decrypted) and plain leaves' bytes. */
  macInput: Array<Pending | string | Buffer>;
}

/** A value in the batch: its `type:` tag, its path and the slot of the new tree it will fill. */
class Pending {
  entry: SopsMapItem | undefined;
  list: SopsValue[] | undefined;
  at = 0;
  constructor(
    readonly index: number,
    readonly type: SopsValueType,
    readonly path: readonly string[],
  ) {}
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
 * the bytes sops hashes: its typed values re-encode to the same text). `dataKey` is the key
 * `cipher` was made from (the batch needs its bytes; it is not kept).
 */
export function decryptBranches(
  branches: readonly SopsMap[],
  cipher: ValueCipher,
  rules: EncryptionRules,
  macOnlyEncrypted: boolean,
  reading: ValueReading,
  dataKey: Uint8Array,
  backend: GcmBackend = 'auto',
): DecryptWalkResult {
  const ctx: DecryptContext = {
    cipher,
    rules,
    macOnlyEncrypted,
    hash: newHash(macOnlyEncrypted),
    reading,
    dataKey,
    backend,
    batch: new GcmBatch(IV_LENGTH),
    pending: [],
    macInput: [],
  };
  try {
    let out: SopsMap[];
    try {
      out = branches.map((b) => decryptMap(ctx, b, ROOT, []));
    } catch (err) {
      // Errors in document order, as when each value was opened where the walk met it: a value
      // before this one that does not authenticate is the answer.
      authenticateCollected(ctx);
      throw err;
    }
    settle(ctx);
    return { branches: out, macHex: ctx.hash.digest('hex').toUpperCase(), ...(ctx.misfit ? { misfit: ctx.misfit } : {}) };
  } finally {
    for (const item of ctx.macInput) if (Buffer.isBuffer(item)) zeroize(item);
  }
}

/** Puts one `ENC[…]` value into the batch; its raw bytes will feed the MAC unless the tag says comment. */
function openValue(ctx: DecryptContext, s: string, f: Frame): SopsValue | Pending {
  if (s === '') return '';
  const type = addEncryptedValue(ctx.batch, s, f.aad, f.path);
  const p = new Pending(ctx.pending.length, type, f.path);
  ctx.pending.push(p);
  // sops never hashes a value that decrypts to a comment; that depends on the tag alone.
  if (type !== 'comment') ctx.macInput.push(p);
  return p;
}

/** Opens the batch into `dst`; throws for the first value that does not authenticate (dst then zeroed). */
function openBatch(ctx: DecryptContext, dst: Buffer): void {
  const failed = openGcmBatch(ctx.dataKey, ctx.batch, dst, ctx.backend);
  if (failed >= 0) throw authenticationFailed(ctx.pending[failed]!.path);
}

/** Opens what the batch holds so far and throws if one of those values does not authenticate. */
function authenticateCollected(ctx: DecryptContext): void {
  const dst = Buffer.alloc(ctx.batch.dstLength);
  try {
    openBatch(ctx, dst);
  } finally {
    zeroize(dst);
  }
}

/**
 * Opens the batch, feeds the MAC in document order (runs of adjacent plaintexts in one update)
 * and fills every value into its slot, read per `ctx.reading`. The plaintext buffer is zeroed
 * whatever happens; a value that does not authenticate fails the file before anything is read.
 */
function settle(ctx: DecryptContext): void {
  const { batch, pending } = ctx;
  const dst = Buffer.alloc(batch.dstLength);
  try {
    openBatch(ctx, dst);
    let start = 0;
    let end = -1;
    for (const item of ctx.macInput) {
      if (item instanceof Pending) {
        const [a, b] = batch.dstRange(item.index);
        if (a !== end) {
          if (end >= 0) ctx.hash.update(dst.subarray(start, end));
          start = a;
        }
        end = b;
        continue;
      }
      if (end >= 0) ctx.hash.update(dst.subarray(start, end));
      end = -1;
      if (typeof item === 'string') ctx.hash.update(item, 'utf8');
      else ctx.hash.update(item);
    }
    if (end >= 0) ctx.hash.update(dst.subarray(start, end));
    // All-ASCII plaintext (the common case) needs no UTF-8 validation: ASCII is its own UTF-8. Each
    // value is decoded on its own (never sliced from one string of the whole file's plaintext).
    const ascii = isAscii(dst);
    for (const p of pending) {
      const value = readValue(ctx, p, dst, ascii);
      if (p.entry !== undefined) p.entry.value = value;
      else if (p.list !== undefined) p.list[p.at] = value;
    }
  } finally {
    zeroize(dst);
  }
}

/** One decrypted value, read per `ctx.reading` (see textValue and decodeTyped). */
function readValue(ctx: DecryptContext, p: Pending, dst: Buffer, ascii: boolean): SopsValue {
  const [a, b] = ctx.batch.dstRange(p.index);
  if (ctx.reading === 'text') return ascii && p.type !== 'bool' ? dst.toString('latin1', a, b) : textValue(p.type, dst.subarray(a, b));
  if (p.type === 'str' && ascii) return dst.toString('latin1', a, b);
  try {
    return decodeTyped(p.type, dst.subarray(a, b), p.path);
  } catch (err) {
    if (!(err instanceof SopsError)) throw err;
    ctx.misfit ??= err;
    return '';
  }
}

/** A comment: old sops wrote them in clear, so one that does not decrypt is kept as it is. */
function decryptComment(ctx: DecryptContext, v: SopsComment, f: Frame, stack: string[][]): SopsComment {
  if (!ctx.rules.shouldEncrypt(f.matched, stack, true)) return v;
  try {
    const d = ctx.cipher.decrypt(v.text, f.aad, f.path);
    return d instanceof SopsComment ? d : typeof d === 'string' ? new SopsComment(d) : v;
  } catch (err) {
    if (!(err instanceof SopsError)) throw err;
    return v;
  }
}

function decryptLeaf(ctx: DecryptContext, v: SopsValue, f: Frame, stack: string[][]): SopsValue | Pending {
  // Comments are never hashed.
  if (v instanceof SopsComment) return decryptComment(ctx, v, f, stack);
  const encrypted = ctx.rules.shouldEncrypt(f.matched, stack, false);
  if (encrypted) {
    // Hashed once opened, from the authenticated bytes (never from a value the tag decoded).
    if (typeof v === 'string') return openValue(ctx, v, f);
    throw new SopsError('SOPS_BAD_VALUE', `value at ${describePath(f.path)} should be encrypted but is not a string`, {
      details: { path: [...f.path] },
    });
  }
  if (!ctx.macOnlyEncrypted) ctx.macInput.push(typeof v === 'string' ? v : valueToBytes(v).bytes);
  return v;
}

function decryptValue(ctx: DecryptContext, v: SopsValue, f: Frame, stack: string[][]): SopsValue | Pending {
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
      entries.push(decryptComment(ctx, e, f, stack));
      continue;
    }
    const value = decryptValue(ctx, e.value, child(ctx, f, e.key), stack);
    const entry: SopsMapItem = { key: e.key, value: value instanceof Pending ? '' : value };
    if (value instanceof Pending) value.entry = entry;
    entries.push(entry);
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
    const value = decryptValue(ctx, v, f, stack);
    if (value instanceof Pending) {
      value.list = out;
      value.at = out.length;
      out.push('');
    } else {
      out.push(value);
    }
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
