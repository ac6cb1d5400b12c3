// What one node:test run did, file by file, in a form that survives a trip out of the test host: which top-level
// suites passed, failed or were skipped (with the reason), how many leaf tests did each, and on which host.
// node:test's own summary counts only leaf tests, so a suite skipped at `describe` level shows as "skipped 0";
// here a skipped suite is counted, and its reason kept.

export type HostKind = 'native KVM' | 'kvm_pvm' | 'nested L1' | 'no KVM';

export interface SuiteResult {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  /** The skip reason, or the first line of the failure. */
  reason?: string;
}

export interface FileTally {
  file: string;
  suites: SuiteResult[];
  passed: number;
  failed: number;
  skipped: number;
  durationMs: number;
  /** Each failed leaf test with the start of its error, so a CI log that keeps only the summary says why. */
  failures?: { test: string; error: string }[];
  /** Set when the file ran again in the emulated test host: what failed on each earlier try. */
  firstTry?: string;
}

export interface RunTally {
  /** What the run was: 'unit' or 'integration'. */
  part: string;
  host: HostKind;
  files: FileTally[];
}

export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** A file's verdict: failed if any suite failed, skipped if every suite was, passed otherwise. */
export function fileStatus(f: FileTally): 'pass' | 'fail' | 'skip' {
  if (f.failed > 0 || f.suites.some((s) => s.status === 'fail')) return 'fail';
  if (f.suites.length > 0 && f.suites.every((s) => s.status === 'skip')) return 'skip';
  return 'pass';
}

export function totals(runs: readonly RunTally[]): Counts {
  const c: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const f of runs.flatMap((r) => r.files)) {
    c.passed += f.passed;
    c.failed += f.failed;
    c.skipped += f.skipped;
  }
  return c;
}

/** The closing summary: files per host and part, every skip and failure with its reason, then one count line. */
export function formatSummary(runs: readonly RunTally[], missing: readonly string[] = [], notes: readonly string[] = []): string {
  const out: string[] = ['', '=== test summary ==='];
  for (const run of runs) {
    const n = { pass: 0, fail: 0, skip: 0 };
    for (const f of run.files) n[fileStatus(f)]++;
    const c = totals([run]);
    out.push(`${run.part} on ${run.host}: ${run.files.length} files (${n.pass} passed, ${n.fail} failed, ${n.skip} skipped); ` +
      `tests ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
    for (const f of run.files) {
      for (const s of f.suites) {
        if (s.status !== 'pass') out.push(`  ${s.status === 'fail' ? 'FAILED ' : 'skipped'} ${shortFile(f.file)}: ${s.name}${s.reason ? ` (${s.reason})` : ''}`);
      }
      if (f.firstTry) out.push(`  RETRIED ${shortFile(f.file)}: its earlier tries in L1 failed (${f.firstTry})`);
      for (const x of f.failures ?? []) {
        out.push(`    ✖ ${x.test}`);
        for (const line of x.error.split('\n')) out.push(`      ${line}`);
      }
    }
  }
  for (const n of notes) out.push(`BOOTED AGAIN: ${n}`);
  for (const m of missing) out.push(`NOT RUN: ${m}`);
  const c = totals(runs);
  // A part that never ran is a failure of the run, not a pass: it counts as one failed test.
  const failed = c.failed + missing.length;
  out.push(`tests: ${c.passed} passed, ${failed} failed, ${c.skipped} skipped`);
  return `${out.join('\n')}\n`;
}

function shortFile(file: string): string {
  const i = file.lastIndexOf('/dist/');
  return i >= 0 ? file.slice(i + '/dist/'.length) : file;
}
