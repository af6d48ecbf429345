/**
 * The interop vectors live in the repository (test/vectors) and each one is listed in
 * test/vectors/PROVENANCE.md with its source and SHA-256. This file recomputes every hash, and
 * fails on a changed file, a listed file that is gone, or a file nobody listed. It also checks that
 * no test, benchmark or script reaches outside the checkout for vectors (the old shared folder beside it).
 */
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const vectorsDir = join(repoRoot, 'test', 'vectors');
const PROVENANCE = 'PROVENANCE.md';

interface Row {
  file: string;
  source: string;
  licence: string;
  sha256: string;
}

/** Table rows of PROVENANCE.md; a line that starts like a row but does not parse is a problem. */
function parseProvenance(text: string): { rows: Row[]; problems: string[] } {
  const rows: Row[] = [];
  const problems: string[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.startsWith('| `')) continue;
    const m = /^\| `([^`]+)` \| (.+?) \| (.+?) \| ([0-9a-f]{64}) \|$/.exec(line);
    if (m === null) {
      problems.push(`PROVENANCE.md line ${i + 1}: not a row of the form | \`file\` | source | licence | sha256 |`);
      continue;
    }
    rows.push({ file: m[1]!, source: m[2]!, licence: m[3]!, sha256: m[4]! });
  }
  return { rows, problems };
}

/** Every file under `dir` (relative, `/`-separated), except PROVENANCE.md itself; symlinks are problems. */
function filesUnder(dir: string, problems: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p).split(sep).join('/');
      const st = lstatSync(p);
      if (st.isSymbolicLink()) problems.push(`${rel}: a symbolic link, not a vector`);
      else if (st.isDirectory()) walk(p);
      else if (rel !== PROVENANCE) out.push(rel);
    }
  };
  walk(dir);
  return out;
}

/** Everything wrong with `dir` against its PROVENANCE.md (empty when all is in order). */
function checkProvenance(dir: string): { rows: Row[]; problems: string[] } {
  const { rows, problems } = parseProvenance(readFileSync(join(dir, PROVENANCE), 'utf8'));
  const present = new Set(filesUnder(dir, problems));
  const listed = new Set<string>();
  for (const row of rows) {
    if (listed.has(row.file)) problems.push(`${row.file}: listed twice`);
    listed.add(row.file);
    if (!present.has(row.file)) {
      problems.push(`${row.file}: listed but missing`);
      continue;
    }
    const actual = createHash('sha256').update(readFileSync(join(dir, row.file))).digest('hex');
    if (actual !== row.sha256) problems.push(`${row.file}: sha256 ${actual}, PROVENANCE.md says ${row.sha256}`);
  }
  for (const f of present) if (!listed.has(f)) problems.push(`${f}: not listed in PROVENANCE.md`);
  return { rows, problems };
}

describe('test/vectors/PROVENANCE.md', () => {
  const { rows, problems } = checkProvenance(vectorsDir);

  it('lists every vector with the SHA-256 of its bytes, and nothing else', () => {
    expect(problems).toEqual([]);
    expect(rows.length).toBeGreaterThanOrEqual(80);
  });

  it('gives every file a source and a licence column (a repository @ commit : path, or why there is none)', () => {
    for (const r of rows) {
      expect(r.source, r.file).toMatch(/^(\S+\/\S+ @ [0-9a-f]{7,40} : \S|derived: |not from a public repository)/);
      expect(r.licence.trim(), r.file).not.toBe('');
    }
    // The upstream files (not the READMEs written for them) name a licence.
    for (const r of rows.filter((x) => /^\S+\/\S+ @ /.test(x.source))) expect(r.licence, r.file).not.toBe('—');
  });

  it('covers the folders the tests read', () => {
    const folders = new Set(rows.map((r) => r.file.split('/')[0]));
    for (const f of ['attestation', 'kms-recipient', 'sops', 'eif', 'clef']) expect(folders, f).toContain(f);
  });
});

describe('the provenance check fails when it should', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'vectors-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const copy = (name: string): string => {
    const d = join(scratch, name);
    cpSync(vectorsDir, d, { recursive: true });
    return d;
  };

  it('on one changed byte', () => {
    const d = copy('changed');
    const f = join(d, 'clef', 'golden-artifact.json');
    const bytes = readFileSync(f);
    bytes[10] ^= 1;
    writeFileSync(f, bytes);
    expect(checkProvenance(d).problems).toEqual([expect.stringMatching(/^clef\/golden-artifact\.json: sha256 [0-9a-f]{64}, PROVENANCE\.md says/)]);
  });

  it('on a file not listed, a listed file removed, and a symlink', () => {
    const d = copy('extra');
    writeFileSync(join(d, 'sops', 'new.yaml'), 'a: 1\n');
    rmSync(join(d, 'eif', 'vectors.json'));
    symlinkSync('../clef/golden-artifact.json', join(d, 'sops', 'link.json'));
    expect(checkProvenance(d).problems.sort()).toEqual([
      'eif/vectors.json: listed but missing',
      'sops/link.json: a symbolic link, not a vector',
      'sops/new.yaml: not listed in PROVENANCE.md',
    ]);
  });

  it('on a row whose hash is not 64 hex digits, and on a row listed twice', () => {
    const d = copy('rows');
    const text = readFileSync(join(d, PROVENANCE), 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('| `clef/README.md`'))!;
    writeFileSync(join(d, PROVENANCE), text.replace(line, line.replace(/[0-9a-f]{64}/, 'abc')) + line + '\n' + line + '\n');
    const { problems } = checkProvenance(d);
    expect(problems).toEqual([expect.stringMatching(/^PROVENANCE\.md line \d+: not a row/), 'clef/README.md: listed twice']);
  });
});

describe('no reads outside the checkout', () => {
  it('no test, benchmark or script names the old shared folder beside the checkout', () => {
    const needle = String.fromCharCode(46, 46, 47) + 'sha' + 'red'; // spelled so this file does not match itself
    const offenders: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) {
          if (p !== vectorsDir && e.name !== 'node_modules') walk(p);
        } else if (/\.(ts|mts|js|mjs|cjs|sh|json)$/.test(e.name) && readFileSync(p, 'utf8').includes(needle)) {
          offenders.push(relative(repoRoot, p));
        }
      }
    };
    for (const top of ['test', 'bench', 'scripts']) walk(join(repoRoot, top));
    expect(offenders).toEqual([]);
  });
});
