/**
 * The five sops stores behind one interface: load an encrypted file into branches plus its raw
 * metadata, load a plaintext file, and write either back. Format-specific rules live in the
 * files next to this one.
 */
import { SopsError } from '../errors.js';
import type { SopsLayout } from '../layout.js';
import {
  flatMetadataToMd,
  metadataToFlat,
  metadataToTree,
  sopsValueToMd,
  type MdValue,
  type SopsFormat,
  type SopsMetadata,
} from '../metadata.js';
import { decodeUtf8 } from '../cipher.js';
import { SopsBytes, SopsComment, SopsMap, type SopsMapEntry } from '../tree.js';
import { emitDotenv, parseDotenv } from './dotenv.js';
import { emitIni, parseIni } from './ini.js';
import { emitJsonValue, jsonIndentString, parseJson, type JsonNumberMode } from './json.js';
import { emitYaml } from './yaml-emit.js';
import { loadYaml } from './yaml-load.js';

/** An encrypted file split into its data branches and its (not yet validated) metadata. */
export interface LoadedFile {
  branches: SopsMap[];
  metadata: MdValue;
}

/** Output options shared by the emitters. */
export interface EmitOptions {
  /** YAML indentation (default 4) or JSON indentation (default -1 = tab). */
  indent?: number;
}

function text(bytes: Uint8Array, format: SopsFormat): string {
  let b = bytes;
  if (format === 'yaml' && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
  const s = decodeUtf8(b);
  if (s === undefined) {
    throw new SopsError('SOPS_PARSE_ERROR', `the ${format} input is not valid UTF-8`, { details: { format } });
  }
  return s;
}

function notSops(format: SopsFormat): SopsError {
  return new SopsError('SOPS_NOT_SOPS_FILE', `no sops metadata found in this ${format} file`, {
    hint: 'the file is not encrypted with sops, or its format was detected wrongly (use --input-type)',
  });
}

/** Takes the `sops` entry out of mapping-shaped stores (YAML: first document holds it, every document loses it). */
function extractNested(branches: SopsMap[], format: SopsFormat): LoadedFile {
  let md: MdValue | undefined;
  const out = branches.map((b, bi) => {
    const entries: SopsMapEntry[] = [];
    for (const e of b.entries) {
      if (!(e instanceof SopsComment) && e.key === 'sops') {
        if (bi === 0) {
          if (md !== undefined) throw new SopsError('SOPS_BAD_METADATA', 'the file has more than one sops entry');
          if (!(e.value instanceof SopsMap)) throw new SopsError('SOPS_BAD_METADATA', 'the sops entry is not a mapping');
          md = sopsValueToMd(e.value);
        }
        continue;
      }
      entries.push(e);
    }
    return new SopsMap(entries);
  });
  if (md === undefined) throw notSops(format);
  return { branches: out, metadata: md };
}

/** Loads an encrypted file of the given format. */
export function loadEncryptedFile(bytes: Uint8Array, format: SopsFormat): LoadedFile {
  switch (format) {
    case 'yaml':
      return extractNested(loadYaml(text(bytes, format)), format);
    case 'json':
      // Numbers in encrypted JSON are read as sops ≥3.13.2 does; the data values are ENC strings anyway.
      return extractNested([parseJson(text(bytes, format), 'int-or-float')], format);
    case 'binary':
      // An encrypted binary file is always sops' JSON envelope; anything else was never encrypted.
      try {
        return extractNested([parseJson(text(bytes, format), 'int-or-float')], format);
      } catch (err) {
        if (err instanceof SopsError && (err.code === 'SOPS_PARSE_ERROR' || err.code === 'SOPS_UNSUPPORTED')) throw notSops(format);
        throw err;
      }
    case 'dotenv': {
      const b = parseDotenv(text(bytes, format));
      const flat: Array<[string, string]> = [];
      const entries: SopsMapEntry[] = [];
      for (const e of b.entries) {
        if (!(e instanceof SopsComment) && e.key.startsWith('sops_')) flat.push([e.key.slice(5), e.value as string]);
        else entries.push(e);
      }
      if (flat.length === 0) throw notSops(format);
      return { branches: [new SopsMap(entries)], metadata: flatMetadataToMd(flat) };
    }
    case 'ini': {
      const b = parseIni(text(bytes, format));
      const sops = b.get('sops');
      if (!(sops instanceof SopsMap)) throw notSops(format);
      const flat = sops.items().map((i): [string, string] => [i.key, i.value as string]);
      const entries = b.entries.filter((e) => e instanceof SopsComment || e.key !== 'sops');
      return { branches: [new SopsMap(entries)], metadata: flatMetadataToMd(flat) };
    }
  }
}

/** Loads a plaintext file (what `sops encrypt` reads). */
export function loadPlainFile(bytes: Uint8Array, format: SopsFormat, numbers: JsonNumberMode = 'int-or-float'): SopsMap[] {
  switch (format) {
    case 'yaml':
      return loadYaml(text(bytes, format));
    case 'json':
      return [parseJson(text(bytes, format), numbers)];
    case 'dotenv':
      return [parseDotenv(text(bytes, format))];
    case 'ini':
      return [parseIni(text(bytes, format))];
    case 'binary': {
      const s = decodeUtf8(bytes);
      return [new SopsMap([{ key: 'data', value: s ?? new SopsBytes(Uint8Array.from(bytes), 'str') }])];
    }
  }
}

function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** Writes an encrypted file: the data branches plus the metadata, in the layout of `layout.version`. */
export function emitEncryptedFile(
  branches: readonly SopsMap[],
  md: SopsMetadata,
  format: SopsFormat,
  layout: SopsLayout,
  opts: EmitOptions = {},
): Buffer {
  switch (format) {
    case 'yaml': {
      const meta = metadataToTree(md, layout, 'seq');
      const docs = branches.map((b) => new SopsMap([...b.entries, { key: 'sops', value: meta }]));
      return utf8(emitYaml(docs, { indent: opts.indent ?? 4, flavor: layout.yamlFlavor }));
    }
    case 'json':
    case 'binary': {
      if (branches.length !== 1) throw new SopsError('SOPS_ENCRYPT_FAILED', `${format} files hold exactly one document`);
      const meta = metadataToTree(md, layout, 'null');
      const doc = new SopsMap([...branches[0].entries, { key: 'sops', value: meta }]);
      return utf8(emitJsonValue(doc, jsonIndentString(opts.indent)) + (layout.jsonTrailingNewline ? '\n' : ''));
    }
    case 'dotenv': {
      if (branches.length !== 1) throw new SopsError('SOPS_ENCRYPT_FAILED', 'dotenv files hold exactly one document');
      const flat = metadataToFlat(md, layout, 'sops_');
      return emitDotenv(new SopsMap([...branches[0].entries, ...flat.map(([key, value]) => ({ key, value }))]));
    }
    case 'ini': {
      if (branches.length !== 1) throw new SopsError('SOPS_ENCRYPT_FAILED', 'INI files hold exactly one document');
      const flat = metadataToFlat(md, layout, '');
      const sops = new SopsMap(flat.map(([key, value]) => ({ key, value })));
      return utf8(emitIni(new SopsMap([...branches[0].entries, { key: 'sops', value: sops }])));
    }
  }
}

/** Writes decrypted branches as a plain file (`sops decrypt` output). */
export function emitPlainFile(branches: readonly SopsMap[], format: SopsFormat, opts: EmitOptions = {}): Buffer {
  switch (format) {
    case 'yaml':
      return utf8(emitYaml(branches, { indent: opts.indent ?? 4, flavor: 'v3' }));
    case 'json':
      if (branches.length !== 1) throw new SopsError('SOPS_UNSUPPORTED', 'JSON output holds exactly one document (the input has several)');
      return utf8(emitJsonValue(branches[0], jsonIndentString(opts.indent)) + '\n');
    case 'dotenv':
      if (branches.length !== 1) throw new SopsError('SOPS_UNSUPPORTED', 'dotenv output holds exactly one document');
      return emitDotenv(branches[0]);
    case 'ini':
      if (branches.length !== 1) throw new SopsError('SOPS_UNSUPPORTED', 'INI output holds exactly one document');
      return utf8(emitIni(branches[0]));
    case 'binary': {
      if (branches.length !== 1) throw new SopsError('SOPS_UNSUPPORTED', 'binary output holds exactly one document');
      const data = branches[0].get('data');
      if (typeof data === 'string') return utf8(data);
      if (data instanceof SopsBytes) return Buffer.from(data.bytes);
      throw new SopsError('SOPS_UNSUPPORTED', "binary output needs a string 'data' entry");
    }
  }
}
