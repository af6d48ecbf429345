/**
 * Interop: every real sops file in test/vectors/sops decrypts with its published keys to the
 * tree in expected.json, with the MAC verified, and the data key recovered from the age / PGP
 * stanza equals `data_key_hex`.
 */
import { describe, expect, it } from 'vitest';
import {
  SopsMap,
  decryptSops,
  decryptSopsFile,
  decryptSopsWithDataKey,
  loadSopsFile,
  sopsFileMetadata,
  detectSopsFormat,
  emitPlainFile,
  isSopsError,
  loadPlainFile,
  readSopsMetadata,
  recoverDataKey,
  type SopsDecrypted,
} from '../../../enclave-app/sops/index.js';
import { AGE_IDENTITIES, PGP_KEYS, commentsOf, expected, toExpectedJson, vector } from './helpers.js';

const keys = { ageIdentities: AGE_IDENTITIES, pgpPrivateKeys: PGP_KEYS };
const verified = Object.entries(expected).filter(([, e]) => e.mac_matches);

async function decryptVector(name: string): Promise<SopsDecrypted> {
  return decryptSops(vector(name), detectSopsFormat(name), keys);
}

describe('sops vectors: decrypt with the published keys', () => {
  it('covers every file listed in expected.json', () => {
    expect(verified.length).toBe(Object.keys(expected).length - 1); // all but ft-no_mac.yaml
  });

  it.each(verified)('%s decrypts to expected.json with the MAC verified', async (name, e) => {
    expect(detectSopsFormat(name)).toBe(e.format);
    const r = await decryptVector(name);
    expect(r.branches).toHaveLength(1);
    expect(toExpectedJson(r.branches[0])).toEqual(e.plaintext);
  });

  it.each(verified)('%s: the key stanza yields data_key_hex', async (name, e) => {
    const md = readSopsMetadata(vector(name), e.format);
    const key = await recoverDataKey(md, keys);
    expect(Buffer.from(key).toString('hex')).toBe(e.data_key_hex);
  });

  it.each(verified)('%s: decrypting with data_key_hex gives the same tree', (name, e) => {
    const r = decryptSopsWithDataKey(vector(name), e.format, Buffer.from(e.data_key_hex, 'hex'));
    expect(toExpectedJson(r.branches[0])).toEqual(e.plaintext);
  });

  it.each(verified)('%s: node:crypto opens it to the same tree as the default backend, in both value readings', (name, e) => {
    const key = Buffer.from(e.data_key_hex, 'hex');
    for (const values of ['typed', 'text'] as const) {
      const byDefault = decryptSopsWithDataKey(vector(name), e.format, key, { values });
      const byNode = decryptSopsWithDataKey(vector(name), e.format, key, { values, aesGcm: 'node' });
      expect(byNode.branches.map(toExpectedJson)).toEqual(byDefault.branches.map(toExpectedJson));
    }
  });

  it.each(verified)('%s: parsed once (loadSopsFile), its metadata and its decryption are those of the bytes, and the parse is left as it was', async (name, e) => {
    const file = loadSopsFile(vector(name), e.format);
    const before = structuredClone({ branches: file.branches.map(toExpectedJson), metadata: file.metadata });
    expect(sopsFileMetadata(file)).toEqual(readSopsMetadata(vector(name), e.format));
    for (let i = 0; i < 2; i++) {
      const r = await decryptSopsFile(file, keys);
      expect(r.branches.map(toExpectedJson)).toEqual([e.plaintext]);
    }
    expect({ branches: file.branches.map(toExpectedJson), metadata: file.metadata }).toEqual(before);
  });

  it('ft-no_mac.yaml fails with SOPS_NO_MAC (with keys and with the data key)', async () => {
    const e = expected['getsops-sops/ft-no_mac.yaml'];
    await expect(decryptVector('getsops-sops/ft-no_mac.yaml')).rejects.toSatisfy((err) => isSopsError(err, 'SOPS_NO_MAC'));
    expect(() => decryptSopsWithDataKey(vector('getsops-sops/ft-no_mac.yaml'), 'yaml', Buffer.from(e.data_key_hex, 'hex'))).toThrow(
      expect.objectContaining({ code: 'SOPS_NO_MAC' }),
    );
    expect(readSopsMetadata(vector('getsops-sops/ft-no_mac.yaml'), 'yaml').macPresent).toBe(false);
  });
});

describe('sops vectors: details from the README', () => {
  it('example.yaml: encrypted comments decrypt with the AAD of their containing map', async () => {
    const r = await decryptVector('getsops-sops/example.yaml');
    const doc = r.branches[0];
    const db = (doc.get('app2') as SopsMap).get('db');
    expect(commentsOf(db as SopsMap)).toEqual([' private key for secret operations in app2']);
    const nested = (((doc.get('this') as SopsMap).get('is') as SopsMap).get('a') as SopsMap).get('nested');
    expect(commentsOf(nested as SopsMap)).toEqual([' sops supports unencrypted fields', ' by adding the `_unencrypted` suffix', ' to any key']);
  });

  it('ft-comments.enc.yaml: top-level comments use the AAD ":"; the 3.3.1 file keeps clear comments', async () => {
    for (const f of ['getsops-sops/ft-comments.enc.yaml', 'getsops-sops/ft-comments_unencrypted_comments.yaml']) {
      const r = await decryptVector(f);
      expect(commentsOf(r.branches[0])).toEqual([' first comment in file', ' this-is-a-comment']);
      expect(emitPlainFile(r.branches, 'yaml').toString()).toBe('# first comment in file\nlorem: ipsum\n# this-is-a-comment\ndolor: sit\n');
    }
  });

  it('ft-format.enc.*: sops -d outputs of the functional tests', async () => {
    expect(emitPlainFile((await decryptVector('getsops-sops/ft-format.enc.yaml')).branches, 'yaml').toString()).toBe('foo: bar\n');
    expect(emitPlainFile((await decryptVector('getsops-sops/ft-format.enc.json')).branches, 'json').toString()).toBe('{\n\t"foo": "bar"\n}\n');
    expect(emitPlainFile((await decryptVector('getsops-sops/ft-format.enc.env')).branches, 'dotenv').toString()).toBe('foo = bar\n');
  });

  it('INI files (3.13.2 escaped and 3.13.1 """ metadata) decrypt to [foo] bar = baz with the MAC verified', async () => {
    for (const f of ['getsops-sops/ft-format.enc.ini', 'getsops-sops/ft-format-2.enc.ini']) {
      const r = await decryptVector(f);
      expect(emitPlainFile(r.branches, 'ini').toString()).toBe('[foo]\nbar = baz\n');
    }
  });

  it('example.ini (3.5.0, comment on a section, unencrypted suffix) decrypts', async () => {
    const r = await decryptVector('getsops-sops/example.ini');
    const doc = r.branches[0];
    expect(toExpectedJson(doc)).toEqual({
      $map: [
        ['name', { $map: [['firstName', 'John'], ['lastName', 'Smith'], ['age', '25.4']] }],
        ['address', { $map: [['city', 'New York'], ['postalCode', '10021-3100'], ['state', 'NY'], ['streetAddress', '21 2nd Street']] }],
        ['phoneNumbers', { $map: [['home', '212 555-1234'], ['office', '646 555-4567']] }],
        ['not private', { $map: [['notsecret_unencrypted', 'hi there!']] }],
      ],
    });
    expect(commentsOf(doc.get('name') as SopsMap)).toEqual(['An example file for use with sops!']);
  });

  it('binary stores return the raw bytes', async () => {
    expect(emitPlainFile((await decryptVector('fluxcd-kustomize-controller/files-file.txt')).branches, 'binary').toString()).toBe('value');
    const txt = emitPlainFile((await decryptVector('getsops-sops/example.txt')).branches, 'binary').toString();
    expect(txt.startsWith('Welcome to SOPS!\n\nSOPS is a manager of encrypted files')).toBe(true);
  });

  it('inside-secret.yaml is not a sops file, but the binary-store file in its data.key is', async () => {
    const outer = vector('fluxcd-kustomize-controller/inside-secret.yaml');
    await expect(decryptSops(outer, 'yaml', keys)).rejects.toSatisfy((err) => isSopsError(err, 'SOPS_NOT_SOPS_FILE'));
    const plain = loadPlainFile(outer, 'yaml')[0];
    const inner = Buffer.from(((plain.get('data') as SopsMap).get('key') as string).trim(), 'base64');
    const r = await decryptSops(inner, 'binary', keys);
    expect(emitPlainFile(r.branches, 'binary').length).toBeGreaterThan(0);
    expect(r.metadata.keyGroups[0].map((k) => k.type)).toEqual(['age']);
  });
});
