/** Where the pack client writes by default: Clef's own conventions (clef-compat §8.9). */
import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { HostProxyError } from '../errors.js';

/**
 * `.clef/packed/<identity>/<environment>.age.json` under the directory holding clef.yaml —
 * where `clef pack` output is conventionally kept (also for KMS-enveloped artifacts).
 */
export function conventionalArtifactPath(repoDir: string, identity: string, environment: string): string {
  return join(repoDir, '.clef', 'packed', identity, `${environment}.age.json`);
}

/** The receipt sits next to its artifact: `<artifact>.receipt.json`. */
export function defaultReceiptPath(artifactPath: string): string {
  return `${artifactPath}.receipt.json`;
}

/** The real path of `path`'s deepest existing ancestor, with the missing rest appended. */
async function realPathOfParent(path: string): Promise<string> {
  let existing = dirname(resolve(path));
  const rest: string[] = [];
  for (;;) {
    try {
      return join(await realpath(existing), ...rest.reverse());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(existing) === existing) throw err;
      rest.push(existing.slice(dirname(existing).length).replace(/^[/\\]/, ''));
      existing = dirname(existing);
    }
  }
}

/**
 * A default output path (derived from the repository, not chosen by the CI owner) must stay
 * inside the checkout once symbolic links are resolved: a committed `.clef/packed -> ../../x`
 * would otherwise move the artifact and receipt wherever the repository's author likes.
 * The file itself may be a link: it is replaced by rename, never written through. Throws
 * OUTPUT_OUTSIDE_REPO.
 */
export async function checkDefaultPathInside(path: string, repositoryRoot: string): Promise<void> {
  const root = await realpath(repositoryRoot);
  const parent = await realPathOfParent(path);
  const rel = relative(root, parent);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new HostProxyError('OUTPUT_OUTSIDE_REPO', `the default output path ${path} resolves to ${parent}, outside the repository ${root} (a symbolic link in the checkout)`, {
      hint: 'remove the committed link, or choose the location yourself with --out/--receipt',
    });
  }
}
