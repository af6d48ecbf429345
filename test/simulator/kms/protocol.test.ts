/**
 * The wire: AWS JSON 1.1 framing and SigV4 authentication, mostly what a correct client never
 * sends — malformed bodies, targets, base64, sizes, signatures, clocks and scopes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { CREDS, rawRequest, startTestSim, type TestSim } from './helpers.js';

let t: TestSim;
let keyArn: string;
const ep = () => t.sim.endpoint;

beforeAll(async () => {
  t = await startTestSim({ bodyLimitBytes: 64 * 1024 });
  keyArn = (await t.client('admin').send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
});
afterAll(async () => {
  await t.close();
});

describe('AWS JSON 1.1 framing', () => {
  it('answers a well-formed signed request with 200 and the JSON 1.1 content type', async () => {
    const r = await rawRequest(ep(), { target: 'TrentService.DescribeKey', body: JSON.stringify({ KeyId: keyArn }) });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(r.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect((r.body.KeyMetadata as { Arn: string }).Arn).toBe(keyArn);
  });

  it('malformed JSON bodies are SerializationException', async () => {
    for (const body of ['{', '[1,2]', '"text"', 'null', '{"KeyId": }']) {
      const r = await rawRequest(ep(), { target: 'TrentService.DescribeKey', body });
      expect(r.status, body).toBe(400);
      expect(r.body.__type, body).toBe('SerializationException');
    }
  });

  it('wrong member types are SerializationException, constraint violations ValidationException', async () => {
    const wrongType = await rawRequest(ep(), { target: 'TrentService.DescribeKey', body: JSON.stringify({ KeyId: 42 }) });
    expect(wrongType.body.__type).toBe('SerializationException');
    const missing = await rawRequest(ep(), { target: 'TrentService.DescribeKey', body: '{}' });
    expect(missing.body.__type).toBe('ValidationException');
    expect(missing.body.message).toBe("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null");
    const badEnum = await rawRequest(ep(), { target: 'TrentService.Encrypt', body: JSON.stringify({ KeyId: keyArn, Plaintext: 'AQID', EncryptionAlgorithm: 'ROT13' }) });
    expect(badEnum.body.__type).toBe('ValidationException');
    const ecNotMap = await rawRequest(ep(), { target: 'TrentService.Encrypt', body: JSON.stringify({ KeyId: keyArn, Plaintext: 'AQID', EncryptionContext: ['a'] }) });
    expect(ecNotMap.body.__type).toBe('SerializationException');
  });

  it('a missing x-amz-target and an unknown operation are UnknownOperationException', async () => {
    const none = await rawRequest(ep(), {});
    expect(none.status).toBe(400);
    expect(none.body.__type).toBe('UnknownOperationException');
    for (const target of ['TrentService.DeleteEverything', 'TrentService.', 'OtherService.Decrypt', 'TrentService.Decrypt.Extra']) {
      const r = await rawRequest(ep(), { target });
      expect(r.body.__type, target).toBe('UnknownOperationException');
    }
  });

  it('bad base64 blobs are SerializationException', async () => {
    for (const Plaintext of ['not base64!', 'AQI', 'AQID=', '====']) {
      const r = await rawRequest(ep(), { target: 'TrentService.Encrypt', body: JSON.stringify({ KeyId: keyArn, Plaintext }) });
      expect(r.body.__type, Plaintext).toBe('SerializationException');
    }
  });

  it('oversize bodies are refused with 413 before any processing', async () => {
    const r = await rawRequest(ep(), { target: 'TrentService.Encrypt', body: JSON.stringify({ KeyId: keyArn, Plaintext: Buffer.alloc(70 * 1024).toString('base64') }) });
    expect(r.status).toBe(413);
    expect(r.body.__type).toBe('ValidationException');
  });

  it('an unsupported content type is SerializationException', async () => {
    const r = await rawRequest(ep(), { target: 'TrentService.DescribeKey', body: JSON.stringify({ KeyId: keyArn }), contentType: 'text/plain' });
    expect(r.body.__type).toBe('SerializationException');
  });

  it('anything but POST / is 404', async () => {
    const get = await fetch(ep() + '/');
    expect(get.status).toBe(404);
    const other = await fetch(ep() + '/v1/keys', { method: 'POST', body: '{}' });
    expect(other.status).toBe(404);
  });
});

describe('SigV4 authentication', () => {
  const describeKey = (o: Parameters<typeof rawRequest>[1] = {}) =>
    rawRequest(ep(), { target: 'TrentService.DescribeKey', body: JSON.stringify({ KeyId: keyArn }), ...o });

  it('no Authorization header: MissingAuthenticationTokenException', async () => {
    const r = await describeKey({ unsigned: true });
    expect(r.body.__type).toBe('MissingAuthenticationTokenException');
  });

  it('a malformed Authorization header: IncompleteSignatureException', async () => {
    const r = await describeKey({ mutate: (s) => (s.headers.authorization = 'AWS4-HMAC-SHA256 Credential=AKIATESTADMIN0000001') });
    expect(r.body.__type).toBe('IncompleteSignatureException');
  });

  it('an unknown access key: UnrecognizedClientException', async () => {
    const r = await describeKey({ cred: { accessKeyId: 'AKIAUNKNOWN000000001', secretAccessKey: 'x', principalArn: 'arn:aws:iam::111122223333:user/x' } });
    expect(r.status).toBe(400);
    expect(r.body.__type).toBe('UnrecognizedClientException');
  });

  it('a wrong secret: InvalidSignatureException', async () => {
    const r = await describeKey({ cred: { ...CREDS.admin, secretAccessKey: 'not-the-secret' } });
    expect(r.body.__type).toBe('InvalidSignatureException');
    expect(r.body.message).toContain('does not match the signature you provided');
  });

  it('a body changed after signing: InvalidSignatureException', async () => {
    const r = await describeKey({ mutate: (s) => (s.body = JSON.stringify({ KeyId: 'alias/other' })) });
    expect(r.body.__type).toBe('InvalidSignatureException');
  });

  it('a signed header changed after signing (x-amz-target): InvalidSignatureException', async () => {
    const r = await describeKey({ mutate: (s) => (s.headers['x-amz-target'] = 'TrentService.GetKeyPolicy') });
    expect(r.body.__type).toBe('InvalidSignatureException');
  });

  it('a signature byte flipped: InvalidSignatureException', async () => {
    const r = await describeKey({
      mutate: (s) => (s.headers.authorization = s.headers.authorization!.replace(/Signature=([0-9a-f])/, (_m, c: string) => `Signature=${c === '0' ? '1' : '0'}`)),
    });
    expect(r.body.__type).toBe('InvalidSignatureException');
  });

  it('clock skew beyond 5 minutes either way: InvalidSignatureException; within, accepted', async () => {
    const past = await describeKey({ signingDate: new Date(Date.now() - 6 * 60_000) });
    expect(past.body.__type).toBe('InvalidSignatureException');
    expect(past.body.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than/);
    const future = await describeKey({ signingDate: new Date(Date.now() + 6 * 60_000) });
    expect(future.body.__type).toBe('InvalidSignatureException');
    expect(future.body.message).toMatch(/^Signature not yet current/);
    expect((await describeKey({ signingDate: new Date(Date.now() - 4 * 60_000) })).status).toBe(200);
  });

  it('a credential scoped to another region or service: InvalidSignatureException', async () => {
    expect((await describeKey({ region: 'eu-west-1' })).body.__type).toBe('InvalidSignatureException');
    expect((await describeKey({ service: 's3' })).body.__type).toBe('InvalidSignatureException');
  });

  it('an x-amz-content-sha256 that is not the hash of the body: InvalidSignatureException', async () => {
    const r = await describeKey({ extraHeaders: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    expect(r.body.__type).toBe('InvalidSignatureException');
    const good = await describeKey({
      extraHeaders: { 'x-amz-content-sha256': (await import('node:crypto')).createHash('sha256').update(JSON.stringify({ KeyId: keyArn })).digest('hex') },
    });
    expect(good.status).toBe(200);
  });

  it('a session token the credential does not have: UnrecognizedClientException', async () => {
    const r = await describeKey({ cred: { ...CREDS.admin, sessionToken: 'forged-token' } });
    expect(r.body.__type).toBe('UnrecognizedClientException');
  });

  it('a missing x-amz-date: IncompleteSignatureException', async () => {
    const r = await describeKey({ mutate: (s) => delete s.headers['x-amz-date'] });
    expect(r.body.__type).toBe('IncompleteSignatureException');
  });

  it('every refused request is in the audit log with its error code and claimed access key', async () => {
    await describeKey({ cred: { ...CREDS.admin, secretAccessKey: 'wrong' } });
    const e = (await t.auditEvents()).at(-1)!;
    expect(e).toMatchObject({ eventName: 'DescribeKey', errorCode: 'InvalidSignatureException', userIdentity: { type: 'Unknown', accessKeyId: CREDS.admin.accessKeyId } });
    expect(JSON.stringify(e)).not.toContain(CREDS.admin.secretAccessKey);
  });
});

describe('session tokens', () => {
  it('a credential configured with a session token requires exactly that token', async () => {
    const cred = { accessKeyId: 'ASIATESTSESSION00001', secretAccessKey: 'session-secret', sessionToken: 'the-session-token', principalArn: 'arn:aws:sts::111122223333:assumed-role/attested-pack-enclave/i-1' };
    const s = await startTestSim({ credentials: [CREDS.admin, cred] });
    try {
      const ok = await rawRequest(s.sim.endpoint, { target: 'TrentService.ListKeys', cred });
      expect(ok.status).toBe(200);
      const wrong = await rawRequest(s.sim.endpoint, { target: 'TrentService.ListKeys', cred: { ...cred, sessionToken: 'the-session-tokem' } });
      expect(wrong.body.__type).toBe('UnrecognizedClientException');
      const { sessionToken: _dropped, ...withoutToken } = cred;
      const none = await rawRequest(s.sim.endpoint, { target: 'TrentService.ListKeys', cred: withoutToken });
      expect(none.body.__type).toBe('UnrecognizedClientException');
    } finally {
      await s.close();
    }
  });
});
