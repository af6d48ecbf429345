/**
 * Docs cannot point nowhere: every relative link, `#anchor` and `.md` file named in a tracked
 * Markdown file resolves inside the repository, and every `README "Section"` or `file.md#anchor`
 * a help text or hint names (in the shipped source) exists. Negative cases check the checker.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../../scripts/reference/errors.js';
import { anchorsOf, githubSlug, headingsOf, referencesOf, trackedMarkdown } from './markdown.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Problems with one reference, or null when it resolves. `from` is repo-relative. */
function check(from: string, text: string, target: string, kind: 'link' | 'mention'): string | null {
  const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
  if (pathPart === '') return anchor === undefined || anchorsOf(text).has(anchor) ? null : `${target}: ${from} has no heading with anchor #${anchor}`;
  const candidates = [normalize(join(dirname(from), decodeURI(pathPart)))];
  // Prose often names files from the repository root (`docs/reference.md`, `SECURITY.md`).
  if (kind === 'mention' && pathPart !== '') candidates.push(normalize(decodeURI(pathPart)));
  const hit = candidates.find((c) => !c.startsWith('..') && existsSync(join(root, c)));
  if (hit === undefined) return `${target}: no such file in the repository`;
  if (anchor === undefined || anchor === '' || !hit.endsWith('.md')) return null;
  const anchors = anchorsOf(readFileSync(join(root, hit), 'utf8'));
  return anchors.has(anchor) ? null : `${target}: ${hit} has no heading with anchor #${anchor}`;
}

function problemsIn(from: string, text: string): string[] {
  return referencesOf(text).flatMap((r) => {
    const p = check(from, text, r.target, r.kind);
    return p === null ? [] : [`${from}:${r.line}: ${p}`];
  });
}

describe('Markdown links and anchors', () => {
  const files = trackedMarkdown(root);

  it('finds the Markdown files (README, SECURITY, docs/reference.md, module READMEs)', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'SECURITY.md', 'docs/reference.md', 'enclave-app/clef/README.md', 'eif-build/README.md']));
  });

  it('every relative link, #anchor and named .md file in a tracked Markdown file resolves', () => {
    const problems = files.flatMap((f) => problemsIn(f, readFileSync(join(root, f), 'utf8')));
    expect(problems, `broken references:\n${problems.join('\n')}`).toEqual([]);
  });

  it('the checker catches a missing file, a file outside the repository, a missing anchor and a mention', () => {
    const text = [
      '# Title',
      'See [gone](no-such-file.md), [outside](../outside-the-repo/clef-compat.md), [anchor](#no-such-heading) and [ok](#title).',
      'Trust boundaries (ARCHITECTURE.md) and `docs/reference.md#no-such-anchor`.',
      '```',
      '[inside a code block](ignored.md)',
      '```',
    ].join('\n');
    const problems = problemsIn('README.md', text);
    expect(problems).toEqual([
      'README.md:2: no-such-file.md: no such file in the repository',
      'README.md:2: ../outside-the-repo/clef-compat.md: no such file in the repository',
      'README.md:2: #no-such-heading: README.md has no heading with anchor #no-such-heading',
      'README.md:3: ARCHITECTURE.md: no such file in the repository',
      'README.md:3: docs/reference.md#no-such-anchor: docs/reference.md has no heading with anchor #no-such-anchor',
    ]);
  });

  it('anchors follow GitHub: punctuation dropped, backticks kept as text, repeats numbered', () => {
    expect(githubSlug('Local simulation (`npm start`)')).toBe('local-simulation-npm-start');
    expect(githubSlug('`attested-pack attestation verify`')).toBe('attested-pack-attestation-verify');
    expect([...anchorsOf('# A\n## A\n### A')]).toEqual(['a', 'a-1', 'a-2']);
  });
});

describe('help texts and hints point at sections that exist', () => {
  /** `README "Host proxy"` and `docs/reference.md#limits` in source strings and comments. */
  function pointers(text: string): Array<{ file: string; section?: string; anchor?: string }> {
    const out: Array<{ file: string; section?: string; anchor?: string }> = [];
    for (const m of text.matchAll(/\b((?:[\w-]+\/)*(?:README|SECURITY)(?:\.md)?) "([^"]+)"/g)) {
      out.push({ file: m[1]!.endsWith('.md') ? m[1]! : `${m[1]!}.md`, section: m[2]! });
    }
    for (const m of text.matchAll(/\b((?:[\w-]+\/)*[\w-]+\.md)#([\w-]+)/g)) out.push({ file: m[1]!, anchor: m[2]! });
    return out;
  }

  function problemsOf(from: string, text: string): string[] {
    return pointers(text).flatMap((p) => {
      const path = resolve(root, p.file);
      if (!existsSync(path)) return [`${from}: names ${p.file}, which does not exist`];
      const md = readFileSync(path, 'utf8');
      if (p.section !== undefined && !headingsOf(md).some((h) => h.startsWith(p.section!))) return [`${from}: ${p.file} has no section "${p.section}"`];
      if (p.anchor !== undefined && !anchorsOf(md).has(p.anchor)) return [`${from}: ${p.file} has no anchor #${p.anchor}`];
      return [];
    });
  }

  it('every README "Section" and file.md#anchor named in the shipped source and action.yml exists', () => {
    const files = [...sourceFiles(root), join(root, 'action.yml')];
    const found = files.flatMap((f) => pointers(readFileSync(f, 'utf8')));
    expect(found.length).toBeGreaterThan(3);
    const problems = files.flatMap((f) => problemsOf(relative(root, f), readFileSync(f, 'utf8')));
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('the checker catches a section and an anchor that do not exist', () => {
    expect(problemsOf('x.ts', `'see README "Retry policy"'`)).toEqual(['x.ts: README.md has no section "Retry policy"']);
    expect(problemsOf('x.ts', `'see docs/reference.md#retry-policy'`)).toEqual(['x.ts: docs/reference.md has no anchor #retry-policy']);
    expect(problemsOf('x.ts', `'see README "Host proxy" and docs/reference.md#limits'`)).toEqual([]);
  });
});
