/** Process entry for `attested-pack` (bundled to dist/cli.mjs by scripts/build.mjs). */
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error [INTERNAL]: unexpected failure: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 4;
  },
);
