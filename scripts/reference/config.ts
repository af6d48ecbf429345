/** The host proxy configuration reference, rendered from the schema the parser validates with. */
import { PROXY_CONFIG_SCHEMA, type ConfigKey } from '../../host-proxy/config-schema.js';

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function defaultOf(k: ConfigKey): string {
  if (k.defaultText !== undefined) return k.defaultText;
  if (k.default === undefined) return '';
  if (Array.isArray(k.default)) return k.default.length === 0 ? '`[]`' : `\`${JSON.stringify(k.default)}\``;
  return `\`${String(k.default)}\``;
}

function rulesOf(k: ConfigKey): string {
  const rules: string[] = [];
  if (k.required === true) rules.push('required');
  else if (typeof k.required === 'string') rules.push(`required ${k.required}`);
  if (k.min !== undefined && k.max !== undefined) rules.push(`${k.min}–${k.max}${k.unit ? ` ${k.unit}` : ''}`);
  else if (k.unit) rules.push(k.unit);
  if (k.values) rules.push(k.values.map((v) => `\`${v}\``).join(', '));
  if (k.expected) rules.push(k.expected);
  if (k.env) rules.push(`env \`${k.env}\``);
  return rules.join('; ');
}

/** One table row per key, in schema order. */
export function renderConfig(): string {
  const lines = ['| key | type | default | rules | description |', '|---|---|---|---|---|'];
  for (const [path, k] of Object.entries(PROXY_CONFIG_SCHEMA) as Array<[string, ConfigKey]>) {
    lines.push(`| \`${path}\` | ${k.type} | ${defaultOf(k)} | ${esc(rulesOf(k))} | ${esc(k.description)} |`);
  }
  return lines.join('\n') + '\n';
}
