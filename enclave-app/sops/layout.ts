/**
 * What a given sops version writes, as far as the bytes of a file depend on it: the YAML
 * emitter generation, the order and omission rules of the metadata block, JSON details.
 * Encrypting "as sops X.Y.Z would" means picking the layout of that version.
 */

/** Version-dependent emission choices. */
export interface SopsLayout {
  /** The version string written into the metadata. */
  version: string;
  /** 'v2': sops ≤3.6 (mozilla yaml.v2 fork: `-   ` lists, single-quoted dates); 'v3': go-yaml v3. */
  yamlFlavor: 'v2' | 'v3';
  /**
   * Metadata layout: 'struct' (≤3.9, struct order, empty key lists kept), 'struct-omitempty'
   * (3.10–3.12, empty key lists dropped), 'sorted' (3.13+, every map sorted by key).
   */
  metadata: 'struct' | 'struct-omitempty' | 'sorted';
  /** The struct of ≤3.5 had no `hc_vault`/`age` fields. */
  hasAgeAndVault: boolean;
  /** `hckms` exists since 3.12. */
  hasHckms: boolean;
  /** JSON files end with a newline since 3.10. */
  jsonTrailingNewline: boolean;
  /** JSON numbers that fit int64 are ints since 3.13.2 (before, every JSON number was a float64). */
  jsonIntegers: boolean;
  /** Comments have been encrypted since 3.4 (3.3 left them in clear). */
  encryptComments: boolean;
}

/** The version this codec emits by default. */
export const DEFAULT_SOPS_VERSION = '3.13.2';

function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** Compares two version strings numerically (unparseable versions sort as newest). */
export function versionAtLeast(v: string, min: string): boolean {
  const a = parseVersion(v);
  const b = parseVersion(min) as [number, number, number];
  if (!a) return true;
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/** The layout sops `version` writes. */
export function layoutForVersion(version: string = DEFAULT_SOPS_VERSION): SopsLayout {
  const at = (m: string): boolean => versionAtLeast(version, m);
  return {
    version,
    yamlFlavor: at('3.7.0') ? 'v3' : 'v2',
    metadata: at('3.13.0') ? 'sorted' : at('3.10.0') ? 'struct-omitempty' : 'struct',
    hasAgeAndVault: at('3.6.0'),
    hasHckms: at('3.12.0'),
    jsonTrailingNewline: at('3.10.0'),
    jsonIntegers: at('3.13.2'),
    encryptComments: at('3.4.0'),
  };
}
