/**
 * The deploy file is refused, naming the path and with a hint, when it breaks the schema or a
 * rule across fields; a valid one gets its defaults. Also: the schema uses only keywords the
 * validator implements, so nothing in deploy/schema.json is silently ignored.
 */
import { describe, expect, it } from 'vitest';
import { parseDeployFile } from '../../deploy/file.js';
import { unknownSchemaKeywords } from '../../deploy/schema.js';
import { DeployError } from '../../deploy/errors.js';
import { AGE, P256_SPKI, SOURCE, WRAP, deployDoc, key, yamlOf, PARENT_ROLE } from './helpers.js';

/** Parses `doc` and returns the DeployError it raises (fails the test if it parses). */
function refusal(doc: unknown): DeployError {
  try {
    parseDeployFile(yamlOf(doc), 'test.deploy.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(DeployError);
    return err as DeployError;
  }
  throw new Error('the deploy file was accepted');
}

describe('a valid deploy file', () => {
  it('parses with its defaults applied', () => {
    const c = parseDeployFile(yamlOf(deployDoc()));
    expect(c.enclave).toEqual({ listenPort: 5000, cid: 16, kmsRelayPort: 8000, cpus: 2, memoryMiB: 4096 });
    expect(c.proxy.listen).toBe('0.0.0.0:8443');
    expect(c.manifest).toBe('clef.yaml');
    expect(c.signer.sealedKeyFile).toBe('/etc/attested-pack/sealed-signing-key.json');
  });

  it('the committed example validates', async () => {
    const { loadDeployFile } = await import('../../deploy/file.js');
    const { config } = await loadDeployFile(new URL('../../deploy/example.deploy.yaml', import.meta.url).pathname);
    expect(config.cells.map((c) => `${c.identity}/${c.environment}`)).toEqual(['api-gateway/production', 'worker/production']);
  });

  it('schema.json uses only keywords the validator implements', () => {
    expect(unknownSchemaKeywords()).toEqual([]);
  });
});

describe('bad deploy files are refused with the path and a hint', () => {
  it('an unknown field (a typo) names the field and lists the allowed ones', () => {
    const doc = deployDoc();
    doc.enclave.memoryMib = 4096;
    const e = refusal(doc);
    expect(e.code).toBe('DEPLOY_FILE_INVALID');
    expect(e.message).toContain('enclave: unknown field "memoryMib"');
    expect(e.hint).toContain('memoryMiB');
    expect(e.details).toMatchObject({ path: 'enclave' });
  });

  it('an unknown top-level field', () => {
    const e = refusal({ ...deployDoc(), wrapKeys: [WRAP] });
    expect(e.message).toContain('(top level): unknown field "wrapKeys"');
  });

  it('a role ARN of the wrong shape names parentRoleArn and shows the expected shape', () => {
    const e = refusal({ ...deployDoc(), parentRoleArn: 'arn:aws:iam::111122223333:user/someone' });
    expect(e.message).toMatch(/^parentRoleArn: .* does not have the expected shape/);
    expect(e.hint).toContain('arn:aws:iam::ACCOUNT:role/NAME');
  });

  it('a KMS alias instead of a key ARN names the list entry', () => {
    const doc = deployDoc();
    doc.keys.source = [SOURCE, 'arn:aws:kms:eu-west-1:111122223333:alias/sops'];
    const e = refusal(doc);
    expect(e.message).toMatch(/^keys\.source\[1\]: /);
    expect(e.hint).toContain('aliases are not pinned');
  });

  it('a wrap key also used as a source key', () => {
    const doc = deployDoc();
    doc.keys.wrap = [WRAP, SOURCE];
    const e = refusal(doc);
    expect(e.message).toContain('keys.wrap[1]: the wrap key is also the source key at keys.source[0]');
    expect(e.hint).toContain('runtimes may Decrypt with wrap keys');
  });

  it('a source key named as a cell envelope', () => {
    const doc = deployDoc();
    doc.cells[0].envelope = { kmsKey: SOURCE };
    const e = refusal(doc);
    expect(e.message).toContain('cells[0].envelope.kmsKey: the source key at keys.source[0] cannot be an envelope');
    expect(e.hint).toContain('runtimes decrypt SOPS data keys');
  });

  it.each([['../clef.yaml'], ['/etc/clef.yaml'], ['infra/../../clef.yaml'], ['infra//clef.yaml']])('a manifest path outside the repository (%s)', (manifest) => {
    const e = refusal({ ...deployDoc(), manifest });
    expect(e.message).toContain('manifest: ');
    expect(e.message).toContain('outside the repository');
    expect(e.hint).toContain('relative to the repository root');
  });

  it('a manifest path inside the repository is accepted, ./ removed', () => {
    expect(parseDeployFile(yamlOf({ ...deployDoc(), manifest: './infra/clef.yaml' })).manifest).toBe('infra/clef.yaml');
  });

  it('a key in another region or account', () => {
    const doc = deployDoc();
    doc.keys.source = [key(5, 'us-east-1')];
    expect(refusal(doc).message).toContain('keys.source[0]: the key is in us-east-1, the deployment in eu-west-1');
    const doc2 = deployDoc();
    doc2.keys.source = [key(5, 'eu-west-1', '999999999999')];
    expect(refusal(doc2).message).toContain('keys.source[0]: the key belongs to account 999999999999');
  });

  it('the parent role as a key administrator or runtime role', () => {
    expect(refusal({ ...deployDoc(), admins: [PARENT_ROLE] }).message).toContain('admins[0]: the parent role must not administer the keys');
    expect(refusal({ ...deployDoc(), runtimeRoles: [PARENT_ROLE] }).message).toContain('runtimeRoles[0]: the parent role must not be a runtime role');
  });

  it('a signer key of the wrong kind for the signing mode', () => {
    const doc = deployDoc();
    doc.signer.publicKey = P256_SPKI;
    expect(refusal(doc).message).toContain('signer.publicKey: keys.seal is set, so the signer is the sealed Ed25519 key');
    const doc2 = deployDoc();
    doc2.signer.publicKey = 'bm90IGEga2V5';
    expect(refusal(doc2).message).toContain('signer.publicKey: not a DER SPKI public key');
  });

  it('a cell listed twice, an envelope with both kinds, a wrap key no cell uses', () => {
    const doc = deployDoc();
    doc.cells.push({ identity: 'worker', environment: 'production', envelope: { ageRecipients: [AGE] } });
    expect(refusal(doc).message).toContain('cells[2]: worker/production is listed twice');
    const doc2 = deployDoc();
    doc2.cells[1].envelope = { kmsKey: WRAP, ageRecipients: [AGE] };
    expect(refusal(doc2).message).toContain('cells[1].envelope: set exactly one of kmsKey or ageRecipients');
    const doc3 = deployDoc();
    doc3.keys.wrap = [WRAP, key(6)];
    expect(refusal(doc3).message).toContain('keys.wrap[1]: no cell wraps for this key');
  });

  it('access rules for another repository or for cells the enclave does not pack', () => {
    const doc = deployDoc();
    doc.access.githubOidc.rules[0].repository = 'evil/secrets';
    expect(refusal(doc).message).toContain("access.githubOidc.rules[0].repository: evil/secrets is not the deployment's repository acme/secrets");
    const doc2 = deployDoc();
    doc2.access.tokens[0].environments = ['staging'];
    expect(refusal(doc2).message).toContain('access.tokens[0].environments[0]: no cell has environment staging');
  });

  it('an OIDC rule without repositoryId, a missing required field, a wrong type', () => {
    const doc = deployDoc();
    delete doc.access.githubOidc.rules[0].repositoryId;
    const e = refusal(doc);
    expect(e.message).toContain('access.githubOidc.rules[0].repositoryId: missing');
    const doc2 = deployDoc();
    delete doc2.admins;
    expect(refusal(doc2).message).toContain('admins: missing');
    expect(refusal({ ...deployDoc(), account: 111122223333 }).message).toContain('account: expected a string');
  });

  it('not YAML, duplicate keys, YAML aliases', () => {
    expect(() => parseDeployFile('a: [', 'x.yaml')).toThrow(/x\.yaml is not valid YAML/);
    expect(() => parseDeployFile('account: "1"\naccount: "2"\n', 'x.yaml')).toThrow(/not valid YAML/);
    expect(() => parseDeployFile('a: &x [1]\nb: *x\n', 'x.yaml')).toThrow(/uses YAML aliases/);
    expect(refusal({ ...deployDoc(), deployVersion: 2 }).message).toContain('deployVersion: expected one of 1, got 2');
  });
});
