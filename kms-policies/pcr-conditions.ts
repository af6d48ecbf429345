/**
 * Reads the measurements a key policy pins: the `kms:RecipientAttestation:ImageSha384` /
 * `kms:RecipientAttestation:PCRn` values of its Allow statements. verify-receipt uses this to take
 * expected PCRs from the very policy that guards the keys, instead of a second copy.
 */
import { parseKeyPolicy, type ParsedPolicy } from './policy.js';

/** The PCR values one Allow statement requires (ImageSha384 is reported as PCR 0). */
export interface PcrConditionSet {
  index: number;
  sid?: string;
  actions: string[];
  /** AWS principals the statement names ('*' when anyone). */
  principals: string[];
  /** PCR index → allowed lower-case hex values (one value per index in generated policies). */
  pcrs: Record<number, string[]>;
  /** Operators used (e.g. StringEqualsIgnoreCase), for reviewers. */
  operators: string[];
}

const POSITIVE = new Set(['StringEquals', 'StringEqualsIgnoreCase']);

/**
 * Extracts, per Allow statement, the PCR values its attestation conditions require. Only exact
 * (StringEquals / StringEqualsIgnoreCase, without IfExists or set qualifiers) conditions count —
 * anything looser does not pin a measurement. Statements without such conditions are omitted.
 */
export function pcrConditionsFromPolicy(policy: ParsedPolicy | unknown): PcrConditionSet[] {
  const parsed = isParsed(policy) ? policy : parseKeyPolicy(policy);
  const out: PcrConditionSet[] = [];
  for (const s of parsed.statements) {
    if (s.effect !== 'Allow') continue;
    const pcrs: Record<number, string[]> = {};
    const operators = new Set<string>();
    for (const c of s.conditions) {
      if (!POSITIVE.has(c.operator) || c.ifExists || c.setQualifier) continue;
      const index = attestationPcrIndex(c.key);
      if (index === undefined) continue;
      const values = c.values.map((v) => v.toLowerCase());
      // Two clauses on the same PCR (e.g. ImageSha384 and PCR0) must both hold: intersect.
      pcrs[index] = pcrs[index] === undefined ? values : pcrs[index]!.filter((v) => values.includes(v));
      operators.add(c.operatorText);
    }
    if (Object.keys(pcrs).length === 0) continue;
    out.push({
      index: s.index,
      ...(s.sid === undefined ? {} : { sid: s.sid }),
      actions: s.actionsNegated ? s.actions.map((a) => `NOT ${a}`) : s.actions,
      principals: s.principal.any ? ['*'] : s.principal.aws,
      pcrs,
      operators: [...operators],
    });
  }
  return out;
}

/** PCR index named by an attestation condition key, or undefined for other keys. */
export function attestationPcrIndex(key: string): number | undefined {
  const lower = key.toLowerCase();
  if (lower === 'kms:recipientattestation:imagesha384') return 0;
  const m = /^kms:recipientattestation:pcr(\d{1,2})$/.exec(lower);
  if (!m) return undefined;
  const i = Number(m[1]);
  return i <= 31 ? i : undefined;
}

function isParsed(p: unknown): p is ParsedPolicy {
  return typeof p === 'object' && p !== null && Array.isArray((p as { statements?: unknown }).statements);
}
