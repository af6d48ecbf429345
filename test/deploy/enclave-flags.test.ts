/**
 * The rendered /cmd is what the enclave itself accepts: parsed by the enclave's own `serve` flag
 * declarations and pinning checks (issue 16's `serveConfigFromFlags`), it yields exactly the
 * deploy file's envelopes per cell, source keys, KMS signing key and sealed-key pin.
 */
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { parseDeployFile } from '../../deploy/file.js';
import { serveArgs } from '../../deploy/render.js';
import { addServeOptions } from '../../enclave-app/serve-options.js';
import { AGE, SEAL, SIGN, SOURCE, WRAP, deployDoc, key, yamlOf } from './helpers.js';

import { serveConfigFromFlags, type ServeConfig } from '../../enclave-app/serve.js';
import type { ServeFlags } from '../../enclave-app/serve-options.js';

type TargetMap = Map<string, { kind: string; keyArn?: string; recipients?: string[] }>;

function enclaveConfig(doc: unknown): ServeConfig {
  const cmd = addServeOptions(new Command('serve')).exitOverride();
  cmd.parse(serveArgs(parseDeployFile(yamlOf(doc))).slice(1), { from: 'user' });
  return serveConfigFromFlags(cmd.opts<ServeFlags>());
}

describe('the enclave accepts the rendered /cmd', () => {
  it('envelopes per cell, source keys, KMS signing key and the sealed-key pin are the deploy file\'s', () => {
    const c = enclaveConfig(deployDoc());
    const targets = c.wrapTargets as unknown as TargetMap;
    expect([...targets.keys()]).toEqual(['api-gateway/production', 'worker/production']);
    expect(targets.get('api-gateway/production')).toMatchObject({ kind: 'kms', keyArn: WRAP });
    expect(targets.get('worker/production')).toMatchObject({ kind: 'age', recipients: [AGE] });
    expect(c.sourceKeys?.any).toEqual([SOURCE]);
    expect(c.signingKmsKey).toBe(SIGN);
    expect(c.sealedKeyPin?.sealKeyArn).toBe(SEAL);
    expect(Buffer.from(c.sealedKeyPin!.publicKeySpki).toString('base64')).toBe(deployDoc().signer.publicKey);
  });

  it('per-cell source keys become per-cell pins', () => {
    const doc = deployDoc();
    doc.keys.source = [SOURCE, key(7)];
    doc.cells[0].sourceKeys = [key(7)];
    const c = enclaveConfig(doc);
    const byCell = c.sourceKeys!.byCell as unknown as Map<string, string[]> | Record<string, string[]>;
    const get = (cell: string) => (byCell instanceof Map ? byCell.get(cell) : byCell[cell]);
    expect(get('api-gateway/production')).toEqual([key(7)]);
    expect(get('worker/production')).toEqual([SOURCE, key(7)]);
  });
});
