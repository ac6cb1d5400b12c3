// The compiled test files, the node:test command line that runs them with the tally beside the spec output, and
// where the results go (.test-results/ in the checkout: the test host writes there through its share).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/base/package-root';
import type { RunTally } from './tally';

export function resultsDir(): string {
  return path.join(packageRoot(), '.test-results');
}

/** A guest boot a suite gave up on and booted again: said on stderr and kept in `<suite>-stalls.log`, which the
 *  test summary lists as BOOTED AGAIN. */
export function noteStall(suite: string, what: string): void {
  process.stderr.write(`# ${what}\n`);
  fs.mkdirSync(resultsDir(), { recursive: true });
  fs.appendFileSync(path.join(resultsDir(), `${suite}-stalls.log`), `${what}\n`);
}

function collect(dir: string, out: string[]): string[] {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) collect(p, out);
    else if (entry.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** Unit files (everything under dist/test but integration/) and the integration files, each sorted. */
export function collectTests(root: string = path.join(packageRoot(), 'dist', 'test')): { unit: string[]; integration: string[] } {
  const all = collect(root, []).sort();
  const integrationDir = path.join(root, 'integration') + path.sep;
  return { unit: all.filter((f) => !f.startsWith(integrationDir)), integration: all.filter((f) => f.startsWith(integrationDir)) };
}

/** node's arguments; the tally goes to `json` through TSVMM_TALLY_FILE (see tallyEnv). */
export function nodeTestArgs(files: readonly string[], concurrency?: number): string[] {
  return [
    '--test',
    ...(concurrency === undefined ? [] : [`--test-concurrency=${concurrency}`]),
    // A file whose tests are done but that left a handle open (a machine a failed test never stopped) would hold the
    // whole run; its failures are already reported.
    '--test-force-exit',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(__dirname, 'tally-reporter.js')}`, '--test-reporter-destination=/dev/null',
    ...files,
  ];
}

export function tallyEnv(part: string, json: string): NodeJS.ProcessEnv {
  return { ...process.env, TSVMM_TEST_PART: part, TSVMM_TALLY_FILE: json };
}

export function readTally(json: string): RunTally | undefined {
  try {
    return JSON.parse(fs.readFileSync(json, 'utf8')) as RunTally;
  } catch {
    return undefined;
  }
}
