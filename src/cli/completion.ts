// `tsvmm completion bash|zsh`: a completion script made from the command tree. It is static (no call back into
// tsvmm per key press, which would cost a Node start-up each time): commands, their options, the choices of
// options that have them, and files where a path goes.
import { COMMAND_TREE, GLOBAL_FLAGS, type CommandNode } from './command-tree';

export const COMPLETION_DESCRIBE = 'Print a shell completion script (bash or zsh)';

export const COMPLETION_EPILOG = 'bash: tsvmm completion bash > ~/.local/share/bash-completion/completions/tsvmm ' +
  '(or add `source <(tsvmm completion bash)` to ~/.bashrc). zsh: tsvmm completion zsh > "${fpath[1]}/_tsvmm", ' +
  'or add `source <(tsvmm completion zsh)` to ~/.zshrc after compinit.';

/** Single-quoted for the shell. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

interface Case {
  /** The command words, e.g. "guest path". */
  key: string;
  /** Its subcommands, positional words and options. */
  words: string[];
  subcommands: string[];
  files: boolean;
}

function cases(node: CommandNode, path: string[], out: Case[]): Case[] {
  const flags = [...Object.keys(node.options), ...GLOBAL_FLAGS].map((f) => `--${f}`);
  const sub = Object.keys(node.commands ?? {});
  const positional = node.positional === undefined || node.positional === 'file' ? [] : [...node.positional];
  out.push({ key: path.join(' '), words: [...sub, ...positional, ...flags], subcommands: sub,
    files: node.positional === 'file' });
  for (const [name, child] of Object.entries(node.commands ?? {})) cases(child, [...path, name], out);
  return out;
}

/** Options whose value is one of a few words, across the tree (their names do not clash). */
function choices(node: CommandNode, out = new Map<string, string[]>()): Map<string, string[]> {
  for (const [name, o] of Object.entries(node.options)) {
    if (Array.isArray(o.choices)) out.set(`--${name}`, o.choices.map(String));
  }
  for (const child of Object.values(node.commands ?? {})) choices(child, out);
  return out;
}

/** Options that take a value, so the word after them is not a command. */
function valued(node: CommandNode, out = new Set<string>()): Set<string> {
  for (const [name, o] of Object.entries(node.options)) {
    if (o.type !== 'boolean') out.add(`--${name}`);
  }
  for (const child of Object.values(node.commands ?? {})) valued(child, out);
  return out;
}

export function bashCompletion(tree: CommandNode = COMMAND_TREE): string {
  const commandCases = cases(tree, [], []).map((c) => `    ${quote(c.key)}) words=${quote(c.words.join(' '))}; ` +
    `subs=${quote(c.subcommands.join(' '))}; files=${c.files ? 1 : 0} ;;`);
  const choiceCases = [...choices(tree)].map(([flag, values]) => `    ${flag}) words=${quote(values.join(' '))} ;;`);
  return `# bash completion for tsvmm (tsvmm completion bash)
_tsvmm() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} path='' words='' files=0 i w
  local valued=${quote([...valued(tree)].join(' '))}
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    [[ $w == -* ]] && break
    case " $(_tsvmm_words "$path" subs) " in *" $w "*) path=\${path:+$path }$w ;; *) break ;; esac
  done
  case $prev in
${choiceCases.join('\n')}
    *) if [[ " $valued " == *" $prev "* ]]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi ;;
  esac
  if [[ -n $words ]]; then COMPREPLY=($(compgen -W "$words" -- "$cur")); return; fi
  words=$(_tsvmm_words "$path" words)
  files=$(_tsvmm_words "$path" files)
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  if [[ $files == 1 && $cur != -* ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi
}
# The words, subcommands (subs) or whether files go there (files) for the command path in $1.
_tsvmm_words() {
  local words='' subs='' files=0
  case $1 in
${commandCases.join('\n')}
  esac
  echo "\${!2}"
}
complete -o filenames -F _tsvmm tsvmm
`;
}

/** zsh runs the bash script through its bashcompinit layer: one script to keep right, not two. */
export function zshCompletion(tree: CommandNode = COMMAND_TREE): string {
  return `#compdef tsvmm
# zsh completion for tsvmm (tsvmm completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(tree)}`;
}

export function completionScript(shell: string): string {
  if (shell === 'zsh') return zshCompletion();
  return bashCompletion();
}
