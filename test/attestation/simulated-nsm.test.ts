/**
 * The simulated NSM: its documents have the byte layout of genuine ones (compared against a
 * genuine vector with an independent CBOR walker and with cbor-x), its PKI has AWS's profile
 * (checked with pkijs and node:crypto, not with our parser), it verifies under its own root
 * only, and its state survives a restart while corrupt state is a typed error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile, unlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { decode as cborxDecode } from 'cbor-x';
import * as pkijs from 'pkijs';
import { SimulatedNsmPki, SimulatedNsmError, signCoseSign1, type AttestRequest } from '../../attestation/simulated-nsm.js';
import { verifyAttestationDocument } from '../../attestation/verify.js';
import { awsNitroRootG1 } from '../../attestation/roots.js';
import { decodeCoseSign1 } from '../../attestation/cose.js';
import { parseAttestationPayload } from '../../attestation/payload.js';
import { pcr4ForInstanceId } from '../../attestation/pcr.js';
import { docBytes, expectCode, fixedPki, manifestPcrs, productionDocs, SIM_PCRS, T0 } from './helpers.js';

const genuine = productionDocs[0];
const HOUR = 3_600_000;

/** Independent CBOR walker: returns the end offset of the item at `pos` and its head bytes. */
function item(b: Uint8Array, pos: number): { end: number; head: string; major: number; count: number } {
  const ib = b[pos];
  const major = ib >> 5;
  const info = ib & 0x1f;
  const extra = info < 24 ? 0 : info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 8;
  let arg = info < 24 ? info : 0;
  for (let i = 0; i < extra; i++) arg = arg * 256 + b[pos + 1 + i];
  const headEnd = pos + 1 + extra;
  const head = Buffer.from(b.subarray(pos, headEnd)).toString('hex');
  let end = headEnd;
  if (major === 2 || major === 3) end += arg;
  else if (major === 4) for (let i = 0; i < arg; i++) end = item(b, end).end;
  else if (major === 5) for (let i = 0; i < 2 * arg; i++) end = item(b, end).end;
  else if (major === 6) end = item(b, end).end;
  return { end, head, major, count: arg };
}

/** Layout of a payload: key names in order with the head bytes of each value (lengths masked for variable data). */
function layout(payload: Uint8Array): Array<[string, string]> {
  const top = item(payload, 0);
  expect(top.major).toBe(5);
  const out: Array<[string, string]> = [['<map>', top.head]];
  let pos = Buffer.from(top.head, 'hex').length;
  for (let i = 0; i < top.count; i++) {
    const k = item(payload, pos);
    const key = Buffer.from(payload.subarray(pos + Buffer.from(k.head, 'hex').length, k.end)).toString('utf8');
    const v = item(payload, k.end);
    let shape = `${v.major}:${v.major === 0 ? v.head.slice(0, 2) : v.major === 7 ? v.head : ''}`;
    if (key === 'pcrs') {
      const entries: string[] = [];
      let p = k.end + Buffer.from(v.head, 'hex').length;
      for (let j = 0; j < v.count; j++) {
        const pk = item(payload, p);
        const pv = item(payload, pk.end);
        entries.push(`${pk.head}=>${pv.head}`);
        p = pv.end;
      }
      shape += `${v.head}{${entries.slice(0, 16).join(',')}}`;
    }
    if (key === 'cabundle') shape += v.head;
    if (key === 'digest') shape += v.head;
    out.push([key, shape]);
    pos = v.end;
  }
  expect(pos).toBe(payload.length);
  return out;
}

let pki: SimulatedNsmPki;
let simDoc: Uint8Array;
let dir: string;

beforeAll(async () => {
  pki = await fixedPki();
  simDoc = await pki.attest({ pcrs: SIM_PCRS, nonce: new Uint8Array(256).fill(1) });
  dir = await mkdtemp(path.join(tmpdir(), 'ap-sim-nsm-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('document layout matches genuine documents', () => {
  it('envelope bytes: 84 | 44 a1013822 | a0 | 59 LLLL payload | 58 60 signature', () => {
    const g = docBytes(genuine);
    for (const d of [g, simDoc]) {
      expect(Buffer.from(d.subarray(0, 8)).toString('hex')).toMatch(/^8444a1013822a059$/);
      expect(Buffer.from(d.subarray(d.length - 98, d.length - 96)).toString('hex')).toBe('5860');
      const payloadLen = (d[8] << 8) | d[9];
      expect(10 + payloadLen + 98).toBe(d.length);
    }
  });

  it('payload: same keys in the same order, same value types and heads, nulls for absent fields', () => {
    const g = layout(decodeCoseSign1(docBytes(genuine)).payload);
    const s = layout(decodeCoseSign1(simDoc).payload);
    // The evervault production vector has public_key = user_data = null and a 256-byte nonce, like simDoc.
    expect(s).toEqual(g);
    expect(s.map(([k]) => k)).toEqual(['<map>', 'module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce']);
    expect(Object.fromEntries(s)).toMatchObject({ '<map>': 'a9', timestamp: '0:1b', digest: '3:66', public_key: '7:f6', user_data: '7:f6', cabundle: '4:84' });
    expect(Object.fromEntries(s).pcrs).toContain('b0{00=>5830,01=>5830');
  });

  it('an independent decoder (cbor-x) reads back what was requested', () => {
    const ud = new Uint8Array([1, 2, 3]);
    return pki.attest({ pcrs: { ...SIM_PCRS, 16: 'ee'.repeat(48) }, userData: ud, timestamp: T0 + 5 }).then((doc) => {
      const [protectedBytes, unprotected, payloadBytes, sig] = cborxDecode(Buffer.from(doc)) as [Uint8Array, unknown, Uint8Array, Uint8Array];
      expect(Buffer.from(protectedBytes).toString('hex')).toBe('a1013822');
      expect(unprotected).toEqual({});
      expect(sig).toHaveLength(96);
      const p = cborxDecode(Buffer.from(payloadBytes)) as Record<string, unknown>;
      expect(p.module_id).toBe(pki.moduleId);
      expect(p.digest).toBe('SHA384');
      expect(p.timestamp).toBe(BigInt(T0 + 5));
      const pcrs = p.pcrs as Record<string, Uint8Array>;
      expect(Object.keys(pcrs)).toHaveLength(17);
      expect(Buffer.from(pcrs['0']).toString('hex')).toBe(SIM_PCRS[0]);
      expect(Buffer.from(pcrs['16']).toString('hex')).toBe('ee'.repeat(48));
      expect(Buffer.from(pcrs['4']).toString('hex')).toBe(pcr4ForInstanceId(pki.instanceId));
      expect(Buffer.from(pcrs['3']).toString('hex')).toBe('00'.repeat(48));
      expect(Buffer.from(p.user_data as Uint8Array)).toEqual(Buffer.from(ud));
      expect(p.public_key).toBeNull();
      expect(p.nonce).toBeNull();
      expect(payloadBytes[0]).toBe(0xa9);
      expect(Buffer.from(payloadBytes).includes(Buffer.from('64706372 73 b1'.replace(/ /g, ''), 'hex'))).toBe(true); // "pcrs" then map(17)
    });
  });

  it('module_id and PCR4 look like genuine ones (PCR4 from the instance id in module_id)', () => {
    expect(pki.moduleId).toMatch(/^i-[0-9a-f]{17}-enc[0-9a-f]{16}$/);
    expect(pki.moduleId.startsWith(`${pki.instanceId}-enc`)).toBe(true);
  });
});

describe('PKI profile (checked with pkijs and node:crypto)', () => {
  it('root → regional(2) → zonal(1) → instance(0) → leaf(CA:false), P-384, ecdsa-with-SHA384, AWS lifetimes', async () => {
    const chain = await pki.currentChain();
    const ders = [...chain.cabundle, chain.leaf.der];
    const expectPathLen = [undefined, 2, 1, 0];
    const lifetimes = [30 * 365 * 24 * HOUR, 20 * 24 * HOUR, 5 * 24 * HOUR, 24 * HOUR, 3 * HOUR];
    ders.forEach((der, i) => {
      const c = pkijs.Certificate.fromBER(der);
      expect(c.signatureAlgorithm.algorithmId).toBe('1.2.840.10045.4.3.3');
      expect(c.subjectPublicKeyInfo.algorithm.algorithmId).toBe('1.2.840.10045.2.1');
      const n = new X509Certificate(der);
      expect(n.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
      expect(Date.parse(n.validTo) - Date.parse(n.validFrom)).toBe(lifetimes[i] + 60_000);
      expect(n.subject).toMatch(/sim/);
      const bc = c.extensions?.find((e) => e.extnID === '2.5.29.19');
      const ku = c.extensions?.find((e) => e.extnID === '2.5.29.15');
      expect(bc?.critical).toBe(true);
      const bcValue = bc?.parsedValue as pkijs.BasicConstraints;
      if (i < 4) {
        expect(bcValue.cA).toBe(true);
        expect(n.ca).toBe(true);
        expect(bcValue.pathLenConstraint).toBe(expectPathLen[i]);
        expect(ku?.critical).toBe(true);
        // keyCertSign (0x04) present: first byte of the KeyUsage bits.
        expect((ku?.parsedValue as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView[0] & 0x04).toBe(0x04);
      } else {
        expect(bcValue.cA).toBe(false);
        expect(n.ca).toBe(false);
        expect(ku?.critical).toBe(false);
        // digitalSignature (0x80) + nonRepudiation (0x40).
        expect((ku?.parsedValue as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView[0]).toBe(0xc0);
        expect(c.extensions?.some((e) => e.extnID === '2.5.29.14' || e.extnID === '2.5.29.35')).toBe(false);
      }
      if (i > 0) expect(new X509Certificate(der).checkIssued(new X509Certificate(ders[i - 1]))).toBe(true);
      if (i > 0) expect(new X509Certificate(der).verify(new X509Certificate(ders[i - 1]).publicKey)).toBe(true);
    });
    expect(new X509Certificate(ders[0]).subject.split('\n')).toContain('CN=sim.nitro-enclaves');
  });
});

describe('roots', () => {
  it('simulated documents verify under the simulated root with the real clock, and fail under the AWS root', async () => {
    const live = await SimulatedNsmPki.ephemeral();
    const doc = await live.attest({ pcrs: SIM_PCRS });
    await expect(verifyAttestationDocument(doc, { trustedRoots: [live.trustedRoot()], at: Date.now(), expectedPcrs: SIM_PCRS, maxAgeMs: 60_000 })).resolves.toMatchObject({
      moduleId: live.moduleId,
    });
    await expectCode(verifyAttestationDocument(doc, { trustedRoots: [awsNitroRootG1()], at: Date.now(), expectedPcrs: SIM_PCRS }), 'ATTESTATION_UNTRUSTED_ROOT');
  });

  it('genuine documents fail under the simulated root', async () => {
    for (const d of productionDocs) {
      await expectCode(
        verifyAttestationDocument(docBytes(d), { trustedRoots: [pki.trustedRoot()], at: d.suggested_verification_time_ms, expectedPcrs: manifestPcrs(d) }),
        'ATTESTATION_UNTRUSTED_ROOT',
      );
    }
  });

  it('a second simulated PKI is a different root: documents do not cross', async () => {
    const other = await fixedPki();
    await expectCode(
      verifyAttestationDocument(simDoc, { trustedRoots: [other.trustedRoot()], at: T0 + 1000, expectedPcrs: SIM_PCRS }),
      'ATTESTATION_UNTRUSTED_ROOT',
    );
    expect(Buffer.compare(other.rootDer, pki.rootDer)).not.toBe(0);
  });

  it('rootPem() round-trips to the same DER', () => {
    expect(Buffer.compare(new X509Certificate(pki.rootPem()).raw, pki.rootDer)).toBe(0);
  });

  it('a tag-18 document signed by the simulated leaf verifies', async () => {
    const chain = await pki.currentChain();
    const tagged = signCoseSign1(decodeCoseSign1(simDoc).payload, chain.leaf.privateKey, { tag18: true });
    expect(tagged[0]).toBe(0xd2);
    await expect(verifyAttestationDocument(tagged, { trustedRoots: [pki.trustedRoot()], at: T0 + 1000, expectedPcrs: SIM_PCRS })).resolves.toBeDefined();
  });
});

describe('leaf lifetime and re-issue', () => {
  it('reuses the leaf for an hour, then issues a new one; CAs are re-issued before they expire', async () => {
    let clock = T0;
    const p = await SimulatedNsmPki.ephemeral({ now: () => clock });
    const first = await p.currentChain();
    clock += 59 * 60_000;
    expect((await p.currentChain()).leaf.der).toEqual(first.leaf.der);
    clock += 2 * 60_000;
    const second = await p.currentChain();
    expect(second.leaf.der).not.toEqual(first.leaf.der);
    expect(second.cabundle[3]).toEqual(first.cabundle[3]);
    // 22 h later the 24 h instance CA has < 3 h left: re-issued, root unchanged.
    clock = T0 + 22 * HOUR;
    const third = await p.currentChain();
    expect(third.cabundle[3]).not.toEqual(first.cabundle[3]);
    expect(third.cabundle[0]).toEqual(first.cabundle[0]);
    // Every document stays verifiable for at least two hours after signing, at any point.
    for (const t of [T0, T0 + 30 * 60_000, T0 + 21.5 * HOUR, T0 + 30 * 24 * HOUR]) {
      clock = t;
      const doc = await p.attest({ pcrs: SIM_PCRS });
      for (const at of [t, t + 2 * HOUR]) {
        await expect(verifyAttestationDocument(doc, { trustedRoots: [p.trustedRoot()], at, expectedPcrs: SIM_PCRS })).resolves.toBeDefined();
      }
    }
  });

  it('concurrent attest calls share one consistent chain', async () => {
    const p = await fixedPki();
    const docs = await Promise.all(Array.from({ length: 5 }, () => p.attest({ pcrs: SIM_PCRS })));
    const leaves = new Set(docs.map((d) => Buffer.from(parseAttestationPayload(decodeCoseSign1(d).payload).certificate).toString('hex')));
    expect(leaves.size).toBe(1);
    for (const d of docs) {
      await expect(verifyAttestationDocument(d, { trustedRoots: [p.trustedRoot()], at: T0 + 1000, expectedPcrs: SIM_PCRS })).resolves.toBeDefined();
    }
  });

  it('refuses requests the real NSM would refuse', async () => {
    const bad: AttestRequest[] = [
      { pcrs: { 32: SIM_PCRS[0] } },
      { pcrs: { 0: 'abcd' } },
      { pcrs: { 0: new Uint8Array(32) } },
      { userData: new Uint8Array(1025) },
      { nonce: new Uint8Array(1025) },
      { publicKey: new Uint8Array(0) },
      { moduleId: '' },
      { timestamp: -5 },
    ];
    for (const req of bad) {
      await expect(pki.attest(req)).rejects.toMatchObject({ code: 'SIM_NSM_BAD_REQUEST' });
    }
    await expect(pki.attest({ pcrs: { 0: new Uint8Array(32) } })).rejects.toBeInstanceOf(SimulatedNsmError);
  });
});

describe('persistence', () => {
  it('reopening the directory keeps the root (and the current chain), with private files', async () => {
    const d = path.join(dir, 'state1');
    const a = await SimulatedNsmPki.open(d, { now: () => T0 });
    const docA = await a.attest({ pcrs: SIM_PCRS });
    const b = await SimulatedNsmPki.open(d, { now: () => T0 + 1000 });
    expect(b.rootDer).toEqual(a.rootDer);
    expect(b.instanceId).toBe(a.instanceId);
    expect((await b.currentChain()).leaf.der).toEqual((await a.currentChain()).leaf.der);
    const docB = await b.attest({ pcrs: SIM_PCRS });
    for (const doc of [docA, docB]) {
      await expect(verifyAttestationDocument(doc, { trustedRoots: [a.trustedRoot()], at: T0 + 2000, expectedPcrs: SIM_PCRS })).resolves.toBeDefined();
    }
    const files = (await readdir(d)).sort();
    expect(files).toEqual(['instance.pem', 'leaf.pem', 'regional.pem', 'root.pem', 'zonal.pem']);
    for (const f of files) expect((await stat(path.join(d, f))).mode & 0o777).toBe(0o600);
    expect(await readFile(path.join(d, 'root.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE[\s\S]*BEGIN PRIVATE KEY/);
  });

  it('two processes opening an empty directory at once agree on one root', async () => {
    const d = path.join(dir, 'race');
    const [a, b, c] = await Promise.all([SimulatedNsmPki.open(d), SimulatedNsmPki.open(d), SimulatedNsmPki.open(d)]);
    expect(b.rootDer).toEqual(a.rootDer);
    expect(c.rootDer).toEqual(a.rootDer);
    expect((await readdir(d)).filter((f) => f.endsWith('.new'))).toEqual([]);
  });

  it('a missing or stale intermediate is simply re-issued under the same root', async () => {
    const d = path.join(dir, 'state2');
    const a = await SimulatedNsmPki.open(d, { now: () => T0 });
    await a.attest({});
    await unlink(path.join(d, 'zonal.pem'));
    const b = await SimulatedNsmPki.open(d, { now: () => T0 });
    const chain = await b.currentChain();
    expect(chain.cabundle[0]).toEqual(a.rootDer);
    const doc = await b.attest({ pcrs: SIM_PCRS });
    await expect(verifyAttestationDocument(doc, { trustedRoots: [a.trustedRoot()], at: T0 + 1, expectedPcrs: SIM_PCRS })).resolves.toBeDefined();
  });

  it('corrupt state is a typed error, never a silent reset', async () => {
    const d = path.join(dir, 'state3');
    const a = await SimulatedNsmPki.open(d, { now: () => T0 });
    await a.attest({});
    const rootPath = path.join(d, 'root.pem');
    const original = await readFile(rootPath, 'utf8');
    const zonal = await readFile(path.join(d, 'zonal.pem'), 'utf8');
    const corruptions = [
      'garbage',
      original.replace(/BEGIN PRIVATE KEY[\s\S]*/, ''), // key missing
      original.replace(/(-----BEGIN CERTIFICATE-----\n)(.)/, '$1A'), // certificate bytes altered
      original.split('-----BEGIN PRIVATE KEY-----')[0] + '-----BEGIN PRIVATE KEY-----' + zonal.split('-----BEGIN PRIVATE KEY-----')[1], // another level's key
    ];
    for (const text of corruptions) {
      await writeFile(rootPath, text);
      await expect(SimulatedNsmPki.open(d, { now: () => T0 })).rejects.toMatchObject({ code: 'SIM_NSM_STATE_CORRUPT' });
      // The corrupt file is left as it was: nothing was regenerated behind the user's back.
      expect(await readFile(rootPath, 'utf8')).toBe(text);
    }
    await writeFile(rootPath, original);
    await writeFile(path.join(d, 'zonal.pem'), 'not a pem');
    const err = await SimulatedNsmPki.open(d, { now: () => T0 }).then(
      () => null,
      (e: unknown) => e as SimulatedNsmError,
    );
    expect(err?.code).toBe('SIM_NSM_STATE_CORRUPT');
    expect(err?.hint).toContain('zonal.pem');
    await writeFile(path.join(d, 'zonal.pem'), zonal);
    expect((await SimulatedNsmPki.open(d, { now: () => T0 })).rootDer).toEqual(a.rootDer);
  });

  it('an unreadable state directory is an I/O error', async () => {
    const file = path.join(dir, 'a-file');
    await writeFile(file, 'x');
    await expect(SimulatedNsmPki.open(path.join(file, 'sub'))).rejects.toMatchObject({ code: 'SIM_NSM_STATE_IO' });
  });
});
