/**
 * Which attested-pack source a build came from: the checkout's commit and whether its working
 * tree differs from it. The enclave bundle carries this (so it is measured, inside PCR2) and the
 * receipt repeats it, so an auditor knows which commit to rebuild.
 */
import { spawnSync } from 'node:child_process';

/** The commit of a checkout and whether anything tracked or untracked (not ignored) differs. */
export interface SourceRevision {
  /** Full 40-hex commit id of HEAD. */
  commit: string;
  /** True when `git status --porcelain` lists anything: the image is not what the commit builds. */
  dirty: boolean;
}

const COMMIT_RE = /^[0-9a-f]{40}$/;

function git(dir: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } });
  return { ok: r.error === undefined && r.status === 0, out: r.stdout ?? '' };
}

/** The revision of the git checkout whose top level is `dir`, or undefined when `dir` is not one (or git is missing). */
export function sourceRevision(dir: string): SourceRevision | undefined {
  const top = git(dir, ['rev-parse', '--show-toplevel']);
  if (!top.ok) return undefined;
  const head = git(dir, ['rev-parse', 'HEAD']);
  const commit = head.out.trim();
  if (!head.ok || !COMMIT_RE.test(commit)) return undefined;
  const status = git(dir, ['status', '--porcelain']);
  return { commit, dirty: !status.ok || status.out.trim() !== '' };
}

/** The string the bundle carries: the commit, with `+dirty` when the tree differed from it. */
export function formatSourceRevision(r: SourceRevision): string {
  return r.dirty ? `${r.commit}+dirty` : r.commit;
}

/** Parses what formatSourceRevision wrote (undefined when it is not that shape). */
export function parseSourceRevision(text: string): SourceRevision | undefined {
  const m = /^([0-9a-f]{40})(\+dirty)?$/.exec(text);
  return m ? { commit: m[1]!, dirty: m[2] !== undefined } : undefined;
}
