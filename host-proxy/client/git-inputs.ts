/**
 * What the pack client sends, read from git rather than the working tree: `clef.yaml` and the
 * scoped SOPS files exactly as committed at HEAD (`git cat-file blob`), so the bytes — and
 * therefore the hashes and git blob ids in the receipt — match the commit the receipt names.
 * A dirty tree is refused unless asked: otherwise the receipt's commit would not describe
 * what the user is looking at.
 */
import { execFile } from 'node:child_process';
import { parseManifest, resolvePackScope, CLEF_MANIFEST_FILENAME } from '../../enclave-app/clef/index.js';
import type { PackFile } from '../../enclave-app/protocol.js';
import { HostProxyError } from '../errors.js';

/** The inputs of one pack, as committed. */
export interface PackInputs {
  /** Full commit id of HEAD. */
  commit: string;
  manifest: PackFile;
  files: PackFile[];
  /** Scoped cells with no file at HEAD (Clef skips them; reported on stderr). */
  missing: string[];
}

/** Runs git in `cwd` and returns stdout bytes; failures become GIT_FAILED naming the command. */
export function runGit(cwd: string, args: readonly string[], input?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      [...args],
      { cwd, encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (err) {
          const first = stderr.toString('utf8').split('\n').find((l) => l.trim() !== '') ?? (err as NodeJS.ErrnoException).code ?? 'failed';
          reject(
            new HostProxyError('GIT_FAILED', `git ${args[0]} failed in ${cwd}: ${first.trim().slice(0, 300)}`, {
              hint: 'run the pack client inside a git checkout that has at least one commit (--repo DIR)',
            }),
          );
        } else {
          resolve(stdout);
        }
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** HEAD's full commit id. */
export async function headCommit(repoDir: string): Promise<string> {
  const out = (await runGit(repoDir, ['rev-parse', '--verify', 'HEAD^{commit}'])).toString('utf8').trim();
  if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(out)) throw new HostProxyError('GIT_FAILED', `git rev-parse returned an unexpected commit id ${JSON.stringify(out.slice(0, 80))}`);
  return out;
}

/** Tracked files with uncommitted changes (staged or not), repo-wide. */
export async function dirtyFiles(repoDir: string): Promise<string[]> {
  const out = (await runGit(repoDir, ['status', '--porcelain=v1', '-z', '--untracked-files=no'])).toString('utf8');
  const entries: string[] = [];
  const parts = out.split('\0');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.length < 4) continue;
    entries.push(p.slice(3));
    // Renames and copies carry the original path as the next NUL-separated field.
    if (p[0] === 'R' || p[0] === 'C') i += 1;
  }
  return entries;
}

/** Regular files at HEAD under `repoDir`, by path relative to it → blob id. */
async function treeAtHead(repoDir: string): Promise<Map<string, { mode: string; oid: string }>> {
  const out = (await runGit(repoDir, ['ls-tree', '-r', '-z', 'HEAD', '.'])).toString('utf8');
  const tree = new Map<string, { mode: string; oid: string }>();
  for (const entry of out.split('\0')) {
    const m = /^(\d{6}) (\w+) ([0-9a-f]+)\t(.+)$/s.exec(entry);
    if (m && m[2] === 'blob') tree.set(m[4], { mode: m[1], oid: m[3] });
  }
  return tree;
}

function checkEntry(path: string, entry: { mode: string; oid: string } | undefined): string {
  if (!entry) {
    throw new HostProxyError('MANIFEST_SCOPE', `${path} is not committed at HEAD`, {
      hint: 'commit it first: the pack reads files as committed, never from the working tree',
    });
  }
  if (entry.mode === '120000') {
    throw new HostProxyError('MANIFEST_SCOPE', `${path} is a symbolic link at HEAD; the pack reads only regular files`, {
      hint: 'commit the file itself instead of a link to it',
    });
  }
  return entry.oid;
}

/** Reads blobs by id in one `git cat-file --batch` (exact bytes, no filters). */
async function readBlobs(repoDir: string, oids: readonly string[]): Promise<Uint8Array[]> {
  if (oids.length === 0) return [];
  const out = await runGit(repoDir, ['cat-file', '--batch'], oids.map((o) => `${o}\n`).join(''));
  const blobs: Uint8Array[] = [];
  let pos = 0;
  for (const oid of oids) {
    const nl = out.indexOf(0x0a, pos);
    const header = out.subarray(pos, nl).toString('utf8');
    const m = /^([0-9a-f]+) blob (\d+)$/.exec(header);
    if (nl < 0 || !m || m[1] !== oid) throw new HostProxyError('GIT_FAILED', `git cat-file --batch gave an unexpected answer for ${oid}`);
    const size = Number(m[2]);
    blobs.push(new Uint8Array(out.subarray(nl + 1, nl + 1 + size)));
    pos = nl + 1 + size + 1;
  }
  return blobs;
}

/**
 * Collects clef.yaml and the files in scope of identity × environment at HEAD.
 * Throws DIRTY_TREE (unless `allowDirty`), GIT_FAILED, MANIFEST_SCOPE, or the Clef parser's
 * own errors (unknown identity or environment, invalid manifest).
 */
export async function collectPackInputs(options: { repoDir: string; identity: string; environment: string; allowDirty: boolean }): Promise<PackInputs & { dirty: string[] }> {
  const { repoDir } = options;
  const commit = await headCommit(repoDir);
  const dirty = await dirtyFiles(repoDir);
  if (dirty.length > 0 && !options.allowDirty) {
    const sample = dirty.slice(0, 3).join(', ') + (dirty.length > 3 ? ', …' : '');
    throw new HostProxyError('DIRTY_TREE', `the working tree has uncommitted changes to ${dirty.length} tracked file(s) (${sample})`, {
      hint: 'the pack reads HEAD and the receipt names its commit: commit or stash the changes, or pass --allow-dirty to pack HEAD anyway',
      details: { dirty: dirty.slice(0, 50) },
    });
  }
  const tree = await treeAtHead(repoDir);
  const [manifestBytes] = await readBlobs(repoDir, [checkEntry(CLEF_MANIFEST_FILENAME, tree.get(CLEF_MANIFEST_FILENAME))]);
  const manifest = parseManifest(manifestBytes);
  const scope = resolvePackScope(manifest, options.identity, options.environment, { fileExists: (p) => tree.has(p) });
  const contents = await readBlobs(repoDir, scope.files.map((cell) => checkEntry(cell.path, tree.get(cell.path))));
  const files: PackFile[] = scope.files.map((cell, i) => ({ path: cell.path, content: contents[i] }));
  // Paths on the wire and in the receipt are relative to the repository root, so an auditor's
  // `verify-receipt --repo` finds them even when clef.yaml lives in a subdirectory.
  const prefix = (await runGit(repoDir, ['rev-parse', '--show-prefix'])).toString('utf8').replace(/\n$/, '').replace(/\/$/, '');
  const repoPath = (p: string): string => (prefix ? `${prefix}/${p}` : p);
  return {
    commit,
    dirty,
    manifest: { path: repoPath(CLEF_MANIFEST_FILENAME), content: manifestBytes },
    files: files.map((f) => ({ ...f, path: repoPath(f.path) })),
    missing: scope.missing.map((c) => repoPath(c.path)),
  };
}

/** `owner/name` from GITHUB_REPOSITORY or the `origin` remote URL; '' when neither says. */
export async function repositoryName(repoDir: string, env: NodeJS.ProcessEnv): Promise<string> {
  const fromEnv = env.GITHUB_REPOSITORY;
  if (fromEnv && /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(fromEnv)) return fromEnv;
  let url: string;
  try {
    url = (await runGit(repoDir, ['remote', 'get-url', 'origin'])).toString('utf8').trim();
  } catch {
    return '';
  }
  const m = /[:/]([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/.exec(url);
  return m ? `${m[1]}/${m[2]}` : '';
}
