/** Process entry for the `verify-receipt` auditor CLI (bundled to dist/verify-receipt.mjs). */
import { runVerifyReceipt } from './cli.js';

process.exitCode = await runVerifyReceipt(process.argv.slice(2));
