/** `attested-pack audit RECEIPT --source DIR [--blobs DIR] [-- verify-receipt flags]` (registered by cli/main.ts). */
import type { Command } from 'commander';
import { runCommand } from '../common/cli-output.js';

/** Adds the audit command to the program. */
export function registerAuditCommands(program: Command): void {
  program
    .command('audit')
    .description("Rebuild a receipt's enclave image from its source commit and the input lock, compare PCR0/1/2 with the attestation document, then run verify-receipt with the rebuilt measurements")
    .argument('<receipt>', 'receipt.json written by the pack step')
    .argument('[verifyReceiptArgs...]', 'after --: extra verify-receipt flags (--root, --artifact, --repo, --nonce, --expect-key …)')
    .requiredOption('--source <dir>', "attested-pack checkout at the receipt's commit (claims.tool.source), after npm ci")
    .option('--blobs <dir>', "nitro-cli's boot blobs (release images)")
    .option('--lib-root <dir>', 'directory holding the locked Debian library paths (release images; default /)')
    .option('--cmd-from <measurements.json>', "the operator's published measurements.json: its /cmd arguments (serve flags) are rebuilt too")
    .option('--out <dir>', 'keep the rebuilt enclave.eif and measurements.json here')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExit codes: 0 reproduced and verified, 1 PCRs differ / drift / verify-receipt failed, 2 wrong commit, dirty tree, missing inputs or usage.')
    .action(async (receiptPath: string, verifyArgs: string[], o: { source: string; blobs?: string; libRoot?: string; cmdFrom?: string; out?: string; json?: boolean }) => {
      await runCommand(Boolean(o.json), async () => {
        const { auditReceipt, formatAuditReport, mismatchLines } = await import('./audit.js');
        const { AuditError } = await import('./errors.js');
        const r = await auditReceipt({
          receiptPath,
          sourceDir: o.source,
          ...(o.blobs ? { blobsDir: o.blobs } : {}),
          ...(o.libRoot ? { libRoot: o.libRoot } : {}),
          ...(o.cmdFrom ? { cmdFrom: o.cmdFrom } : {}),
          ...(o.out ? { outDir: o.out } : {}),
          verifyArgs,
        });
        const mismatched = (['PCR0', 'PCR1', 'PCR2'] as const).filter((k) => !r.pcrs[k].match);
        const problems = mismatchLines(r);
        const error = mismatched.length > 0 ? new AuditError('AUDIT_PCR_MISMATCH', problems.join('; '), { category: 'rejected', details: { mismatched } }).toJSON() : undefined;
        if (o.json) process.stdout.write(JSON.stringify({ ...r, mismatched, problems, ...(error ? { error } : {}) }, null, 2) + '\n');
        else process.stdout.write(formatAuditReport(r));
        return r.ok ? 0 : 1;
      });
    });
}
