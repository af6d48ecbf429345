/**
 * `kms-policy check`: explains, statement by statement, whether an attested Decrypt from the
 * measured image is allowed by a key policy, and looks for the known bypass — a statement that
 * lets the enclave's role (or `*`, or the account root, i.e. any IAM grant) Decrypt without
 * attestation conditions, which means the parent instance could decrypt outside the enclave.
 *
 * It works by asking the same evaluator the simulator uses a handful of concrete questions
 * (attested Decrypt from this image; from an image one byte different; without attestation, with
 * and without IAM help; by a stranger) and reporting the answers with their reasons. Then the
 * indirect paths to plaintext: whoever may kms:PutKeyPolicy can rewrite the policy and decrypt
 * (the account root meaning any IAM principal allowed it), and kms:ReEncryptFrom moves the
 * ciphertext under another key without any attestation. Only administrators the operator names
 * (`admins`) are accepted.
 */
import type { Measurements } from '../common/measurements.js';
import { pcr3ForRoleArn } from '../attestation/index.js';
import { evaluatePolicy, label, type PolicyDecision, type RequestContext, type StatementResult } from './evaluate.js';
import { attestationPcrIndex } from './pcr-conditions.js';
import { parseKeyPolicy, type NormalizedStatement, type ParsedPolicy } from './policy.js';
import { wildcardMatch } from './conditions.js';
import { KmsPolicyError } from './errors.js';

/** One thing the checker wants a human to know. */
export interface PolicyFinding {
  severity: 'error' | 'warning' | 'note';
  code:
    | 'ATTESTED_DECRYPT_DENIED'
    | 'ATTESTED_DECRYPT_NEEDS_IAM'
    | 'DECRYPT_WITHOUT_ATTESTATION'
    | 'DECRYPT_WITHOUT_ATTESTATION_VIA_IAM'
    | 'BYPASS_BLOCKED_BY_DENY'
    | 'OTHER_IMAGE_ALLOWED'
    | 'ANYONE_CAN_DECRYPT'
    | 'GRANTS_ALLOWED'
    | 'PCR_NOT_IN_MEASUREMENTS'
    | 'ACCOUNT_ROOT_DELEGATES_TO_IAM'
    | 'POLICY_REWRITE_ALLOWED'
    | 'REENCRYPT_WITHOUT_ATTESTATION'
    | 'KEY_ADMINISTRATORS';
  message: string;
  statements?: number[];
}

/** The checker's answer. `ok` is true when the image can decrypt and no error or warning was found. */
export interface PolicyCheckReport {
  ok: boolean;
  roleArn: string;
  /** The attested Decrypt from the measured image, as the key policy alone decides it. */
  attestedDecrypt: Pick<PolicyDecision, 'allowed' | 'decision' | 'reason'>;
  /** Statement by statement, for the attested Decrypt. */
  statements: Array<Pick<StatementResult, 'index' | 'sid' | 'effect' | 'applies' | 'reason'>>;
  findings: PolicyFinding[];
}

const DECRYPT = 'kms:Decrypt';
const CHECK_RESOURCE = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000';

/** What the operator accepts beyond the enclave's attested Decrypt. */
export interface CheckKeyPolicyOptions {
  /**
   * Key administrators the operator trusts with kms:PutKeyPolicy (exact ARNs as the policy names
   * them). The account root counts only when named here (`arn:aws:iam::ACCOUNT:root`).
   */
  admins?: readonly string[];
}

/** Checks a key policy against an image's measurements for the enclave role `roleArn`. */
export function checkKeyPolicy(policy: ParsedPolicy | unknown, measurements: Measurements, roleArn: string, options: CheckKeyPolicyOptions = {}): PolicyCheckReport {
  const parsed = isParsed(policy) ? policy : parseKeyPolicy(policy);
  const role = parseRole(roleArn);
  const findings: PolicyFinding[] = [];
  const pcrs = imagePcrs(parsed, measurements, roleArn, findings);

  const ask = (opts: { attested?: Map<number, string>; admin?: boolean; principal?: { arn: string; accountId: string } }): PolicyDecision => {
    const ctx: RequestContext = {
      action: DECRYPT,
      resource: CHECK_RESOURCE.replace('000000000000', role.accountId),
      principal: { ...(opts.principal ?? { arn: role.sessionArn, accountId: role.accountId }), isAccountAdmin: opts.admin === true },
      ...(opts.attested ? { recipientAttestation: { pcrs: opts.attested } } : {}),
    };
    return evaluatePolicy(parsed, ctx);
  };

  // 1. The question the operator asks: may the measured image decrypt?
  const attested = ask({ attested: pcrs });
  const attestedWithIam = attested.allowed ? attested : ask({ attested: pcrs, admin: true });
  if (!attested.allowed) {
    if (attestedWithIam.allowed) {
      findings.push({
        severity: 'warning',
        code: 'ATTESTED_DECRYPT_NEEDS_IAM',
        message:
          'the key policy does not allow the enclave role itself; an attested Decrypt works only if an IAM policy grants it through the account-root statement ' +
          `(${attestedWithIam.deciding.map(label).join(', ')}) — name the role in the key policy with attestation conditions instead`,
        statements: attestedWithIam.deciding.map((s) => s.index),
      });
    } else {
      findings.push({
        severity: 'error',
        code: 'ATTESTED_DECRYPT_DENIED',
        message: `an attested Decrypt from this image is refused: ${attested.reason}`,
        statements: attested.deciding.map((s) => s.index),
      });
    }
  }

  // 2. The known bypass: Decrypt without any attestation (key policy alone, then with IAM help).
  const plain = ask({});
  const plainWithIam = ask({ admin: true });
  const unpinnedAllows = parsed.statements.filter((s) => s.effect === 'Allow' && coversDecrypt(s) && !pinsAttestation(s));
  if (plain.allowed) {
    findings.push({
      severity: 'error',
      code: 'DECRYPT_WITHOUT_ATTESTATION',
      message: `the enclave role can Decrypt without any attestation (outside the enclave): ${plain.reason}`,
      statements: plain.deciding.map((s) => s.index),
    });
  } else if (plainWithIam.allowed) {
    findings.push({
      severity: 'warning',
      code: 'DECRYPT_WITHOUT_ATTESTATION_VIA_IAM',
      message:
        `${plainWithIam.deciding.map(label).join(', ')} lets the account root use kms:Decrypt, so any IAM policy in the account can grant the enclave role ` +
        'Decrypt without attestation; add an explicit Deny for the role unless the attestation matches, or drop Decrypt from the admin statement',
      statements: plainWithIam.deciding.map((s) => s.index),
    });
  } else if (plainWithIam.decision === 'explicit-deny' && unpinnedAllows.length > 0) {
    findings.push({
      severity: 'note',
      code: 'BYPASS_BLOCKED_BY_DENY',
      message: `${unpinnedAllows.map((s) => label(s)).join(', ')} would allow Decrypt without attestation, but ${plainWithIam.deciding
        .map(label)
        .join(', ')} explicitly denies the enclave role any such Decrypt`,
      statements: [...unpinnedAllows.map((s) => s.index), ...plainWithIam.deciding.map((s) => s.index)],
    });
  }

  // 3. A different image (PCR0 one byte off) must be refused by the key policy.
  const otherImage = new Map(pcrs);
  otherImage.set(0, flipFirstByte(measurements.PCR0));
  const other = ask({ attested: otherImage });
  if (other.allowed) {
    findings.push({
      severity: 'error',
      code: 'OTHER_IMAGE_ALLOWED',
      message: `an image with a different PCR0 can also decrypt: ${other.reason}`,
      statements: other.deciding.map((s) => s.index),
    });
  }

  // 4. A stranger from another account must not decrypt.
  const stranger = ask({ principal: { arn: 'arn:aws:iam::999999999999:user/stranger', accountId: '999999999999' } });
  if (stranger.allowed) {
    findings.push({
      severity: 'error',
      code: 'ANYONE_CAN_DECRYPT',
      message: `a principal from another account can Decrypt: ${stranger.reason}`,
      statements: stranger.deciding.map((s) => s.index),
    });
  }

  // 5. Grants cannot carry attestation conditions.
  const grants = parsed.statements.filter((s) => s.effect === 'Allow' && coversAction(s, 'kms:CreateGrant'));
  if (grants.length > 0) {
    findings.push({
      severity: 'warning',
      code: 'GRANTS_ALLOWED',
      message: `${grants.map((s) => label(s)).join(', ')} allow kms:CreateGrant; a grant can give Decrypt without attestation conditions`,
      statements: grants.map((s) => s.index),
    });
  }

  // 6. What "account root" means.
  const rootStatements = parsed.statements.filter((s) => namesAccountRoot(s, role.accountId));
  if (rootStatements.length > 0) {
    findings.push({
      severity: 'note',
      code: 'ACCOUNT_ROOT_DELEGATES_TO_IAM',
      message:
        `${rootStatements.map((s) => label(s)).join(', ')} name the account root: in AWS that delegates to IAM (any principal of account ${role.accountId} whose IAM ` +
        'policy allows the action); the standard admin statement "kms:*" would therefore let IAM grant Decrypt. The simulator treats the account root as the account administrator only.',
      statements: rootStatements.map((s) => s.index),
    });
  }

  // 7. Indirect paths to plaintext without attestation: rewriting the policy, re-encrypting.
  findings.push(...indirectPaths(parsed, roleArn, role, options.admins ?? []));

  const ok = attested.allowed && !findings.some((f) => f.severity !== 'note');
  return {
    ok,
    roleArn,
    attestedDecrypt: { allowed: attested.allowed, decision: attested.decision, reason: attested.reason },
    statements: attested.statements.map((s) => ({
      index: s.index,
      ...(s.sid === undefined ? {} : { sid: s.sid }),
      effect: s.effect,
      applies: s.applies,
      reason: s.reason,
    })),
    findings,
  };
}

/**
 * Every principal an Allow statement names for kms:PutKeyPolicy or kms:ReEncryptFrom, asked of
 * the evaluator as that principal (the account root as IAM delegation: any principal of the
 * account). PutKeyPolicy by a named administrator the operator accepts is a note; by anyone else
 * a warning, by `*` or the enclave role an error. ReEncryptFrom by anyone is an error: KMS has no
 * Recipient for it, so it hands the ciphertext to a key the caller may decrypt.
 */
function indirectPaths(parsed: ParsedPolicy, roleArn: string, role: { accountId: string; sessionArn: string }, admins: readonly string[]): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  const accepted = new Map<string, number[]>();
  const actions = [
    { action: 'kms:PutKeyPolicy', code: 'POLICY_REWRITE_ALLOWED' as const },
    { action: 'kms:ReEncryptFrom', code: 'REENCRYPT_WITHOUT_ATTESTATION' as const },
  ];
  for (const { action, code } of actions) {
    const named = new Set<string>();
    for (const s of parsed.statements) {
      if (s.effect !== 'Allow' || !coversAction(s, action)) continue;
      if (s.principal.any || s.principalNegated) named.add('*');
      else for (const a of s.principal.aws) named.add(a);
    }
    for (const p of named) {
      const caller = callerFor(p, roleArn, role);
      const d = evaluatePolicy(parsed, {
        action,
        resource: CHECK_RESOURCE.replace('000000000000', role.accountId),
        principal: caller,
      });
      if (!d.allowed) continue;
      const statements = d.deciding.map((x) => x.index);
      const by = d.deciding.map(label).join(', ');
      if (code === 'POLICY_REWRITE_ALLOWED' && admins.includes(p)) {
        accepted.set(p, statements);
        continue;
      }
      const isRoot = /^\d{12}$/.test(p) || /^arn:aws[\w-]*:iam::\d{12}:root$/.test(p);
      const who = p === '*' ? 'anyone' : isRoot ? `the account root (any IAM principal of account ${caller.accountId} whose IAM policy allows ${action})` : p;
      const worst = p === '*' || p === roleArn || code === 'REENCRYPT_WITHOUT_ATTESTATION';
      findings.push({
        severity: worst ? 'error' : 'warning',
        code,
        message:
          code === 'POLICY_REWRITE_ALLOWED'
            ? `${by} lets ${who} call kms:PutKeyPolicy: it can rewrite this policy and decrypt without attestation; ` +
              (isRoot ? 'name the key administrators instead (kms-policy generate --admin-arn), or accept the root with --admin-arn ' + p : `accept it as a key administrator with --admin-arn ${p}, or remove it`)
            : `${by} lets ${who} call kms:ReEncryptFrom: that re-encrypts the ciphertext under another key without any attestation; remove it`,
        statements,
      });
    }
  }
  if (accepted.size > 0) {
    findings.push({
      severity: 'note',
      code: 'KEY_ADMINISTRATORS',
      message: `${[...accepted.keys()].join(', ')} may rewrite this policy (kms:PutKeyPolicy) and so decrypt without attestation: accepted with --admin-arn`,
      statements: [...new Set([...accepted.values()].flat())],
    });
  }
  return findings;
}

/** The caller a principal entry stands for: role → its session, account root → any principal of the account (IAM), `*` → a stranger. */
function callerFor(p: string, roleArn: string, role: { accountId: string; sessionArn: string }): { arn: string; accountId: string; isAccountAdmin?: boolean } {
  if (p === '*') return { arn: 'arn:aws:iam::999999999999:user/stranger', accountId: '999999999999' };
  const root = /^\d{12}$/.test(p) ? p : /^arn:aws[\w-]*:iam::(\d{12}):root$/.exec(p)?.[1];
  if (root !== undefined) return { arn: `arn:aws:iam::${root}:user/any-iam-principal`, accountId: root, isAccountAdmin: true };
  if (p === roleArn) return { arn: role.sessionArn, accountId: role.accountId };
  const r = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(p);
  if (r) return { arn: `arn:${r[1]}:sts::${r[2]}:assumed-role/${r[3]}/attested-pack-check`, accountId: r[2]! };
  return { arn: p, accountId: /^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):/.exec(p)?.[1] ?? '000000000000' };
}

/** Human-readable report, one statement per line, then the findings. */
export function formatPolicyCheck(r: PolicyCheckReport): string {
  const lines = [
    `Attested kms:Decrypt by ${r.roleArn} from the measured image: ${r.attestedDecrypt.allowed ? 'ALLOWED' : 'DENIED'} (${r.attestedDecrypt.decision})`,
    '',
    'Statements:',
    ...r.statements.map((s) => `  ${label(s)} [${s.effect}] ${s.applies ? 'applies' : 'does not apply'}: ${s.reason}`),
    '',
  ];
  if (r.findings.length === 0) lines.push('No findings.');
  for (const f of r.findings) lines.push(`${f.severity.toUpperCase()} [${f.code}] ${f.message}`);
  lines.push('', r.ok ? 'Result: OK' : 'Result: NOT OK');
  return lines.join('\n') + '\n';
}

/** The PCRs an attested request from this image would carry, as far as the checker can know them. */
function imagePcrs(parsed: ParsedPolicy, m: Measurements, roleArn: string, findings: PolicyFinding[]): Map<number, string> {
  const pcrs = new Map<number, string>([
    [0, m.PCR0],
    [1, m.PCR1],
    [2, m.PCR2],
  ]);
  if (m.PCR8) pcrs.set(8, m.PCR8);
  if (/^arn:aws[\w-]*:iam::\d{12}:role\//.test(roleArn)) pcrs.set(3, pcr3ForRoleArn(roleArn));
  // PCRs the policy pins that measurements.json cannot tell (PCR4 = instance ID, 16..31 = app-extended).
  for (const s of parsed.statements) {
    for (const c of s.conditions) {
      const i = attestationPcrIndex(c.key);
      if (i === undefined || pcrs.has(i) || c.values.length === 0) continue;
      pcrs.set(i, c.values[0]!.toLowerCase());
      findings.push({
        severity: 'note',
        code: 'PCR_NOT_IN_MEASUREMENTS',
        message: `${label(s)} pins PCR${i}, which measurements.json does not hold; assumed to be ${c.values[0]} (check it against the running instance)`,
        statements: [s.index],
      });
    }
  }
  return pcrs;
}

function coversDecrypt(s: NormalizedStatement): boolean {
  return coversAction(s, DECRYPT);
}

function coversAction(s: NormalizedStatement, action: string): boolean {
  return s.actions.some((a) => wildcardMatch(a, action, true)) !== s.actionsNegated;
}

/** Whether a statement has at least one exact attestation condition (which absent attestation fails). */
function pinsAttestation(s: NormalizedStatement): boolean {
  return s.conditions.some(
    (c) =>
      attestationPcrIndex(c.key) !== undefined &&
      (c.operator === 'StringEquals' || c.operator === 'StringEqualsIgnoreCase') &&
      !c.ifExists &&
      c.setQualifier !== 'ForAllValues',
  );
}

function namesAccountRoot(s: NormalizedStatement, accountId: string): boolean {
  return !s.principal.any && s.principal.aws.some((a) => a === accountId || a.endsWith(`::${accountId}:root`));
}

function parseRole(roleArn: string): { accountId: string; sessionArn: string } {
  const role = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn);
  if (role) return { accountId: role[2]!, sessionArn: `arn:${role[1]}:sts::${role[2]}:assumed-role/${role[3]}/attested-pack-check` };
  const other = /^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):.+$/.exec(roleArn);
  if (other) return { accountId: other[1]!, sessionArn: roleArn };
  throw new KmsPolicyError('KMS_POLICY_BAD_OPTIONS', `--role-arn must be an IAM role ARN, got ${JSON.stringify(roleArn)}`);
}

function flipFirstByte(hex: string): string {
  const b = (parseInt(hex.slice(0, 2), 16) ^ 0x01).toString(16).padStart(2, '0');
  return b + hex.slice(2);
}

function isParsed(p: unknown): p is ParsedPolicy {
  return typeof p === 'object' && p !== null && Array.isArray((p as { statements?: unknown }).statements);
}
