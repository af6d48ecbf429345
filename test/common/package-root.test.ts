// Which attested-pack package the running code belongs to: the checkout here, the installed
// package under node_modules (test/e2e/installed-package.test.ts), nothing for a copied bundle.
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attestedPackRoot, attestedPackRootAbove } from '../../common/package-root.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

describe('attestedPackRoot', () => {
  it('is this checkout when run from source', () => {
    expect(attestedPackRoot()).toBe(repoRoot);
  });

  it('stops at the nearest package.json: ours → its directory, another package\'s or none → undefined', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ap-root-'));
    try {
      const ours = join(dir, 'lib', 'node_modules', 'attested-pack');
      mkdirSync(join(ours, 'dist', 'chunks'), { recursive: true });
      writeFileSync(join(ours, 'package.json'), JSON.stringify({ name: 'attested-pack' }));
      expect(attestedPackRootAbove(join(ours, 'dist', 'chunks'))).toBe(ours);

      // A bundle copied into someone else's project must not pick up that project's files.
      const other = join(dir, 'project', 'app');
      mkdirSync(other, { recursive: true });
      writeFileSync(join(dir, 'project', 'package.json'), JSON.stringify({ name: 'someone-else' }));
      expect(attestedPackRootAbove(other)).toBeUndefined();
      // … even when an attested-pack package.json lies further up.
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'attested-pack' }));
      expect(attestedPackRootAbove(other)).toBeUndefined();

      const broken = join(dir, 'broken');
      mkdirSync(broken);
      writeFileSync(join(broken, 'package.json'), '{ not json');
      expect(attestedPackRootAbove(broken)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is undefined where no package.json exists above (the image\'s /app)', () => {
    expect(attestedPackRootAbove('/proc/self')).toBeUndefined();
  });
});
