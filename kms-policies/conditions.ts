/**
 * Condition evaluation with IAM semantics: keys are looked up in the request context, values of
 * one key are ORed, negated operators are NOR, a missing key fails positive operators and
 * satisfies negated ones, `IfExists` passes when the key is missing, and `ForAnyValue:` /
 * `ForAllValues:` quantify over multi-valued keys (ForAllValues over an absent key is true — the
 * well-known IAM trap, reproduced on purpose).
 */
import type { ConditionClause, ConditionOperator } from './policy.js';

/** The outcome of one condition clause, with a sentence saying why. */
export interface ConditionResult {
  operator: string;
  key: string;
  satisfied: boolean;
  detail: string;
}

/** Looks up a condition key; `undefined` when the request does not carry it. */
export type ContextLookup = (key: string) => string[] | undefined;

const NEGATED: ReadonlySet<ConditionOperator> = new Set([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'ArnNotEquals',
  'ArnNotLike',
]);

/** Evaluates one clause against the request context. */
export function evaluateCondition(clause: ConditionClause, lookup: ContextLookup): ConditionResult {
  const actual = lookup(clause.key);
  const base = { operator: clause.operatorText, key: clause.key };
  const shown = actual === undefined ? 'absent' : actual.length === 1 ? JSON.stringify(actual[0]) : JSON.stringify(actual);
  const expected = clause.values.length === 1 ? JSON.stringify(clause.values[0]) : JSON.stringify(clause.values);

  if (clause.operator === 'Null') {
    const wantAbsent = clause.values.includes('true');
    const absent = actual === undefined || actual.length === 0;
    const satisfied = wantAbsent === absent;
    return { ...base, satisfied, detail: `${clause.key} is ${absent ? 'absent' : 'present'} (Null: ${expected})` };
  }
  if (actual === undefined || actual.length === 0) {
    if (clause.ifExists) return { ...base, satisfied: true, detail: `${clause.key} is absent, so ${clause.operatorText} passes` };
    if (clause.setQualifier === 'ForAllValues') {
      return { ...base, satisfied: true, detail: `${clause.key} is absent, and ForAllValues over no values is true` };
    }
    if (clause.setQualifier === 'ForAnyValue') {
      return { ...base, satisfied: false, detail: `${clause.key} is absent, and ForAnyValue over no values is false` };
    }
    const satisfied = NEGATED.has(clause.operator);
    return {
      ...base,
      satisfied,
      detail: satisfied
        ? `${clause.key} is absent, which satisfies the negated operator ${clause.operatorText}`
        : `${clause.key} is absent from the request${absentHint(clause.key)}`,
    };
  }
  const one = (v: string): boolean => matchesOne(clause.operator, v, clause.values);
  let satisfied: boolean;
  if (clause.setQualifier === 'ForAllValues') satisfied = actual.every(one);
  else satisfied = actual.some(one); // ForAnyValue, and single-valued keys (one value)
  return {
    ...base,
    satisfied,
    detail: satisfied
      ? `${clause.key} = ${shown} satisfies ${clause.operatorText} ${expected}`
      : `${clause.key} = ${shown} does not satisfy ${clause.operatorText} ${expected}`,
  };
}

/** Whether a single request value satisfies the operator against the policy's value list. */
function matchesOne(op: ConditionOperator, v: string, values: string[]): boolean {
  switch (op) {
    case 'StringEquals':
    case 'ArnEquals':
      return values.some((x) => x === v);
    case 'StringNotEquals':
    case 'ArnNotEquals':
      return !values.some((x) => x === v);
    case 'StringEqualsIgnoreCase':
      return values.some((x) => x.toLowerCase() === v.toLowerCase());
    case 'StringNotEqualsIgnoreCase':
      return !values.some((x) => x.toLowerCase() === v.toLowerCase());
    case 'StringLike':
    case 'ArnLike':
      return values.some((x) => wildcardMatch(x, v, false));
    case 'StringNotLike':
    case 'ArnNotLike':
      return !values.some((x) => wildcardMatch(x, v, false));
    case 'Bool':
      return values.some((x) => x.toLowerCase() === v.toLowerCase());
    case 'Null':
      return false; // handled by the caller
  }
}

/** IAM wildcard match: `*` any run of characters, `?` exactly one. */
export function wildcardMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const s = ignoreCase ? value.toLowerCase() : value;
  // Iterative glob match with backtracking on the last '*' (linear in practice, no regex injection).
  let pi = 0;
  let si = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === s[si])) {
      pi++;
      si++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

function absentHint(key: string): string {
  return key.toLowerCase().startsWith('kms:recipientattestation:')
    ? ' (the request carried no valid attestation document, so attestation conditions cannot match)'
    : '';
}
