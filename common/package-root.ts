/**
 * Where the attested-pack package that is running lives: the checkout when run from source
 * (tsx, vitest), the installed package when run from its bundled `dist/` (an `npm install -g`
 * prefix, a project's node_modules, an npx cache). Commands use it for what ships inside the
 * package (the enclave entry, the vsock addon the install built), never the current directory.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `name` in our package.json. */
export const PACKAGE_NAME = 'attested-pack';

/**
 * The nearest directory at or above `start` holding a package.json, if that package.json is
 * attested-pack's; undefined when the nearest one is another package's or there is none (e.g.
 * the enclave bundle at /app/enclave.mjs inside the image).
 */
export function attestedPackRootAbove(start: string): string | undefined {
  let dir = start;
  for (;;) {
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      try {
        return (JSON.parse(text) as { name?: unknown }).name === PACKAGE_NAME ? dir : undefined;
      } catch {
        return undefined;
      }
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

let cached: { root: string | undefined } | undefined;

/**
 * The root of the attested-pack package this code was loaded from (found from this module's own
 * file: `common/` in a checkout, `dist/` or `dist/chunks/` when bundled), or undefined when the
 * code runs outside any such package (a bundle copied elsewhere).
 */
export function attestedPackRoot(): string | undefined {
  cached ??= { root: attestedPackRootAbove(dirname(fileURLToPath(import.meta.url))) };
  return cached.root;
}

/** The vsock addon's path below a package root (where vsock/native/build.mjs leaves it). */
export const VSOCK_ADDON_RELATIVE_PATH = 'vsock/native/build/Release/attested_pack_vsock.node';
/** The note vsock/native/build.mjs leaves when it did not build the addon (one line: why). */
export const VSOCK_NOT_BUILT_RELATIVE_PATH = 'vsock/native/build/NOT_BUILT';
