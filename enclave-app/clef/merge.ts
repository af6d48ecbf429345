/**
 * The merge step: decrypted SOPS values per namespace → Clef's plaintext, byte for byte.
 *
 * Clef (reference/clef-compat.md §2.1 step 4, §3) runs `sops decrypt`, `YAML.parse`s the output,
 * turns every **top-level** value into `String(value)`, then builds
 * `{namespace: {key: value}}` and serialises it with compact `JSON.stringify`:
 *
 * - namespace order = manifest order (the caller passes cells in that order);
 * - key order = JavaScript property order: integer-like keys ("0", "42") first in ascending
 *   numeric order, then the others in file order;
 * - a namespace whose file exists but is empty still appears, as `{}`;
 * - numbers/booleans/null become `"42"`, `"true"`, `"null"`; a nested mapping becomes
 *   `"[object Object]"`; a list becomes its elements joined with `,` — silent shape loss that
 *   Clef has and that we reproduce by default (`nonStringValues: 'reject'` refuses instead);
 * - a key named like an `Object.prototype` member (`toString`, `constructor`, …) makes Clef's
 *   merge throw a "key collision"; `__proto__` is silently dropped by Clef. We refuse both
 *   (`CLEF_KEY_COLLISION`): the first is what Clef does, the second fails closed instead of
 *   losing a secret.
 *
 * The SOPS codec adapts to `NamespaceValues` by passing each top-level key of the decrypted
 * tree, in file order, with the value as `YAML.parse` of sops' output would give it.
 */
import { ClefError } from './errors.js';
import type { PackScope } from './scope.js';

/** A decrypted SOPS value as the merge needs it: scalars, lists, or any mapping object. */
export type SopsValueLike = string | number | bigint | boolean | null | undefined | readonly SopsValueLike[] | object;

/** The decrypted top-level entries of one namespace's SOPS file, in file order. */
export interface NamespaceValues {
  namespace: string;
  entries: ReadonlyArray<readonly [key: string, value: SopsValueLike]>;
}

export interface MergeOptions {
  /** `'stringify'` = Clef's `String(value)` (default); `'reject'` = `CLEF_NON_STRING_VALUE`. */
  nonStringValues?: 'stringify' | 'reject';
}

/** A value that was not a string and was coerced (names and types only, never values). */
export interface CoercedValue {
  namespace: string;
  key: string;
  type: 'number' | 'bigint' | 'boolean' | 'null' | 'undefined' | 'list' | 'mapping';
}

/** The merged plaintext and what a receipt needs to say about it. */
export interface MergedPlaintext {
  /** UTF-8 of Clef's compact JSON. The caller must zeroise it after packing. */
  plaintext: Uint8Array;
  /** Namespaces present in the plaintext, in order. */
  namespaces: string[];
  /** Number of keys across all namespaces. */
  keyCount: number;
  /** Values Clef's String() coercion changed the shape of. */
  coerced: CoercedValue[];
}

function typeOf(value: SopsValueLike): CoercedValue['type'] | 'string' {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'bigint') return 'bigint';
  if (typeof value === 'boolean') return 'boolean';
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'list';
  return 'mapping';
}

/**
 * Clef's `String(value)` over a value as `YAML.parse` returns it. A bigint is turned into a
 * JS number first because Clef's YAML parser yields numbers (large integers lose precision
 * there too); any non-list object stands for a YAML mapping (`"[object Object]"`).
 */
export function clefStringify(value: SopsValueLike): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return String(Number(value));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) {
    // Array.prototype.join: null and undefined elements become ''.
    return (value as readonly SopsValueLike[]).map((v) => (v === null || v === undefined ? '' : clefStringify(v))).join(',');
  }
  return '[object Object]';
}

/** Merges namespaces in the order given; use `mergeScopedValues` when a scope is at hand. */
export function mergeNamespaces(input: readonly NamespaceValues[], options: MergeOptions = {}): MergedPlaintext {
  const root = Object.create(null) as Record<string, Record<string, string>>;
  const coerced: CoercedValue[] = [];
  let keyCount = 0;
  for (const { namespace, entries } of input) {
    if (Object.prototype.hasOwnProperty.call(root, namespace)) {
      throw new ClefError('CLEF_OUT_OF_SCOPE', `decrypted values for namespace '${namespace}' were supplied twice`, {
        details: { namespace },
      });
    }
    const bucket = Object.create(null) as Record<string, string>;
    root[namespace] = bucket;
    for (const [key, value] of entries) {
      if (typeof key !== 'string') {
        throw new ClefError('CLEF_KEY_COLLISION', `a key in namespace '${namespace}' is not a string`, { details: { namespace } });
      }
      if (key in Object.prototype) {
        throw new ClefError(
          'CLEF_KEY_COLLISION',
          `key '${key}' in namespace '${namespace}' has the name of a JavaScript built-in; Clef's merge cannot hold it`,
          {
            hint: 'rename the key (Clef reports a key collision for it, or drops it silently for __proto__)',
            details: { namespace, key },
          },
        );
      }
      if (Object.prototype.hasOwnProperty.call(bucket, key)) {
        throw new ClefError('CLEF_KEY_COLLISION', `key '${key}' appears twice in namespace '${namespace}'`, {
          details: { namespace, key },
        });
      }
      const type = typeOf(value);
      if (type !== 'string') {
        if (options.nonStringValues === 'reject') {
          throw new ClefError('CLEF_NON_STRING_VALUE', `key '${key}' in namespace '${namespace}' holds a ${type}, not a string`, {
            hint: "quote the value in the SOPS file, or pack with Clef's String() coercion",
            details: { namespace, key, type },
          });
        }
        coerced.push({ namespace, key, type });
      }
      bucket[key] = clefStringify(value);
      keyCount++;
    }
  }
  const plaintext = new Uint8Array(Buffer.from(JSON.stringify(root), 'utf8'));
  return { plaintext, namespaces: Object.keys(root), keyCount, coerced };
}

/**
 * Merges the decrypted values of exactly the scope's files, in manifest order. Values for a
 * namespace outside `scope.files` → `CLEF_OUT_OF_SCOPE`; a file in scope without values →
 * `CLEF_MISSING_CELL` (the caller read it but lost it — never pack a partial secret set).
 */
export function mergeScopedValues(scope: PackScope, input: readonly NamespaceValues[], options: MergeOptions = {}): MergedPlaintext {
  const byNamespace = new Map<string, NamespaceValues>();
  for (const item of input) {
    if (!scope.files.some((f) => f.namespace === item.namespace)) {
      throw new ClefError(
        'CLEF_OUT_OF_SCOPE',
        `namespace '${item.namespace}' is not in the scope of identity '${scope.identity}' for '${scope.environment}'`,
        { details: { namespace: item.namespace, identity: scope.identity, environment: scope.environment } },
      );
    }
    if (byNamespace.has(item.namespace)) {
      throw new ClefError('CLEF_OUT_OF_SCOPE', `decrypted values for namespace '${item.namespace}' were supplied twice`, {
        details: { namespace: item.namespace },
      });
    }
    byNamespace.set(item.namespace, item);
  }
  const ordered = scope.files.map((cell) => {
    const values = byNamespace.get(cell.namespace);
    if (!values) {
      throw new ClefError('CLEF_MISSING_CELL', `no decrypted values for ${cell.path} (namespace '${cell.namespace}')`, {
        details: { namespace: cell.namespace, path: cell.path },
      });
    }
    return values;
  });
  return mergeNamespaces(ordered, options);
}
