/**
 * The CBOR messages of /dev/nsm: serde's externally tagged encoding of nsm-api's `Request` and
 * `Response` enums (reference §5.2). Unit variants are a bare text string (`"DescribeNSM"`),
 * struct variants a one-entry map from the variant name to the fields in declaration order
 * (`{"ExtendPCR": {"index": 16, "data": h'..'}}`), and `Error(ErrorCode)` is `{"Error": "<code>"}`.
 *
 * Encoding is canonical (shortest lengths, declared field order) so our bytes equal serde's.
 * Decoding goes through vsock's strict CBOR reader, then checks every field's type and range.
 */
import { decodeStrictCbor, FrameError } from '../../vsock/index.js';
import { NSM_WIRE_ERRORS, NsmError, type NsmWireError } from './errors.js';

/** Digest algorithms an NSM may report. */
export type NsmDigest = 'SHA256' | 'SHA384' | 'SHA512';

/** A request to the NSM (one per nsm-api `Request` variant). */
export type NsmRequest =
  | { type: 'DescribePCR'; index: number }
  | { type: 'ExtendPCR'; index: number; data: Uint8Array }
  | { type: 'LockPCR'; index: number }
  | { type: 'LockPCRs'; range: number }
  | { type: 'DescribeNSM' }
  | { type: 'Attestation'; userData: Uint8Array | null; nonce: Uint8Array | null; publicKey: Uint8Array | null }
  | { type: 'GetRandom' };

/** What DescribeNSM returns. */
export interface NsmDescription {
  versionMajor: number;
  versionMinor: number;
  versionPatch: number;
  moduleId: string;
  maxPcrs: number;
  /** Read-only PCR indices, ascending. */
  lockedPcrs: number[];
  digest: NsmDigest;
}

/** An answer from the NSM (one per nsm-api `Response` variant). */
export type NsmResponse =
  | { type: 'DescribePCR'; lock: boolean; data: Uint8Array }
  | { type: 'ExtendPCR'; data: Uint8Array }
  | { type: 'LockPCR' }
  | { type: 'LockPCRs' }
  | ({ type: 'DescribeNSM' } & NsmDescription)
  | { type: 'Attestation'; document: Uint8Array }
  | { type: 'GetRandom'; random: Uint8Array }
  | { type: 'Error'; error: NsmWireError };

// ---------------------------------------------------------------------------------------------
// A minimal canonical CBOR writer for these shapes (text keys, in the order given).

type Item = number | boolean | null | string | Uint8Array | Item[] | Array<[string, Item]> | { map: Array<[string, Item]> };

/**
 * Collects the encoding as heads (a few bytes each) and byte strings (whole, never byte by byte:
 * an attestation document is ~5 KB and used to go through a number[] one element per byte).
 */
class CborOut {
  private readonly parts: Uint8Array[] = [];
  private pending: number[] = [];
  private length = 0;

  bytes(...b: number[]): void {
    for (const x of b) this.pending.push(x);
  }

  chunk(c: Uint8Array): void {
    this.flush();
    this.parts.push(c);
    this.length += c.byteLength;
  }

  /** The encoding as one fresh Uint8Array the caller owns. */
  result(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.parts.push(Uint8Array.from(this.pending));
    this.length += this.pending.length;
    this.pending = [];
  }
}

function head(major: number, value: number, out: CborOut): void {
  const m = major << 5;
  if (value < 24) out.bytes(m | value);
  else if (value < 0x100) out.bytes(m | 24, value);
  else if (value < 0x10000) out.bytes(m | 25, value >> 8, value & 0xff);
  else out.bytes(m | 26, (value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

function write(item: Item, out: CborOut): void {
  if (item === null) out.bytes(0xf6);
  else if (item === true) out.bytes(0xf5);
  else if (item === false) out.bytes(0xf4);
  else if (typeof item === 'number') head(0, item, out);
  else if (typeof item === 'string') {
    const bytes = Buffer.from(item, 'utf8');
    head(3, bytes.length, out);
    out.chunk(bytes);
  } else if (item instanceof Uint8Array) {
    head(2, item.length, out);
    out.chunk(item);
  } else if (Array.isArray(item)) {
    head(4, item.length, out);
    for (const x of item as Item[]) write(x, out);
  } else {
    head(5, item.map.length, out);
    for (const [k, v] of item.map) {
      write(k, out);
      write(v, out);
    }
  }
}

const map = (...entries: Array<[string, Item]>): Item => ({ map: entries });

function encodeItem(item: Item): Uint8Array {
  const out = new CborOut();
  write(item, out);
  return out.result();
}

function checkU16(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new NsmError('NSM_INVALID_ARGUMENT', `${name} must be an integer from 0 to 65535`, { category: 'input' });
  }
  return value;
}

function checkBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new NsmError('NSM_INVALID_ARGUMENT', `${name} must be bytes`, { category: 'input' });
  return value;
}

const optionalBytes = (value: Uint8Array | null | undefined, name: string): Item => (value == null ? null : checkBytes(value, name));

/** Encodes a request exactly as nsm-api (serde) would. */
export function encodeNsmRequest(request: NsmRequest): Uint8Array {
  switch (request.type) {
    case 'DescribePCR':
      return encodeItem(map(['DescribePCR', map(['index', checkU16(request.index, 'index')])]));
    case 'ExtendPCR':
      return encodeItem(map(['ExtendPCR', map(['index', checkU16(request.index, 'index')], ['data', checkBytes(request.data, 'data')])]));
    case 'LockPCR':
      return encodeItem(map(['LockPCR', map(['index', checkU16(request.index, 'index')])]));
    case 'LockPCRs':
      return encodeItem(map(['LockPCRs', map(['range', checkU16(request.range, 'range')])]));
    case 'DescribeNSM':
      return encodeItem('DescribeNSM');
    case 'Attestation':
      return encodeItem(
        map([
          'Attestation',
          map(
            ['user_data', optionalBytes(request.userData, 'userData')],
            ['nonce', optionalBytes(request.nonce, 'nonce')],
            ['public_key', optionalBytes(request.publicKey, 'publicKey')],
          ),
        ]),
      );
    case 'GetRandom':
      return encodeItem('GetRandom');
  }
}

/** Encodes a response exactly as the NSM (serde) would; used by the simulated device. */
export function encodeNsmResponse(response: NsmResponse): Uint8Array {
  switch (response.type) {
    case 'DescribePCR':
      return encodeItem(map(['DescribePCR', map(['lock', response.lock], ['data', response.data])]));
    case 'ExtendPCR':
      return encodeItem(map(['ExtendPCR', map(['data', response.data])]));
    case 'LockPCR':
    case 'LockPCRs':
      return encodeItem(response.type);
    case 'DescribeNSM':
      return encodeItem(
        map([
          'DescribeNSM',
          map(
            ['version_major', checkU16(response.versionMajor, 'versionMajor')],
            ['version_minor', checkU16(response.versionMinor, 'versionMinor')],
            ['version_patch', checkU16(response.versionPatch, 'versionPatch')],
            ['module_id', response.moduleId],
            ['max_pcrs', checkU16(response.maxPcrs, 'maxPcrs')],
            ['locked_pcrs', [...new Set(response.lockedPcrs.map((i) => checkU16(i, 'lockedPcrs')))].sort((a, b) => a - b)],
            ['digest', response.digest],
          ),
        ]),
      );
    case 'Attestation':
      return encodeItem(map(['Attestation', map(['document', response.document])]));
    case 'GetRandom':
      return encodeItem(map(['GetRandom', map(['random', response.random])]));
    case 'Error':
      return encodeItem(map(['Error', response.error]));
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

function malformed(what: string, message: string, cause?: unknown): NsmError {
  return new NsmError('NSM_MALFORMED', `malformed NSM ${what}: ${message}`, { category: 'internal', ...(cause === undefined ? {} : { cause }) });
}

/** Reads the tagged form: a bare variant name, or a one-entry map {name: fields}. */
function variantOf(bytes: Uint8Array, what: string): { name: string; fields: unknown; unit: boolean } {
  let value: unknown;
  try {
    value = decodeStrictCbor(bytes, { maxDepth: 8 });
  } catch (err) {
    throw malformed(what, err instanceof FrameError ? err.message : 'not CBOR', err);
  }
  if (typeof value === 'string') return { name: value, fields: undefined, unit: true };
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    const keys = Object.keys(value);
    if (keys.length === 1) return { name: keys[0], fields: (value as Record<string, unknown>)[keys[0]], unit: false };
  }
  throw malformed(what, 'expected a variant name or a one-entry map');
}

class Fields {
  constructor(
    private readonly fields: unknown,
    private readonly where: string,
    private readonly what: string,
  ) {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields) || fields instanceof Uint8Array) {
      throw malformed(what, `${where} must carry a map of fields`);
    }
  }
  private get(name: string): unknown {
    const record = this.fields as Record<string, unknown>;
    if (!Object.hasOwn(record, name)) throw malformed(this.what, `${this.where} lacks "${name}"`);
    return record[name];
  }
  u16(name: string): number {
    const v = this.get(name);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw malformed(this.what, `${this.where}.${name} must be a u16`);
    return v;
  }
  bytes(name: string): Uint8Array {
    const v = this.get(name);
    if (!(v instanceof Uint8Array)) throw malformed(this.what, `${this.where}.${name} must be a byte string`);
    return v;
  }
  optionalBytes(name: string): Uint8Array | null {
    const v = this.get(name);
    if (v === null) return null;
    if (!(v instanceof Uint8Array)) throw malformed(this.what, `${this.where}.${name} must be a byte string or null`);
    return v;
  }
  bool(name: string): boolean {
    const v = this.get(name);
    if (typeof v !== 'boolean') throw malformed(this.what, `${this.where}.${name} must be a boolean`);
    return v;
  }
  text(name: string): string {
    const v = this.get(name);
    if (typeof v !== 'string') throw malformed(this.what, `${this.where}.${name} must be a text string`);
    return v;
  }
  u16List(name: string): number[] {
    const v = this.get(name);
    if (!Array.isArray(v) || !v.every((i) => typeof i === 'number' && Number.isInteger(i) && i >= 0 && i <= 0xffff)) {
      throw malformed(this.what, `${this.where}.${name} must be an array of u16`);
    }
    return v as number[];
  }
}

function expectUnit(v: { unit: boolean; name: string }, what: string): void {
  if (!v.unit) throw malformed(what, `${v.name} takes no fields`);
}

/** Decodes a request (the simulated device's side of the ioctl). Throws NSM_MALFORMED. */
export function decodeNsmRequest(bytes: Uint8Array): NsmRequest {
  const what = 'request';
  const v = variantOf(bytes, what);
  switch (v.name) {
    case 'DescribeNSM':
    case 'GetRandom':
      expectUnit(v, what);
      return { type: v.name };
  }
  if (v.unit) throw malformed(what, `unknown or field-less variant ${JSON.stringify(v.name)}`);
  const f = new Fields(v.fields, v.name, what);
  switch (v.name) {
    case 'DescribePCR':
      return { type: 'DescribePCR', index: f.u16('index') };
    case 'ExtendPCR':
      return { type: 'ExtendPCR', index: f.u16('index'), data: f.bytes('data') };
    case 'LockPCR':
      return { type: 'LockPCR', index: f.u16('index') };
    case 'LockPCRs':
      return { type: 'LockPCRs', range: f.u16('range') };
    case 'Attestation':
      return { type: 'Attestation', userData: f.optionalBytes('user_data'), nonce: f.optionalBytes('nonce'), publicKey: f.optionalBytes('public_key') };
    default:
      throw malformed(what, `unknown variant ${JSON.stringify(v.name)}`);
  }
}

const DIGESTS: ReadonlySet<string> = new Set(['SHA256', 'SHA384', 'SHA512']);

/** Decodes an answer from the NSM. Throws NSM_MALFORMED for anything that is not one. */
export function decodeNsmResponse(bytes: Uint8Array): NsmResponse {
  const what = 'response';
  const v = variantOf(bytes, what);
  if (v.name === 'LockPCR' || v.name === 'LockPCRs') {
    expectUnit(v, what);
    return { type: v.name };
  }
  if (v.unit) throw malformed(what, `unknown or field-less variant ${JSON.stringify(v.name)}`);
  if (v.name === 'Error') {
    if (typeof v.fields !== 'string' || !(NSM_WIRE_ERRORS as readonly string[]).includes(v.fields)) {
      throw malformed(what, 'Error must carry a known ErrorCode name');
    }
    return { type: 'Error', error: v.fields as NsmWireError };
  }
  const f = new Fields(v.fields, v.name, what);
  switch (v.name) {
    case 'DescribePCR':
      return { type: 'DescribePCR', lock: f.bool('lock'), data: f.bytes('data') };
    case 'ExtendPCR':
      return { type: 'ExtendPCR', data: f.bytes('data') };
    case 'Attestation':
      return { type: 'Attestation', document: f.bytes('document') };
    case 'GetRandom':
      return { type: 'GetRandom', random: f.bytes('random') };
    case 'DescribeNSM': {
      const digest = f.text('digest');
      if (!DIGESTS.has(digest)) throw malformed(what, `DescribeNSM.digest ${JSON.stringify(digest)} is not SHA256/SHA384/SHA512`);
      return {
        type: 'DescribeNSM',
        versionMajor: f.u16('version_major'),
        versionMinor: f.u16('version_minor'),
        versionPatch: f.u16('version_patch'),
        moduleId: f.text('module_id'),
        maxPcrs: f.u16('max_pcrs'),
        lockedPcrs: f.u16List('locked_pcrs'),
        digest: digest as NsmDigest,
      };
    }
    default:
      throw malformed(what, `unknown variant ${JSON.stringify(v.name)}`);
  }
}
