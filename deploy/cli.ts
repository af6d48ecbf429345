/** CLI commands of deploy/ (registered by cli/main.ts): `deploy validate`, `deploy render`, `deploy check`. */
import type { Command } from 'commander';
import { runCommand } from '../common/cli-output.js';

/** Adds this module's commands to the program. */
export function registerDeployCommands(program: Command): void {
  const group = program.command('deploy').description('one deployment file → image /cmd, key policies, proxy.yaml, launch template, expectations.json');

  group
    .command('validate')
    .description('check a deploy file (schema and the rules across fields)')
    .argument('<file>', 'attested-pack.deploy.yaml')
    .option('--json', 'machine-readable result')
    .action(async (file: string, flags: { json?: boolean }) => {
      await runCommand(Boolean(flags.json), async () => {
        const { loadDeployFile } = await import('./file.js');
        const { config } = await loadDeployFile(file);
        const summary = { ok: true, file, cells: config.cells.length, keys: Object.values(config.keys).flat().length };
        process.stdout.write(flags.json ? JSON.stringify(summary, null, 2) + '\n' : `${file}: valid (${summary.cells} cells, ${summary.keys} keys)\n`);
      });
    });

  group
    .command('render')
    .description('write image/cmd.json, image/build.sh and proxy.yaml; after the build (DIR/measurements.json) also the key policies, launch template and expectations.json')
    .argument('<file>', 'attested-pack.deploy.yaml')
    .requiredOption('--out <dir>', 'output directory (the build writes measurements.json into it)')
    .option('--measurements <file>', 'measurements.json of the built image (default: DIR/measurements.json when it exists)')
    .option('--rolling-from <file>', 'measurements.json of the image running now: key policies accept both images while instances are replaced (render again without it afterwards)')
    .option('--json', 'machine-readable result')
    .action(async (file: string, flags: { out: string; measurements?: string; rollingFrom?: string; json?: boolean }) => {
      await runCommand(Boolean(flags.json), async () => {
        const { writeRendered } = await import('./write.js');
        const r = await writeRendered(file, flags.out, flags.measurements, flags.rollingFrom);
        if (flags.json) process.stdout.write(JSON.stringify({ ok: true, ...r }, null, 2) + '\n');
        else {
          process.stdout.write(r.written.map((p) => `wrote ${p}\n`).join(''));
          process.stdout.write(
            r.built
              ? `rendered for PCR0 ${r.pcr0}: put the key policies (policies/put-key-policies.sh or key-policies.tf), then deploy launch/ and hand expectations.json to auditors\n`
              : `next: sh ${flags.out}/image/build.sh (writes ${flags.out}/measurements.json), then run deploy render again\n`,
          );
        }
      });
    });

  group
    .command('check')
    .description('re-render the deploy file and report drift against a rendered directory, file by file and key by key (exit 1 on drift)')
    .argument('<dir>', 'the directory deploy render wrote')
    .option('--file <file>', 'the deploy file', 'attested-pack.deploy.yaml')
    .option('--json', 'machine-readable report')
    .action(async (dir: string, flags: { file: string; json?: boolean }) => {
      await runCommand(Boolean(flags.json), async () => {
        const [{ loadDeployFile }, { checkDeployment, formatDriftReport }] = await Promise.all([import('./file.js'), import('./check.js')]);
        const { config } = await loadDeployFile(flags.file);
        const report = await checkDeployment(config, { dir });
        process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatDriftReport(report));
        return report.ok ? 0 : 1;
      });
    });
}
