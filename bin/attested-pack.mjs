#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/ by `npm run build` (run automatically by `npm ci`).
import { existsSync } from 'node:fs';
const target = new URL('../dist/cli.mjs', import.meta.url);
if (!existsSync(target)) {
  process.stderr.write('error [NOT_BUILT]: dist/cli.mjs is missing\nhint: run `npm run build` (npm ci runs it for you)\n');
  process.exit(4);
}
await import(target.href);
