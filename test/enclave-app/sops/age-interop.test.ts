/**
 * Interop with the reference age implementation (the `age` CLI from Debian, which .ci/run
 * installs): it decrypts the age stanza this codec writes, and this codec opens stanzas it writes.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SopsMap, decryptSops, encryptSops, readSopsMetadata, parseAgeIdentities } from '../../../enclave-app/sops/index.js';
import { missingTool } from '../../tools.js';

const noAge = missingTool('age', 'age') ?? missingTool('age-keygen', 'age');

let dir: string;
let identity: string;
let recipient: string;

beforeAll(async () => {
  if (noAge !== undefined) return;
  dir = await mkdtemp(path.join(tmpdir(), 'sops-age-'));
  execFileSync('age-keygen', ['-o', path.join(dir, 'key.txt')], { stdio: 'pipe' });
  identity = parseAgeIdentities(await readFile(path.join(dir, 'key.txt'), 'utf8'))[0];
  recipient = execFileSync('age-keygen', ['-y', path.join(dir, 'key.txt')]).toString().trim();
});
afterAll(async () => {
  if (noAge !== undefined) return;
  await rm(dir, { recursive: true, force: true });
});

const doc = () => new SopsMap([{ key: 'token', value: 'abc' }]);

describe.skipIf(noAge)('age CLI interop', () => {
  it('`age -d -i key.txt` decrypts the armored stanza we write to the data key', async () => {
    const dataKey = randomBytes(32);
    const file = await encryptSops([doc()], { format: 'yaml', keyGroups: [[{ type: 'age', recipient }]], dataKey });
    const [stanza] = readSopsMetadata(file, 'yaml').age;
    expect(stanza.recipient).toBe(recipient);
    expect(stanza.enc).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END AGE ENCRYPTED FILE-----\n$/);
    await writeFile(path.join(dir, 'stanza.age'), stanza.enc);
    const out = execFileSync('age', ['-d', '-i', path.join(dir, 'key.txt'), path.join(dir, 'stanza.age')]);
    expect(Buffer.from(out).equals(dataKey)).toBe(true);
  });

  it('a stanza made by `age -e -a -r` opens the file in this codec', async () => {
    const dataKey = randomBytes(32);
    const enc = execFileSync('age', ['-e', '-a', '-r', recipient], { input: dataKey }).toString();
    const file = await encryptSops([doc()], { format: 'json', keyGroups: [[{ type: 'age', recipient, enc }]], dataKey });
    const r = await decryptSops(file, 'json', { ageIdentities: [identity] });
    expect(r.branches[0]).toEqual(doc());
  });

  it('`age -d` with another key refuses our stanza (the test would notice a plaintext stanza)', async () => {
    const file = await encryptSops([doc()], { format: 'yaml', keyGroups: [[{ type: 'age', recipient }]] });
    await writeFile(path.join(dir, 'stanza2.age'), readSopsMetadata(file, 'yaml').age[0].enc);
    execFileSync('age-keygen', ['-o', path.join(dir, 'other.txt')], { stdio: 'pipe' });
    expect(() => execFileSync('age', ['-d', '-i', path.join(dir, 'other.txt'), path.join(dir, 'stanza2.age')], { stdio: 'pipe' })).toThrow();
  });
});
