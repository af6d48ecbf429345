/**
 * The few read-only git questions check 7 asks — does this commit exist, which blob sits at
 * this path in it, what are its bytes — answered by one long-lived `git cat-file --batch`
 * process per repository (one process start, not one per question: a cold CLI start matters).
 * Paths travel as `COMMIT:path` object names on their own line, never as pathspecs or
 * arguments, so a file name cannot turn into a glob or an option.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import { VerifyInputError } from './errors.js';

/** One object looked up at `commit:path`. */
export type BlobLookup =
  | { path: string; found: true; oid: string; type: string; content: Uint8Array }
  | { path: string; found: false };

type Answer = { found: false } | { found: true; oid: string; type: string; content: Uint8Array };

interface Pending {
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
}

const HEADER = /^([0-9a-f]{40}|[0-9a-f]{64}) (\S+) (\d+)$/;

/** A git repository on disk that check 7 reads from. Call `close()` when done. */
export class GitRepo {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly queue: Pending[] = [];
  private failure: Error | null = null;
  private stderr = '';

  private constructor(
    readonly dir: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
      this.drain();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString('utf8');
    });
    // git may exit before reading a request (e.g. not a repository): the exit tells, not EPIPE.
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => this.fail(new VerifyInputError('VERIFY_GIT_FAILED', 'could not run git', {
      hint: 'install git and make sure it is on PATH (needed only for --repo)',
      cause: err,
    })));
    child.on('close', () => this.fail(new VerifyInputError('VERIFY_GIT_FAILED', `git stopped answering: ${this.firstStderrLine() || 'no reason given'}`)));
    this.idle();
  }

  /** Opens `dir` as a git repository, or throws VERIFY_REPO_INVALID (exit 2). */
  static async open(dir: string): Promise<GitRepo> {
    const child = spawn('git', ['-C', dir, '-c', 'core.quotepath=off', 'cat-file', '--batch'], {
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const repo = new GitRepo(dir, child);
    try {
      await repo.request('HEAD'); // any answer, even "missing" in an empty repository, proves it is one
    } catch (err) {
      if (err instanceof VerifyInputError && err.code === 'VERIFY_GIT_FAILED' && err.message === 'could not run git') throw err;
      throw new VerifyInputError('VERIFY_REPO_INVALID', `--repo ${dir} is not a git repository`, {
        hint: 'pass the root of a clone of the repository the receipt names',
        details: { git: repo.firstStderrLine() },
      });
    }
    return repo;
  }

  /** Ends the git process (idempotent). */
  close(): void {
    this.child.stdin.end();
  }

  /** The full id of `rev` if it names a commit in this repository, else undefined. */
  async resolveCommit(rev: string): Promise<string | undefined> {
    if (!/^[0-9a-fA-F]{4,64}$/.test(rev)) return undefined;
    const a = await this.request(`${rev.toLowerCase()}^{commit}`);
    // git resolves a ref named like a hex string before an object id: only an object whose id
    // starts with `rev` counts, so a tag named `deadbee` (or a 64-hex name in a SHA-1 repository)
    // cannot stand in for a commit.
    return a.found && a.type === 'commit' && a.oid.startsWith(rev.toLowerCase()) ? a.oid : undefined;
  }

  /** Reads the object at `commit:path` for every path, in order. */
  async readAt(commit: string, paths: readonly string[]): Promise<BlobLookup[]> {
    for (const p of paths) {
      if (/[\n\r]/.test(p)) throw new VerifyInputError('VERIFY_GIT_FAILED', 'a path contains a line break and cannot be looked up');
    }
    const answers = await Promise.all(paths.map((p) => this.request(`${commit}:${p}`)));
    return answers.map((a, i) => ({ path: paths[i]!, ...a }));
  }

  private request(name: string): Promise<Answer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Answer>((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.busy();
      this.child.stdin.write(`${name}\n`);
    });
  }

  /** Hands complete answers (header line, then `size` bytes and a newline) to waiting requests. */
  private drain(): void {
    while (this.queue.length > 0) {
      const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [buf];
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      const header = buf.subarray(0, nl).toString('utf8');
      const m = HEADER.exec(header);
      let answer: Answer;
      let used: number;
      if (!m) {
        // "<name> missing" / "<name> ambiguous": no such object.
        answer = { found: false };
        used = nl + 1;
      } else {
        const size = Number(m[3]);
        if (buf.byteLength < nl + 1 + size + 1) return;
        answer = { found: true, oid: m[1]!, type: m[2]!, content: new Uint8Array(buf.subarray(nl + 1, nl + 1 + size)) };
        used = nl + 1 + size + 1;
      }
      const rest = buf.subarray(used);
      this.chunks = rest.byteLength > 0 ? [rest] : [];
      this.buffered = rest.byteLength;
      this.queue.shift()!.resolve(answer);
    }
    this.idle();
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    for (const p of this.queue.splice(0)) p.reject(this.failure);
  }

  private firstStderrLine(): string {
    return this.stderr.split('\n')[0]?.trim() ?? '';
  }

  // The process must not keep the CLI alive while no question is pending (a forgotten close()).
  private busy(): void {
    for (const s of this.pipes()) s.ref();
    this.child.ref();
  }

  private idle(): void {
    if (this.queue.length > 0) return;
    for (const s of this.pipes()) s.unref();
    this.child.unref();
  }

  private pipes(): Socket[] {
    // Child stdio pipes are net.Sockets at runtime; their stream types do not declare ref/unref.
    return [this.child.stdin, this.child.stdout, this.child.stderr] as unknown as Socket[];
  }
}
