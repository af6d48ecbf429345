/**
 * The CLI reference, walked from the commander definitions themselves: every command (however
 * it was registered), its arguments, every option with its default, and the text commands add
 * after their help. Nothing here lists commands by hand, so new commands appear on regeneration.
 */
import type { EventEmitter } from 'node:events';
import { homedir, tmpdir } from 'node:os';
import type { Argument, Command, Option } from 'commander';

/**
 * Text that may hold this machine's paths (a default computed from the working directory or
 * the home directory) made portable, so the reference is the same on every machine.
 */
function portable(s: string): string {
  const places: Array<[string, string]> = [
    [process.cwd(), '<cwd>'],
    [homedir(), '~'],
    [tmpdir(), '<tmp>'],
  ];
  let out = s;
  for (const [path, name] of places) if (path.length > 1) out = out.split(path).join(name);
  return out;
}

const esc = (s: string): string => portable(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** `attested-pack attestation verify` for a command. */
export function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command of the tree, depth first, in registration order. */
export function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap((c) => allCommands(c))];
}

function defaultText(o: Option): string {
  if (o.defaultValueDescription) return esc(o.defaultValueDescription);
  const d: unknown = o.defaultValue;
  if (d === undefined || (Array.isArray(d) && d.length === 0) || d === false) return '';
  return `\`${esc(typeof d === 'string' ? d : JSON.stringify(d))}\``;
}

/** Text registered with `addHelpText(position, …)` for a command, as commander would print it. */
function helpText(cmd: Command, event: 'beforeHelp' | 'afterHelp'): string {
  let text = '';
  // commander keeps addHelpText as listeners of its EventEmitter (its typings omit the base class).
  for (const listener of (cmd as unknown as EventEmitter).listeners(event)) (listener as (ctx: unknown) => void)({ error: false, command: cmd, write: (s: string) => (text += s) });
  return text.trim();
}

function argumentRow(a: Argument): string {
  const name = a.variadic ? `${a.name()}...` : a.name();
  return `| \`${a.required ? `<${name}>` : `[${name}]`}\` | ${esc(a.description)} |`;
}

function optionRow(o: Option): string {
  const notes: string[] = [];
  if (o.mandatory) notes.push('**required**');
  if (o.argChoices) notes.push(`one of ${o.argChoices.map((c) => `\`${c}\``).join(', ')}`);
  if (o.envVar) notes.push(`env \`${o.envVar}\``);
  return `| \`${esc(o.flags)}\` | ${esc(o.description)}${notes.length ? ` (${notes.join('; ')})` : ''} | ${defaultText(o)} |`;
}

/** One `###` section per command that does something, and an index of the rest. */
export function renderCommand(cmd: Command): string {
  const visibleOptions = cmd.options.filter((o) => !o.hidden && o.long !== '--help');
  const args = cmd.registeredArguments;
  const lines = [`### \`${fullName(cmd)}\``, ''];
  if (cmd.description()) lines.push(esc(cmd.description()), '');
  lines.push('```', `${fullName(cmd)} ${cmd.usage()}`.trim(), '```', '');
  const before = portable(helpText(cmd, 'beforeHelp'));
  if (before) lines.push(before, '');
  if (cmd.commands.length > 0) {
    lines.push('| command | what it does |', '|---|---|');
    for (const c of cmd.commands) lines.push(`| [\`${c.name()}\`](#${anchorOf(`\`${fullName(c)}\``)}) | ${esc(c.description())} |`);
    lines.push('');
  }
  if (args.length > 0) {
    lines.push('| argument | description |', '|---|---|', ...args.map(argumentRow), '');
  }
  if (visibleOptions.length > 0) {
    lines.push('| option | description | default |', '|---|---|---|', ...visibleOptions.map(optionRow), '');
  }
  const after = portable(helpText(cmd, 'afterHelp'));
  if (after) lines.push(after.split('\n').map((l) => l.trimEnd()).join('  \n'), '');
  return lines.join('\n');
}

/** GitHub's heading anchor for a heading text. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The whole CLI section for the given programs. */
export function renderCli(programs: readonly Command[]): string {
  return programs.flatMap((p) => allCommands(p).map(renderCommand)).join('\n');
}
