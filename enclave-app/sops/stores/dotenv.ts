/**
 * dotenv as sops reads it (stores/dotenv): one `key=value` per line, split at the first `=`,
 * `\n` escapes decoded, `#` lines are comments. No trimming, no quotes, no `export`: `foo =x`
 * has the key `foo `. Every value is a string.
 */
import { SopsError } from '../errors.js';
import { goFormatFloatValToString, goFormatRfc3339, goParseRfc3339 } from '../go-format.js';
import { SopsBytes, SopsComment, SopsFloat, SopsInt, SopsMap, SopsTime, type SopsMapEntry, type SopsValue } from '../tree.js';

/** Parses dotenv text into one branch. */
export function parseDotenv(text: string): SopsMap {
  const entries: SopsMapEntry[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (line.length === 0) continue;
    if (line[0] === '#') {
      entries.push(new SopsComment(line.slice(1)));
      continue;
    }
    const pos = line.indexOf('=');
    if (pos === -1) {
      throw new SopsError('SOPS_PARSE_ERROR', `invalid dotenv line ${n + 1}: no '=' found`, {
        details: { format: 'dotenv', line: n + 1, col: 1 },
      });
    }
    entries.push({ key: line.slice(0, pos), value: line.slice(pos + 1).replaceAll('\\n', '\n') });
  }
  return new SopsMap(entries);
}

/** sops `stores.ValueToString` for a dotenv value. */
function valueToString(v: SopsValue, key: string): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof SopsBytes) return Buffer.from(v.bytes);
  if (typeof v === 'boolean') return Buffer.from(v ? 'true' : 'false');
  if (v instanceof SopsInt) return Buffer.from(v.value.toString());
  if (v instanceof SopsFloat) return Buffer.from(goFormatFloatValToString(v.value));
  if (v instanceof SopsTime) {
    const t = goParseRfc3339(v.text);
    return Buffer.from(t ? goFormatRfc3339(t) : v.text);
  }
  if (v === null) return Buffer.from('<nil>');
  throw new SopsError('SOPS_UNSUPPORTED', `cannot use a nested value in a dotenv file (key ${JSON.stringify(key)})`);
}

/** Writes a branch as dotenv (`key=value\n`, newlines as `\n`, comments as `#text`). */
export function emitDotenv(branch: SopsMap): Buffer {
  const parts: Buffer[] = [];
  for (const e of branch.entries) {
    if (e instanceof SopsComment) {
      parts.push(Buffer.from(`#${e.text}\n`, 'utf8'));
      continue;
    }
    if (e.value instanceof SopsMap || Array.isArray(e.value)) {
      throw new SopsError('SOPS_UNSUPPORTED', `cannot use a nested value in a dotenv file (key ${JSON.stringify(e.key)})`);
    }
    const value = valueToString(e.value, e.key);
    const escaped = Buffer.from(value.toString('latin1').replaceAll('\n', '\\n'), 'latin1');
    parts.push(Buffer.from(e.key + '=', 'utf8'), escaped, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}
