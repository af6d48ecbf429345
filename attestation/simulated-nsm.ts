/**
 * A simulated Nitro Secure Module: a local P-384 PKI shaped like AWS's (root without pathLen →
 * regional pathLen 2 → zonal pathLen 1 → instance pathLen 0 → 3-hour leaf) that signs
 * attestation documents in the exact byte layout of genuine ones, so the same verifier, KMS
 * policy evaluator and receipt checker run unchanged in simulation. Names are shaped like
 * AWS's but say "simulated" (root CN=sim.nitro-enclaves), and the root is never AWS's, so a
 * simulated document can never pass under the pinned AWS root.
 *
 * State lives in a directory (one PEM file per level holding certificate and private key,
 * mode 0600, written atomically) so a restart keeps the same root. A corrupt root is a typed
 * error, never a silent reset; expired or unlinked intermediates are simply re-issued.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { link, mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AttestedPackError, type ErrorCategory, type ErrorOptions } from '../common/errors.js';
import { bytesEqual, toHex } from '../common/bytes.js';
import { writeFileAtomic } from '../common/fs.js';
import { encodeCoseSign1, NSM_PROTECTED_HEADER, sigStructure } from './cose.js';
import { encodeAttestationPayload, PAYLOAD_LIMITS, type AttestationPayload } from './payload.js';
import { derToPem, pemToDerList, trustedRootFromDer, type TrustedRoot } from './roots.js';
import { CertificateParseError, KEY_USAGE, parseCertificate, type ParsedCertificate } from './x509.js';
import { issueCertificate, keyIdentifier, type NameSpec } from './x509-build.js';
import { PCR_LENGTH, pcr4ForInstanceId, pcrBytes } from './pcr.js';
import { children, parseDer, readOid } from './der.js';

/**
 * Codes of the simulated NSM:
 * - SIM_NSM_STATE_CORRUPT  a state file is unreadable as PEM/certificate/key, or the root key does not match
 * - SIM_NSM_STATE_IO       the state directory cannot be read or written
 * - SIM_NSM_ROOT_EXPIRED   the simulated root is (nearly) expired; a new state directory is needed
 * - SIM_NSM_BAD_REQUEST    an attestation request the real NSM would refuse (PCR index, sizes)
 */
export type SimulatedNsmErrorCode = 'SIM_NSM_STATE_CORRUPT' | 'SIM_NSM_STATE_IO' | 'SIM_NSM_ROOT_EXPIRED' | 'SIM_NSM_BAD_REQUEST';

/** A failure of the simulated NSM (state directory or request). */
export class SimulatedNsmError extends AttestedPackError {
  static override defaultCategory: ErrorCategory = 'input';
  declare readonly code: SimulatedNsmErrorCode;
  constructor(code: SimulatedNsmErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, { ...options, category: options.category ?? (code === 'SIM_NSM_STATE_IO' ? 'unavailable' : 'input') });
  }
}

/** What an enclave asks the NSM to attest (same fields as the NSM `Attestation` request, plus PCRs). */
export interface AttestRequest {
  /** PCR index → 48-byte value (bytes or hex). Unset 0..15 are zero, except PCR4 (parent instance ID). */
  pcrs?: Readonly<Record<number, Uint8Array | string>>;
  /** Defaults to this PKI's `moduleId`. */
  moduleId?: string;
  userData?: Uint8Array | null;
  nonce?: Uint8Array | null;
  publicKey?: Uint8Array | null;
  /** Document timestamp (ms); defaults to the clock. */
  timestamp?: number;
}

/** One level of the PKI: its certificate and private key. */
export interface PkiLevel {
  name: LevelName;
  der: Uint8Array;
  cert: ParsedCertificate;
  privateKey: KeyObject;
  subject: NameSpec;
}

/** The chain the next document will be signed with (root first in `cabundle`, like genuine ones). */
export interface SimulatedChain {
  leaf: PkiLevel;
  /** root, regional, zonal, instance — DER, root first. */
  cabundle: Uint8Array[];
  levels: Readonly<Record<LevelName, PkiLevel>>;
}

type LevelName = 'root' | 'regional' | 'zonal' | 'instance' | 'leaf';
const LEVELS: readonly LevelName[] = ['root', 'regional', 'zonal', 'instance', 'leaf'];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Lifetimes like AWS's (reference §1.3). */
const LIFETIME: Record<LevelName, number> = { root: 30 * 365 * DAY, regional: 20 * DAY, zonal: 5 * DAY, instance: DAY, leaf: 3 * HOUR };
/**
 * Re-issue a level when less than this remains: every CA must outlive a fresh child, and a
 * leaf is used for at most one hour, so a document stays verifiable for at least two hours.
 */
const RENEW_BEFORE: Record<LevelName, number> = { root: 20 * DAY, regional: 5 * DAY, zonal: DAY, instance: 3 * HOUR, leaf: 2 * HOUR };
/** Certificates are back-dated a little so verifiers with slightly slow clocks accept them. */
const BACKDATE_MS = 60_000;
const REGION = 'sim-region-1';
const ORG = 'attested-pack (simulated)';
const CA_USAGE = KEY_USAGE.digitalSignature | KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign;

/** A PKI that signs genuine-format attestation documents; open a persistent one or make an ephemeral one. */
export class SimulatedNsmPki {
  /** DER of the simulated root (what verifiers pin instead of the AWS root). */
  readonly rootDer: Uint8Array;
  /** The simulated parent instance ID (`i-` + 17 hex), derived from the root key. */
  readonly instanceId: string;
  /** Default module_id: `<instanceId>-enc<16 hex>`, fresh per opened PKI like an enclave ID. */
  readonly moduleId: string;

  private readonly levels: Partial<Record<LevelName, PkiLevel>>;
  private readonly dir: string | null;
  private readonly now: () => number;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Child level → the parent level whose key its signature was checked against. Levels are
   * immutable and replaced (never edited) on re-issue, so a hit means the signature check would
   * give the same answer; this keeps a P-384 verification per level off every `attest` call.
   */
  private readonly verifiedUnder = new WeakMap<PkiLevel, PkiLevel>();

  private constructor(dir: string | null, root: PkiLevel, now: () => number) {
    this.dir = dir;
    this.now = now;
    this.levels = { root };
    this.rootDer = root.der;
    const rootKeyId = createHash('sha256').update(root.cert.spki).digest('hex');
    this.instanceId = `i-${rootKeyId.slice(0, 17)}`;
    this.moduleId = `${this.instanceId}-enc${randomBytes(8).toString('hex')}`;
  }

  /** Opens (or creates) a persistent PKI in `dir`; reopening keeps the same root. */
  static async open(dir: string, opts: { now?: () => number } = {}): Promise<SimulatedNsmPki> {
    const now = opts.now ?? Date.now;
    await io(`create ${dir}`, () => mkdir(dir, { recursive: true, mode: 0o700 }));
    let root = await readLevel(dir, 'root');
    if (!root) root = await createRootExclusively(dir, now());
    const pki = new SimulatedNsmPki(dir, root, now);
    checkRootUsable(root, now());
    for (const name of LEVELS.slice(1)) {
      const level = await readLevel(dir, name);
      if (level) pki.levels[name] = level;
    }
    return pki;
  }

  /** A PKI that lives only in memory (tests). */
  static async ephemeral(opts: { now?: () => number } = {}): Promise<SimulatedNsmPki> {
    const now = opts.now ?? Date.now;
    return new SimulatedNsmPki(null, makeRoot(now()), now);
  }

  /** The root as PEM (for `attested-pack attestation verify --root`). */
  rootPem(): string {
    return derToPem(this.rootDer);
  }

  /** The root as a trust anchor for `verifyAttestationDocument`. */
  trustedRoot(): TrustedRoot {
    return trustedRootFromDer(this.rootDer);
  }

  /** Signs an attestation document for `req` with a current leaf, in the genuine byte layout. */
  async attest(req: AttestRequest = {}): Promise<Uint8Array> {
    const payloadFields = this.payloadFor(req);
    const chain = await this.currentChain();
    const payload: AttestationPayload = { ...payloadFields, certificate: chain.leaf.der, cabundle: chain.cabundle };
    return buildAttestationDocument(payload, chain.leaf.privateKey);
  }

  /**
   * The chain (with private keys) the next document will use, re-issuing expired or
   * near-expiry levels first. For tests that craft mis-built documents and for `attest`.
   */
  async currentChain(): Promise<SimulatedChain> {
    const run = this.queue.then(() => this.refresh());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async refresh(): Promise<SimulatedChain> {
    const t = this.now();
    const root = this.levels.root!;
    checkRootUsable(root, t);
    let parent = root;
    let parentChanged = false;
    for (const name of LEVELS.slice(1)) {
      const existing = this.levels[name];
      const stale =
        parentChanged ||
        !existing ||
        t < existing.cert.notBefore ||
        t + RENEW_BEFORE[name] > existing.cert.notAfter ||
        !bytesEqual(existing.cert.issuerRaw, parent.cert.subjectRaw) ||
        !this.isSignedBy(existing, parent);
      if (stale) {
        const level = issueLevel(name, parent, t, this.instanceId, this.moduleId);
        this.levels[name] = level;
        if (this.dir) await writeLevel(this.dir, level);
        parentChanged = true;
      }
      parent = this.levels[name]!;
    }
    const levels = this.levels as Record<LevelName, PkiLevel>;
    return { leaf: levels.leaf, cabundle: [levels.root.der, levels.regional.der, levels.zonal.der, levels.instance.der], levels };
  }

  /** Whether `child` is signed by `parent`'s key, checked once per (child, parent) pair. */
  private isSignedBy(child: PkiLevel, parent: PkiLevel): boolean {
    if (this.verifiedUnder.get(child) === parent) return true;
    if (!signedBy(child.cert, parent.cert)) return false;
    this.verifiedUnder.set(child, parent);
    return true;
  }

  private payloadFor(req: AttestRequest): Omit<AttestationPayload, 'certificate' | 'cabundle'> {
    const bad = (message: string): never => {
      throw new SimulatedNsmError('SIM_NSM_BAD_REQUEST', message);
    };
    const pcrs = new Map<number, Uint8Array>();
    for (let i = 0; i < 16; i++) pcrs.set(i, new Uint8Array(PCR_LENGTH));
    pcrs.set(4, pcrBytes(pcr4ForInstanceId(this.instanceId)));
    for (const [k, v] of Object.entries(req.pcrs ?? {})) {
      const index = /^\d{1,2}$/.test(k) ? Number(k) : NaN;
      if (!(index >= 0 && index < 32)) bad(`PCR index ${JSON.stringify(k)} is not 0..31`);
      try {
        pcrs.set(index, pcrBytes(v));
      } catch {
        bad(`PCR${index} must be 48 bytes (or 96 hex characters)`);
      }
    }
    const field = (name: string, v: Uint8Array | null | undefined, min: number, max: number): Uint8Array | null => {
      if (v === undefined || v === null) return null;
      if (!(v instanceof Uint8Array) || v.length < min || v.length > max) bad(`${name} must be ${min}..${max} bytes`);
      return new Uint8Array(v);
    };
    const moduleId = req.moduleId ?? this.moduleId;
    if (typeof moduleId !== 'string' || moduleId.length === 0) bad('moduleId must be a non-empty string');
    const timestamp = req.timestamp ?? this.now();
    if (!Number.isSafeInteger(timestamp) || timestamp <= 0) bad('timestamp must be a positive integer (ms)');
    return {
      moduleId,
      digest: 'SHA384',
      timestamp,
      pcrs,
      publicKey: field('publicKey', req.publicKey, 1, PAYLOAD_LIMITS.publicKey),
      userData: field('userData', req.userData, 0, PAYLOAD_LIMITS.userData),
      nonce: field('nonce', req.nonce, 0, PAYLOAD_LIMITS.nonce),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Document building (also used by tests to craft mis-built documents)

/** Signs COSE_Sign1 over `payload` bytes with an ES384 key; options allow non-genuine layouts for tests. */
export function signCoseSign1(
  payload: Uint8Array,
  signingKey: KeyObject,
  opts: { protectedBytes?: Uint8Array; tag18?: boolean; hash?: 'sha384' | 'sha256' } = {},
): Uint8Array {
  const protectedBytes = opts.protectedBytes ?? NSM_PROTECTED_HEADER;
  const signature = cryptoSign(opts.hash ?? 'sha384', sigStructure(protectedBytes, payload), { key: signingKey, dsaEncoding: 'ieee-p1363' });
  return encodeCoseSign1({ protectedBytes, payload, signature, tag18: opts.tag18 });
}

/** Encodes payload fields in the genuine layout and signs them: a complete attestation document. */
export function buildAttestationDocument(payload: AttestationPayload, signingKey: KeyObject): Uint8Array {
  return signCoseSign1(encodeAttestationPayload(payload), signingKey);
}

// ---------------------------------------------------------------------------------------------
// PKI levels

function newKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
}

function subjectFor(name: LevelName, instanceId: string, moduleId: string): NameSpec {
  const tag = randomBytes(8).toString('hex');
  switch (name) {
    case 'root':
      return [['C', 'US'], ['O', ORG], ['OU', 'SIM'], ['CN', 'sim.nitro-enclaves']];
    case 'regional':
      return [['C', 'US'], ['O', ORG], ['OU', 'SIM'], ['CN', `${tag}.${REGION}.sim.nitro-enclaves`]];
    case 'zonal':
      return [['CN', `${tag}.zonal.${REGION}.sim.nitro-enclaves`], ['OU', 'SIM'], ['O', ORG], ['C', 'US'], ['ST', 'Simulated'], ['L', 'Simulated']];
    case 'instance':
      return [['C', 'US'], ['ST', 'Simulated'], ['L', 'Simulated'], ['O', ORG], ['OU', 'SIM'], ['CN', `${instanceId}.${REGION}.sim.nitro-enclaves`]];
    case 'leaf':
      return [['C', 'US'], ['ST', 'Simulated'], ['L', 'Simulated'], ['O', ORG], ['OU', 'SIM'], ['CN', `${moduleId}.${REGION}.sim`]];
  }
}

function makeRoot(t: number): PkiLevel {
  const keys = newKey();
  const subject = subjectFor('root', '', '');
  const der = issueCertificate({
    subject,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    notBefore: t - BACKDATE_MS,
    notAfter: t + LIFETIME.root,
    basicConstraints: { ca: true, critical: true },
    keyUsage: { bits: CA_USAGE, critical: true },
    subjectKeyIdentifier: true,
  });
  return { name: 'root', der, cert: parseCertificate(der), privateKey: keys.privateKey, subject };
}

function issueLevel(name: LevelName, parent: PkiLevel, t: number, instanceId: string, moduleId: string): PkiLevel {
  const keys = newKey();
  const subject = subjectFor(name, instanceId, moduleId);
  const common = {
    subject,
    issuer: parent.subject,
    publicKey: keys.publicKey,
    signingKey: parent.privateKey,
    notBefore: t - BACKDATE_MS,
    notAfter: t + LIFETIME[name],
  };
  let der: Uint8Array;
  if (name === 'leaf') {
    // Like AWS: critical CA:FALSE, non-critical digitalSignature + nonRepudiation, no key identifiers.
    der = issueCertificate({
      ...common,
      basicConstraints: { ca: false, critical: true },
      keyUsage: { bits: KEY_USAGE.digitalSignature | KEY_USAGE.nonRepudiation, critical: false },
    });
  } else {
    const pathLen = name === 'regional' ? 2 : name === 'zonal' ? 1 : 0;
    der = issueCertificate({
      ...common,
      basicConstraints: { ca: true, pathLen, critical: true },
      keyUsage: { bits: name === 'instance' ? KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign : CA_USAGE, critical: true },
      subjectKeyIdentifier: name !== 'instance',
      authorityKeyIdentifier: name !== 'instance' ? keyIdentifier(parent.cert.publicKey) : null,
    });
  }
  return { name, der, cert: parseCertificate(der), privateKey: keys.privateKey, subject };
}

function signedBy(child: ParsedCertificate, parent: ParsedCertificate): boolean {
  try {
    return cryptoVerify('sha384', child.tbs, { key: parent.publicKey, dsaEncoding: 'der' }, child.signatureValue);
  } catch {
    return false;
  }
}

function checkRootUsable(root: PkiLevel, t: number): void {
  if (t + RENEW_BEFORE.root > root.cert.notAfter) {
    throw new SimulatedNsmError('SIM_NSM_ROOT_EXPIRED', `simulated NSM root expires ${new Date(root.cert.notAfter).toISOString()}`, {
      hint: 'point the simulator at a new state directory; every party must then pin the new root',
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Persistence: <dir>/<level>.pem = CERTIFICATE block + PRIVATE KEY block, mode 0600.

function levelPath(dir: string, name: LevelName): string {
  return join(dir, `${name}.pem`);
}

function serializeLevel(level: PkiLevel): string {
  const keyPem = level.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return `${derToPem(level.der)}${keyPem}`;
}

async function readLevel(dir: string, name: LevelName): Promise<PkiLevel | null> {
  const path = levelPath(dir, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SimulatedNsmError('SIM_NSM_STATE_IO', `cannot read ${path}`, { cause: err });
  }
  return parseLevel(text, name, path);
}

function parseLevel(text: string, name: LevelName, path: string): PkiLevel {
  const corrupt = (why: string, cause?: unknown): never => {
    throw new SimulatedNsmError('SIM_NSM_STATE_CORRUPT', `simulated NSM state file ${path} is corrupt: ${why}`, {
      hint:
        name === 'root'
          ? 'restore it from a backup, or use a new state directory (every verifier must then pin the new root)'
          : `delete ${path} and it will be re-issued`,
      ...(cause === undefined ? {} : { cause }),
    });
  };
  let ders: Uint8Array[];
  try {
    ders = pemToDerList(text);
  } catch (err) {
    return corrupt('certificate PEM is not valid', err);
  }
  if (ders.length !== 1) corrupt(`expected one certificate, found ${ders.length}`);
  let cert: ParsedCertificate;
  try {
    cert = parseCertificate(ders[0]);
  } catch (err) {
    return corrupt(err instanceof CertificateParseError ? err.message : 'certificate unreadable', err);
  }
  const keyMatch = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/.exec(text);
  if (!keyMatch) corrupt('no PRIVATE KEY block');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: keyMatch![0], format: 'pem' });
  } catch (err) {
    return corrupt('private key is not valid PKCS#8', err);
  }
  const derivedPublic = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
  if (!bytesEqual(derivedPublic, cert.spki)) corrupt('private key does not belong to the certificate');
  return { name, der: cert.der, cert, privateKey, subject: nameSpecOf(cert) };
}

/**
 * Reconstructs the NameSpec of a stored certificate from its raw subject, so children issued
 * after a restart carry an issuer name byte-identical to the parent's subject.
 */
function nameSpecOf(cert: ParsedCertificate): NameSpec {
  return decodeNameSpec(cert.subjectRaw);
}

const OID_TO_ATTR: Record<string, 'C' | 'ST' | 'L' | 'O' | 'OU' | 'CN'> = {
  '2.5.4.6': 'C',
  '2.5.4.8': 'ST',
  '2.5.4.7': 'L',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.3': 'CN',
};

function decodeNameSpec(raw: Uint8Array): NameSpec {
  const out: Array<readonly ['C' | 'ST' | 'L' | 'O' | 'OU' | 'CN', string]> = [];
  for (const rdn of children(parseDer(raw))) {
    for (const atv of children(rdn)) {
      const [typeNode, valueNode] = children(atv);
      const attr = OID_TO_ATTR[readOid(typeNode)];
      if (!attr) throw new CertificateParseError('unexpected name attribute in simulated PKI state');
      out.push([attr, Buffer.from(valueNode.content).toString('utf8')] as const);
    }
  }
  return out;
}

async function writeLevel(dir: string, level: PkiLevel): Promise<void> {
  await io(`write ${levelPath(dir, level.name)}`, () => writeFileAtomic(levelPath(dir, level.name), serializeLevel(level), { mode: 0o600 }));
}

/**
 * Creates the root so that two processes opening the same empty directory agree on one root:
 * the file is written under a temporary name and hard-linked into place, which fails if
 * another process got there first — then that root is used.
 */
async function createRootExclusively(dir: string, t: number): Promise<PkiLevel> {
  const root = makeRoot(t);
  const final = levelPath(dir, 'root');
  const tmp = join(dir, `.root.${toHex(randomBytes(6))}.new`);
  await io(`write ${tmp}`, () => writeFileAtomic(tmp, serializeLevel(root), { mode: 0o600 }));
  try {
    await link(tmp, final);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      await unlink(tmp).catch(() => undefined);
      throw new SimulatedNsmError('SIM_NSM_STATE_IO', `cannot create ${final}`, { cause: err });
    }
  }
  await unlink(tmp).catch(() => undefined);
  const stored = await readLevel(dir, 'root');
  if (!stored) throw new SimulatedNsmError('SIM_NSM_STATE_IO', `${final} vanished after creation`);
  return stored;
}

async function io<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof AttestedPackError) throw err;
    throw new SimulatedNsmError('SIM_NSM_STATE_IO', `simulated NSM state: cannot ${what}`, { cause: err });
  }
}
