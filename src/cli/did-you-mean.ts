// "Did you mean" for the command line, as the config file has for its keys: yargs says only "Unknown argument:
// vcpu"; this names the option or command as the user typed it and the nearest known one.
import { commandAt, GLOBAL_FLAGS } from './command-tree';

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours), case-insensitive. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d = Array.from({ length: x.length + 1 },
    (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const row = d[i]!;
      const above = d[i - 1]!;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[x.length]![y.length]!;
}

/** The known word nearest to `word` when it is close enough to be a slip (a third of its length, at most 3). */
export function nearest(word: string, known: readonly string[]): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(word, k);
    // A prefix of a longer option (--mem for --memory) is as good a guess as a slip.
    const score = k.toLowerCase().startsWith(word.toLowerCase()) && word.length >= 2 ? 1 : d;
    if (score <= limit && score < bestDistance) {
      best = k;
      bestDistance = score;
    }
  }
  return best;
}

/** yargs lists `--api-sok` as both api-sok and apiSok: the camelCase copy of a dashed name is dropped. */
function withoutCamelCopies(names: string[]): string[] {
  const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return names.filter((n) => !names.some((m) => m !== n && m.includes('-') && camel(m) === n));
}

/** How the user wrote `name` on the command line: as an option (with its dashes) or as a plain word. */
function asWritten(name: string, argv: readonly string[]): string | undefined {
  for (const a of argv) {
    const m = /^(--?)([^=]*)/.exec(a);
    if (m && m[2] === name && a.startsWith('-')) return `${m[1]}${name}`;
  }
  return undefined;
}

/**
 * Rewrites yargs' "Unknown argument(s): a, b" into one line per the tree of commands: each unknown option or
 * command as written, with the nearest known one. undefined for any other message.
 */
export function explainUnknown(message: string, argv: readonly string[]): string | undefined {
  const m = /^Unknown arguments?: (.*)$/.exec(message.trim());
  if (!m) return undefined;
  const { path, node } = commandAt(argv);
  const where = path.length > 0 ? `${path.join(' ')}: ` : '';
  const flags = [...Object.keys(node.options), ...GLOBAL_FLAGS];
  const commands = Object.keys(node.commands ?? {});
  const options: string[] = [];
  const words: string[] = [];
  for (const name of withoutCamelCopies(m[1]!.split(', '))) {
    const written = asWritten(name, argv);
    if (written !== undefined) {
      const near = nearest(name, flags);
      options.push(`${written}${near ? ` (did you mean --${near}?)` : ''}`);
    } else if (commands.length > 0) {
      const near = nearest(name, commands);
      words.push(`unknown command ${name} (${near ? `did you mean ${near}?` : `one of ${commands.join(', ')}`})`);
    } else {
      words.push(`unexpected argument ${name}`);
    }
  }
  if (options.length > 0) words.unshift(`unknown option${options.length > 1 ? 's' : ''} ${options.join(', ')}`);
  return where + words.join('; ');
}
