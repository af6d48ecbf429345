/**
 * Just enough Markdown for the docs tests: headings and their GitHub anchors, links (inline,
 * image and reference definitions) and `.md` paths mentioned in prose or inline code — all
 * outside fenced code blocks, with line numbers for the failure messages.
 */
import { execFileSync } from 'node:child_process';

/** A place in a Markdown file that names another file or an anchor. */
export interface MarkdownReference {
  line: number;
  /** As written: `docs/reference.md#limits`, `#exit-codes`, `ARCHITECTURE.md`. */
  target: string;
  kind: 'link' | 'mention';
}

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fence: string | null = null;
  text.split('\n').forEach((l, i) => {
    const m = /^\s{0,3}(```+|~~~+)/.exec(l);
    if (m) {
      if (fence === null) fence = m[1]![0]!;
      else if (m[1]![0] === fence) fence = null;
      return;
    }
    if (fence === null) out.push({ line: i + 1, text: l });
  });
  return out;
}

/** GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces to hyphens. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images keep their text
    .replace(/<[^>]+>/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a file defines: its headings (with GitHub's -1, -2 suffixes for repeats) and explicit ids. */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { text: l } of proseLines(text)) {
    const h = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(l);
    if (h) {
      const base = githubSlug(h[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of l.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** Heading texts of a file, for `README "Section"` references. */
export function headingsOf(text: string): string[] {
  return proseLines(text).flatMap(({ text: l }) => {
    const h = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(l);
    return h ? [h[1]!.replace(/`/g, '')] : [];
  });
}

const EXTERNAL = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

/** Links and `.md` mentions of a Markdown text that point inside the repository. */
export function referencesOf(text: string): MarkdownReference[] {
  const refs: MarkdownReference[] = [];
  for (const { line, text: l } of proseLines(text)) {
    const withoutCode = l.replace(/`[^`]*`/g, (code) => ' '.repeat(code.length));
    for (const m of withoutCode.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (!EXTERNAL.test(m[1]!)) refs.push({ line, target: m[1]!, kind: 'link' });
    }
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/.exec(withoutCode);
    if (def && !EXTERNAL.test(def[1]!)) refs.push({ line, target: def[1]!, kind: 'link' });
    // A Markdown file named in prose or inline code must exist too (links are only one way to point).
    const linkless = l.replace(/!?\[[^\]]*\]\([^)]*\)/g, '').replace(/https?:\/\/\S+/g, '');
    for (const m of linkless.matchAll(/(?<![\w/@.-])((?:\.{1,2}\/|[\w-]+\/)*[\w.-]+\.md)(#[\w-]+)?(?![\w/])/g)) {
      refs.push({ line, target: m[1]! + (m[2] ?? ''), kind: 'mention' });
    }
  }
  return refs;
}

/** Markdown files git tracks in `root` (repo-relative). */
export function trackedMarkdown(root: string): string[] {
  return execFileSync('git', ['ls-files', '-z', '--', '*.md'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    // test/vectors/ holds other projects' files copied byte for byte (test/vectors/PROVENANCE.md):
    // their READMEs link to places in their own repositories, and a vector is never edited.
    .filter((p) => p.length > 0 && (!p.startsWith('test/vectors/') || p === 'test/vectors/PROVENANCE.md'))
    .sort();
}
