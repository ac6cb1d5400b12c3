// A node:test reporter (--test-reporter=<this file>) that keeps the run's RunTally as JSON in the file named by
// TSVMM_TALLY_FILE, rewritten after every top-level result: with --test-force-exit the runner may end before a
// reporter's last word, and a run cut short still leaves what it did. Part and host come from TSVMM_TEST_PART and
// the host's KVM, checked where the tests run. It writes nothing to its own destination.
import * as fs from 'node:fs';
import { hostKind } from '../helpers/host-kind';
import type { FileTally, RunTally } from './tally';

interface TestEventData {
  name: string;
  nesting: number;
  file?: string;
  skip?: boolean | string;
  todo?: boolean | string;
  details?: { duration_ms?: number; type?: string; error?: { message?: string; cause?: unknown } };
}

interface TestEvent {
  type: string;
  data: TestEventData;
}

/** The start of a failure's text, bounded: enough to say why in a log that keeps only the summary. */
function errorHead(err: { message?: string; cause?: unknown } | undefined): string {
  const cause = err?.cause as { message?: string } | undefined;
  const text = cause?.message ?? err?.message ?? 'failed';
  return text.split('\n').slice(0, 8).map((l) => l.slice(0, 200)).join('\n').slice(0, 1200);
}

function firstLine(err: { message?: string; cause?: unknown } | undefined): string {
  const cause = err?.cause as { message?: string } | undefined;
  const text = cause?.message ?? err?.message ?? 'failed';
  return text.split('\n')[0]!.slice(0, 300);
}

async function* tallyReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const files = new Map<string, FileTally>();
  const out = process.env.TSVMM_TALLY_FILE;
  const save = (): void => {
    const tally: RunTally = { part: process.env.TSVMM_TEST_PART ?? 'tests', host: hostKind(), files: [...files.values()] };
    if (out) fs.writeFileSync(out, `${JSON.stringify(tally)}\n`);
  };
  save();
  const fileOf = (d: TestEventData): FileTally => {
    const key = d.file ?? '(no file)';
    let f = files.get(key);
    if (f === undefined) {
      f = { file: key, suites: [], passed: 0, failed: 0, skipped: 0, durationMs: 0 };
      files.set(key, f);
    }
    return f;
  };
  // Leaf failures since the last top-level result: a suite that failed because of them is not counted again.
  const leafFailures = new Map<FileTally, number>();
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const d = ev.data;
    const f = fileOf(d);
    const skipped = d.skip !== undefined && d.skip !== false;
    const status = ev.type === 'test:fail' ? 'fail' : skipped ? 'skip' : 'pass';
    const count = (): void => {
      if (status === 'pass') f.passed++;
      else if (status === 'fail') {
        f.failed++;
        leafFailures.set(f, (leafFailures.get(f) ?? 0) + 1);
        // Only the first few per file: a file that fails everywhere says so in its first failures.
        if ((f.failures ??= []).length < 5) f.failures.push({ test: d.name, error: errorHead(d.details?.error) });
      }
      else f.skipped++;
    };
    // Leaf tests count; so does a suite skipped whole (its tests never report), and a top-level suite that failed
    // with none of its tests failing (a hook, or the file itself did not load).
    if (d.details?.type !== 'suite') count();
    else if (status === 'skip' || (status === 'fail' && d.nesting === 0 && !leafFailures.get(f))) count();
    if (d.nesting === 0) {
      const reason = status === 'skip' ? (typeof d.skip === 'string' ? d.skip : 'skipped')
        : status === 'fail' ? firstLine(d.details?.error) : undefined;
      f.suites.push({ name: d.name, status, ...(reason === undefined ? {} : { reason }) });
      f.durationMs += d.details?.duration_ms ?? 0;
      leafFailures.delete(f);
      save();
    }
  }
  save();
  yield* [];
}

// node:test loads a CommonJS reporter as module.exports itself.
export = tallyReporter;
