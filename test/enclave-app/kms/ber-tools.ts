/**
 * Test-only BER tools, independent of the code under test: a structure walker (tags, definite vs
 * indefinite, OID/INTEGER values) to compare our CiphertextForRecipient with real KMS responses,
 * and a tiny encoder to build deliberately malformed envelopes.
 */

/** One element of a BER structure as the comparison sees it. */
export interface BerNode {
  tag: string;
  form: 'definite' | 'indefinite';
  /** Hex content of OIDs and INTEGERs (the values that identify algorithms and versions). */
  value?: string;
  /** Byte length of other primitive contents (not compared for equality, only shown). */
  length?: number;
  children?: BerNode[];
}

/** Walks a BER buffer into a tree; throws on anything it cannot read. Also returns trailing bytes. */
export function walkBer(buf: Uint8Array): { root: BerNode; trailing: number } {
  const { node, end } = walk(buf, 0);
  return { root: node, trailing: buf.byteLength - end };
}

function walk(buf: Uint8Array, pos: number): { node: BerNode; end: number } {
  const tag = buf[pos];
  if (tag === undefined) throw new Error(`truncated at ${pos}`);
  const constructed = (tag & 0x20) !== 0;
  let p = pos + 1;
  const l0 = buf[p++];
  if (l0 === undefined) throw new Error('truncated length');
  const tagHex = tag.toString(16).padStart(2, '0');
  if (l0 === 0x80) {
    const children: BerNode[] = [];
    while (!(buf[p] === 0 && buf[p + 1] === 0)) {
      if (p >= buf.byteLength) throw new Error('missing end-of-contents');
      const c = walk(buf, p);
      children.push(c.node);
      p = c.end;
    }
    return { node: { tag: tagHex, form: 'indefinite', children }, end: p + 2 };
  }
  let len = l0;
  if (l0 > 0x80) {
    len = 0;
    for (let i = 0; i < (l0 & 0x7f); i++) len = len * 256 + buf[p++]!;
  }
  const end = p + len;
  if (end > buf.byteLength) throw new Error('element overruns buffer');
  if (constructed) {
    const children: BerNode[] = [];
    let q = p;
    while (q < end) {
      const c = walk(buf, q);
      children.push(c.node);
      q = c.end;
    }
    return { node: { tag: tagHex, form: 'definite', children }, end };
  }
  const content = buf.subarray(p, end);
  const node: BerNode = { tag: tagHex, form: 'definite' };
  if (tag === 0x06 || tag === 0x02) node.value = Buffer.from(content).toString('hex');
  else node.length = content.byteLength;
  return { node, end };
}

/** Drops primitive lengths so two structures with different key sizes / payloads compare equal. */
export function shape(node: BerNode): BerNode {
  const { length: _length, ...rest } = node;
  return rest.children ? { ...rest, children: rest.children.map(shape) } : rest;
}

/** Definite-length element with minimal length encoding. */
export function der(tag: number, ...content: Array<Uint8Array | number[]>): Buffer {
  const body = Buffer.concat(content.map((c) => (c instanceof Uint8Array ? c : Uint8Array.from(c))));
  return Buffer.concat([Uint8Array.of(tag), lengthBytes(body.byteLength), body]);
}

/** Constructed indefinite-length element. */
export function indef(tag: number, ...children: Uint8Array[]): Buffer {
  return Buffer.concat([Uint8Array.of(tag, 0x80), ...children, Uint8Array.of(0, 0)]);
}

export function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');

export const OIDS = {
  envelopedData: hex('2a864886f70d010703'),
  data: hex('2a864886f70d010701'),
  aes256cbc: hex('60864801650304012a'),
  aes128cbc: hex('608648016503040102'),
  rsaesOaep: hex('2a864886f70d010107'),
  rsaEncryption: hex('2a864886f70d010101'),
  mgf1: hex('2a864886f70d010108'),
  sha256: hex('608648016503040201'),
  sha1: hex('2b0e03021a'),
  sha384: hex('608648016503040202'),
};

/** AlgorithmIdentifier with NULL parameters. */
export const algId = (oid: Uint8Array): Buffer => der(0x30, der(0x06, oid), [0x05, 0x00]);

/** RSAES-OAEP AlgorithmIdentifier with the given hash and MGF1 hash (explicit params). */
export function oaepAlgId(hash: Uint8Array, mgfHash: Uint8Array): Buffer {
  return der(
    0x30,
    der(0x06, OIDS.rsaesOaep),
    der(0x30, der(0xa0, algId(hash)), der(0xa1, der(0x30, der(0x06, OIDS.mgf1), algId(mgfHash)))),
  );
}

/** Every knob a malformed envelope may turn; defaults give KMS's exact layout. */
export interface EnvelopeSpec {
  contentType?: Uint8Array;
  version?: number;
  recipients?: Buffer[];
  ktriVersion?: number;
  rid?: Buffer;
  keyEncAlg?: Buffer;
  encryptedKey: Uint8Array;
  eciType?: Uint8Array;
  contentAlgOid?: Uint8Array;
  iv: Uint8Array;
  /** 'constructed' (default): a0 80 with chunks; 'primitive': 80 LL. */
  contentForm?: 'constructed' | 'primitive';
  chunks: Uint8Array[];
  trailing?: Uint8Array;
  /** Encode every outer element with definite lengths (DER) instead of KMS's indefinite form. */
  definiteOuter?: boolean;
}

/** One KeyTransRecipientInfo. */
export function ktri(spec: { version?: number; rid: Buffer; keyEncAlg?: Buffer; encryptedKey: Uint8Array }): Buffer {
  return der(
    0x30,
    der(0x02, [spec.version ?? 2]),
    spec.rid,
    spec.keyEncAlg ?? oaepAlgId(OIDS.sha256, OIDS.sha256),
    der(0x04, spec.encryptedKey),
  );
}

/** Builds an envelope from a spec (test-side encoder, independent of simulator/kms/cms-builder.ts). */
export function buildEnvelope(s: EnvelopeSpec & { ridBytes?: Uint8Array }): Buffer {
  const outer = s.definiteOuter ? (tag: number, ...c: Uint8Array[]) => der(tag, ...c) : indef;
  const recipients = s.recipients ?? [
    ktri({
      ...(s.ktriVersion === undefined ? {} : { version: s.ktriVersion }),
      rid: s.rid ?? der(0x80, s.ridBytes ?? new Uint8Array(32)),
      ...(s.keyEncAlg === undefined ? {} : { keyEncAlg: s.keyEncAlg }),
      encryptedKey: s.encryptedKey,
    }),
  ];
  const content =
    s.contentForm === 'primitive'
      ? der(0x80, Buffer.concat(s.chunks))
      : outer(0xa0, ...s.chunks.map((c) => der(0x04, c)));
  const eci = outer(
    0x30,
    der(0x06, s.eciType ?? OIDS.data),
    der(0x30, der(0x06, s.contentAlgOid ?? OIDS.aes256cbc), der(0x04, s.iv)),
    content,
  );
  const ed = outer(0x30, der(0x02, [s.version ?? 2]), der(0x31, ...recipients), eci);
  const ci = outer(0x30, der(0x06, s.contentType ?? OIDS.envelopedData), outer(0xa0, ed));
  return s.trailing ? Buffer.concat([ci, s.trailing]) : ci;
}
