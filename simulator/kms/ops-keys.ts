/**
 * Key management operations: CreateKey, DescribeKey, ListKeys, CreateAlias, UpdateAlias, DeleteAlias, ListAliases,
 * PutKeyPolicy, GetKeyPolicy, EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion.
 *
 * Who may do what: CreateKey, ListKeys and ListAliases are authorised by IAM in AWS; the simulator
 * has no IAM, so CreateKey is reserved to the account administrator and the two List calls are
 * open to every authenticated caller of the account. Everything on an existing key is decided by
 * its key policy.
 */
import { randomUUID } from 'node:crypto';
import { evaluatePolicy, KmsPolicyError, parseKeyPolicy, type ParsedPolicy } from '../../kms-policies/index.js';
import { accessDenied, type Call, type OpHandler, type SimCore } from './core.js';
import { KmsApiError, validationError } from './errors.js';
import { createKeyMaterial, KEY_SPECS, usagesFor, type KeySpec, type KeyUsage } from './key-material.js';
import type { AliasRecord, KeyRecord } from './state.js';

/** The policy AWS attaches when CreateKey gets none (account root may do everything). */
export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' },
      ],
    },
    null,
    2,
  );
}

/** Parses a policy from a request; MalformedPolicyDocumentException when unusable or when it locks the caller out. */
function acceptPolicy(call: Call, text: string, keyArn: string, bypassLockoutCheck: boolean): ParsedPolicy {
  let parsed: ParsedPolicy;
  try {
    parsed = parseKeyPolicy(text);
  } catch (err) {
    if (err instanceof KmsPolicyError) throw new KmsApiError('MalformedPolicyDocumentException', err.message);
    throw err;
  }
  if (!bypassLockoutCheck) {
    const d = evaluatePolicy(parsed, {
      action: 'kms:PutKeyPolicy',
      resource: keyArn,
      principal: { arn: call.caller.arn, accountId: call.caller.accountId, isAccountAdmin: call.caller.isAdmin },
    });
    if (!d.allowed) {
      throw new KmsApiError(
        'MalformedPolicyDocumentException',
        'The new key policy will not allow you to update the key policy in the future.',
      );
    }
  }
  return parsed;
}

/** Creates, stores and returns a new key (CreateKey and the programmatic/demo bootstrap share it). */
export async function storeNewKey(
  sim: SimCore,
  o: { keyId?: string; keySpec: KeySpec; keyUsage: KeyUsage; description: string; policy: string; parsed?: ParsedPolicy },
): Promise<KeyRecord> {
  const keyId = o.keyId ?? randomUUID();
  const key: KeyRecord = {
    keyId,
    arn: sim.keyArn(keyId),
    accountId: sim.accountId,
    region: sim.region,
    keySpec: o.keySpec,
    keyUsage: o.keyUsage,
    description: o.description,
    creationDate: sim.now(),
    keyState: 'Enabled',
    policy: o.policy,
    material: (await createKeyMaterial(o.keySpec)).toString('base64'),
  };
  await sim.state.putKey(key, o.parsed ?? parseKeyPolicy(o.policy));
  return key;
}

const createKey: OpHandler = async (call) => {
  const { input, sim, caller } = call;
  const policyText = input.string('Policy', { max: 32768 });
  const description = input.string('Description', { min: 0, max: 8192 }) ?? '';
  const keySpecIn = input.enumOf('KeySpec', KEY_SPECS);
  const cmkSpec = input.enumOf('CustomerMasterKeySpec', KEY_SPECS);
  const usageIn = input.enumOf('KeyUsage', ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'] as const);
  const origin = input.enumOf('Origin', ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const);
  const multiRegion = input.bool('MultiRegion');
  const bypass = input.bool('BypassPolicyLockoutSafetyCheck') === true;
  call.audit.requestParameters = { description, keySpec: keySpecIn ?? cmkSpec ?? 'SYMMETRIC_DEFAULT', keyUsage: usageIn ?? 'ENCRYPT_DECRYPT' };
  if (!caller.isAdmin) throw accessDenied(caller, 'kms:CreateKey', '*', 'because no identity-based policy allows the kms:CreateKey action');
  if (keySpecIn && cmkSpec && keySpecIn !== cmkSpec) throw validationError('KeySpec and CustomerMasterKeySpec must not differ.');
  if (origin && origin !== 'AWS_KMS') throw new KmsApiError('UnsupportedOperationException', `Origin ${origin} is not supported by the simulator.`);
  if (multiRegion) throw new KmsApiError('UnsupportedOperationException', 'Multi-Region keys are not supported by the simulator.');
  const keySpec: KeySpec = keySpecIn ?? cmkSpec ?? 'SYMMETRIC_DEFAULT';
  const keyUsage: KeyUsage = usageIn ?? 'ENCRYPT_DECRYPT';
  if (!usagesFor(keySpec).includes(keyUsage)) throw validationError(`KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}.`);

  const keyId = randomUUID();
  const policy = policyText ?? defaultKeyPolicy(sim.accountId);
  const parsed = acceptPolicy(call, policy, sim.keyArn(keyId), bypass || policyText === undefined);
  const key = await storeNewKey(sim, { keyId, keySpec, keyUsage, description, policy, parsed });
  sim.noteResource(call, key);
  const KeyMetadata = sim.metadata(key);
  call.audit.responseElements = { keyMetadata: KeyMetadata };
  return { KeyMetadata };
};

/** Reads KeyId, resolves it, records it, and asks the key policy for `action`. */
function keyFor(call: Call, action: string, opts: { allowAlias?: boolean } = {}): KeyRecord {
  const keyIdParam = call.input.string('KeyId', { required: true, max: 2048 });
  call.audit.requestParameters = { ...call.audit.requestParameters, keyId: keyIdParam };
  const key = call.sim.resolveKey(keyIdParam, opts);
  call.sim.noteResource(call, key);
  call.sim.authorize(call, action, key);
  return key;
}

const describeKey: OpHandler = async (call) => {
  const key = keyFor(call, 'kms:DescribeKey');
  return { KeyMetadata: call.sim.metadata(key) };
};

/** Marker-based paging over a list, like KMS (opaque markers, 1..1000 items per page). */
function page<T>(call: Call, items: T[]): { items: T[]; more: Record<string, unknown> } {
  const limit = call.input.int('Limit', { min: 1, max: 1000 }) ?? 100;
  const marker = call.input.string('Marker', { max: 1024 });
  let start = 0;
  if (marker !== undefined) {
    const decoded = /^[A-Za-z0-9+/=]+$/.test(marker) ? Buffer.from(marker, 'base64').toString('utf8') : '';
    const m = /^offset:(\d+)$/.exec(decoded);
    if (!m || Number(m[1]) > items.length) throw new KmsApiError('InvalidMarkerException', 'The marker is not valid.');
    start = Number(m[1]);
  }
  const end = start + limit;
  const truncated = end < items.length;
  return {
    items: items.slice(start, end),
    more: truncated ? { Truncated: true, NextMarker: Buffer.from(`offset:${end}`).toString('base64') } : { Truncated: false },
  };
}

const listKeys: OpHandler = async (call) => {
  const keys = call.sim.state.listKeys().sort((a, b) => a.creationDate - b.creationDate || (a.keyId < b.keyId ? -1 : 1));
  const { items, more } = page(call, keys);
  return { Keys: items.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })), ...more };
};

const ALIAS_RE = /^alias\/[a-zA-Z0-9/_-]+$/;

const createAlias: OpHandler = async (call) => {
  const { input, sim } = call;
  const aliasName = input.string('AliasName', { required: true, max: 256 });
  call.audit.requestParameters = { aliasName };
  if (!ALIAS_RE.test(aliasName)) throw new KmsApiError('ValidationException', `Alias must match pattern ${ALIAS_RE.source}`);
  if (aliasName.startsWith('alias/aws/')) throw new KmsApiError('InvalidAliasNameException', 'Alias names beginning with alias/aws/ are reserved.');
  const target = input.string('TargetKeyId', { required: true, max: 2048 });
  call.audit.requestParameters = { aliasName, targetKeyId: target };
  const key = sim.resolveKey(target, { allowAlias: false });
  sim.noteResource(call, key);
  sim.authorize(call, 'kms:CreateAlias', key);
  if (key.keyState === 'PendingDeletion') throw new KmsApiError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  if (sim.state.getAlias(aliasName)) throw new KmsApiError('AlreadyExistsException', `An alias with the name ${sim.aliasArn(aliasName)} already exists`);
  const t = sim.now();
  await sim.state.putAlias({ aliasName, targetKeyId: key.keyId, creationDate: t, lastUpdatedDate: t });
  return {};
};

/** Reads AliasName and finds the alias, or NotFoundException as KMS words it. */
function existingAlias(call: Call): AliasRecord {
  const aliasName = call.input.string('AliasName', { required: true, max: 256 });
  call.audit.requestParameters = { ...call.audit.requestParameters, aliasName };
  if (!ALIAS_RE.test(aliasName)) throw new KmsApiError('ValidationException', `Alias must match pattern ${ALIAS_RE.source}`);
  const alias = call.sim.state.getAlias(aliasName);
  if (!alias) throw new KmsApiError('NotFoundException', `Alias ${call.sim.aliasArn(aliasName)} is not found.`);
  return alias;
}

/** The kind of key an alias may move between (KMS: same type and same key usage). */
function keyKind(key: KeyRecord): string {
  const type = key.keySpec === 'SYMMETRIC_DEFAULT' ? 'symmetric' : key.keySpec.startsWith('HMAC_') ? 'HMAC' : 'asymmetric';
  return `${type} ${key.keyUsage}`;
}

/**
 * UpdateAlias: points an existing alias at another key. As in KMS, the caller needs
 * kms:UpdateAlias in the key policies of both the current and the new key, the new key must not
 * be pending deletion, and both keys must be of the same type and key usage.
 */
const updateAlias: OpHandler = async (call) => {
  const { input, sim } = call;
  const alias = existingAlias(call);
  const target = input.string('TargetKeyId', { required: true, max: 2048 });
  call.audit.requestParameters = { ...call.audit.requestParameters, targetKeyId: target };
  const current = sim.state.getKey(alias.targetKeyId);
  const next = sim.resolveKey(target, { allowAlias: false });
  if (current) sim.noteResource(call, current);
  sim.noteResource(call, next);
  if (current) sim.authorize(call, 'kms:UpdateAlias', current);
  sim.authorize(call, 'kms:UpdateAlias', next);
  if (next.keyState === 'PendingDeletion') throw new KmsApiError('KMSInvalidStateException', `${next.arn} is pending deletion.`);
  if (current && keyKind(current) !== keyKind(next)) {
    throw new KmsApiError('ValidationException', `${alias.aliasName} is associated with a ${keyKind(current)} key; it cannot be updated to a ${keyKind(next)} key (${next.arn})`);
  }
  await sim.state.putAlias({ ...alias, targetKeyId: next.keyId, lastUpdatedDate: sim.now() });
  return {};
};

/** DeleteAlias: needs kms:DeleteAlias in the key policy of the key the alias points to. */
const deleteAlias: OpHandler = async (call) => {
  const { sim } = call;
  const alias = existingAlias(call);
  const key = sim.state.getKey(alias.targetKeyId);
  if (key) {
    sim.noteResource(call, key);
    sim.authorize(call, 'kms:DeleteAlias', key);
  }
  await sim.state.deleteAlias(alias.aliasName);
  return {};
};

const listAliases: OpHandler = async (call) => {
  const { input, sim } = call;
  const keyIdParam = input.string('KeyId', { max: 2048 });
  let aliases = sim.state.listAliases().sort((a, b) => (a.aliasName < b.aliasName ? -1 : a.aliasName > b.aliasName ? 1 : 0));
  if (keyIdParam !== undefined) {
    const key = sim.resolveKey(keyIdParam, { allowAlias: false });
    aliases = aliases.filter((a) => a.targetKeyId === key.keyId);
  }
  const { items, more } = page(call, aliases);
  return {
    Aliases: items.map((a) => ({
      AliasName: a.aliasName,
      AliasArn: sim.aliasArn(a.aliasName),
      TargetKeyId: a.targetKeyId,
      CreationDate: a.creationDate / 1000,
      LastUpdatedDate: a.lastUpdatedDate / 1000,
    })),
    ...more,
  };
};

const putKeyPolicy: OpHandler = async (call) => {
  const { input, sim } = call;
  const policyName = input.string('PolicyName', { max: 128 }) ?? 'default';
  const policy = input.string('Policy', { required: true, max: 32768 });
  const bypass = input.bool('BypassPolicyLockoutSafetyCheck') === true;
  if (policyName !== 'default') throw validationError("PolicyName must be 'default'.");
  const key = keyFor(call, 'kms:PutKeyPolicy', { allowAlias: false });
  call.audit.requestParameters = { ...call.audit.requestParameters, policyName, policy };
  if (key.keyState === 'PendingDeletion') throw new KmsApiError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  const parsed = acceptPolicy(call, policy, key.arn, bypass);
  await sim.state.updateKey(key.keyId, (k) => (k.policy = policy), parsed);
  return {};
};

const getKeyPolicy: OpHandler = async (call) => {
  const policyName = call.input.string('PolicyName', { max: 128 }) ?? 'default';
  if (policyName !== 'default') throw new KmsApiError('NotFoundException', `No such policy exists: ${policyName}`);
  const key = keyFor(call, 'kms:GetKeyPolicy', { allowAlias: false });
  return { Policy: key.policy, PolicyName: 'default' };
};

function stateChange(action: 'EnableKey' | 'DisableKey' | 'CancelKeyDeletion'): OpHandler {
  return async (call) => {
    const key = keyFor(call, `kms:${action}`, { allowAlias: false });
    if (action === 'CancelKeyDeletion') {
      if (key.keyState !== 'PendingDeletion') throw new KmsApiError('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
    } else if (key.keyState === 'PendingDeletion') {
      throw new KmsApiError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    }
    await call.sim.state.updateKey(key.keyId, (k) => {
      // A cancelled deletion leaves the key Disabled, as in KMS.
      k.keyState = action === 'EnableKey' ? 'Enabled' : 'Disabled';
      delete k.deletionDate;
      delete k.pendingWindowInDays;
    });
    return action === 'CancelKeyDeletion' ? { KeyId: key.arn } : {};
  };
}

const scheduleKeyDeletion: OpHandler = async (call) => {
  const days = call.input.int('PendingWindowInDays', { min: 7, max: 30 }) ?? 30;
  const key = keyFor(call, 'kms:ScheduleKeyDeletion', { allowAlias: false });
  if (key.keyState === 'PendingDeletion') throw new KmsApiError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  const deletionDate = call.sim.now() + days * 86_400_000;
  await call.sim.state.updateKey(key.keyId, (k) => {
    k.keyState = 'PendingDeletion';
    k.deletionDate = deletionDate;
    k.pendingWindowInDays = days;
  });
  const response = { KeyId: key.arn, DeletionDate: deletionDate / 1000, KeyState: 'PendingDeletion', PendingWindowInDays: days };
  call.audit.responseElements = { keyId: key.arn, deletionDate: new Date(deletionDate).toISOString(), keyState: 'PendingDeletion', pendingWindowInDays: days };
  return response;
};

/** Key-management operations by name. */
export const KEY_OPERATIONS: Record<string, OpHandler> = {
  CreateKey: createKey,
  DescribeKey: describeKey,
  ListKeys: listKeys,
  CreateAlias: createAlias,
  UpdateAlias: updateAlias,
  DeleteAlias: deleteAlias,
  ListAliases: listAliases,
  PutKeyPolicy: putKeyPolicy,
  GetKeyPolicy: getKeyPolicy,
  EnableKey: stateChange('EnableKey'),
  DisableKey: stateChange('DisableKey'),
  ScheduleKeyDeletion: scheduleKeyDeletion,
  CancelKeyDeletion: stateChange('CancelKeyDeletion'),
};
