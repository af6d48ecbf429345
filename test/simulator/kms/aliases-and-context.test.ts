/**
 * The simulator is no more permissive than KMS where tests rely on it (issue 17), through the
 * real @aws-sdk/client-kms:
 * - UpdateAlias / DeleteAlias with KMS's semantics (key policies of both keys, same key type and
 *   usage, NotFoundException, KMSInvalidStateException) and their audit-log entries, so alias
 *   attacks (repointing `alias/…/wrap` at another key) can be tested;
 * - encryption context keys that are also JavaScript prototype names (`__proto__`, `toString`,
 *   `constructor`) are context entries like any other: bound into the ciphertext and seen by
 *   key-policy conditions, never dropped or resolved through a prototype.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  InvalidCiphertextException,
  KMSInvalidStateException,
  ListAliasesCommand,
  NotFoundException,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { ACCOUNT, CREDS, startTestSim, type TestSim } from './helpers.js';

let t: TestSim;
let admin: KMSClient;
let other: KMSClient;

beforeAll(async () => {
  t = await startTestSim();
  admin = t.client('admin');
  other = t.client('other');
});
afterAll(() => t?.close());

async function failure(p: Promise<unknown>): Promise<Error & { name: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { name: string; message: string };
  }
  throw new Error('expected the call to fail');
}

async function newKey(spec: 'SYMMETRIC_DEFAULT' | 'ECC_NIST_P256' = 'SYMMETRIC_DEFAULT', policy?: object): Promise<string> {
  const out = await admin.send(
    new CreateKeyCommand({
      KeySpec: spec,
      KeyUsage: spec === 'SYMMETRIC_DEFAULT' ? 'ENCRYPT_DECRYPT' : 'SIGN_VERIFY',
      ...(policy ? { Policy: JSON.stringify(policy), BypassPolicyLockoutSafetyCheck: true } : {}),
    }),
  );
  return out.KeyMetadata!.Arn!;
}

/** A policy: the account root may do everything, `other` may do `actions`. */
function policyAllowingOther(actions: string[]): object {
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'other', Effect: 'Allow', Principal: { AWS: CREDS.other.principalArn }, Action: actions, Resource: '*' },
    ],
  };
}

async function aliasTarget(name: string): Promise<string | undefined> {
  const out = await admin.send(new ListAliasesCommand({}));
  return out.Aliases?.find((a) => a.AliasName === name)?.TargetKeyId;
}

describe('UpdateAlias and DeleteAlias (real SDK)', () => {
  it('UpdateAlias repoints an alias: Encrypt through the alias now uses the new key; LastUpdatedDate moves', async () => {
    const a = await newKey();
    const b = await newKey();
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/app/wrap', TargetKeyId: a }));
    expect((await admin.send(new EncryptCommand({ KeyId: 'alias/app/wrap', Plaintext: Buffer.from('x') }))).KeyId).toBe(a);
    await admin.send(new UpdateAliasCommand({ AliasName: 'alias/app/wrap', TargetKeyId: b }));
    expect(await aliasTarget('alias/app/wrap')).toBe(b.split('/').pop());
    expect((await admin.send(new EncryptCommand({ KeyId: 'alias/app/wrap', Plaintext: Buffer.from('x') }))).KeyId).toBe(b);
    const listed = (await admin.send(new ListAliasesCommand({}))).Aliases!.find((x) => x.AliasName === 'alias/app/wrap')!;
    expect(listed.LastUpdatedDate!.getTime()).toBeGreaterThanOrEqual(listed.CreationDate!.getTime());
  });

  it('UpdateAlias needs kms:UpdateAlias in the key policies of both the current and the new key', async () => {
    const current = await newKey('SYMMETRIC_DEFAULT', policyAllowingOther(['kms:UpdateAlias']));
    const closed = await newKey();
    const open = await newKey('SYMMETRIC_DEFAULT', policyAllowingOther(['kms:UpdateAlias']));
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/app/both', TargetKeyId: current }));
    // Allowed on the current key only: refused on the new one, alias unchanged.
    const denied = await failure(other.send(new UpdateAliasCommand({ AliasName: 'alias/app/both', TargetKeyId: closed })));
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toContain(`kms:UpdateAlias on resource: ${closed}`);
    expect(await aliasTarget('alias/app/both')).toBe(current.split('/').pop());
    // Allowed on both: moves.
    await other.send(new UpdateAliasCommand({ AliasName: 'alias/app/both', TargetKeyId: open }));
    expect(await aliasTarget('alias/app/both')).toBe(open.split('/').pop());
    // Allowed on the new key only (the alias now points at `open`, moving back to `closed` needs both): refused.
    await admin.send(new UpdateAliasCommand({ AliasName: 'alias/app/both', TargetKeyId: closed }));
    const fromClosed = await failure(other.send(new UpdateAliasCommand({ AliasName: 'alias/app/both', TargetKeyId: open })));
    expect(fromClosed.name).toBe('AccessDeniedException');
    expect(fromClosed.message).toContain(`kms:UpdateAlias on resource: ${closed}`);
  });

  it('UpdateAlias refuses another key type or usage (ValidationException), a key pending deletion (KMSInvalidStateException), an unknown alias (NotFoundException)', async () => {
    const sym = await newKey();
    const signing = await newKey('ECC_NIST_P256');
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/app/typed', TargetKeyId: sym }));
    const typed = await failure(admin.send(new UpdateAliasCommand({ AliasName: 'alias/app/typed', TargetKeyId: signing })));
    expect(typed.name).toBe('ValidationException');
    const doomed = await newKey();
    await admin.send(new ScheduleKeyDeletionCommand({ KeyId: doomed, PendingWindowInDays: 7 }));
    expect(await failure(admin.send(new UpdateAliasCommand({ AliasName: 'alias/app/typed', TargetKeyId: doomed })))).toBeInstanceOf(KMSInvalidStateException);
    expect(await failure(admin.send(new UpdateAliasCommand({ AliasName: 'alias/app/none', TargetKeyId: sym })))).toBeInstanceOf(NotFoundException);
    expect(await aliasTarget('alias/app/typed')).toBe(sym.split('/').pop());
  });

  it('DeleteAlias needs kms:DeleteAlias on the target key; afterwards the alias resolves to nothing', async () => {
    const key = await newKey();
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/app/gone', TargetKeyId: key }));
    expect((await failure(other.send(new DeleteAliasCommand({ AliasName: 'alias/app/gone' })))).name).toBe('AccessDeniedException');
    await admin.send(new DeleteAliasCommand({ AliasName: 'alias/app/gone' }));
    expect(await aliasTarget('alias/app/gone')).toBeUndefined();
    expect(await failure(admin.send(new EncryptCommand({ KeyId: 'alias/app/gone', Plaintext: Buffer.from('x') })))).toBeInstanceOf(NotFoundException);
    expect(await failure(admin.send(new DeleteAliasCommand({ AliasName: 'alias/app/gone' })))).toBeInstanceOf(NotFoundException);
    // The name is free again.
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/app/gone', TargetKeyId: key }));
  });

  it('writes audit entries for UpdateAlias and DeleteAlias, refused ones included', async () => {
    const events = await t.auditEvents();
    const updates = events.filter((e) => e.eventName === 'UpdateAlias');
    const ok = updates.find((e) => e.errorCode === undefined && e.requestParameters?.aliasName === 'alias/app/wrap')!;
    expect(ok).toMatchObject({ readOnly: false, requestParameters: { aliasName: 'alias/app/wrap' } });
    expect(ok.resources).toHaveLength(2);
    expect(updates.some((e) => e.errorCode === 'AccessDeniedException' && e.userIdentity.arn === CREDS.other.principalArn)).toBe(true);
    const deletes = events.filter((e) => e.eventName === 'DeleteAlias');
    expect(deletes.map((e) => e.errorCode ?? 'ok')).toEqual(['AccessDeniedException', 'ok', 'NotFoundException']);
  });
});

describe('encryption context keys named like prototype members (real SDK)', () => {
  it('__proto__ is bound into the ciphertext: Decrypt without it fails, with it succeeds', async () => {
    const key = await newKey();
    const context = JSON.parse('{"__proto__":"tenant-a","app":"x"}') as Record<string, string>;
    expect(Object.keys(context)).toEqual(['__proto__', 'app']);
    const { CiphertextBlob } = await admin.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('secret'), EncryptionContext: context }));
    expect(await failure(admin.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { app: 'x' } })))).toBeInstanceOf(InvalidCiphertextException);
    const other = JSON.parse('{"__proto__":"tenant-b","app":"x"}') as Record<string, string>;
    expect(await failure(admin.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: other })))).toBeInstanceOf(InvalidCiphertextException);
    const out = await admin.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(out.Plaintext!).toString()).toBe('secret');
  });

  it('key-policy conditions see __proto__ as a context key, and never resolve toString or constructor through a prototype', async () => {
    const key = await newKey('SYMMETRIC_DEFAULT', {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
        { Sid: 'tenant', Effect: 'Allow', Principal: { AWS: CREDS.other.principalArn }, Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:__proto__': 'tenant-a' } } },
        // "toString must be present": a request without that context key must not match.
        { Sid: 'present', Effect: 'Allow', Principal: { AWS: CREDS.other.principalArn }, Action: 'kms:GenerateDataKey', Resource: '*', Condition: { Null: { 'kms:EncryptionContext:toString': 'false', 'kms:EncryptionContext:constructor': 'false' } } },
      ],
    });
    const encrypt = (ec: Record<string, string>) => other.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x'), EncryptionContext: ec }));
    await encrypt(JSON.parse('{"__proto__":"tenant-a"}') as Record<string, string>);
    expect((await failure(encrypt(JSON.parse('{"__proto__":"tenant-b"}') as Record<string, string>))).name).toBe('AccessDeniedException');
    expect((await failure(encrypt({ app: 'x' }))).name).toBe('AccessDeniedException');
    const gdk = (ec: Record<string, string>) => other.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256', EncryptionContext: ec }));
    expect((await failure(gdk({ app: 'x' }))).name).toBe('AccessDeniedException');
    await gdk({ toString: 'a', constructor: 'b' });
  });
});
