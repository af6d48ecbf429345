/**
 * Store details that decide bytes and order: go-yaml v3 scalar styles and indentation
 * (reference §4.1), JSON order with integer-like keys and Go's escapes (§4.2), dotenv's
 * no-trimming rule (§4.3), multi-document YAML, and the 3.13 metadata layout.
 */
import { describe, expect, it } from 'vitest';
import {
  SopsComment,
  SopsFloat,
  SopsInt,
  SopsMap,
  decryptSopsWithDataKey,
  detectSopsFormat,
  emitPlainFile,
  encryptSops,
  loadPlainFile,
  readSopsMetadata,
  sopsMap,
} from '../../../enclave-app/sops/index.js';
import { emitYaml } from '../../../enclave-app/sops/stores/yaml-emit.js';
import { goJsonQuote } from '../../../enclave-app/sops/stores/json.js';

const y = (m: SopsMap, indent = 4) => emitYaml([m], { indent, flavor: 'v3' });
const KEY = Buffer.alloc(32, 5);
const AGE = { type: 'age' as const, recipient: 'age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29', enc: '-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n' };

describe('YAML emission (go-yaml v3 rules)', () => {
  it.each([
    ['123', '"123"'],
    ['true', '"true"'],
    ['', '""'],
    ['2024-01-01', '"2024-01-01"'],
    ['yes', '"yes"'],
    [' lead', "' lead'"],
    ['trail ', "'trail '"],
    ['a: b', "'a: b'"],
    ['- x', "'- x'"],
    ['#x', "'#x'"],
    ['a #b', "'a #b'"],
    ["it's", "it's"],
    ["'q", "'''q'"],
    ['tab\there', '"tab\\there"'],
    ['emoji 😀', '"emoji \\U0001F600"'],
    ['café', 'café'],
    ['ENC[AES256_GCM,data:AA==,iv:BB==,tag:CC==,type:str]', 'ENC[AES256_GCM,data:AA==,iv:BB==,tag:CC==,type:str]'],
  ])('string %j → %s', (s, out) => {
    expect(y(sopsMap([['k', s]]))).toBe(`k: ${out}\n`);
  });

  it('keys follow the same rules ("n" is a YAML 1.1 bool)', () => {
    expect(y(sopsMap([['n', 'x'], ['123', 'y'], ['a b', 'z']]))).toBe('"n": x\n"123": "y"\na b: z\n');
  });

  it('multi-line strings are literal blocks with the right chomping, content at the next indent step', () => {
    expect(y(sopsMap([['k', 'a\nb\n']]))).toBe('k: |\n    a\n    b\n');
    expect(y(sopsMap([['k', 'a\nb']]))).toBe('k: |-\n    a\n    b\n');
    expect(y(sopsMap([['k', 'a\n\n']]))).toBe('k: |+\n    a\n\n');
    expect(y(sopsMap([['k', ' a\nb\n']]))).toBe('k: |4\n     a\n    b\n');
    expect(y(sopsMap([['k', 'a \nb']]))).toBe('k: "a \\nb"\n');
  });

  it('numbers, booleans and null', () => {
    expect(y(sopsMap([['i', new SopsInt(-42n)], ['f', new SopsFloat(1e6)], ['g', new SopsFloat(1234568000)], ['b', false], ['n', null]]))).toBe(
      'i: -42\nf: 1e+06\ng: 1.234568e+09\nb: false\n"n": null\n',
    );
  });

  it('indentation: maps at the next multiple of the indent, lists at it, maps in lists after "- "', () => {
    const tree = sopsMap([['a', sopsMap([['b', [sopsMap([['c', 'd'], ['e', 'f\ng\n']]), 'x', ['y', 'z']]]])]]);
    expect(y(tree, 4)).toBe('a:\n    b:\n        - c: d\n          e: |\n            f\n            g\n        - x\n        - - "y"\n          - z\n');
    expect(y(tree, 2)).toBe('a:\n  b:\n    - c: d\n      e: |\n        f\n        g\n    - x\n    - - "y"\n      - z\n');
  });

  it('empty collections are flow style; comments sit at the indent of their map', () => {
    const tree = new SopsMap([new SopsComment(' head'), { key: 'a', value: new SopsMap([]) }, { key: 'c', value: [] }]);
    expect(y(tree)).toBe('# head\na: {}\nc: []\n');
    const nested = sopsMap([['a', new SopsMap([{ key: 'b', value: 'x' }, new SopsComment(' foot')])], ['c', 'y']]);
    expect(y(nested)).toBe('a:\n    b: x\n    # foot\nc: "y"\n');
  });

  it('keys longer than 128 bytes use the explicit "? " form', () => {
    const k = 'k'.repeat(129);
    expect(y(sopsMap([[k, 'v']]))).toBe(`? ${k}\n: v\n`);
  });
});

describe('YAML loading', () => {
  it('multi-document files: each document is a branch, sops appends metadata to every one', async () => {
    const plain = Buffer.from('a: 1\n---\nb: two\n# c\n');
    const branches = loadPlainFile(plain, 'yaml');
    expect(branches).toHaveLength(2);
    const file = Buffer.from(await encryptSops(branches, { format: 'yaml', keyGroups: [[AGE]], dataKey: KEY }));
    const text = file.toString();
    expect(text.split('\n---\n')).toHaveLength(2);
    expect(text.match(/^sops:$/gm)).toHaveLength(2);
    const back = decryptSopsWithDataKey(file, 'yaml', KEY);
    expect(emitPlainFile(back.branches, 'yaml').toString()).toBe('a: 1\n---\nb: two\n# c\n');
  });

  it('types scalars like go-yaml: 0755 is 493, quoted values stay strings, aliases are expanded', () => {
    const [m] = loadPlainFile(Buffer.from('o: 0755\nq: "0755"\nf: 1.0\nanchor: &x {k: v}\nref: *x\nyes: yes\n'), 'yaml');
    expect(m.get('o')).toEqual(new SopsInt(493n));
    expect(m.get('q')).toBe('0755');
    expect(m.get('f')).toEqual(new SopsFloat(1));
    expect(m.get('ref')).toEqual(sopsMap([['k', 'v']]));
    expect(m.get('yes')).toBe('yes');
  });

  it('comments: inline comments go before their item (sops ≤3.12), dedented comments to the outer map', () => {
    const [m] = loadPlainFile(Buffer.from('a:\n    b: 1 # on b\n    # end of a\n# before c\nc: |\n    # not a comment\n'), 'yaml');
    expect((m.get('a') as SopsMap).entries).toEqual([new SopsComment(' on b'), { key: 'b', value: new SopsInt(1n) }, new SopsComment(' end of a')]);
    expect(m.entries[1]).toEqual(new SopsComment(' before c'));
    expect(m.get('c')).toBe('# not a comment\n');
  });
});

describe('JSON', () => {
  it('keeps document order, including integer-like keys that JS objects would move first', async () => {
    const plain = Buffer.from('{"b": 1, "10": 2, "a": {"2": true, "1": false}, "9": [1, 2.5, "x", null]}');
    const [m] = loadPlainFile(plain, 'json');
    expect(m.keys()).toEqual(['b', '10', 'a', '9']);
    expect((m.get('a') as SopsMap).keys()).toEqual(['2', '1']);
    const file = Buffer.from(await encryptSops([m], { format: 'json', keyGroups: [[AGE]], dataKey: KEY }));
    const text = file.toString();
    expect(text.indexOf('"b"')).toBeLessThan(text.indexOf('"10"'));
    expect(emitPlainFile(decryptSopsWithDataKey(file, 'json', KEY).branches, 'json').toString()).toBe(
      '{\n\t"b": 1,\n\t"10": 2,\n\t"a": {\n\t\t"2": true,\n\t\t"1": false\n\t},\n\t"9": [\n\t\t1,\n\t\t2.5,\n\t\t"x",\n\t\tnull\n\t]\n}\n',
    );
  });

  it('ints beyond 2^53 keep every digit; floats keep their type', () => {
    const [m] = loadPlainFile(Buffer.from('{"big": 9223372036854775807, "f": 1.0, "e": 1e2}'), 'json');
    expect(m.get('big')).toEqual(new SopsInt(9223372036854775807n));
    expect(m.get('f')).toEqual(new SopsFloat(1));
    expect(m.get('e')).toEqual(new SopsFloat(100));
    const [old] = loadPlainFile(Buffer.from('{"i": 7}'), 'json', 'float');
    expect(old.get('i')).toEqual(new SopsFloat(7));
  });

  it("strings are escaped like Go's json.Marshal", () => {
    expect(goJsonQuote('<a & b>')).toBe('"\\u003ca \\u0026 b\\u003e"');
    expect(goJsonQuote('\u2028\u2029')).toBe('"\\u2028\\u2029"');
    expect(goJsonQuote('"\\\n\t\u0001')).toBe('"\\"\\\\\\n\\t\\u0001"');
    expect(goJsonQuote('\ud800')).toBe('"\ufffd"');
  });

  it('keeps duplicate keys like the Go token stream', () => {
    const [m] = loadPlainFile(Buffer.from('{"a": 1, "a": 2}'), 'json');
    expect(m.items().map((i) => i.key)).toEqual(['a', 'a']);
  });
});

describe('dotenv', () => {
  it('splits at the first "=", no trimming, no quotes, "\\n" escapes', () => {
    const [m] = loadPlainFile(Buffer.from('foo = bar \nq="x"\nmulti=a\\nb\n#c\nexport X=1\n'), 'dotenv');
    expect(m.entries).toEqual([
      { key: 'foo ', value: ' bar ' },
      { key: 'q', value: '"x"' },
      { key: 'multi', value: 'a\nb' },
      new SopsComment('c'),
      { key: 'export X', value: '1' },
    ]);
    expect(emitPlainFile([m], 'dotenv').toString()).toBe('foo = bar \nq="x"\nmulti=a\\nb\n#c\nexport X=1\n');
  });
});

describe('metadata layout of sops 3.13 (the default)', () => {
  it('sorted keys, age entries as "- enc: |" then "recipient:", omitted empty lists', async () => {
    const file = Buffer.from(await encryptSops([sopsMap([['a', 'b']])], { format: 'yaml', keyGroups: [[AGE]], dataKey: KEY, now: new Date('2026-01-02T03:04:05Z') }));
    const meta = file.toString().split('sops:\n')[1];
    expect(meta.split('\n').filter((l) => /^ {4}\S/.test(l)).map((l) => l.trim().split(':')[0])).toEqual([
      'age',
      'lastmodified',
      'mac',
      'unencrypted_suffix',
      'version',
    ]);
    expect(meta).toContain('    age:\n        - enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n');
    expect(meta).toContain('          recipient: age1l44');
    expect(meta).toContain('    lastmodified: "2026-01-02T03:04:05Z"\n');
    expect(meta).toContain('    version: 3.13.2\n');
  });

  it('key groups and the Shamir threshold are written and read back', async () => {
    const file = await encryptSops([sopsMap([['a', 'b']])], {
      format: 'json',
      keyGroups: [[AGE], [{ ...AGE, recipient: 'age1other' }], [{ type: 'kms', arn: 'arn:aws:kms:eu-west-1:111122223333:key/k', enc: 'AAAA', context: { repo: 'x' } }]],
      shamirThreshold: 2,
      dataKey: KEY,
    });
    const md = readSopsMetadata(file, 'json');
    expect(md.keyGroups).toHaveLength(3);
    expect(md.keyGroupsExplicit).toBe(true);
    expect(md.shamirThreshold).toBe(2);
    expect(md.kms).toEqual([
      { type: 'kms', arn: 'arn:aws:kms:eu-west-1:111122223333:key/k', context: { repo: 'x' }, createdAt: md.lastModified, enc: 'AAAA', awsProfile: '' },
    ]);
    const text = Buffer.from(file).toString();
    expect(text.indexOf('"key_groups"')).toBeLessThan(text.indexOf('"lastmodified"'));
    expect(text).toContain('"shamir_threshold": 2');
  });

  it('detectSopsFormat follows the extension like sops', () => {
    expect(['a.yaml', 'a.yml', 'a.json', 'a.env', 'a.ini', 'a.txt', 'a.YAML', 'secrets'].map(detectSopsFormat)).toEqual([
      'yaml',
      'yaml',
      'json',
      'dotenv',
      'ini',
      'binary',
      'binary',
      'binary',
    ]);
  });
});

describe('a 1,000-key file (the benchmark shape)', () => {
  it.each(['yaml', 'json', 'dotenv'] as const)('%s round-trips in order', async (format) => {
    const entries = Array.from({ length: 1000 }, (_, i) => ({ key: `KEY_${999 - i}`, value: `value-${i}` }));
    const file = await encryptSops([new SopsMap(entries)], { format, keyGroups: [[AGE]], dataKey: KEY });
    const [back] = decryptSopsWithDataKey(file, format, KEY).branches;
    expect(back.keys()).toEqual(entries.map((e) => e.key));
    expect(back.get('KEY_0')).toBe('value-999');
  });
});
