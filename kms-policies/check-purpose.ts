/**
 * `kms-policy check --purpose`: judges a key policy for what its key is for. Source and seal keys
 * get the attested-Decrypt check (check.ts). Wrap and sign keys cannot be attestation-gated (KMS
 * has no Recipient for Encrypt or Sign), so the questions differ:
 *
 * - wrap: the enclave role may kms:Encrypt; it may NOT kms:Decrypt (the parent instance would
 *   unwrap every artifact it relays), neither may a stranger; each named runtime role may Decrypt.
 * - sign: the enclave role may kms:Sign; no runtime role and no stranger may (they could sign
 *   artifacts the enclave never made); each named runtime role may kms:GetPublicKey.
 *
 * Both share the indirect paths (PutKeyPolicy by unaccepted principals, ReEncryptFrom) and grants.
 * A policy of one purpose judged as another fails where that is meaningful (a wrap policy as a
 * source key: no attested Decrypt; a source policy as a wrap key: no Encrypt for the enclave).
 */
import type { Measurements } from '../common/measurements.js';
import { checkKeyPolicy, coversAction, indirectPaths, isParsed, parseRole, type PolicyCheckReport, type PolicyFinding } from './check.js';
import { evaluatePolicy, label, type PolicyDecision, type RequestContext } from './evaluate.js';
import type { KeyPurpose } from './generate.js';
import { parseKeyPolicy, type ParsedPolicy } from './policy.js';

/** Options of checkKeyPolicyForPurpose. */
export interface PurposeCheckOptions {
  purpose: KeyPurpose;
  /** Key administrators accepted (see CheckKeyPolicyOptions.admins). */
  admins?: readonly string[];
  /** Runtime roles that must be able to unwrap (wrap) or fetch the public key (sign). */
  runtimeRoles?: readonly string[];
}

const RESOURCE = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000';
const STRANGER = { arn: 'arn:aws:iam::999999999999:user/stranger', accountId: '999999999999' };

/** Checks `policy` for its purpose; source and seal delegate to checkKeyPolicy. */
export function checkKeyPolicyForPurpose(policy: ParsedPolicy | unknown, measurements: Measurements, roleArn: string, o: PurposeCheckOptions): PolicyCheckReport {
  const parsed = isParsed(policy) ? policy : parseKeyPolicy(policy);
  if (o.purpose === 'source' || o.purpose === 'seal') {
    return { ...checkKeyPolicy(parsed, measurements, roleArn, { admins: o.admins ?? [] }), purpose: o.purpose };
  }
  const role = parseRole(roleArn);
  const resource = RESOURCE.replace('000000000000', role.accountId);
  const ask = (action: string, principal: RequestContext['principal']): PolicyDecision => evaluatePolicy(parsed, { action, resource, principal });
  const enclave = { arn: role.sessionArn, accountId: role.accountId };
  const runtimes = (o.runtimeRoles ?? []).map((arn) => ({ arn, caller: sessionOf(arn) }));
  const findings: PolicyFinding[] = [];
  const push = (severity: PolicyFinding['severity'], code: PolicyFinding['code'], message: string, d?: PolicyDecision): void => {
    findings.push({ severity, code, message, ...(d ? { statements: d.deciding.map((s) => s.index) } : {}) });
  };

  const primaryAction = o.purpose === 'wrap' ? 'kms:Encrypt' : 'kms:Sign';
  const primary = ask(primaryAction, enclave);
  if (!primary.allowed) {
    push('error', o.purpose === 'wrap' ? 'ENCLAVE_ENCRYPT_DENIED' : 'ENCLAVE_SIGN_DENIED', `the enclave role cannot ${primaryAction} with this key: ${primary.reason}`, primary);
  }

  if (o.purpose === 'wrap') {
    for (const [who, principal, admin] of [['the enclave role', enclave, false], ['the enclave role (with an IAM grant through the account root)', enclave, true]] as const) {
      const d = ask('kms:Decrypt', { ...principal, isAccountAdmin: admin });
      if (d.allowed) {
        push(admin ? 'warning' : 'error', 'ENCLAVE_CAN_DECRYPT_ARTIFACTS', `${who} can kms:Decrypt with the wrap key: the parent instance could unwrap every artifact it relays (${d.deciding.map(label).join(', ')})`, d);
        break;
      }
    }
    const s = ask('kms:Decrypt', STRANGER);
    if (s.allowed) push('error', 'ANYONE_CAN_DECRYPT', `a principal from another account can Decrypt artifacts: ${s.reason}`, s);
    for (const r of runtimes) {
      const d = ask('kms:Decrypt', r.caller);
      if (!d.allowed) push('warning', 'RUNTIME_DECRYPT_DENIED', `runtime role ${r.arn} cannot kms:Decrypt, so it cannot unpack artifacts: ${d.reason}`, d);
    }
  } else {
    const others = [{ arn: STRANGER.arn, caller: STRANGER }, ...runtimes];
    for (const r of others) {
      const d = ask('kms:Sign', r.caller);
      if (d.allowed) push('error', 'OTHERS_CAN_SIGN', `${r.arn === STRANGER.arn ? 'a principal from another account' : `runtime role ${r.arn}`} can kms:Sign: it could sign artifacts the enclave never made (${d.deciding.map(label).join(', ')})`, d);
    }
    for (const r of runtimes) {
      const d = ask('kms:GetPublicKey', r.caller);
      if (!d.allowed) push('warning', 'RUNTIME_PUBLIC_KEY_DENIED', `runtime role ${r.arn} cannot kms:GetPublicKey to verify artifacts: ${d.reason}`, d);
    }
  }
  if (runtimes.length === 0) push('note', 'NO_RUNTIME_ROLES_CHECKED', `no --runtime-role given: whether Clef runtimes can ${o.purpose === 'wrap' ? 'unwrap artifacts' : 'fetch the public key'} was not checked`);

  const grants = parsed.statements.filter((s) => s.effect === 'Allow' && coversAction(s, 'kms:CreateGrant'));
  if (grants.length > 0) {
    findings.push({ severity: 'warning', code: 'GRANTS_ALLOWED', message: `${grants.map((s) => label(s)).join(', ')} allow kms:CreateGrant; a grant can hand out this key's use outside the policy`, statements: grants.map((s) => s.index) });
  }
  findings.push(...indirectPaths(parsed, roleArn, role, o.admins ?? []));

  const attested = ask('kms:Decrypt', enclave);
  return {
    ok: primary.allowed && !findings.some((f) => f.severity !== 'note'),
    roleArn,
    purpose: o.purpose,
    enclaveUse: { action: primaryAction, allowed: primary.allowed, decision: primary.decision, reason: primary.reason },
    attestedDecrypt: { allowed: attested.allowed, decision: attested.decision, reason: attested.reason },
    statements: primary.statements.map((s) => ({ index: s.index, ...(s.sid === undefined ? {} : { sid: s.sid }), effect: s.effect, applies: s.applies, reason: s.reason })),
    findings,
  };
}

function sessionOf(arn: string): { arn: string; accountId: string } {
  const r = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(arn);
  if (r) return { arn: `arn:${r[1]}:sts::${r[2]}:assumed-role/${r[3]}/attested-pack-check`, accountId: r[2]! };
  return { arn, accountId: /^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):/.exec(arn)?.[1] ?? '000000000000' };
}
