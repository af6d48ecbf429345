/**
 * The `sops` metadata block: reading it (with the weak typing sops applies, so dotenv/INI
 * strings like "true" and "2" work), validating it as sops does, and writing it back in the
 * layout of a given sops version. Nothing here needs the data key.
 */
import { SopsError } from './errors.js';
import { unflatten, flatten, type FlatTreeValue, type Flattenable } from './flatten.js';
import { goAtoi, goFormatFloatF, goParseBool, goParseRfc3339 } from './go-format.js';
import type { SopsLayout } from './layout.js';
import { CRYPT_RULE_KINDS, DEFAULT_RULE, type CryptRule, type CryptRuleKind } from './rules.js';
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, type SopsValue } from './tree.js';

/** The file formats (stores) of sops. */
export type SopsFormat = 'yaml' | 'json' | 'dotenv' | 'ini' | 'binary';

/** An age recipient entry: the data key (or Shamir share) encrypted to one age recipient. */
export interface AgeMasterKey {
  type: 'age';
  recipient: string;
  /** ASCII-armored age file. */
  enc: string;
}

/** An AWS KMS entry: the data key (or share) encrypted by `kms:Encrypt` under `arn`. */
export interface KmsMasterKey {
  type: 'kms';
  arn: string;
  role?: string;
  /** Encryption context (string values only; null values are dropped as sops does). */
  context?: Record<string, string>;
  /** RFC 3339 creation time as written. */
  createdAt: string;
  /** base64 of the KMS CiphertextBlob. */
  enc: string;
  awsProfile: string;
}

/** A PGP entry: the data key (or share) in an armored OpenPGP message. */
export interface PgpMasterKey {
  type: 'pgp';
  fp: string;
  createdAt: string;
  enc: string;
}

/** Key sources this codec reads but cannot use (GCP KMS, Azure Key Vault, Vault transit, Huawei KMS). */
export interface OtherMasterKey {
  type: 'gcp_kms' | 'azure_kv' | 'hc_vault' | 'hckms';
  /** The identifying fields as written (resource_id, vault_url/name/version, …). */
  fields: Record<string, string>;
  createdAt: string;
  enc: string;
}

/** Any master key entry. */
export type SopsMasterKey = AgeMasterKey | KmsMasterKey | PgpMasterKey | OtherMasterKey;

/** The master key types, in the order sops loads them within a group. */
export const KEY_TYPES_LOAD_ORDER = ['kms', 'gcp_kms', 'hckms', 'azure_kv', 'hc_vault', 'pgp', 'age'] as const;
/** Master key type names. */
export type SopsKeyType = (typeof KEY_TYPES_LOAD_ORDER)[number];

/** Parsed and validated metadata of an encrypted file. */
export interface SopsMetadata {
  /** `lastmodified` exactly as written (the MAC's AAD is its Go re-formatting). */
  lastModified: string;
  /** The encrypted MAC (`ENC[...]`), "" when missing. */
  mac: string;
  /** The sops version that wrote the file, "" when missing. */
  version: string;
  /** The effective encryption rule (sops' default `unencrypted_suffix: _unencrypted` when none is written). */
  rule: CryptRule;
  /** Whether the rule was written in the file (false when the default applies). */
  ruleExplicit: boolean;
  macOnlyEncrypted: boolean;
  /** 0 when absent. */
  shamirThreshold: number;
  /** Key groups; a file with flat key lists has exactly one group. Keys in sops' load order. */
  keyGroups: SopsMasterKey[][];
  /** True when the groups came from `key_groups` (Shamir), false for flat top-level lists. */
  keyGroupsExplicit: boolean;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** A metadata node as decoded from any store, before typing. */
export type MdValue = string | bigint | number | boolean | null | MdValue[] | Map<string, MdValue>;

/** Converts the `sops` subtree of a YAML/JSON document to the generic metadata form. */
export function sopsValueToMd(v: SopsValue): MdValue {
  if (v instanceof SopsMap) {
    const m = new Map<string, MdValue>();
    for (const e of v.entries) if (!(e instanceof SopsComment)) m.set(e.key, sopsValueToMd(e.value));
    return m;
  }
  if (Array.isArray(v)) return v.filter((x) => !(x instanceof SopsComment)).map(sopsValueToMd);
  if (v instanceof SopsInt) return v.value;
  if (v instanceof SopsFloat) return v.value;
  if (v instanceof SopsBytes) return Buffer.from(v.bytes).toString('latin1');
  if (v instanceof SopsComment) return null;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  return v.text;
}

function flatToMd(v: FlatTreeValue): MdValue {
  if (v === undefined) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return Array.from(v, (x) => flatToMd(x));
  const m = new Map<string, MdValue>();
  for (const [k, x] of v) m.set(k, flatToMd(x));
  return m;
}

/**
 * Builds the metadata map of the dotenv / INI stores from their flat `key → value` pairs
 * (prefix already removed): `\n` escapes decoded, then un-flattened.
 */
export function flatMetadataToMd(flat: ReadonlyArray<readonly [string, string]>): Map<string, MdValue> {
  const decoded = flat.map(([k, v]) => [k, v.replaceAll('\\n', '\n')] as const);
  const md = flatToMd(unflatten(decoded)) as Map<string, MdValue>;
  // DecodeNonStrings: only these two fields are typed in flat stores.
  const moe = md.get('mac_only_encrypted');
  if (moe !== undefined) md.set('mac_only_encrypted', moe === 'true');
  const st = md.get('shamir_threshold');
  if (typeof st === 'string') {
    const n = goAtoi(st);
    if (n === undefined) throw bad('shamir_threshold is not an integer');
    md.set('shamir_threshold', n);
  }
  return md;
}

function bad(message: string): SopsError {
  return new SopsError('SOPS_BAD_METADATA', `invalid sops metadata: ${message}`, {
    hint: 'the metadata block was edited by hand or written by an incompatible tool',
  });
}

// Weak typing (mapstructure WeaklyTypedInput).
function asString(v: MdValue | undefined, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return goFormatFloatF(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  throw bad(`${field} must be a string`);
}

function asBool(v: MdValue | undefined, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    if (v === '') return false;
    const b = goParseBool(v);
    if (b === undefined) throw bad(`${field} must be a boolean`);
    return b;
  }
  throw bad(`${field} must be a boolean`);
}

function asInt(v: MdValue | undefined, field: string): number {
  if (v === undefined || v === null) return 0;
  let n: number;
  if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'number') n = Math.trunc(v);
  else if (typeof v === 'boolean') n = v ? 1 : 0;
  else if (typeof v === 'string') {
    const b = goAtoi(v);
    if (b === undefined) throw bad(`${field} must be an integer`);
    n = Number(b);
  } else throw bad(`${field} must be an integer`);
  if (!Number.isSafeInteger(n) || n < 0 || n > 255) throw bad(`${field} is out of range`);
  return n;
}

function asList(v: MdValue | undefined, field: string): Array<Map<string, MdValue>> {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${field} must be a list`);
  return v.map((x, i) => {
    if (!(x instanceof Map)) throw bad(`${field}[${i}] must be a mapping`);
    return x;
  });
}

function createdAt(e: Map<string, MdValue>, field: string): string {
  const s = asString(e.get('created_at'), `${field}.created_at`);
  if (!goParseRfc3339(s)) throw bad(`${field}.created_at is not an RFC 3339 time`);
  return s;
}

function requireEnc(e: Map<string, MdValue>, field: string): string {
  const enc = e.get('enc');
  if (typeof enc !== 'string') throw bad(`${field}.enc must be a string`);
  return enc;
}

function parseKey(type: SopsKeyType, e: Map<string, MdValue>, field: string): SopsMasterKey {
  switch (type) {
    case 'age':
      return { type, recipient: asString(e.get('recipient'), `${field}.recipient`), enc: requireEnc(e, field) };
    case 'pgp':
      return { type, fp: asString(e.get('fp'), `${field}.fp`), createdAt: createdAt(e, field), enc: requireEnc(e, field) };
    case 'kms': {
      const k: KmsMasterKey = {
        type,
        arn: asString(e.get('arn'), `${field}.arn`),
        createdAt: createdAt(e, field),
        enc: requireEnc(e, field),
        awsProfile: asString(e.get('aws_profile'), `${field}.aws_profile`),
      };
      const role = asString(e.get('role'), `${field}.role`);
      if (role) k.role = role;
      const ctx = e.get('context');
      if (ctx !== undefined && ctx !== null) {
        if (!(ctx instanceof Map)) throw bad(`${field}.context must be a mapping`);
        const c: Record<string, string> = {};
        for (const [ck, cv] of ctx) if (cv !== null) c[ck] = asString(cv, `${field}.context.${ck}`);
        if (Object.keys(c).length > 0) k.context = c;
      }
      return k;
    }
    default: {
      const fields: Record<string, string> = {};
      for (const [fk, fv] of e) {
        if (fk === 'enc' || fk === 'created_at') continue;
        if (typeof fv === 'string') fields[fk] = fv;
      }
      return { type, fields, createdAt: createdAt(e, field), enc: requireEnc(e, field) };
    }
  }
}

function parseGroup(g: Map<string, MdValue>, where: string): SopsMasterKey[] {
  const keys: SopsMasterKey[] = [];
  for (const type of KEY_TYPES_LOAD_ORDER) {
    asList(g.get(type), `${where}${type}`).forEach((e, i) => keys.push(parseKey(type, e, `${where}${type}[${i}]`)));
  }
  return keys;
}

/** Validates and types a metadata map (from `sopsValueToMd` or `flatMetadataToMd`). */
export function parseMetadata(md: MdValue): SopsMetadata {
  if (!(md instanceof Map)) throw bad('the sops entry is not a mapping');
  const lastModified = asString(md.get('lastmodified'), 'lastmodified');
  if (!goParseRfc3339(lastModified)) throw bad('lastmodified is missing or not an RFC 3339 time');
  const rules: CryptRule[] = [];
  for (const kind of CRYPT_RULE_KINDS) {
    const value = asString(md.get(kind), kind);
    if (value !== '') rules.push({ kind: kind as CryptRuleKind, value });
  }
  if (rules.length > 1) {
    throw bad(`more than one encryption rule (${rules.map((r) => r.kind).join(', ')}); sops allows at most one`);
  }
  const flat = parseGroup(md, '');
  let keyGroups: SopsMasterKey[][];
  let keyGroupsExplicit = false;
  if (flat.length > 0) keyGroups = [flat];
  else {
    const groups = asList(md.get('key_groups'), 'key_groups');
    keyGroups = groups.map((g, i) => parseGroup(g, `key_groups[${i}].`));
    keyGroupsExplicit = true;
    if (keyGroups.length === 0) throw bad('no master keys found in the file');
  }
  const shamirThreshold = asInt(md.get('shamir_threshold'), 'shamir_threshold');
  if (keyGroups.length > 1 && shamirThreshold !== 0 && (shamirThreshold < 2 || shamirThreshold > keyGroups.length)) {
    throw bad(`shamir_threshold ${shamirThreshold} is impossible with ${keyGroups.length} key groups`);
  }
  return {
    lastModified,
    mac: asString(md.get('mac'), 'mac'),
    version: asString(md.get('version'), 'version'),
    rule: rules[0] ?? DEFAULT_RULE,
    ruleExplicit: rules.length === 1,
    macOnlyEncrypted: asBool(md.get('mac_only_encrypted'), 'mac_only_encrypted'),
    shamirThreshold,
    keyGroups,
    keyGroupsExplicit,
  };
}

// ---------------------------------------------------------------------------------------------
// Writing

type Entry = [string, SopsValue];

function keyEntries(k: SopsMasterKey, sorted: boolean): Entry[] {
  let e: Entry[];
  switch (k.type) {
    case 'age':
      e = [
        ['recipient', k.recipient],
        ['enc', k.enc],
      ];
      break;
    case 'pgp':
      e = [
        ['created_at', k.createdAt],
        ['enc', k.enc],
        ['fp', k.fp],
      ];
      break;
    case 'kms': {
      e = [['arn', k.arn]];
      if (k.role) e.push(['role', k.role]);
      if (k.context && Object.keys(k.context).length > 0) {
        // Go marshals map keys sorted.
        const ctx = Object.keys(k.context)
          .sort()
          .map((ck): Entry => [ck, (k.context as Record<string, string>)[ck]]);
        e.push(['context', new SopsMap(ctx.map(([key, value]) => ({ key, value })))]);
      }
      e.push(['created_at', k.createdAt], ['enc', k.enc], ['aws_profile', k.awsProfile]);
      break;
    }
    default: {
      const order: Record<OtherMasterKey['type'], string[]> = {
        gcp_kms: ['resource_id'],
        azure_kv: ['vault_url', 'name', 'version'],
        hc_vault: ['vault_address', 'engine_path', 'key_name'],
        hckms: ['key_id'],
      };
      e = order[k.type].map((f): Entry => [f, k.fields[f] ?? '']);
      e.push(['created_at', k.createdAt], ['enc', k.enc]);
    }
  }
  if (sorted) e.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return e;
}

function toMap(entries: Entry[]): SopsMap {
  return new SopsMap(entries.map(([key, value]) => ({ key, value })));
}

function keysOfType(group: readonly SopsMasterKey[], type: SopsKeyType): SopsMasterKey[] {
  return group.filter((k) => k.type === type);
}

/**
 * The metadata as the mapping sops writes under `sops:` (YAML, JSON, binary). `emptyList` is
 * what an empty key list becomes in the struct layouts: `[]` in YAML, `null` in JSON.
 */
export function metadataToTree(md: SopsMetadata, layout: SopsLayout, emptyList: 'seq' | 'null'): SopsMap {
  const sorted = layout.metadata === 'sorted';
  const list = (keys: SopsMasterKey[]): SopsValue => keys.map((k) => toMap(keyEntries(k, sorted)));
  const single = md.keyGroups.length === 1 && !md.keyGroupsExplicit;
  const flatGroup = single ? md.keyGroups[0] : [];
  const rules: Entry[] = md.ruleExplicit ? [[md.rule.kind, md.rule.value]] : [];

  if (sorted) {
    const e: Entry[] = [];
    for (const t of ['age', 'azure_kv', 'gcp_kms', 'hc_vault', 'hckms'] as const) {
      const ks = keysOfType(flatGroup, t);
      if (ks.length) e.push([t, list(ks)]);
    }
    if (!single) {
      const groups = md.keyGroups.map((g) => {
        const ge: Entry[] = [];
        for (const t of ['age', 'azure_kv', 'gcp_kms', 'hc_vault', 'hckms', 'kms', 'pgp'] as const) {
          const ks = keysOfType(g, t);
          if (ks.length) ge.push([t, list(ks)]);
        }
        return toMap(ge);
      });
      e.push(['key_groups', groups]);
    }
    const kms = keysOfType(flatGroup, 'kms');
    if (kms.length) e.push(['kms', list(kms)]);
    e.push(['lastmodified', md.lastModified], ['mac', md.mac]);
    if (md.macOnlyEncrypted) e.push(['mac_only_encrypted', true]);
    const pgp = keysOfType(flatGroup, 'pgp');
    if (pgp.length) e.push(['pgp', list(pgp)]);
    if (md.shamirThreshold) e.push(['shamir_threshold', new SopsInt(BigInt(md.shamirThreshold))]);
    e.push(...rules);
    e.push(['version', md.version]);
    e.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return toMap(e);
  }

  const keep = layout.metadata === 'struct';
  const empty: SopsValue = emptyList === 'seq' ? [] : null;
  const field = (name: string, ks: SopsMasterKey[], always: boolean, out: Entry[]): void => {
    if (ks.length) out.push([name, list(ks)]);
    else if (always) out.push([name, empty]);
  };
  const e: Entry[] = [];
  if (md.shamirThreshold) e.push(['shamir_threshold', new SopsInt(BigInt(md.shamirThreshold))]);
  if (!single) {
    e.push([
      'key_groups',
      md.keyGroups.map((g) => {
        const ge: Entry[] = [];
        // keygroup struct: pgp, kms, gcp_kms, azure_kv omitempty; hc_vault and age always.
        field('pgp', keysOfType(g, 'pgp'), false, ge);
        field('kms', keysOfType(g, 'kms'), false, ge);
        field('gcp_kms', keysOfType(g, 'gcp_kms'), false, ge);
        if (layout.hasHckms) field('hckms', keysOfType(g, 'hckms'), false, ge);
        field('azure_kv', keysOfType(g, 'azure_kv'), false, ge);
        if (layout.hasAgeAndVault) {
          field('hc_vault', keysOfType(g, 'hc_vault'), true, ge);
          field('age', keysOfType(g, 'age'), true, ge);
        }
        return toMap(ge);
      }),
    ]);
  }
  field('kms', keysOfType(flatGroup, 'kms'), keep, e);
  field('gcp_kms', keysOfType(flatGroup, 'gcp_kms'), keep, e);
  if (layout.hasHckms) field('hckms', keysOfType(flatGroup, 'hckms'), false, e);
  field('azure_kv', keysOfType(flatGroup, 'azure_kv'), keep, e);
  if (layout.hasAgeAndVault) {
    field('hc_vault', keysOfType(flatGroup, 'hc_vault'), keep, e);
    field('age', keysOfType(flatGroup, 'age'), keep, e);
  }
  e.push(['lastmodified', md.lastModified], ['mac', md.mac]);
  field('pgp', keysOfType(flatGroup, 'pgp'), keep, e);
  e.push(...rules);
  if (md.macOnlyEncrypted) e.push(['mac_only_encrypted', true]);
  e.push(['version', md.version]);
  return toMap(e);
}

function toFlattenable(v: SopsValue): Flattenable | undefined {
  if (v === null) return undefined;
  if (v instanceof SopsMap) {
    const m = new Map<string, Flattenable>();
    for (const e of v.items()) {
      const x = toFlattenable(e.value);
      if (x !== undefined) m.set(e.key, x);
    }
    return m;
  }
  if (Array.isArray(v)) return v.map(toFlattenable).filter((x): x is Flattenable => x !== undefined);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof SopsInt) return v.value.toString();
  return undefined;
}

/**
 * The metadata as the flat, sorted `key=value` pairs of the dotenv (`sops_` prefix) and INI
 * (`[sops]` section, no prefix) stores, newlines escaped as `\n`.
 */
export function metadataToFlat(md: SopsMetadata, layout: SopsLayout, prefix: string): Array<[string, string]> {
  const tree = toFlattenable(metadataToTree(md, { ...layout, metadata: 'sorted' }, 'null')) as Map<string, Flattenable>;
  const flat = flatten(tree, prefix).map(([k, v]): [string, string] => [k, v.replaceAll('\n', '\\n')]);
  flat.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return flat;
}
