// The test summary: a suite skipped whole counts as skipped, a failure anywhere fails the file, a part that never
// reported counts as a failure, and the last line is the count line CI reads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { nodeTestArgs, readTally, tallyEnv } from './files';
import { fileStatus, formatSummary, type RunTally } from './tally';

test('the reporter counts a describe-level skip with its reason, leaf tests, and a failure once', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tally-'));
  try {
    const file = path.join(dir, 'sample.test.js');
    fs.writeFileSync(file, [
      "const { describe, it } = require('node:test');",
      "describe('needs a thing', { skip: 'no thing here' }, () => { it('a', () => {}); it('b', () => {}); });",
      "describe('works', () => { it('one', () => {}); it('two', () => {}); it('skipped one', { skip: 'later' }, () => {}); });",
      "describe('breaks', () => { it('bad', () => { throw new Error('boom\\nsecond line'); }); it('good', () => {}); });",
      "it('top-level', () => {});",
    ].join('\n'));
    const json = path.join(dir, 'tally.json');
    const args = nodeTestArgs([file]).map((a) => (a === '--test-reporter-destination=stdout' ? '--test-reporter-destination=/dev/null' : a));
    // Without NODE_TEST_CONTEXT, which makes a nested runner report to its parent instead of to its reporters.
    const env = tallyEnv('sample', json);
    delete env.NODE_TEST_CONTEXT;
    spawnSync(process.execPath, args, { env });
    const t = readTally(json);
    assert.ok(t, 'the reporter wrote its tally');
    assert.equal(t.part, 'sample');
    const f = t.files[0]!;
    assert.deepEqual({ passed: f.passed, failed: f.failed, skipped: f.skipped }, { passed: 4, failed: 1, skipped: 2 });
    assert.deepEqual(f.suites.map((s) => [s.name, s.status, s.reason]), [
      ['needs a thing', 'skip', 'no thing here'], ['works', 'pass', undefined], ['breaks', 'fail', '1 subtest failed'],
      ['top-level', 'pass', undefined],
    ]);
    assert.equal(fileStatus(f), 'fail');
    assert.deepEqual(f.failures, [{ test: 'bad', error: 'boom\nsecond line' }], 'the failed leaf with its message');
    assert.match(formatSummary([t]), /^ {4}✖ bad\n {6}boom\n {6}second line$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the summary names hosts, lists skips and failures, and a missing part is a failure', () => {
  const runs: RunTally[] = [
    { part: 'unit', host: 'no KVM', files: [{ file: '/x/dist/test/a.test.js', suites: [{ name: 'a', status: 'pass' }], passed: 3, failed: 0, skipped: 0, durationMs: 1 }] },
    { part: 'integration', host: 'nested L1', files: [
      { file: '/x/dist/test/integration/b.test.js', suites: [{ name: 'b', status: 'skip', reason: 'no tap' }], passed: 0, failed: 0, skipped: 1, durationMs: 0 },
      { file: '/x/dist/test/integration/c.test.js', suites: [{ name: 'c', status: 'pass' }], passed: 1, failed: 0, skipped: 0, durationMs: 0, firstTry: 'x: timed out' },
    ] },
  ];
  const text = formatSummary(runs, ['integration: the test host ended with status 125 before reporting'],
    ['linux-userspace-stalls: full: boot 1 of 3 went quiet']);
  assert.match(text, /^unit on no KVM: 1 files \(1 passed, 0 failed, 0 skipped\); tests 3 passed, 0 failed, 0 skipped$/m);
  assert.match(text, /^integration on nested L1: 2 files \(1 passed, 0 failed, 1 skipped\)/m);
  assert.match(text, /^ {2}RETRIED test\/integration\/c\.test\.js: its earlier tries in L1 failed \(x: timed out\)$/m, 'a retry is named');
  assert.match(text, /^ {2}skipped test\/integration\/b\.test\.js: b \(no tap\)$/m);
  assert.match(text, /^NOT RUN: integration: the test host ended/m);
  assert.match(text, /^BOOTED AGAIN: linux-userspace-stalls: full: boot 1 of 3 went quiet$/m, 'a boot tried again is named');
  assert.equal(text.trimEnd().split('\n').at(-1), 'tests: 4 passed, 1 failed, 1 skipped');
});
