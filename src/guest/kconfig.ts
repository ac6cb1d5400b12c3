// Kconfig fragments and .config files: parsing, and checking that every value a fragment asks for survived
// `make olddefconfig`. Kconfig silently drops a symbol whose dependencies are off, so the check is how a missing
// dependency shows up as an error instead of as a kernel without the driver.

/** Symbol name (with the CONFIG_ prefix) -> value as written: 'y', 'm', 'n', a number, or a quoted string. */
export type KconfigValues = Map<string, string>;

export class KconfigParseError extends Error {
  constructor(readonly source: string, readonly line: number, readonly text: string, reason: string) {
    super(`${source}:${line}: ${reason}: ${JSON.stringify(text)}`);
    this.name = 'KconfigParseError';
  }
}

const SYMBOL = 'CONFIG_[A-Za-z0-9_]+';
const ASSIGNMENT = new RegExp(`^(${SYMBOL})=(.*)$`);
const NOT_SET = new RegExp(`^# (${SYMBOL}) is not set$`);
const VALUE = /^(?:[ymn]|-?\d+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$/;

/**
 * Parses fragment or .config text. `# CONFIG_X is not set` reads as 'n'; other comments and blank lines are
 * skipped. In strict mode (fragments) a symbol given twice, or a line that is neither, is an error.
 */
export function parseKconfig(text: string, opts: { source?: string; strict?: boolean } = {}): KconfigValues {
  const source = opts.source ?? 'config';
  const values: KconfigValues = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const parsed = parseLine(line);
    if (parsed === undefined) {
      if (line.startsWith('#')) continue;
      if (opts.strict) throw new KconfigParseError(source, i + 1, line, 'not a CONFIG_ line');
      continue;
    }
    const [symbol, value] = parsed;
    if (!VALUE.test(value) && opts.strict) {
      throw new KconfigParseError(source, i + 1, line, 'value is not y, m, n, a number or a quoted string');
    }
    if (opts.strict && values.has(symbol)) {
      throw new KconfigParseError(source, i + 1, line, `${symbol} is set twice`);
    }
    values.set(symbol, value);
  }
  return values;
}

function parseLine(line: string): [string, string] | undefined {
  const assigned = ASSIGNMENT.exec(line);
  if (assigned) return [assigned[1]!, assigned[2]!];
  const notSet = NOT_SET.exec(line);
  if (notSet) return [notSet[1]!, 'n'];
  return undefined;
}

export interface KconfigMismatch {
  symbol: string;
  wanted: string;
  /** The value in the final .config; 'n' when the symbol is absent there (Kconfig leaves invisible ones out). */
  got: string;
}

/** Every symbol of `wanted` whose value differs in `final`. An absent symbol counts as 'n'. */
export function findKconfigMismatches(wanted: KconfigValues, final: KconfigValues): KconfigMismatch[] {
  const mismatches: KconfigMismatch[] = [];
  for (const [symbol, value] of wanted) {
    const got = final.get(symbol) ?? 'n';
    if (normalize(got) !== normalize(value)) mismatches.push({ symbol, wanted: value, got });
  }
  return mismatches;
}

// Kconfig writes hex ints in lowercase with 0x; compare numbers by value so `0x10` and `0X10` agree.
function normalize(value: string): string {
  if (/^0x[0-9a-fA-F]+$/.test(value)) return '0x' + BigInt(value).toString(16);
  return value;
}

export function formatKconfigMismatches(mismatches: KconfigMismatch[]): string {
  return mismatches
    .map((m) => `  ${m.symbol}: wanted ${m.wanted}, got ${m.got === 'n' ? 'n (not set or dropped)' : m.got}`)
    .join('\n');
}
