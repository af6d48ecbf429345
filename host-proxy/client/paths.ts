/** Where the pack client writes by default: Clef's own conventions (clef-compat §8.9). */
import { join } from 'node:path';

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
