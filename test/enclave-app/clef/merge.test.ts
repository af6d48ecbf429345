// The merge into Clef's plaintext. The oracle is Clef's own path, replayed here with the same
// library Clef uses: YAML.parse(sops output) → String(value) per top-level key → nested plain
// object → JSON.stringify.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import {
  ClefError,
  mergeNamespaces,
  mergeScopedValues,
  parseManifest,
  resolvePackScope,
  type NamespaceValues,
  type SopsValueLike,
} from '../../../enclave-app/clef/index.js';
import { REALISTIC_MANIFEST } from './fixtures.js';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

/** Clef's path: sops prints YAML, Clef parses it and String()s each top-level value. */
function clefOracle(files: Array<[namespace: string, sopsOutput: string]>): string {
  const all: Record<string, Record<string, string>> = {};
  for (const [ns, output] of files) {
    const parsed = (YAML.parse(output) ?? {}) as Record<string, unknown>;
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) values[k] = String(v);
    const bucket = (all[ns] ??= {});
    for (const [k, v] of Object.entries(values)) bucket[k] = v;
  }
  return JSON.stringify(all);
}

/** What the SOPS codec would hand over for the same output: top-level entries in file order. */
function asNamespaceValues(ns: string, sopsOutput: string): NamespaceValues {
  const doc = YAML.parseDocument(sopsOutput);
  const map = doc.contents as YAML.YAMLMap<YAML.Scalar<string>, unknown> | null;
  const entries: Array<[string, SopsValueLike]> = (map?.items ?? []).map((pair) => [
    String(pair.key.value),
    YAML.isNode(pair.value) ? (pair.value.toJSON() as SopsValueLike) : (pair.value as SopsValueLike),
  ]);
  return { namespace: ns, entries };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ClefError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('mergeNamespaces', () => {
  const files: Array<[string, string]> = [
    [
      'payments',
      [
        'STRIPE_KEY: sk_live_abc',
        'RETRIES: 3',
        'RATE: 1.50',
        'ENABLED: true',
        'EMPTY:',
        'NULLISH: ~',
        'HEX: 0x1F',
        '"10": ten',
        '"2": two',
        'NESTED:',
        '  a: 1',
        'LIST: [1, a, null, [2, 3]]',
        'QUOTED_NUMBER: "007"',
        'UNICODE: "h\u00e9llo \u2603"',
        'NEWLINE: "a\\nb\\"c"',
        'HUGE: 12345678901234567890',
        'INF: .inf',
        'NAN: .nan',
      ].join('\n'),
    ],
    ['auth', 'JWT_SECRET: s3cr3t\n"0": zero\nSESSION_TTL: 3600\n'],
  ];

  it('reproduces Clef byte for byte (key order, coercions, escaping)', () => {
    const merged = mergeNamespaces(files.map(([ns, out]) => asNamespaceValues(ns, out)));
    expect(text(merged.plaintext)).toBe(clefOracle(files));
  });

  it('puts integer-like keys first in numeric order, then the rest in file order', () => {
    const merged = mergeNamespaces([{ namespace: 'ns', entries: [['b', '1'], ['10', 'x'], ['a', '2'], ['2', 'y'], ['01', 'z']] }]);
    expect(text(merged.plaintext)).toBe('{"ns":{"2":"y","10":"x","b":"1","a":"2","01":"z"}}');
  });

  it('coerces like String(): numbers, booleans, null, lists, mappings, bigints', () => {
    const merged = mergeNamespaces([
      {
        namespace: 'n',
        entries: [
          ['i', 42],
          ['f', 1.5],
          ['neg0', -0],
          ['t', true],
          ['nul', null],
          ['map', { a: 1 }],
          ['list', [1, 'a', null, [2, 3], { b: 2 }]],
          ['big', 12345678901234567890n],
          ['s', 'plain'],
        ],
      },
    ]);
    expect(JSON.parse(text(merged.plaintext))).toEqual({
      n: {
        i: '42',
        f: '1.5',
        neg0: '0',
        t: 'true',
        nul: 'null',
        map: '[object Object]',
        list: '1,a,,2,3,[object Object]',
        big: '12345678901234567000',
        s: 'plain',
      },
    });
    expect(merged.coerced).toEqual([
      { namespace: 'n', key: 'i', type: 'number' },
      { namespace: 'n', key: 'f', type: 'number' },
      { namespace: 'n', key: 'neg0', type: 'number' },
      { namespace: 'n', key: 't', type: 'boolean' },
      { namespace: 'n', key: 'nul', type: 'null' },
      { namespace: 'n', key: 'map', type: 'mapping' },
      { namespace: 'n', key: 'list', type: 'list' },
      { namespace: 'n', key: 'big', type: 'bigint' },
    ]);
    expect(merged.keyCount).toBe(9);
  });

  it('strict mode refuses non-string values without echoing them', () => {
    let err: unknown;
    try {
      mergeNamespaces([{ namespace: 'n', entries: [['PIN', 4711]] }], { nonStringValues: 'reject' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClefError);
    expect((err as ClefError).code).toBe('CLEF_NON_STRING_VALUE');
    expect((err as ClefError).message).toContain("'PIN'");
    expect(JSON.stringify(err)).not.toContain('4711');
    expect((err as ClefError).message).not.toContain('4711');
  });

  it('an empty namespace file still appears, as {}', () => {
    const merged = mergeNamespaces([{ namespace: 'empty', entries: [] }, { namespace: 'b', entries: [['K', 'v']] }]);
    expect(text(merged.plaintext)).toBe('{"empty":{},"b":{"K":"v"}}');
    expect(merged.namespaces).toEqual(['empty', 'b']);
    expect(merged.keyCount).toBe(1);
  });

  it('nothing at all is {} (Clef packs an empty artifact when every file is missing)', () => {
    expect(text(mergeNamespaces([]).plaintext)).toBe('{}');
  });

  it('the same key in two namespaces is fine (nested, no prefixing)', () => {
    const merged = mergeNamespaces([
      { namespace: 'a', entries: [['URL', 'x']] },
      { namespace: 'b', entries: [['URL', 'y']] },
    ]);
    expect(text(merged.plaintext)).toBe('{"a":{"URL":"x"},"b":{"URL":"y"}}');
  });

  it.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__', '__defineGetter__'])(
    'a key named %s is refused (Clef reports a collision, or drops __proto__)',
    (key) => {
      expect(codeOf(() => mergeNamespaces([{ namespace: 'n', entries: [[key, 'v']] }]))).toBe('CLEF_KEY_COLLISION');
    },
  );

  it('a duplicate key or namespace is refused', () => {
    expect(codeOf(() => mergeNamespaces([{ namespace: 'n', entries: [['K', 'a'], ['K', 'a']] }]))).toBe('CLEF_KEY_COLLISION');
    expect(codeOf(() => mergeNamespaces([{ namespace: 'n', entries: [] }, { namespace: 'n', entries: [] }]))).toBe('CLEF_OUT_OF_SCOPE');
  });
});

describe('mergeScopedValues', () => {
  const manifest = parseManifest(REALISTIC_MANIFEST);
  const scope = resolvePackScope(manifest, 'api-gateway', 'production');

  it('orders by the manifest, whatever order the values arrive in', () => {
    const merged = mergeScopedValues(scope, [
      { namespace: 'auth', entries: [['JWT_SECRET', 's3cr3t']] },
      { namespace: 'payments', entries: [['STRIPE_KEY', 'sk_test_123']] },
    ]);
    expect(text(merged.plaintext)).toBe('{"payments":{"STRIPE_KEY":"sk_test_123"},"auth":{"JWT_SECRET":"s3cr3t"}}');
  });

  it('refuses values from outside the scope, duplicates, and files of the scope without values', () => {
    const billing = resolvePackScope(manifest, 'billing-worker', 'production');
    expect(
      codeOf(() =>
        mergeScopedValues(billing, [
          { namespace: 'payments', entries: [] },
          { namespace: 'auth', entries: [['JWT_SECRET', 'x']] },
        ]),
      ),
    ).toBe('CLEF_OUT_OF_SCOPE');
    expect(
      codeOf(() =>
        mergeScopedValues(billing, [
          { namespace: 'payments', entries: [] },
          { namespace: 'payments', entries: [] },
        ]),
      ),
    ).toBe('CLEF_OUT_OF_SCOPE');
    expect(codeOf(() => mergeScopedValues(scope, [{ namespace: 'auth', entries: [] }]))).toBe('CLEF_MISSING_CELL');
  });

  it('a missing file is simply absent from the plaintext (Clef skips it)', () => {
    const partial = resolvePackScope(manifest, 'api-gateway', 'production', { fileExists: (p) => p.includes('/auth/') });
    const merged = mergeScopedValues(partial, [{ namespace: 'auth', entries: [['JWT_SECRET', 's']] }]);
    expect(text(merged.plaintext)).toBe('{"auth":{"JWT_SECRET":"s"}}');
  });
});
