/**
 * Every error code attested-pack can raise, read from the source: the members of each
 * `…ErrorCode` union (with the comment that explains each), plus the codes passed as literals to
 * an error constructor (`new InputError('INPUT_UNREADABLE', …)`, `super('USAGE', …)`). The exit
 * code of each is asked from the error class itself (constructed once per code), plus any
 * category a call site sets explicitly, so the table cannot disagree with the CLIs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { EXIT_CODES, type ErrorCategory } from '../../common/errors.js';

/** One code, where it is declared, what it means and which exit codes it can end a CLI with. */
export interface ErrorCodeEntry {
  code: string;
  /** Repo-relative file of the union (or of the first call site). */
  file: string;
  /** The error class that carries it. */
  errorClass: string;
  description: string;
  /** Categories it can have: the class default for it, plus explicit call-site categories. */
  categories: ErrorCategory[];
  /** True when some call site computes the category (not a literal): the table says so. */
  categoryVaries: boolean;
}

/** Folders that are not shipped code. */
const SKIP_DIRS = new Set(['node_modules', 'dist', 'test', 'bench', 'scripts', 'docs', 'build', 'coverage']);

/** Every shipped `.ts` file under `root`, sorted (deterministic output). */
export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.') || SKIP_DIRS.has(name)) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && dir !== root) out.push(p);
    }
  };
  walk(root);
  return out;
}

interface Found {
  code: string;
  file: string;
  errorClass?: string;
  union?: string;
  description: string;
  categories: Set<ErrorCategory>;
  varies: boolean;
}

const CODE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|^[A-Z]{4,}$/;

/** `/** text *\/` comments immediately before `pos`, joined. */
function docBefore(text: string, pos: number): string {
  const ranges = ts.getLeadingCommentRanges(text, pos) ?? [];
  return ranges
    .map((r) => text.slice(r.pos, r.end))
    .filter((c) => c.startsWith('/**'))
    .map((c) => c.replace(/^\/\*\*|\*\/$/g, '').replace(/^\s*\* ?/gm, '').trim())
    .join(' ')
    .replace(/\s+/g, ' ');
}

/** `- CODE  description` bullets of a file's comments (the style several errors.ts files use). */
function bulletDocs(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^\s*\*\s*-\s*([A-Z][A-Z0-9_]+)\s+(.+)$/gm)) out.set(m[1]!, m[2]!.trim());
  return out;
}

function literalCategory(node: ts.Expression | undefined): { category?: ErrorCategory; varies: boolean } {
  if (!node || !ts.isObjectLiteralExpression(node)) return { varies: false };
  for (const p of node.properties) {
    if (!ts.isPropertyAssignment(p) || p.name.getText() !== 'category') continue;
    if (ts.isStringLiteral(p.initializer) && p.initializer.text in EXIT_CODES) return { category: p.initializer.text as ErrorCategory, varies: false };
    // `category: options.category ?? …` inside a class forwards the caller's choice: not a call site.
    return { varies: !p.initializer.getText().startsWith('options.category') };
  }
  return { varies: false };
}

/** A message argument as people read it: template substitutions become `…`. */
function messageText(node: ts.Expression | undefined): string {
  if (!node) return '';
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((span) => `…${span.literal.text}`).join('');
  return '';
}

/**
 * Scans the source twice — unions first, so a code is described and placed where its union
 * declares it, then constructor call sites — in a stable order (files sorted, declaration order).
 */
function scan(root: string): { found: Map<string, Found>; classFiles: Map<string, string>; fixedCodeClasses: Set<string> } {
  const found = new Map<string, Found>();
  const classFiles = new Map<string, string>();
  const classDocs = new Map<string, string>();
  const fixedCodeClasses = new Set<string>();
  const unionOwner = new Map<string, string>(); // union type name → error class declaring `code: Union`
  const pending: Array<{ union: string; code: string }> = [];
  const parsed = sourceFiles(root).map((path) => {
    const text = readFileSync(path, 'utf8');
    return { path, text, file: relative(root, path), sf: ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true), bullets: bulletDocs(text) };
  });

  const add = (code: string, file: string, init: Partial<Found>): Found => {
    let f = found.get(code);
    if (!f) {
      f = { code, file, description: '', categories: new Set(), varies: false, ...init };
      found.set(code, f);
    }
    return f;
  };

  for (const pass of ['unions', 'call sites'] as const) {
  for (const { path, text, file, sf, bullets } of parsed) {
    const visit = (node: ts.Node, enclosingClass: string | undefined): void => {
      if (ts.isClassDeclaration(node) && node.name) {
        const name = node.name.text;
        if (node.heritageClauses?.some((h) => h.types.some((t) => /Error$/.test(t.expression.getText())))) {
          classFiles.set(name, path);
          classDocs.set(name, docBefore(text, node.pos));
        }
        for (const m of node.members) {
          if (ts.isPropertyDeclaration(m) && m.name.getText() === 'code' && m.type && ts.isTypeReferenceNode(m.type)) unionOwner.set(m.type.typeName.getText(), name);
        }
        ts.forEachChild(node, (c) => visit(c, name));
        return;
      }
      if (pass === 'unions' && ts.isTypeAliasDeclaration(node) && /ErrorCode$/.test(node.name.text) && ts.isUnionTypeNode(node.type)) {
        node.type.types.forEach((t, i, types) => {
          if (!ts.isLiteralTypeNode(t) || !ts.isStringLiteral(t.literal)) return;
          const code = t.literal.text;
          // A member's `/** … */` sits before its `|`, between the previous member and this one.
          const between = text.slice(i === 0 ? node.type.pos : types[i - 1]!.end, t.getStart(sf));
          const own = [...between.matchAll(/\/\*\*([\s\S]*?)\*\//g)].at(-1)?.[1]?.replace(/^\s*\* ?/gm, '').replace(/\s+/g, ' ').trim();
          add(code, file, { union: node.name.text, description: own || bullets.get(code) || '' });
          pending.push({ union: node.name.text, code });
        });
      }
      if (pass === 'call sites' && ts.isNewExpression(node) && ts.isIdentifier(node.expression) && /Error$/.test(node.expression.text)) {
        const [first, message, options] = node.arguments ?? [];
        if (first && ts.isStringLiteral(first) && CODE.test(first.text)) {
          const example = messageText(message);
          const f = add(first.text, file, { errorClass: node.expression.text, description: bullets.get(first.text) ?? (example ? `e.g. “${example}”` : '') });
          f.errorClass ??= node.expression.text;
          if (!f.description && example) f.description = `e.g. “${example}”`;
          const c = literalCategory(options);
          if (c.category) f.categories.add(c.category);
          if (c.varies) f.varies = true;
        }
      }
      if (pass === 'call sites' && ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.SuperKeyword && enclosingClass) {
        const [first] = node.arguments;
        if (first && ts.isStringLiteral(first) && CODE.test(first.text)) {
          add(first.text, file, { errorClass: enclosingClass, description: classDocs.get(enclosingClass) ?? '' });
          fixedCodeClasses.add(enclosingClass);
        }
      }
      ts.forEachChild(node, (c) => visit(c, enclosingClass));
    };
    visit(sf, undefined);
  }
  }
  for (const { union, code } of pending) {
    const owner = unionOwner.get(union);
    const f = found.get(code)!;
    if (owner) f.errorClass = owner;
  }
  return { found, classFiles, fixedCodeClasses };
}

/** Collects every code with its class, meaning and exit codes. */
export async function collectErrorCodes(root: string): Promise<ErrorCodeEntry[]> {
  const { found, classFiles, fixedCodeClasses } = scan(root);
  const modules = new Map<string, Record<string, unknown>>();
  const out: ErrorCodeEntry[] = [];
  for (const f of found.values()) {
    if (!f.errorClass) throw new Error(`error code ${f.code} (${f.file}) belongs to no error class: declare \`readonly code: ${f.union ?? '…'}\` on its class`);
    const classFile = classFiles.get(f.errorClass);
    if (!classFile) throw new Error(`error class ${f.errorClass} (for ${f.code}) is not declared in the scanned source`);
    let mod = modules.get(classFile);
    if (!mod) {
      mod = (await import(pathToFileURL(classFile).href)) as Record<string, unknown>;
      modules.set(classFile, mod);
    }
    const Ctor = mod[f.errorClass] as (new (...args: unknown[]) => { category: ErrorCategory; code: string }) | undefined;
    if (typeof Ctor !== 'function') throw new Error(`error class ${f.errorClass} is not exported from ${relative(root, classFile)}`);
    const instance = fixedCodeClasses.has(f.errorClass) ? new Ctor('reference') : new Ctor(f.code, 'reference');
    if (instance.code !== f.code) throw new Error(`constructing ${f.errorClass} for ${f.code} gave code ${instance.code}`);
    const categories = new Set<ErrorCategory>([instance.category, ...f.categories]);
    out.push({
      code: f.code,
      file: f.file,
      errorClass: f.errorClass,
      description: f.description,
      categories: (Object.keys(EXIT_CODES) as Array<ErrorCategory | 'ok'>).filter((c): c is ErrorCategory => c !== 'ok' && categories.has(c)),
      categoryVaries: f.varies,
    });
  }
  return out;
}

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The Markdown table of error codes, grouped by top-level folder. */
export function renderErrorCodes(entries: readonly ErrorCodeEntry[]): string {
  const byFolder = new Map<string, ErrorCodeEntry[]>();
  for (const e of entries) {
    const folder = e.file.split('/')[0]!;
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), e]);
  }
  const lines: string[] = [];
  for (const [folder, list] of [...byFolder].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`### ${folder}/`, '', '| code | exit | class | meaning |', '|---|---|---|---|');
    for (const e of list) {
      const exits = e.categories.map((c) => `${EXIT_CODES[c]}`).join(', ') + (e.categoryVaries ? ' (or as the call site decides)' : '');
      lines.push(`| \`${e.code}\` | ${exits} | ${e.errorClass} | ${esc(e.description) || '—'} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** A code a report prints for a finding (a failed check, a policy warning) rather than an error exit. */
export interface FindingCodeEntry {
  code: string;
  /** Repo-relative file that reports it. */
  file: string;
}

/**
 * Finding codes: the string-literal members of a `code` property's union type (e.g. kms-policy
 * check findings) and the literal codes passed to a report's `fail(…)` (verify-receipt checks),
 * minus those that are already error codes.
 */
export function collectFindingCodes(root: string, errorCodes: ReadonlySet<string>): FindingCodeEntry[] {
  const out = new Map<string, FindingCodeEntry>();
  for (const path of sourceFiles(root)) {
    const text = readFileSync(path, 'utf8');
    const file = relative(root, path);
    const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
    const add = (code: string): void => {
      if (CODE.test(code) && !errorCodes.has(code) && !out.has(code)) out.set(code, { code, file });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isPropertySignature(node) && node.name.getText() === 'code' && node.type && ts.isUnionTypeNode(node.type)) {
        for (const t of node.type.types) if (ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal)) add(t.literal.text);
      }
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'fail') {
        for (const a of node.arguments) if (ts.isStringLiteral(a)) add(a.text);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return [...out.values()];
}

/** The finding codes as a table. */
export function renderFindingCodes(entries: readonly FindingCodeEntry[]): string {
  const lines = ['| code | reported by |', '|---|---|'];
  for (const e of entries) lines.push(`| \`${e.code}\` | \`${e.file}\` |`);
  return lines.join('\n') + '\n';
}
