/** Process entry for the `verify-receipt` auditor CLI (bundled to dist/verify-receipt.mjs). */
process.stderr.write('error [NOT_IMPLEMENTED]: verify-receipt is not built yet\n');
process.exitCode = 4;
