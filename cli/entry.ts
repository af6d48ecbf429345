/** Process entry for `attested-pack` (bundled to dist/cli.mjs by scripts/build.mjs). */
import { main } from './main.js';

// The AWS SDK prints a notice on Node 20 (later SDK releases need Node 22); the README says so once.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error [INTERNAL]: unexpected failure: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 4;
  },
);
