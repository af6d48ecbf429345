/**
 * The key-policy evaluator shared by the KMS simulator and `kms-policy check`: given a policy and
 * one request (principal, action, key, verified attestation, encryption context) it decides
 * allow / explicit deny / implicit deny the way AWS documents it, and says which statement
 * decided and why, so the audit log and the checker can explain every answer.
 *
 * Principal semantics (documented choice): a key-policy principal `arn:aws:iam::ACCOUNT:root` (or
 * the bare account ID) delegates to IAM in real AWS, i.e. it can cover any principal of that account
 * whose IAM policy allows the action. The simulator has no IAM policies, so it treats the account
 * root as naming only the account's administrator principal(s) (`isAccountAdmin`). A role ARN also
 * matches that role's assumed-role sessions (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`).
 *
 * Attestation never grants anything by itself: the attestation keys only feed conditions.
 */
import { evaluateCondition, wildcardMatch, type ConditionResult, type ContextLookup } from './conditions.js';
import { parseKeyPolicy, type NormalizedStatement, type ParsedPolicy, type PrincipalSpec } from './policy.js';

/** The caller as the evaluator sees it. */
export interface PolicyPrincipal {
  /** Caller ARN: an IAM user or role, or an STS assumed-role session. */
  arn: string;
  /** The caller's 12-digit account. */
  accountId: string;
  /** Whether an account-root principal (`arn:aws:iam::ACCOUNT:root`) covers this caller (simulator's stand-in for IAM). */
  isAccountAdmin?: boolean;
}

/** Attestation data of a verified `Recipient` document (only ever present after verification). */
export interface RecipientAttestationContext {
  /** PCR index → hex (any case). PCR0 is also `kms:RecipientAttestation:ImageSha384`. */
  pcrs: ReadonlyMap<number, string> | Readonly<Record<number, string>>;
}

/** One request to authorise. */
export interface RequestContext {
  /** IAM action, e.g. `kms:Decrypt`. */
  action: string;
  /** The KMS key ARN. */
  resource: string;
  principal: PolicyPrincipal;
  /** Present only when the request carried a Recipient document that verified. */
  recipientAttestation?: RecipientAttestationContext;
  encryptionContext?: Readonly<Record<string, string>>;
  /** Further request keys, e.g. `{ 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' }`. */
  extraConditionKeys?: Readonly<Record<string, string | string[]>>;
}

/** How one statement related to the request. */
export interface StatementResult {
  index: number;
  sid?: string;
  effect: 'Allow' | 'Deny';
  principalMatched: boolean;
  actionMatched: boolean;
  resourceMatched: boolean;
  conditions: ConditionResult[];
  /** Principal, action, resource and every condition matched. */
  applies: boolean;
  /** One sentence: why it applies or not. */
  reason: string;
}

/** The decision, with reasons for the audit log and the checker. */
export interface PolicyDecision {
  allowed: boolean;
  decision: 'allow' | 'explicit-deny' | 'implicit-deny';
  /** One-paragraph explanation naming the deciding statements. */
  reason: string;
  /** The statements that decided (the Deny that applied, or the Allows that applied). */
  deciding: StatementResult[];
  statements: StatementResult[];
}

/** Evaluates a key policy for one request. Accepts a parsed policy, a JSON object or JSON text. */
export function evaluatePolicy(policy: ParsedPolicy | unknown, ctx: RequestContext): PolicyDecision {
  const parsed = isParsed(policy) ? policy : parseKeyPolicy(policy);
  const lookup = contextLookup(ctx);
  const statements = parsed.statements.map((s) => evaluateStatement(s, ctx, lookup));
  const denies = statements.filter((s) => s.applies && s.effect === 'Deny');
  const allows = statements.filter((s) => s.applies && s.effect === 'Allow');
  const who = `${ctx.principal.arn} calling ${ctx.action}`;
  if (denies.length > 0) {
    return {
      allowed: false,
      decision: 'explicit-deny',
      reason: `explicit deny for ${who}: ${denies.map(label).join(', ')} applied (${denies.map((d) => d.reason).join('; ')})`,
      deciding: denies,
      statements,
    };
  }
  if (allows.length > 0) {
    return {
      allowed: true,
      decision: 'allow',
      reason: `allowed for ${who} by ${allows.map(label).join(', ')}`,
      deciding: allows,
      statements,
    };
  }
  const near = statements.filter((s) => s.effect === 'Allow' && s.principalMatched && s.actionMatched && s.resourceMatched);
  const why =
    near.length > 0
      ? near.map((s) => `${label(s)}: ${s.reason}`).join('; ')
      : 'no Allow statement names this principal and action';
  return { allowed: false, decision: 'implicit-deny', reason: `implicit deny for ${who}: ${why}`, deciding: [], statements };
}

/** "statement #2 "EnclaveDecrypt"" — how reasons name statements. */
export function label(s: Pick<StatementResult, 'index' | 'sid'>): string {
  return s.sid ? `statement #${s.index} "${s.sid}"` : `statement #${s.index}`;
}

function evaluateStatement(s: NormalizedStatement, ctx: RequestContext, lookup: ContextLookup): StatementResult {
  const principalMatched = principalListMatches(s.principal, ctx.principal) !== s.principalNegated;
  const actionMatched = s.actions.some((a) => wildcardMatch(a, ctx.action, true)) !== s.actionsNegated;
  const resourceMatched = s.resources.some((r) => wildcardMatch(r, ctx.resource, false)) !== s.resourcesNegated;
  // Conditions are evaluated only for statements that otherwise apply, so reasons stay relevant.
  const conditions = principalMatched && actionMatched && resourceMatched ? s.conditions.map((c) => evaluateCondition(c, lookup)) : [];
  const failed = conditions.filter((c) => !c.satisfied);
  const applies = principalMatched && actionMatched && resourceMatched && failed.length === 0;
  let reason: string;
  if (!principalMatched) reason = `principal ${ctx.principal.arn} is not named`;
  else if (!actionMatched) reason = `action ${ctx.action} is not covered`;
  else if (!resourceMatched) reason = `resource ${ctx.resource} is not covered`;
  else if (failed.length > 0) reason = `condition not met: ${failed.map((c) => c.detail).join('; ')}`;
  else reason = conditions.length > 0 ? `all ${conditions.length} condition(s) met` : 'matches with no conditions';
  return {
    index: s.index,
    ...(s.sid === undefined ? {} : { sid: s.sid }),
    effect: s.effect,
    principalMatched,
    actionMatched,
    resourceMatched,
    conditions,
    applies,
    reason,
  };
}

/** Whether a Principal element names the caller. */
export function principalListMatches(spec: PrincipalSpec, p: PolicyPrincipal): boolean {
  if (spec.any) return true;
  return spec.aws.some((entry) => principalEntryMatches(entry, p));
}

function principalEntryMatches(entry: string, p: PolicyPrincipal): boolean {
  const rootAccount = /^\d{12}$/.test(entry) ? entry : /^arn:aws[\w-]*:iam::(\d{12}):root$/.exec(entry)?.[1];
  if (rootAccount !== undefined) {
    return p.accountId === rootAccount && (p.isAccountAdmin === true || p.arn === `arn:aws:iam::${rootAccount}:root`);
  }
  if (entry === p.arn) return true;
  const role = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(entry);
  const session = parseAssumedRole(p.arn);
  return role !== null && session !== null && role[2] === session.account && role[3] === session.roleName;
}

function parseAssumedRole(arn: string): { account: string; roleName: string; partition: string } | null {
  const m = /^arn:(aws[\w-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return m ? { partition: m[1]!, account: m[2]!, roleName: m[3]! } : null;
}

/** `aws:PrincipalArn`: for a role session, the role's ARN; otherwise the caller's ARN. */
export function principalArnConditionValue(arn: string): string {
  const s = parseAssumedRole(arn);
  return s ? `arn:${s.partition}:iam::${s.account}:role/${s.roleName}` : arn;
}

/** Builds the condition-key lookup for a request (key names case-insensitive, context keys exact). */
function contextLookup(ctx: RequestContext): ContextLookup {
  const pcrs = normalisePcrs(ctx.recipientAttestation?.pcrs);
  const extra = new Map<string, string[]>();
  for (const [k, v] of Object.entries(ctx.extraConditionKeys ?? {})) extra.set(k.toLowerCase(), Array.isArray(v) ? v : [v]);
  return (key) => {
    const lower = key.toLowerCase();
    if (lower === 'kms:recipientattestation:imagesha384') return pcrs?.has(0) ? [pcrs.get(0)!] : undefined;
    const pcr = /^kms:recipientattestation:pcr(\d{1,2})$/.exec(lower);
    if (pcr) {
      const i = Number(pcr[1]);
      return pcrs?.has(i) ? [pcrs.get(i)!] : undefined;
    }
    if (lower.startsWith('kms:encryptioncontext:')) {
      const name = key.slice('kms:EncryptionContext:'.length); // the context key itself is case-sensitive
      // Own entries only: `constructor` or `__proto__` must not resolve through a prototype.
      const ec = ctx.encryptionContext;
      const v = ec !== undefined && Object.hasOwn(ec, name) ? ec[name] : undefined;
      return typeof v === 'string' ? [v] : undefined;
    }
    if (lower === 'kms:encryptioncontextkeys') {
      const keys = Object.keys(ctx.encryptionContext ?? {});
      return keys.length > 0 ? keys : undefined;
    }
    if (lower === 'kms:calleraccount' || lower === 'aws:principalaccount') return [ctx.principal.accountId];
    if (lower === 'aws:principalarn') return [principalArnConditionValue(ctx.principal.arn)];
    return extra.get(lower);
  };
}

function normalisePcrs(p: RecipientAttestationContext['pcrs'] | undefined): Map<number, string> | undefined {
  if (p === undefined) return undefined;
  const entries: Array<[number, string]> = p instanceof Map ? [...p.entries()] : Object.entries(p).map(([k, v]) => [Number(k), v]);
  return new Map(entries.map(([k, v]) => [k, v.toLowerCase()]));
}

function isParsed(p: unknown): p is ParsedPolicy {
  return (
    typeof p === 'object' &&
    p !== null &&
    Array.isArray((p as { statements?: unknown }).statements) &&
    (p as { Statement?: unknown }).Statement === undefined
  );
}
