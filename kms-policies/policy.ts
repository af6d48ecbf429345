/**
 * The key-policy grammar (the IAM policy language as KMS key policies use it), parsed once into
 * a normalised form the evaluator, the checker and the PCR extractor share. Strict: an element
 * this module does not understand is an error, never silently ignored — an ignored Deny or
 * condition would turn into a grant.
 */
import { KmsPolicyError } from './errors.js';

/** A key policy as JSON (what PutKeyPolicy takes and the generator emits). */
export interface KeyPolicyDocument {
  Version?: string;
  Id?: string;
  Statement: KeyPolicyStatement[] | KeyPolicyStatement;
}

/** One statement as written in JSON. */
export interface KeyPolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: '*' | Record<string, string | string[]>;
  NotPrincipal?: '*' | Record<string, string | string[]>;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean | number | Array<boolean | number>>>;
}

/** Who a statement names: anyone, or lists per principal type. */
export type PrincipalSpec = { any: true } | { any: false; aws: string[]; other: string[] };

/** The base operators the evaluator implements. */
export const CONDITION_OPERATORS = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'ArnEquals',
  'ArnNotEquals',
  'ArnLike',
  'ArnNotLike',
  'Null',
  'Bool',
] as const;
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/** One `operator: { key: values }` entry, split into its parts. */
export interface ConditionClause {
  /** As written, e.g. `ForAnyValue:StringLike` or `StringEqualsIfExists`. */
  operatorText: string;
  operator: ConditionOperator;
  setQualifier?: 'ForAnyValue' | 'ForAllValues';
  ifExists: boolean;
  /** Condition key as written (names are compared case-insensitively, except the context-key part). */
  key: string;
  values: string[];
}

/** A statement in normalised form; `index` is its position in the document. */
export interface NormalizedStatement {
  index: number;
  sid?: string;
  effect: 'Allow' | 'Deny';
  principal: PrincipalSpec;
  principalNegated: boolean;
  actions: string[];
  actionsNegated: boolean;
  resources: string[];
  resourcesNegated: boolean;
  conditions: ConditionClause[];
}

/** A parsed key policy. */
export interface ParsedPolicy {
  version?: string;
  id?: string;
  statements: NormalizedStatement[];
}

/** KMS's limit on key policy size. */
export const MAX_KEY_POLICY_BYTES = 32 * 1024;

const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);

/** Parses a key policy (JSON text or object) into the normalised form; throws KmsPolicyError. */
export function parseKeyPolicy(input: string | unknown): ParsedPolicy {
  let doc: unknown = input;
  if (typeof input === 'string') {
    if (Buffer.byteLength(input, 'utf8') > MAX_KEY_POLICY_BYTES) invalid(`the policy exceeds ${MAX_KEY_POLICY_BYTES} bytes`);
    try {
      doc = JSON.parse(input);
    } catch {
      invalid('the policy is not valid JSON');
    }
  }
  if (!isObject(doc)) invalid('the policy must be a JSON object');
  for (const k of Object.keys(doc)) {
    if (k !== 'Version' && k !== 'Id' && k !== 'Statement') invalid(`unknown top-level element "${k}"`);
  }
  if (doc.Version !== undefined && doc.Version !== '2012-10-17' && doc.Version !== '2008-10-17') {
    invalid(`unsupported Version ${JSON.stringify(doc.Version)}`);
  }
  if (doc.Id !== undefined && typeof doc.Id !== 'string') invalid('Id must be a string');
  const raw = doc.Statement;
  const list = Array.isArray(raw) ? raw : raw === undefined ? invalid('the policy has no Statement') : [raw];
  if (list.length === 0) invalid('the policy has an empty Statement list');
  return {
    ...(typeof doc.Version === 'string' ? { version: doc.Version } : {}),
    ...(typeof doc.Id === 'string' ? { id: doc.Id } : {}),
    statements: list.map((s, i) => parseStatement(s, i)),
  };
}

function parseStatement(s: unknown, index: number): NormalizedStatement {
  const where = `Statement[${index}]`;
  if (!isObject(s)) invalid(`${where} must be an object`);
  for (const k of Object.keys(s)) if (!STATEMENT_KEYS.has(k)) invalid(`${where} has unknown element "${k}"`);
  if (s.Sid !== undefined && typeof s.Sid !== 'string') invalid(`${where}.Sid must be a string`);
  if (s.Effect !== 'Allow' && s.Effect !== 'Deny') invalid(`${where}.Effect must be "Allow" or "Deny"`);
  const principal = exactlyOne(s, 'Principal', 'NotPrincipal', where);
  const action = exactlyOne(s, 'Action', 'NotAction', where);
  const resource = exactlyOne(s, 'Resource', 'NotResource', where);
  return {
    index,
    ...(typeof s.Sid === 'string' ? { sid: s.Sid } : {}),
    effect: s.Effect,
    principal: parsePrincipal(principal.value, `${where}.${principal.name}`),
    principalNegated: principal.name === 'NotPrincipal',
    actions: stringList(action.value, `${where}.${action.name}`),
    actionsNegated: action.name === 'NotAction',
    resources: stringList(resource.value, `${where}.${resource.name}`),
    resourcesNegated: resource.name === 'NotResource',
    conditions: s.Condition === undefined ? [] : parseConditions(s.Condition, `${where}.Condition`),
  };
}

function exactlyOne(s: Record<string, unknown>, a: string, notA: string, where: string): { name: string; value: unknown } {
  const hasA = s[a] !== undefined;
  const hasNot = s[notA] !== undefined;
  if (hasA === hasNot) invalid(`${where} must have exactly one of ${a} or ${notA}`);
  return hasA ? { name: a, value: s[a] } : { name: notA, value: s[notA] };
}

function parsePrincipal(v: unknown, where: string): PrincipalSpec {
  if (v === '*') return { any: true };
  if (!isObject(v)) invalid(`${where} must be "*" or an object such as {"AWS": "arn:…"}`);
  const aws: string[] = [];
  const other: string[] = [];
  for (const [type, value] of Object.entries(v)) {
    const list = stringList(value, `${where}.${type}`);
    if (type === 'AWS') aws.push(...list);
    else if (type === 'Service' || type === 'Federated' || type === 'CanonicalUser') other.push(...list.map((x) => `${type}:${x}`));
    else invalid(`${where} has unknown principal type "${type}"`);
  }
  if (aws.includes('*')) return { any: true };
  for (const a of aws) {
    if (!/^\d{12}$/.test(a) && !/^arn:aws[\w-]*:(iam|sts)::\d{12}:.+$/.test(a)) {
      invalid(`${where}: "${a}" is not an account ID or an IAM/STS ARN`);
    }
  }
  return { any: false, aws, other };
}

function parseConditions(c: unknown, where: string): ConditionClause[] {
  if (!isObject(c)) invalid(`${where} must be an object`);
  const out: ConditionClause[] = [];
  for (const [operatorText, block] of Object.entries(c)) {
    const { operator, setQualifier, ifExists } = parseOperator(operatorText, where);
    if (!isObject(block)) invalid(`${where}.${operatorText} must map condition keys to values`);
    for (const [key, value] of Object.entries(block)) {
      const values = (Array.isArray(value) ? value : [value]).map((x) => {
        if (typeof x === 'string') return x;
        if (typeof x === 'boolean' || typeof x === 'number') return String(x);
        return invalid(`${where}.${operatorText}.${key} values must be strings`);
      });
      if (values.length === 0) invalid(`${where}.${operatorText}.${key} has no values`);
      if ((operator === 'Null' || operator === 'Bool') && values.some((x) => x !== 'true' && x !== 'false')) {
        invalid(`${where}.${operatorText}.${key} must be "true" or "false"`);
      }
      out.push({ operatorText, operator, ...(setQualifier ? { setQualifier } : {}), ifExists, key, values });
    }
  }
  return out;
}

function parseOperator(text: string, where: string): Pick<ConditionClause, 'operator' | 'setQualifier' | 'ifExists'> {
  let rest = text;
  let setQualifier: ConditionClause['setQualifier'];
  const m = /^(ForAnyValue|ForAllValues):(.+)$/.exec(rest);
  if (m) {
    setQualifier = m[1] as 'ForAnyValue' | 'ForAllValues';
    rest = m[2]!;
  }
  let ifExists = false;
  if (rest.endsWith('IfExists') && rest !== 'IfExists') {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  if (!(CONDITION_OPERATORS as readonly string[]).includes(rest)) {
    throw new KmsPolicyError('KMS_POLICY_UNSUPPORTED', `${where}: condition operator "${text}" is not supported`, {
      hint: `supported: ${CONDITION_OPERATORS.join(', ')}, with optional ForAnyValue:/ForAllValues: and IfExists`,
    });
  }
  if (rest === 'Null' && (ifExists || setQualifier)) invalid(`${where}: "${text}" is not a valid operator`);
  return { operator: rest as ConditionOperator, ...(setQualifier ? { setQualifier } : {}), ifExists };
}

function stringList(v: unknown, where: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) invalid(`${where} must not be empty`);
  for (const x of list) if (typeof x !== 'string' || x.length === 0) invalid(`${where} must be a string or a list of strings`);
  return list as string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(message: string): never {
  throw new KmsPolicyError('KMS_POLICY_INVALID', `invalid key policy: ${message}`, {
    hint: 'key policies use the IAM JSON policy grammar: {"Version":"2012-10-17","Statement":[…]}',
  });
}
