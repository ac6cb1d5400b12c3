// `npm run bench -- [--quick] [--runs N] [--only boot,exits,blk,net,linux,sandbox,snapshot] [--json PATH]`.

export const GROUPS = ['boot', 'exits', 'blk', 'net', 'linux', 'sandbox', 'snapshot'] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchOptions {
  quick: boolean;
  /** Boots per monitor for the tiny kernel's boot and exits rows, and runs of blkbench / netbench. */
  runs: number;
  /** Linux boots per monitor (they take most of a minute each on a host that emulates guest kernel code). */
  linuxRuns: number;
  only: Set<Group>;
  json: string;
  /** Also print the table as Markdown. */
  markdown: boolean;
  /** Register reads per exits measurement. */
  exitCount: number;
  /** How long each blk operation, fio job and net direction runs. */
  opMs: number;
}

export const USAGE = `usage: npm run bench -- [options]
  --quick          a short smoke: few iterations, short runs, no Linux or sandbox rows
  --runs N         runs per monitor of each tiny-kernel measurement (default 5, quick 1); snapshot: each
                   run boots and restores, then holds 20 machines of 1 vCPU and 20 of 2 in this process
  --linux-runs N   Linux boots per monitor (default 1)
  --only LIST      some of: ${GROUPS.join(',')} (comma-separated; may repeat)
  --json PATH      where the JSON report goes (default bench-results.json)
  --markdown       also print the table as Markdown`;

export class OptionError extends Error {
  override name = 'OptionError';
}

function count(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < min) {
    throw new OptionError(`${name}: ${JSON.stringify(text ?? '')} is not a whole number >= ${min}`);
  }
  return n;
}

export function parseOptions(argv: string[]): BenchOptions {
  let quick = false;
  let markdown = false;
  let runs: number | undefined;
  let linuxRuns: number | undefined;
  let json = 'bench-results.json';
  const only = new Set<Group>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string | undefined => argv[++i];
    switch (a) {
      case '--quick': quick = true; break;
      case '--markdown': markdown = true; break;
      case '--runs': runs = count('--runs', value(), 1); break;
      case '--linux-runs': linuxRuns = count('--linux-runs', value(), 0); break;
      case '--json': {
        const p = value();
        if (!p) throw new OptionError('--json: needs a path');
        json = p;
        break;
      }
      case '--only':
        for (const g of (value() ?? '').split(',')) {
          if (!(GROUPS as readonly string[]).includes(g)) {
            throw new OptionError(`--only: ${JSON.stringify(g)} is not one of ${GROUPS.join(', ')}`);
          }
          only.add(g as Group);
        }
        break;
      default:
        throw new OptionError(`unknown option ${JSON.stringify(a)}`);
    }
  }
  const groups = new Set<Group>(only.size > 0 ? only : GROUPS);
  // The quick smoke leaves the Linux boots out unless asked for by name: one is most of a minute on some hosts.
  if (quick && only.size === 0) { groups.delete('linux'); groups.delete('sandbox'); }
  return {
    quick,
    runs: runs ?? (quick ? 1 : 5),
    linuxRuns: linuxRuns ?? 1,
    only: groups,
    json,
    markdown,
    exitCount: quick ? 2000 : 20_000,
    opMs: quick ? 300 : 2000,
  };
}
