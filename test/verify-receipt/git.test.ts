import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitRepo } from '../../verify-receipt/git.js';
import { VerifyInputError } from '../../verify-receipt/errors.js';

let dir: string;
let first: string;
let second: string;

function git(...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
  }).trim();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vr-git-'));
  git('init', '-q', '-b', 'main');
  await mkdir(join(dir, 'secrets', 'a b'), { recursive: true });
  await writeFile(join(dir, 'clef.yaml'), 'version: 1\n');
  await writeFile(join(dir, 'secrets', 'a b', '*.enc.yaml'), 'x: 1\n');
  git('add', '.');
  git('commit', '-q', '-m', 'one');
  first = git('rev-parse', 'HEAD');
  await writeFile(join(dir, 'clef.yaml'), 'version: 1\n# changed\n');
  git('commit', '-q', '-am', 'two');
  second = git('rev-parse', 'HEAD');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('GitRepo', () => {
  it('refuses a directory that is not a repository', async () => {
    const plain = await mkdtemp(join(tmpdir(), 'vr-plain-'));
    try {
      await expect(GitRepo.open(plain)).rejects.toMatchObject({ code: 'VERIFY_REPO_INVALID', exitCode: 2 });
      await expect(GitRepo.open(plain)).rejects.toBeInstanceOf(VerifyInputError);
    } finally {
      await rm(plain, { recursive: true, force: true });
    }
  });

  it('resolves full and abbreviated commits, and nothing else', async () => {
    const repo = await GitRepo.open(dir);
    expect(await repo.resolveCommit(first)).toBe(first);
    expect(await repo.resolveCommit(first.slice(0, 12))).toBe(first);
    expect(await repo.resolveCommit('0'.repeat(40))).toBeUndefined();
    expect(await repo.resolveCommit('HEAD')).toBeUndefined(); // only hex ids, never ref names
    expect(await repo.resolveCommit('--all')).toBeUndefined();
    const tree = git('rev-parse', `${first}^{tree}`);
    expect(await repo.resolveCommit(tree)).toBeUndefined(); // a tree is not a commit
    repo.close();
  });

  it('reads blobs at a commit, with ids equal to git hash-object, and reports missing paths', async () => {
    // Also: names with spaces and glob characters are looked up literally.
    const repo = await GitRepo.open(dir);
    const [a, b, missing, treeEntry] = await repo.readAt(first, ['clef.yaml', 'secrets/a b/*.enc.yaml', 'nope.yaml', 'secrets']);
    const expectedId = createHash('sha1').update('blob 11\0version: 1\n').digest('hex');
    expect(a).toMatchObject({ found: true, oid: expectedId, type: 'blob' });
    expect(a!.found && Buffer.from(a.content).toString()).toBe('version: 1\n');
    expect(b).toMatchObject({ found: true, type: 'blob' });
    expect(b!.found && Buffer.from(b.content).toString()).toBe('x: 1\n');
    expect(missing).toEqual({ path: 'nope.yaml', found: false });
    expect(treeEntry).toMatchObject({ found: true, type: 'tree' });
    const [later] = await repo.readAt(second, ['clef.yaml']);
    expect(later!.found && later.oid).not.toBe(expectedId);
    repo.close();
  });

  it('opens an empty repository (no commits yet)', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'vr-empty-'));
    try {
      execFileSync('git', ['-C', empty, 'init', '-q']);
      const repo = await GitRepo.open(empty);
      expect(await repo.resolveCommit(first)).toBeUndefined();
      repo.close();
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('refuses questions after close', async () => {
    const repo = await GitRepo.open(dir);
    repo.close();
    await new Promise((r) => setTimeout(r, 50));
    await expect(repo.resolveCommit(first)).rejects.toMatchObject({ code: 'VERIFY_GIT_FAILED' });
  });
});
