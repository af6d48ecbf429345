#!/usr/bin/env node
// Thin launcher for the auditor CLI, bundled separately so it starts fast and needs no network.
import { existsSync } from 'node:fs';
const target = new URL('../dist/verify-receipt.mjs', import.meta.url);
if (!existsSync(target)) {
  process.stderr.write('error [NOT_BUILT]: dist/verify-receipt.mjs is missing\nhint: run `npm run build` (npm ci runs it for you)\n');
  process.exit(4);
}
await import(target.href);
