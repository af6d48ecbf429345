/**
 * kms-policies/: key policies for attested-pack's KMS keys — generation from measurements.json
 * (JSON, Terraform, CloudFormation), the evaluator shared with the KMS simulator, the checker
 * behind `kms-policy check`, and extraction of the PCRs a policy pins.
 */
export { KmsPolicyError, type KmsPolicyErrorCode } from './errors.js';
export {
  parseKeyPolicy,
  CONDITION_OPERATORS,
  MAX_KEY_POLICY_BYTES,
  type KeyPolicyDocument,
  type KeyPolicyStatement,
  type ParsedPolicy,
  type NormalizedStatement,
  type ConditionClause,
  type ConditionOperator,
  type PrincipalSpec,
} from './policy.js';
export { evaluateCondition, wildcardMatch, type ConditionResult } from './conditions.js';
export {
  evaluatePolicy,
  principalArnConditionValue,
  principalListMatches,
  label as statementLabel,
  type PolicyPrincipal,
  type RecipientAttestationContext,
  type RequestContext,
  type StatementResult,
  type PolicyDecision,
} from './evaluate.js';
export {
  generateKeyPolicy,
  pinnedAttestationValues,
  KEY_ADMIN_ACTIONS,
  KEY_PURPOSES,
  type KeyPurpose,
  type GenerateKeyPolicyOptions,
} from './generate.js';
export { renderKeyPolicy, POLICY_FORMATS, type PolicyFormat } from './render.js';
export { checkKeyPolicy, formatPolicyCheck, type CheckKeyPolicyOptions, type PolicyCheckReport, type PolicyFinding } from './check.js';
export { pcrConditionsFromPolicy, attestationPcrIndex, type PcrConditionSet } from './pcr-conditions.js';
