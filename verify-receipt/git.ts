/**
 * The few read-only git questions check 7 asks, answered by the `git` executable: does this
 * commit exist, which blob sits at this path in it, what are its bytes, which files does it hold.
 * Paths are passed as `COMMIT:path` object names or NUL-separated output, never as pathspecs, so
 * a file name cannot turn into a glob or an option.
 */
import { execFile } from 'node:child_process';
import { VerifyInputError } from './errors.js';

/** One object looked up at `commit:path`. */
export type BlobLookup =
  | { path: string; found: true; oid: string; type: string; content: Uint8Array }
  | { path: string; found: false };

const GIT_ENV = {
  ...process.env,
  GIT_TERMINAL_PROMPT: '0',
  GIT_OPTIONAL_LOCKS: '0',
  LC_ALL: 'C',
};

function git(repo: string, args: string[], input?: string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      ['-C', repo, '-c', 'core.quotepath=off', ...args],
      { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024, env: GIT_ENV, windowsHide: true },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        if (err && code === -1) {
          reject(
            new VerifyInputError('VERIFY_GIT_FAILED', 'could not run git', {
              hint: 'install git and make sure it is on PATH (needed only for --repo)',
              cause: err,
            }),
          );
          return;
        }
        resolve({ code, stdout, stderr: stderr.toString('utf8').trim() });
      },
    );
    // git may exit before reading its input (e.g. a bad repository): ignore EPIPE, the exit code tells.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** A git repository on disk that check 7 reads from. */
export class GitRepo {
  private constructor(readonly dir: string) {}

  /** Opens `dir` as a git repository, or throws VERIFY_REPO_INVALID (exit 2). */
  static async open(dir: string): Promise<GitRepo> {
    const r = await git(dir, ['rev-parse', '--git-dir']);
    if (r.code !== 0) {
      throw new VerifyInputError('VERIFY_REPO_INVALID', `--repo ${dir} is not a git repository`, {
        hint: 'pass the root of a clone of the repository the receipt names',
        details: { git: r.stderr.split('\n')[0] ?? '' },
      });
    }
    return new GitRepo(dir);
  }

  /** The full id of `rev` if it names a commit in this repository, else undefined. */
  async resolveCommit(rev: string): Promise<string | undefined> {
    if (!/^[0-9a-fA-F]{4,64}$/.test(rev)) return undefined;
    const r = await git(this.dir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
    if (r.code !== 0) return undefined;
    const id = r.stdout.toString('utf8').trim();
    return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(id) ? id : undefined;
  }

  /** Reads the object at `commit:path` for every path, in one `git cat-file --batch` call. */
  async readAt(commit: string, paths: readonly string[]): Promise<BlobLookup[]> {
    if (paths.length === 0) return [];
    for (const p of paths) {
      if (/[\n\r]/.test(p)) throw new VerifyInputError('VERIFY_GIT_FAILED', 'a path contains a line break and cannot be looked up');
    }
    const r = await git(this.dir, ['cat-file', '--batch'], paths.map((p) => `${commit}:${p}\n`).join(''));
    if (r.code !== 0) {
      throw new VerifyInputError('VERIFY_GIT_FAILED', `git cat-file failed: ${r.stderr.split('\n')[0] ?? ''}`);
    }
    const out = r.stdout;
    const results: BlobLookup[] = [];
    let pos = 0;
    for (const path of paths) {
      const nl = out.indexOf(0x0a, pos);
      if (nl < 0) throw new VerifyInputError('VERIFY_GIT_FAILED', 'git cat-file answered fewer objects than asked');
      const header = out.subarray(pos, nl).toString('utf8');
      pos = nl + 1;
      const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (\S+) (\d+)$/.exec(header);
      if (!m) {
        // "<name> missing" or "<name> ambiguous": no object at that path in that commit.
        results.push({ path, found: false });
        continue;
      }
      const size = Number(m[3]);
      const content = new Uint8Array(out.subarray(pos, pos + size));
      pos += size + 1; // content is followed by a newline
      results.push({ path, found: true, oid: m[1]!, type: m[2]!, content });
    }
    return results;
  }

  /** Every file path (blobs and symlinks, recursively) in `commit`'s tree. */
  async listFiles(commit: string): Promise<string[]> {
    const r = await git(this.dir, ['ls-tree', '-r', '-z', '--full-tree', '--name-only', commit]);
    if (r.code !== 0) throw new VerifyInputError('VERIFY_GIT_FAILED', `git ls-tree failed: ${r.stderr.split('\n')[0] ?? ''}`);
    return r.stdout
      .toString('utf8')
      .split('\0')
      .filter((p) => p.length > 0);
  }
}
