// `npm pack` / `npm publish` hooks (prepack, postpack): ship the committed lockfile as
// npm-shrinkwrap.json inside the tarball, without its devDependencies.
//
// Why: an installed attested-pack must run the same dependency versions as the checkout that was
// tested and measured. The enclave bundle (`attested-pack eif bundle`, `attested-pack sim`) inlines
// every npm dependency, so a different minor version of cbor-x or the AWS SDK is a different PCR0;
// without a shrinkwrap, `npm install` re-resolves the semver ranges on the day of install.
// The repository keeps package-lock.json (what `npm ci` uses); this file exists only while packing.
//
//   node scripts/shrinkwrap.mjs            write npm-shrinkwrap.json from package-lock.json
//   node scripts/shrinkwrap.mjs --remove   delete it again (postpack)
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'npm-shrinkwrap.json');

if (process.argv.includes('--remove')) {
  rmSync(target, { force: true });
} else {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  if (lock.lockfileVersion !== 3 || typeof lock.packages !== 'object' || lock.packages === null) {
    console.error('scripts/shrinkwrap.mjs: package-lock.json is not a lockfileVersion 3 file; run `npm install` to update it');
    process.exit(1);
  }
  // Entries only devDependencies need ("dev": true) are never installed for a consumer; dropping
  // them keeps the shipped file to what an install reads. ("devOptional" entries stay: they can
  // be optional dependencies of production packages.)
  const packages = Object.fromEntries(Object.entries(lock.packages).filter(([, entry]) => entry.dev !== true));
  writeFileSync(target, JSON.stringify({ ...lock, packages }, null, 2) + '\n');
}
