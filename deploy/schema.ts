/**
 * Validates a parsed deploy file against deploy/schema.json, the one definition of its shape.
 * A small interpreter of the JSON Schema subset the file uses (type, properties, required,
 * additionalProperties: false, items, minItems, uniqueItems, pattern, minLength, enum, minimum,
 * maximum, $ref into $defs): strict, first error wins, and the error names the path
 * (`cells[1].envelope.kmsKey`) with the schema's `x-hint` as the hint.
 */
import schemaJson from './schema.json' with { type: 'json' };
import { DeployError } from './errors.js';

/** The JSON Schema subset deploy/schema.json is written in. */
interface SchemaNode {
  $ref?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean;
  items?: SchemaNode;
  minItems?: number;
  uniqueItems?: boolean;
  pattern?: string;
  minLength?: number;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  description?: string;
  'x-hint'?: string;
}

/** The committed schema (also published for editors: `# yaml-language-server: $schema=…`). */
export const DEPLOY_SCHEMA = schemaJson as unknown as SchemaNode & { $defs: Record<string, SchemaNode> };

const KNOWN_KEYWORDS = new Set([
  '$schema', '$id', '$ref', '$defs', 'title', 'description', 'x-hint', 'type', 'properties', 'required', 'additionalProperties',
  'items', 'minItems', 'uniqueItems', 'pattern', 'minLength', 'enum', 'minimum', 'maximum',
]);

/** Throws DEPLOY_FILE_INVALID naming the first path that breaks the schema. */
export function validateAgainstSchema(doc: unknown, source: string): void {
  walk(DEPLOY_SCHEMA, doc, '', source, undefined);
}

/** Every keyword the schema uses is one this interpreter implements (a test asserts it). */
export function unknownSchemaKeywords(node: unknown = DEPLOY_SCHEMA, path = '#'): string[] {
  if (typeof node !== 'object' || node === null) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(node)) {
    if (!KNOWN_KEYWORDS.has(k)) out.push(`${path}/${k}`);
    if (k === 'properties' || k === '$defs') for (const [name, sub] of Object.entries(v as object)) out.push(...unknownSchemaKeywords(sub, `${path}/${k}/${name}`));
    if (k === 'items') out.push(...unknownSchemaKeywords(v, `${path}/items`));
  }
  return out;
}

function resolve(node: SchemaNode): SchemaNode {
  if (node.$ref === undefined) return node;
  const name = /^#\/\$defs\/(.+)$/.exec(node.$ref)?.[1];
  const target = name === undefined ? undefined : DEPLOY_SCHEMA.$defs[name];
  if (!target) throw new Error(`schema.json: unresolvable $ref ${node.$ref}`);
  const { $ref: _ref, ...rest } = node;
  return { ...resolve(target), ...rest, 'x-hint': rest['x-hint'] ?? target['x-hint'] };
}

function walk(raw: SchemaNode, v: unknown, path: string, source: string, parentHint: string | undefined): void {
  const s = resolve(raw);
  const hint = s['x-hint'] ?? parentHint;
  const fail = (message: string, h: string | undefined = hint): never => {
    throw new DeployError('DEPLOY_FILE_INVALID', `${path || '(top level)'}: ${message} (in ${source})`, {
      hint: h ?? (s.description ? `${path}: ${s.description}` : 'see deploy/schema.json and README "Deploying"'),
      details: { path: path || '', source },
    });
  };
  if (s.enum && !s.enum.some((e) => e === v)) fail(`expected one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${show(v)}`);
  switch (s.type) {
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`expected a mapping, got ${show(v)}`);
      const o = v as Record<string, unknown>;
      const props = s.properties ?? {};
      if (s.additionalProperties === false) {
        for (const k of Object.keys(o)) {
          if (!(k in props)) fail(`unknown field ${JSON.stringify(k)}`, `fields allowed here: ${Object.keys(props).join(', ')} (a typo? see deploy/schema.json)`);
        }
      }
      for (const r of s.required ?? []) {
        if (o[r] === undefined || o[r] === null) {
          const sub = props[r] ? resolve(props[r]) : undefined;
          throw new DeployError('DEPLOY_FILE_INVALID', `${join(path, r)}: missing (in ${source})`, {
            hint: sub?.description ?? sub?.['x-hint'] ?? 'see deploy/schema.json',
            details: { path: join(path, r), source },
          });
        }
      }
      for (const [k, sub] of Object.entries(props)) if (o[k] !== undefined && o[k] !== null) walk(sub, o[k], join(path, k), source, undefined);
      return;
    }
    case 'array': {
      if (!Array.isArray(v)) fail(`expected a list, got ${show(v)}`);
      const a = v as unknown[];
      if (s.minItems !== undefined && a.length < s.minItems) fail(`expected at least ${s.minItems} entr${s.minItems === 1 ? 'y' : 'ies'}`);
      if (s.uniqueItems) {
        const seen = new Set<string>();
        a.forEach((x, i) => {
          const key = JSON.stringify(x);
          if (seen.has(key)) {
            path = `${path}[${i}]`;
            fail(`duplicate entry ${show(x)}`, 'list each value once');
          }
          seen.add(key);
        });
      }
      if (s.items) a.forEach((x, i) => walk(s.items!, x, `${path}[${i}]`, source, hint));
      return;
    }
    case 'string': {
      if (typeof v !== 'string') fail(`expected a string, got ${show(v)}`);
      const str = v as string;
      if (s.minLength !== undefined && str.length < s.minLength) fail('expected a non-empty string');
      if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(str)) fail(`${show(str)} does not have the expected shape`);
      return;
    }
    case 'integer': {
      if (typeof v !== 'number' || !Number.isInteger(v)) fail(`expected a whole number, got ${show(v)}`);
      const n = v as number;
      if ((s.minimum !== undefined && n < s.minimum) || (s.maximum !== undefined && n > s.maximum)) fail(`expected a number between ${s.minimum ?? '-∞'} and ${s.maximum ?? '∞'}, got ${n}`);
      return;
    }
    case 'boolean':
      if (typeof v !== 'boolean') fail(`expected true or false, got ${show(v)}`);
      return;
    default:
      return;
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** A value shown in a message: short, never a whole document. */
function show(v: unknown): string {
  const t = v === undefined ? 'nothing' : JSON.stringify(v);
  return t.length > 80 ? `${t.slice(0, 77)}…` : t;
}
