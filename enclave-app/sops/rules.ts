/**
 * Which values sops encrypts: the six mutually exclusive rules of the metadata
 * (`shouldBeEncrypted`, sops.go). Path rules look at every component of the path, so a
 * suffix on an ancestor key covers the whole subtree; comment rules look at the comment lines
 * directly preceding a value at each nesting level.
 */
import { SopsError } from './errors.js';

/** The rule names as they appear in the metadata. */
export type CryptRuleKind =
  | 'unencrypted_suffix'
  | 'encrypted_suffix'
  | 'unencrypted_regex'
  | 'encrypted_regex'
  | 'unencrypted_comment_regex'
  | 'encrypted_comment_regex';

/** Evaluation order of the rules in sops (a later rule overrides an earlier one). */
export const CRYPT_RULE_KINDS: readonly CryptRuleKind[] = [
  'unencrypted_suffix',
  'encrypted_suffix',
  'unencrypted_regex',
  'encrypted_regex',
  'unencrypted_comment_regex',
  'encrypted_comment_regex',
];

/** The one rule of a file. */
export interface CryptRule {
  kind: CryptRuleKind;
  value: string;
}

/** sops' default when a file names no rule. */
export const DEFAULT_RULE: CryptRule = { kind: 'unencrypted_suffix', value: '_unencrypted' };

/** Compiled form of a rule, asked once per leaf during a walk. */
export class EncryptionRules {
  readonly rule: CryptRule;
  readonly #regex: RegExp | undefined;
  /** True for the two comment-regex rules (the walker then tracks the comment stack). */
  readonly usesComments: boolean;
  /** True for the four path rules (the walker then tracks "an ancestor matched"). */
  readonly usesPath: boolean;

  constructor(rule: CryptRule) {
    this.rule = rule;
    this.usesComments = rule.kind === 'unencrypted_comment_regex' || rule.kind === 'encrypted_comment_regex';
    this.usesPath = !this.usesComments;
    this.#regex = rule.kind.endsWith('_regex') ? compileRe2(rule.value, rule.kind) : undefined;
  }

  /** Does this path component match the rule (suffix or regex)? Only meaningful for path rules. */
  componentMatches(component: string): boolean {
    switch (this.rule.kind) {
      case 'unencrypted_suffix':
      case 'encrypted_suffix':
        return component.endsWith(this.rule.value);
      case 'unencrypted_regex':
      case 'encrypted_regex':
        return (this.#regex as RegExp).test(component);
      default:
        return false;
    }
  }

  /**
   * `shouldBeEncrypted`: `anyComponentMatched` is whether some path component matched (the walker
   * keeps it incrementally), `stack` the comment lines per nesting level, `isComment` whether
   * the leaf is itself a comment.
   */
  shouldEncrypt(anyComponentMatched: boolean, stack: readonly (readonly string[])[], isComment: boolean): boolean {
    switch (this.rule.kind) {
      case 'unencrypted_suffix':
      case 'unencrypted_regex':
        return !anyComponentMatched;
      case 'encrypted_suffix':
      case 'encrypted_regex':
        return anyComponentMatched;
      case 'unencrypted_comment_regex': {
        const re = this.#regex as RegExp;
        for (const level of stack) for (const c of level) if (re.test(c)) return false;
        return true;
      }
      case 'encrypted_comment_regex': {
        const re = this.#regex as RegExp;
        const last = stack.length - 1;
        for (let i = 0; i < stack.length; i++) {
          const level = stack[i];
          for (let j = 0; j < level.length; j++) {
            // The matching comment line itself stays in clear (sops.go special case).
            if (isComment && i === last && j === level.length - 1) continue;
            if (re.test(level[j])) return true;
          }
        }
        return false;
      }
    }
  }
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-/:-@[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

function unsupported(kind: string, pattern: string, what: string): SopsError {
  return new SopsError('SOPS_UNSUPPORTED', `${kind} ${JSON.stringify(pattern)} uses ${what}, which this codec does not translate from Go RE2`, {
    hint: 'simplify the regular expression in .sops.yaml / the file metadata',
  });
}

/**
 * Translates a Go RE2 pattern to a JS RegExp with the same matches for the constructs sops
 * users write (anchors, classes, alternation, repetition, a leading `(?i)`/`(?s)`/`(?m)`).
 * Anything whose meaning would differ is refused with SOPS_UNSUPPORTED rather than guessed.
 */
export function compileRe2(pattern: string, kind = 'regex'): RegExp {
  let src = pattern;
  let flags = 'u';
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    if (lead[1].includes('U')) throw unsupported(kind, pattern, 'the (?U) flag');
    for (const f of new Set(lead[1])) flags += f;
    src = src.slice(lead[0].length);
  }
  const dotAll = flags.includes('s');
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1];
      if (n === undefined) throw unsupported(kind, pattern, 'a trailing backslash');
      i++;
      if (n === 'Q') {
        const end = src.indexOf('\\E', i + 1);
        const lit = end === -1 ? src.slice(i + 1) : src.slice(i + 1, end);
        out += lit.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
        i = end === -1 ? src.length : end + 1;
        continue;
      }
      if (/[1-9]/.test(n)) throw unsupported(kind, pattern, 'a backreference or octal escape');
      if (n === 'A' || n === 'z') {
        if (inClass || flags.includes('m')) throw unsupported(kind, pattern, `\\${n}`);
        out += n === 'A' ? '^' : '$';
        continue;
      }
      if (n === 'C' || n === 'Z') throw unsupported(kind, pattern, `\\${n}`);
      if (n === 's') {
        out += inClass ? '\\t\\n\\f\\r ' : '[\\t\\n\\f\\r ]';
        continue;
      }
      if (n === 'S') {
        if (inClass) throw unsupported(kind, pattern, '\\S inside a class');
        out += '[^\\t\\n\\f\\r ]';
        continue;
      }
      if (n === 'p' || n === 'P') {
        if (src[i + 1] === '{') {
          const end = src.indexOf('}', i + 1);
          if (end === -1) throw unsupported(kind, pattern, 'an unterminated \\p{...}');
          out += `\\${n}{${src.slice(i + 2, end)}}`;
          i = end;
        } else {
          out += `\\${n}{${src[i + 1] ?? ''}}`;
          i++;
        }
        continue;
      }
      if (n === 'x' && src[i + 1] === '{') {
        const end = src.indexOf('}', i + 1);
        if (end === -1) throw unsupported(kind, pattern, 'an unterminated \\x{...}');
        out += `\\u{${src.slice(i + 2, end)}}`;
        i = end;
        continue;
      }
      if (/[A-Za-z0-9]/.test(n)) {
        // \d \w \b \B \D \W \n \t \r \f \v \x41 \a? — same meaning in JS for these.
        if (!/[dDwWbBntrfvx0]/.test(n)) throw unsupported(kind, pattern, `the escape \\${n}`);
        out += '\\' + n;
        continue;
      }
      // Escaped punctuation is a literal in RE2; JS 'u' mode only allows syntax characters.
      out += /[\\^$.*+?()[\]{}|/]/.test(n) || (inClass && n === '-') ? '\\' + n : `\\x${n.charCodeAt(0).toString(16).padStart(2, '0')}`;
      continue;
    }
    if (inClass) {
      if (c === '[' && src[i + 1] === ':') {
        const end = src.indexOf(':]', i + 2);
        const neg = src[i + 2] === '^';
        const name = end === -1 ? '' : src.slice(i + (neg ? 3 : 2), end);
        const cls = POSIX_CLASSES[name];
        if (!cls || neg) throw unsupported(kind, pattern, 'an unknown or negated POSIX class');
        out += cls;
        i = end + 1;
        continue;
      }
      if (c === ']') inClass = false;
      out += c === '[' ? '\\[' : c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (src[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (src[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && src[i + 1] === '?') {
      if (src.startsWith('(?P<', i)) {
        out += '(?<';
        i += 3;
        continue;
      }
      if (src.startsWith('(?:', i)) {
        out += '(?:';
        i += 2;
        continue;
      }
      throw unsupported(kind, pattern, 'an inline flag group or look-around');
    }
    if (c === '.' && !dotAll) {
      out += '[^\\n]';
      continue;
    }
    out += c;
  }
  if (inClass) throw new SopsError('SOPS_BAD_METADATA', `${kind} ${JSON.stringify(pattern)} is not a valid regular expression`);
  try {
    return new RegExp(out, flags);
  } catch {
    throw new SopsError('SOPS_BAD_METADATA', `${kind} ${JSON.stringify(pattern)} is not a valid regular expression`);
  }
}
