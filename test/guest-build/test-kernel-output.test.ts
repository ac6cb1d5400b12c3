import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dataWith, numberField, parseTestKernelOutput } from '../../src/guest/test-kernel-output';

test('verdicts and data lines are read; other lines are ignored', () => {
  const out = parseTestKernelOutput([
    'tsvmm-guest: hello',
    'TSVMM-DATA: blk capacity=131072 serial=disk0 ro=0\r',
    'TSVMM-DATA: blk register_accesses=39 notifies=92',
    'garbage TSVMM-DATA: x y=1',
    'TSVMM-TEST: PASS blk',
    'TSVMM-TEST: FAIL blk: too late',
  ].join('\n'));
  assert.deepEqual(out.verdict, { test: 'blk', passed: true });
  assert.deepEqual(out.data, [
    { test: 'blk', fields: { capacity: '131072', serial: 'disk0', ro: '0' } },
    { test: 'blk', fields: { register_accesses: '39', notifies: '92' } },
  ]);
  assert.deepEqual(dataWith(out, 'notifies'), [{ register_accesses: '39', notifies: '92' }]);
  assert.equal(numberField(out.data[0]!.fields, 'capacity'), 131072);
  assert.throws(() => numberField(out.data[0]!.fields, 'serial'), /serial=disk0 is not a number/);
  assert.throws(() => numberField(out.data[0]!.fields, 'nope'), /nope=\(missing\)/);
  // `key=` with nothing after it is no number (Number('') would say 0).
  const empty = parseTestKernelOutput('TSVMM-DATA: net frames= bytes=0\n').data[0]!.fields;
  assert.deepEqual(empty, { frames: '', bytes: '0' });
  assert.throws(() => numberField(empty, 'frames'), /frames=\(empty\) is not a number/);
  assert.equal(numberField(empty, 'bytes'), 0);
});

test('a failure keeps its reason, colons and all; no verdict line means none', () => {
  const out = parseTestKernelOutput('TSVMM-TEST: FAIL torture: short-header: the device answered ok, expected x\n');
  assert.deepEqual(out.verdict, { test: 'torture', passed: false, reason: 'short-header: the device answered ok, expected x' });
  assert.equal(parseTestKernelOutput('tsvmm-guest: hello\n').verdict, undefined);
});
