/** Picking the store from a file name, as sops does (cmd/sops/formats). */
import type { SopsFormat } from './metadata.js';

/** `.yaml`/`.yml` → yaml, `.json` → json, `.env` → dotenv, `.ini` → ini, anything else → binary. */
export function detectSopsFormat(path: string): SopsFormat {
  if (path.endsWith('.yaml') || path.endsWith('.yml')) return 'yaml';
  if (path.endsWith('.json')) return 'json';
  if (path.endsWith('.env')) return 'dotenv';
  if (path.endsWith('.ini')) return 'ini';
  return 'binary';
}

/** Parses a `--input-type`/`--output-type` value. */
export function parseSopsFormat(s: string): SopsFormat | undefined {
  switch (s) {
    case 'yaml':
    case 'json':
    case 'dotenv':
    case 'ini':
    case 'binary':
      return s;
    default:
      return undefined;
  }
}
